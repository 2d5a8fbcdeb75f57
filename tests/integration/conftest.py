"""Integration fixtures: real Apache Kafka brokers (one per tested version) and worker subprocesses.

Every broker is started with the project's own ``sla-pipeline kafka start`` on 127.0.0.1 and stopped
with ``sla-pipeline kafka stop``. Each test gets its own topics and consumer group, so tests never see
each other's records. Versions: ``SLA_TEST_KAFKA_VERSIONS`` (default ``3.9.1,4.1.1``).
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import random
import signal
import subprocess
import sys
import time
import urllib.request
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from aiokafka import AIOKafkaProducer
from prometheus_client.parser import text_string_to_metric_families

from pipeline.cli.ports import port_free
from pipeline.kafka.tail import Tail

ROOT = Path(__file__).resolve().parents[2]
CLI = [sys.executable, "-m", "pipeline.cli"]
VERSIONS = [v.strip() for v in os.environ.get("SLA_TEST_KAFKA_VERSIONS", "3.9.1,4.1.1").split(",") if v.strip()]


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if "integration" in str(item.fspath):
            item.add_marker(pytest.mark.integration)


# free_port() picks below the kernel's ephemeral range: a port in it can be taken by any outgoing connection
# (a client's, to some other server) the moment a test's broker stops, and the broker's restart then fails
# with "Address already in use". HEADROOM keeps a broker's controller (port+100 ..) below the range too.
FLOOR, HEADROOM = 20000, 300


def port_range(source: Path = Path("/proc/sys/net/ipv4/ip_local_port_range")) -> tuple[int, int]:
    """Where free_port() picks: [low, high), below the ephemeral range ``source`` gives (or above it, where it
    starts too low); 20000-32000 where the range cannot be read (below Linux's default 32768-60999)."""
    try:
        first, last = (int(n) for n in source.read_text().split())
    except (OSError, ValueError):
        return FLOOR, 32000
    if first - HEADROOM >= FLOOR + 1000:
        return FLOOR, first - HEADROOM
    if last + 1 + 1000 <= 65536 - HEADROOM:
        return last + 1, 65536 - HEADROOM
    return FLOOR, 32000


def free_port(pairs: int = 1) -> int:
    """A port p with p .. p+pairs-1 all free on 127.0.0.1, outside the ephemeral range (see port_range)."""
    low, high = port_range()
    for _ in range(200):
        port = random.randrange(low, high - pairs)
        if all(port_free(port + i) for i in range(pairs)):
            return port
    raise RuntimeError("no free port found")


def wait_ready(url: str, timeout: float = 30) -> None:
    """Until an HTTP GET of ``url`` answers (a server the test started is up)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            urllib.request.urlopen(url, timeout=1).read()
            return
        except OSError:
            time.sleep(0.2)
    raise AssertionError(f"nothing answered at {url} within {timeout:g} s")


def eventually(check, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            check()
            return
        except AssertionError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.5)


@dataclasses.dataclass(frozen=True)
class Broker:
    version: str
    bootstrap: str
    port: int
    kafka_dir: Path

    def cli(self, *args: str, timeout: float = 300) -> subprocess.CompletedProcess:
        return subprocess.run(
            [*CLI, "kafka", *args, "--kafka-version", self.version, "--kafka-port", str(self.port),
             "--kafka-dir", str(self.kafka_dir)],
            capture_output=True, text=True, timeout=timeout, cwd=ROOT, check=False,
        )


@contextlib.contextmanager
def running_broker(version: str, kafka_dir: Path) -> Iterator[Broker]:
    """A broker started with ``sla-pipeline kafka start`` and stopped with ``kafka stop``, even on failure."""
    port = free_port()
    b = Broker(version, f"127.0.0.1:{port}", port, kafka_dir)
    started = b.cli("start")
    try:
        assert started.returncode == 0, f"kafka start failed:\n{started.stdout}\n{started.stderr}"
        yield b
    finally:
        stopped = b.cli("stop", timeout=60)
    assert stopped.returncode == 0 and "stopped" in stopped.stdout, stopped.stdout + stopped.stderr


@pytest.fixture(scope="session", params=VERSIONS, ids=[f"kafka-{v}" for v in VERSIONS])
def broker(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Broker]:
    with running_broker(request.param, tmp_path_factory.mktemp(f"kafka-{request.param}")) as b:
        yield b


@dataclasses.dataclass(frozen=True)
class Topics:
    app_id: str
    events: str
    dlq: str
    outcomes: str
    escalations: str
    dsat: str

    def env(self) -> dict[str, str]:
        return {"SLA_APP_ID": self.app_id, "SLA_TOPIC_EVENTS": self.events, "SLA_TOPIC_DLQ": self.dlq,
                "SLA_TOPIC_OUTCOMES": self.outcomes, "SLA_TOPIC_ESCALATIONS": self.escalations,
                "SLA_TOPIC_DSAT": self.dsat}


def new_topics() -> Topics:
    """Topic names and an app id no other test uses."""
    tag = uuid.uuid4().hex[:10]
    return Topics(f"sla-test-{tag}", f"t-{tag}.events", f"t-{tag}.events.dlq", f"t-{tag}.outcomes",
                  f"t-{tag}.escalations", f"t-{tag}.dsat_reviews")


@pytest.fixture
def topics() -> Topics:
    return new_topics()


class Worker:
    """A ``sla-pipeline worker`` subprocess with its own data dir and web port."""

    def __init__(self, broker: Broker, topics: Topics, workdir: Path, env: dict[str, str]) -> None:
        self.port = free_port()
        self.log_path = workdir / f"worker-{self.port}.log"
        self.env = {
            **os.environ, **topics.env(), "KAFKA_BOOTSTRAP_SERVERS": broker.bootstrap,
            "SLA_WEB_PORT": str(self.port), "SLA_DATA_DIR": str(workdir / f"data-{self.port}"),
            "SLA_PARTITIONS": "4", **env,
        }
        self.proc: subprocess.Popen | None = None

    def start(self, timeout: float = 90) -> Worker:
        log = open(self.log_path, "ab")  # noqa: SIM115 - handed to the child
        self.proc = subprocess.Popen([*CLI, "worker"], env=self.env, cwd=ROOT, stdout=log,
                                     stderr=subprocess.STDOUT, start_new_session=True)
        log.close()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise AssertionError(f"worker exited with {self.proc.returncode}:\n{self.log_tail()}")
            if b"Worker]: Ready" in self.log_path.read_bytes():
                return self
            time.sleep(0.3)
        raise AssertionError(f"worker not ready within {timeout} s:\n{self.log_tail()}")

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 30) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.proc.pid, sig)
        try:
            self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait()

    def kill(self) -> None:
        self.stop(signal.SIGKILL)

    def metrics(self) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
        with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/metrics", timeout=5) as resp:
            text = resp.read().decode()
        samples = {}
        for family in text_string_to_metric_families(text):
            for s in family.samples:
                samples[(s.name, tuple(sorted(s.labels.items())))] = s.value
        return samples

    def metric(self, name: str, **labels: str) -> float:
        return self.metrics().get((name, tuple(sorted(labels.items()))), 0.0)

    def log_tail(self, lines: int = 60) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no log)"


@pytest.fixture
def worker_factory(broker: Broker, topics: Topics, tmp_path: Path, request: pytest.FixtureRequest):
    workers: list[Worker] = []

    def make(**env: str) -> Worker:
        worker = Worker(broker, topics, tmp_path, env)
        workers.append(worker)
        return worker

    yield make
    failed = getattr(request.node, "rep_call", None) is not None and request.node.rep_call.failed
    for worker in workers:
        if failed:
            print(f"--- log of worker on port {worker.port} ---\n{worker.log_tail()}")
        worker.stop()


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo):
    report = yield
    setattr(item, f"rep_{report.when}", report)
    return report


# --- Kafka helpers -------------------------------------------------------------------------------
async def produce(bootstrap: str, topic: str, records: list[tuple[bytes | None, bytes]],
                  timestamp_ms: int | None = None, partition: int | None = None) -> list:
    """Send (key, value) records in order; returns their RecordMetadata (partition, offset)."""
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, max_request_size=4 * 1024 * 1024, acks="all",
                                linger_ms=5)
    await producer.start()
    try:
        futures = [await producer.send(topic, value=v, key=k, timestamp_ms=timestamp_ms, partition=partition)
                   for k, v in records]
        return [await f for f in futures]
    finally:
        await producer.stop()


async def partition_count(bootstrap: str, topic: str) -> int:
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap)
    await producer.start()
    try:
        return len(await producer.partitions_for(topic))
    finally:
        await producer.stop()


async def read_unique(bootstrap: str, topic: str, id_field: str, *, want: int, timeout: float = 180) -> dict[
        str, list[tuple[int, int, dict]]]:
    """Read JSON records until ``want`` distinct ``id_field`` values arrived (or ``timeout`` passed):
    id -> [(record timestamp in ms, partition, document), ...], every copy in order."""
    import orjson

    found: dict[str, list[tuple[int, int, dict]]] = {}
    async with Tail(bootstrap, topic) as tail:
        await tail.wait_for_partitions(30)
        end = time.monotonic() + timeout
        while len(found) < want and time.monotonic() < end:
            for r in await tail.records():
                doc = orjson.loads(r.value)
                found.setdefault(doc[id_field], []).append((r.timestamp, r.partition, doc))
    return found


async def collect_unique(bootstrap: str, topic: str, id_field: str, *, want: int, timeout: float = 180) -> tuple[
        dict[str, dict], dict[str, list[dict]]]:
    """Read JSON records until ``want`` distinct ``id_field`` values arrived: (first copy by id, all copies)."""
    found = await read_unique(bootstrap, topic, id_field, want=want, timeout=timeout)
    copies = {k: [doc for _, _, doc in v] for k, v in found.items()}
    return {k: v[0] for k, v in copies.items()}, copies


async def consume(bootstrap: str, topic: str, *, want: int, timeout: float = 60, settle: float = 2.0) -> list:
    """Read a topic from the start until ``want`` records arrived (then ``settle`` s more for extras)."""
    big = 16 * 1024 * 1024
    async with Tail(bootstrap, topic, fetch_max_bytes=big, max_partition_fetch_bytes=big) as tail:
        await tail.wait_for_partitions(30)  # the topic may be created a moment later
        got: list = []
        end = time.monotonic() + timeout
        settled_at = None
        while time.monotonic() < end:
            got.extend(await tail.records())
            if len(got) >= want:
                settled_at = settled_at or time.monotonic() + settle
                if time.monotonic() >= settled_at:
                    break
        return got
