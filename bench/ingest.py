"""Ingest gateway (issue 27): requests/s, events/s and latency of ``POST /v1/events`` beside a bare aiokafka
producer sending the same events in the same run; then a ``kill -9`` of the gateway under load.

1. Start an embedded broker and ``sla-pipeline ingest`` (bearer token from a file, 4 partitions).
2. For 1 and 10 concurrent senders and batches of 1 and 100 events, in turn for ``--seconds`` each: a bare
   producer (acks=all, idempotent; each sender sends its batch and waits for every acknowledgement, as the
   gateway does before it answers), then the gateway (aiohttp clients; a batch of 1 is one JSON object, a
   batch of 100 an array). The latency of a request is from its first byte sent to its answer, so it
   includes Kafka's acknowledgement; the bare producer's is from the first send to the last ack. Each phase
   also gives the CPU per event of the process that produced (this one, or the gateway; the gateway's
   client apart): it moves less than the rates on a shared machine.
3. Kill: 10 senders (half with batches of 1, half of 100, every event new) load a fresh gateway; after
   ``--kill-after`` seconds it gets SIGKILL. Read the topic back by ``event_id``: every event of every
   request answered 2xx must be there. Then restart the gateway, resend what was not answered (as a
   webhook sender retries) and read back again: every event there, the repeats only duplicates.

Target: the gateway's event rate at batch 100 at least 0.5 of the bare producer's, at each concurrency.

    .venv/bin/python bench/ingest.py                  # 10 s per phase, about 2 minutes in all
    .venv/bin/python bench/ingest.py --quick          # 1.5 s per phase: keeps the harness alive
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import aiohttp
import orjson
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from common import ROOT, stop, write_result

from pipeline.domain.timefmt import format_rfc3339_ms
from pipeline.kafka.admin import ensure_topics
from pipeline.kafka.embedded import EmbeddedKafka

TOPIC = "bench.ingest.events"  # the gateway's, during the rate phases
BARE_TOPIC = "bench.ingest.bare"  # the bare producer's
KILL_TOPIC = "bench.ingest.kill"  # the gateway's, during the kill
DLQ = "bench.ingest.dlq"
PARTITIONS = 4
SENDERS = (1, 10)
BATCHES = (1, 100)
TARGET_RATIO = 0.5
TOKEN = "bench-ingest-token"  # noqa: S105 - a throwaway token for a gateway on loopback


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Events:
    """Section 2 events, each new: ``batch(n)`` gives the next n, with ids from ``run`` and a counter."""

    def __init__(self, run: str, base_ms: int) -> None:
        self.run = run
        self.base_ms = base_ms
        self.count = itertools.count()

    def batch(self, n: int) -> list[dict]:
        out = []
        for _ in range(n):
            i = next(self.count)
            out.append({"event_id": f"{self.run}-{i}", "type": "ticket.created", "ticket_id": f"{self.run}-T{i}",
                        "occurred_at": format_rfc3339_ms(self.base_ms + i), "severity": 1 + i % 4,
                        "product": "automation", "customer_id": f"C-{i % 97}", "fastlane": i % 10 == 0})
        return out


@dataclass
class Phase:
    """What the senders of one phase saw."""

    seconds: float = 0.0
    requests: int = 0
    events: int = 0
    latencies_s: list[float] = field(default_factory=list)
    failures: Counter = field(default_factory=Counter)  # HTTP status or exception name -> requests
    cpu_s: float = 0.0  # of the process that produced to Kafka: this one (bare), or the gateway
    client_cpu_s: float | None = None  # of this process, when it only sent HTTP requests

    def summary(self) -> dict:
        lat = sorted(self.latencies_s)

        def pct(q: float) -> float | None:
            return round(lat[min(len(lat) - 1, int(q * len(lat)))] * 1000, 2) if lat else None

        return {"requests": self.requests, "events": self.events, "seconds": round(self.seconds, 2),
                "requests_per_s": round(self.requests / self.seconds, 1) if self.seconds else 0.0,
                "events_per_s": round(self.events / self.seconds, 1) if self.seconds else 0.0,
                "p50_ms": pct(0.50), "p99_ms": pct(0.99), "failures": dict(self.failures),
                "cpu_us_per_event": per_event(self.cpu_s, self.events),
                **({} if self.client_cpu_s is None else
                   {"client_cpu_us_per_event": per_event(self.client_cpu_s, self.events)})}


def per_event(cpu_s: float, events: int) -> float | None:
    return round(cpu_s / events * 1e6, 1) if events else None


async def run_senders(senders: int, seconds: float, one: Callable[[int], object]) -> float:
    """``senders`` tasks each calling ``one(sender)`` until ``seconds`` have passed; the wall time taken."""
    deadline = time.perf_counter() + seconds

    async def sender(k: int) -> None:
        while time.perf_counter() < deadline:
            await one(k)

    t0 = time.perf_counter()
    await asyncio.gather(*(sender(k) for k in range(senders)))
    return time.perf_counter() - t0


def bare_config(linger_ms: int) -> dict:
    return {"acks": "all", "enable_idempotence": True, "linger_ms": linger_ms}


async def bare_phase(producer: AIOKafkaProducer, events: Events, senders: int, batch: int, seconds: float) -> Phase:
    phase = Phase()
    cpu0 = time.process_time()

    async def one(_: int) -> None:
        docs = events.batch(batch)
        t0 = time.perf_counter()
        futures = [await producer.send(BARE_TOPIC, orjson.dumps(d), key=d["ticket_id"].encode(),
                                       timestamp_ms=events.base_ms) for d in docs]
        await asyncio.gather(*futures)
        phase.latencies_s.append(time.perf_counter() - t0)
        phase.requests += 1
        phase.events += len(docs)

    phase.seconds = await run_senders(senders, seconds, one)
    phase.cpu_s = time.process_time() - cpu0
    return phase


def body_of(docs: list[dict]) -> bytes:
    return orjson.dumps(docs[0] if len(docs) == 1 else docs)


async def post(session: aiohttp.ClientSession, url: str, body: bytes, events: int) -> int | str:
    """The gateway's answer to one request of ``events`` events: its status, or "miscounted" for a 200
    whose ``{"events": n}`` is not that count."""
    async with session.post(url, data=body, headers={"Authorization": f"Bearer {TOKEN}",
                                                     "Content-Type": "application/json"}) as resp:
        text = await resp.read()
        if resp.status == 200 and orjson.loads(text).get("events") != events:
            return "miscounted"
        return resp.status


async def gateway_phase(gateway: Gateway, events: Events, senders: int, batch: int, seconds: float) -> Phase:
    phase = Phase()
    url = f"{gateway.url}/v1/events"
    cpu0, gateway_cpu0 = time.process_time(), gateway.cpu_s()
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=senders)) as session:

        async def one(_: int) -> None:
            docs = events.batch(batch)
            body = body_of(docs)
            t0 = time.perf_counter()
            try:
                status = await post(session, url, body, len(docs))
            except aiohttp.ClientError as exc:
                phase.failures[type(exc).__name__] += 1
                return
            if status == 200:
                phase.latencies_s.append(time.perf_counter() - t0)
                phase.requests += 1
                phase.events += len(docs)
            else:
                phase.failures[str(status)] += 1

        phase.seconds = await run_senders(senders, seconds, one)
    phase.cpu_s, phase.client_cpu_s = gateway.cpu_s() - gateway_cpu0, time.process_time() - cpu0
    return phase


class Gateway:
    """``sla-pipeline ingest`` in a session of its own, on a free port, writing to ``topic``."""

    COMMAND = (sys.executable, "-m", "pipeline.cli", "ingest")

    def __init__(self, work: Path, bootstrap: str, topic: str, name: str) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        token = work / "token"
        token.write_text(TOKEN + "\n")
        env = {"KAFKA_BOOTSTRAP_SERVERS": bootstrap, "SLA_INGEST_PORT": str(self.port), "SLA_WEB_HOST": "127.0.0.1",
               "SLA_INGEST_TOKEN_FILE": str(token), "SLA_TOPIC_EVENTS": topic, "SLA_TOPIC_DLQ": DLQ,
               "SLA_LOG_LEVEL": "warning"}
        env = {k: v for k, v in os.environ.items() if not k.startswith("SLA_INGEST_")} | env
        self.log_path = work / f"{name}.log"
        with open(self.log_path, "ab") as log:
            self.proc = subprocess.Popen(self.COMMAND, env=env, cwd=ROOT,
                                         stdout=log, stderr=subprocess.STDOUT, start_new_session=True)

    def wait_ready(self, timeout_s: float = 120) -> None:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise SystemExit(f"the gateway exited ({self.proc.returncode}):\n{self.log_path.read_text()[-3000:]}")
            try:
                with urllib.request.urlopen(f"{self.url}/readyz", timeout=2) as resp:
                    if resp.status == 200:
                        return
            except (OSError, urllib.error.URLError):
                pass
            time.sleep(0.3)
        raise SystemExit(f"the gateway was not ready within {timeout_s:.0f} s; log: {self.log_path}")

    def accepted(self) -> float | None:
        """``sla_ingest_requests_total{source="events",result="accepted"}``, or None when it is not exported."""
        from prometheus_client.parser import text_string_to_metric_families

        with urllib.request.urlopen(f"{self.url}/metrics", timeout=5) as resp:
            text = resp.read().decode()
        values = [s.value for f in text_string_to_metric_families(text) for s in f.samples
                  if s.name == "sla_ingest_requests_total" and s.labels.get("source") == "events"
                  and s.labels.get("result") == "accepted"]
        return sum(values) if values else None

    def cpu_s(self) -> float:
        """CPU seconds the gateway process has used (user and system)."""
        fields = Path(f"/proc/{self.proc.pid}/stat").read_text().rpartition(")")[2].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def kill(self) -> None:
        os.killpg(self.proc.pid, signal.SIGKILL)
        self.proc.wait(30)


async def read_ids(bootstrap: str, topic: str) -> tuple[Counter, int]:
    """Every event id on the topic, with how often each is there; and how many records have a key other
    than their ticket id."""
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, group_id=None, enable_auto_commit=False)
    await consumer.start()
    try:
        tps = [TopicPartition(topic, p) for p in range(PARTITIONS)]
        consumer.assign(tps)
        await consumer.seek_to_beginning(*tps)
        ends = await consumer.end_offsets(tps)
        ids: Counter = Counter()
        miskeyed = 0
        while [tp for tp in tps if await consumer.position(tp) < ends[tp]]:
            for records in (await consumer.getmany(timeout_ms=1000, max_records=10_000)).values():
                for r in records:
                    doc = orjson.loads(r.value)
                    ids[doc["event_id"]] += 1
                    miskeyed += r.key != doc["ticket_id"].encode()
        return ids, miskeyed
    finally:
        await consumer.stop()


async def topic_size(bootstrap: str, topic: str) -> int:
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, group_id=None, enable_auto_commit=False)
    await consumer.start()
    try:
        tps = [TopicPartition(topic, p) for p in range(PARTITIONS)]
        return sum((await consumer.end_offsets(tps)).values())
    finally:
        await consumer.stop()


async def rates(bootstrap: str, gateway: Gateway, seconds: float, base_ms: int, linger_ms: int) -> list[dict]:
    """Each (senders, batch): the bare producer, then the gateway, one right after the other."""
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, **bare_config(linger_ms))
    await producer.start()
    try:
        warm = Events("warm", base_ms)  # connections, metadata, the gateway's first requests
        await bare_phase(producer, warm, 2, 10, min(1.0, seconds))
        await gateway_phase(gateway, warm, 2, 10, min(1.0, seconds))
        rows = []
        for senders, batch in itertools.product(SENDERS, BATCHES):
            run = f"s{senders}b{batch}"
            bare = await bare_phase(producer, Events(f"bare-{run}", base_ms), senders, batch, seconds)
            through = await gateway_phase(gateway, Events(f"gw-{run}", base_ms), senders, batch, seconds)
            b, g = bare.summary(), through.summary()
            ratio = round(g["events_per_s"] / b["events_per_s"], 3) if b["events_per_s"] else None
            rows.append({"senders": senders, "batch": batch, "gateway": g, "bare_producer": b,
                         "events_per_s_ratio": ratio})
            print(f"senders {senders:>2} batch {batch:>3}: gateway {g['events_per_s']:>9.1f} events/s "
                  f"p50 {g['p50_ms']} ms p99 {g['p99_ms']} ms; bare {b['events_per_s']:>9.1f} events/s "
                  f"p50 {b['p50_ms']} ms p99 {b['p99_ms']} ms; ratio {ratio}; CPU per event: gateway "
                  f"{g['cpu_us_per_event']} us (+ client {g['client_cpu_us_per_event']} us), bare "
                  f"{b['cpu_us_per_event']} us", file=sys.stderr, flush=True)
        return rows
    finally:
        await producer.stop()


@dataclass
class Sent:
    """One request of the kill phase: its events' ids, its body, and its answer (None: no answer)."""

    ids: list[str]
    body: bytes
    status: int | str | None = None


async def load_until_killed(gateway: Gateway, events: Events, senders: int, kill_after_s: float) -> list[Sent]:
    """``senders`` senders (even ones batches of 1, odd ones of 100) until the gateway is killed."""
    sent: list[Sent] = []
    killed = asyncio.Event()
    url = f"{gateway.url}/v1/events"
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=senders)) as session:

        async def sender(k: int) -> None:
            while not killed.is_set():
                docs = events.batch(1 if k % 2 == 0 else 100)
                request = Sent([d["event_id"] for d in docs], body_of(docs))
                sent.append(request)
                try:
                    request.status = await post(session, url, request.body, len(request.ids))
                except aiohttp.ClientError:
                    return  # the gateway is gone: this request has no answer

        async def killer() -> None:
            await asyncio.sleep(kill_after_s)
            await asyncio.to_thread(gateway.kill)
            killed.set()

        await asyncio.gather(killer(), *(sender(k) for k in range(senders)))
    return sent


def ok(request: Sent) -> bool:
    return isinstance(request.status, int) and 200 <= request.status < 300


async def resend(url: str, requests: list[Sent]) -> None:
    async with aiohttp.ClientSession() as session:
        for request in requests:
            request.status = await post(session, f"{url}/v1/events", request.body, len(request.ids))


def kill_phase(work: Path, bootstrap: str, base_ms: int, kill_after_s: float) -> dict:
    gateway = Gateway(work, bootstrap, KILL_TOPIC, "gateway-kill")
    try:
        gateway.wait_ready()
        sent = asyncio.run(load_until_killed(gateway, Events("kill", base_ms), 10, kill_after_s))
    finally:
        if gateway.proc.poll() is None:
            gateway.kill()
    answered = [r for r in sent if ok(r)]
    unanswered = [r for r in sent if not ok(r)]
    on_topic, miskeyed = asyncio.run(read_ids(bootstrap, KILL_TOPIC))
    lost = sum(1 for r in answered for i in r.ids if i not in on_topic)
    landed_unanswered = sum(1 for r in unanswered for i in r.ids if i in on_topic)
    statuses_unanswered = dict(Counter("no answer" if r.status is None else str(r.status) for r in unanswered))
    restarted = Gateway(work, bootstrap, KILL_TOPIC, "gateway-restarted")
    try:
        restarted.wait_ready()
        asyncio.run(resend(restarted.url, unanswered))
    finally:
        stop([restarted.proc], 60)
    after, miskeyed_after = asyncio.run(read_ids(bootstrap, KILL_TOPIC))
    every_id = [i for r in sent for i in r.ids]
    print(f"kill -9 after {kill_after_s:g} s: {len(answered)} requests answered 2xx, {lost} of their events missing; "
          f"{len(unanswered)} unanswered, resent", file=sys.stderr, flush=True)
    return {
        "senders": 10,
        "seconds_before_kill": kill_after_s,
        "requests_answered_2xx": len(answered),
        "events_answered_2xx": sum(len(r.ids) for r in answered),
        "requests_unanswered": len(unanswered),
        "statuses_unanswered": statuses_unanswered,
        "events_of_unanswered_already_on_topic": landed_unanswered,
        "answered_events_missing_after_kill": lost,
        "resent_requests_answered_2xx": sum(1 for r in unanswered if ok(r)),
        "events_missing_after_resend": sum(1 for i in every_id if i not in after),
        "duplicate_records_after_resend": sum(n - 1 for n in after.values() if n > 1),
        "records_keyed_otherwise_than_ticket_id": miskeyed + miskeyed_after,
        "gateway_restarted_exit_code": restarted.proc.returncode,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, help="each rate phase (default 10)")
    parser.add_argument("--kill-after", type=float, help="seconds of load before the kill (default 5)")
    parser.add_argument("--bare-linger-ms", type=int, default=0,
                        help="the bare producer's linger_ms (default 0, aiokafka's; the gateway's sink uses 5)")
    parser.add_argument("--quick", action="store_true", help="1.5 s per phase, kill after 2 s")
    parser.add_argument("--kafka-version", default="3.9.1")
    parser.add_argument("--out", default=str(ROOT / "bench" / "results" / "ingest.json"))
    args = parser.parse_args()
    seconds = args.seconds or (1.5 if args.quick else 10.0)
    kill_after = args.kill_after or (2.0 if args.quick else 5.0)
    work = Path(tempfile.mkdtemp(prefix="bench-ingest-"))
    port = 30300 + os.getpid() % 50
    broker = EmbeddedKafka(home=work / "kafka", version=args.kafka_version, port=port, heap="1g")
    broker.start()
    gateway = None
    done = False
    try:
        asyncio.run(ensure_topics(broker.bootstrap, {t: PARTITIONS for t in (TOPIC, BARE_TOPIC, KILL_TOPIC, DLQ)}))
        base_ms = int(time.time() * 1000)
        gateway = Gateway(work, broker.bootstrap, TOPIC, "gateway")
        gateway.wait_ready()
        rows = asyncio.run(rates(broker.bootstrap, gateway, seconds, base_ms, args.bare_linger_ms))
        accepted = gateway.accepted()
        stop([gateway.proc], 60)
        answered = sum(r["gateway"]["events"] for r in rows)
        on_topic = asyncio.run(topic_size(broker.bootstrap, TOPIC))
        kill = kill_phase(work, broker.bootstrap, base_ms, kill_after)
        at_100 = {str(r["senders"]): r["events_per_s_ratio"] for r in rows if r["batch"] == 100}
        result = {
            "partitions": PARTITIONS,
            "seconds_per_phase": seconds,
            "bare_producer_config": bare_config(args.bare_linger_ms),
            "phases": rows,
            "batch_100_events_per_s_ratio": at_100,
            "target_ratio": TARGET_RATIO,
            "target_met": all(v is not None and v >= TARGET_RATIO for v in at_100.values()),
            # events answered 200 in the rate phases (the warm-up's excluded) against the topic's records
            # (which include the warm-up's): never fewer on the topic
            "rate_phases_events_answered": answered,
            "rate_phases_records_on_topic": on_topic,
            "gateway_accepted_metric": accepted,
            "gateway_exit_code_on_sigterm": gateway.proc.returncode,
            "kill": kill,
            "command": " ".join(["bench/ingest.py", *sys.argv[1:]]),
        }
        write_result(args.out, result)
        done = True
        return 0
    finally:
        if gateway is not None and gateway.proc.poll() is None:
            stop([gateway.proc], 60)
        broker.stop()
        if done:
            shutil.rmtree(work, ignore_errors=True)
        else:
            print(f"bench: the broker's and the gateways' logs are in {work}", file=sys.stderr)


if __name__ == "__main__":
    sys.exit(main())
