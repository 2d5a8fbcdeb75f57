"""A single-node Apache Kafka (KRaft) broker for the demo and the tests, run from Maven Central's jars.

``EmbeddedKafka(...).start()`` resolves ``org.apache.kafka:kafka_2.13:<version>`` and its runtime
dependencies with Maven into a cache (once per version), formats KRaft storage (once per data dir),
starts ``kafka.Kafka`` with ``java`` in its own session, and returns when a metadata request
succeeds. It is idempotent: starting a running broker returns it. ``stop()`` ends it by its own pid.

Every listener is on 127.0.0.1. The KRaft controller's port, unless given, is the first free one from
``port + 100`` (9192 for the default 9092): ``port + 1`` would be 9093, Alertmanager's default. It is chosen
at each start (the configuration is written anew then), so a restart of the same home finds another if that
one was taken meanwhile; status and stop go by the pid file and the client port, never by this one.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import dataclasses
import os
import shutil
import signal
import socket
import subprocess
import time
import uuid
from pathlib import Path

from pipeline.errors import BrokerError
from pipeline.kafka import jars
from pipeline.kafka.secured import Secured
from pipeline.settings import DEFAULT_KAFKA_VERSION

MESSAGE_MAX_BYTES = 8 * 1024 * 1024 + 1024
CONTROLLER_OFFSET = 100  # the controller's port: the first free one of port+100 .. port+199


def default_cache() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "sla-pipeline" / "kafka"


@dataclasses.dataclass(frozen=True)
class BrokerStatus:
    running: bool
    pid: int | None
    version: str | None
    bootstrap: str
    home: Path
    log_file: Path

    def describe(self) -> str:
        if self.running:
            return f"Kafka {self.version} running at {self.bootstrap} (pid {self.pid}); log: {self.log_file}"
        return f"Kafka not running at {self.bootstrap} (state in {self.home})"


class EmbeddedKafka:
    def __init__(
        self,
        *,
        home: Path,
        version: str = DEFAULT_KAFKA_VERSION,
        port: int = 9092,
        controller_port: int | None = None,
        cache: Path | None = None,
        heap: str = "768m",
        java: str = "java",
        mvn: str = "mvn",
        secured: Secured | None = None,
    ) -> None:
        if not version or not all(part.isdigit() for part in version.split(".")):
            raise BrokerError(f"Kafka version must look like 3.9.1, got {version!r}")
        self.home = home.resolve()
        self.version = version
        self.port = port
        self.controller_port = controller_port  # None: chosen at start (choose_controller_port)
        self.cache = (cache or default_cache()).resolve()
        self.heap = heap
        self.java = java
        self.mvn = mvn
        self.secured = secured

    # --- paths --------------------------------------------------------------------------------
    @property
    def major(self) -> int:
        return jars.major(self.version)

    @property
    def data_dir(self) -> Path:
        return self.home / "data"

    @property
    def log_file(self) -> Path:
        return self.home / "logs" / "server.log"

    @property
    def pid_file(self) -> Path:
        return self.home / "kafka.pid"

    @property
    def bootstrap(self) -> str:
        return f"127.0.0.1:{self.port}"

    # --- jars ---------------------------------------------------------------------------------
    def resolve_jars(self) -> Path:
        """Fetch the broker's jars with Maven into the cache (once per version)."""
        return jars.resolve(self.version, self.cache / self.version, self.mvn)

    def _pom(self) -> str:
        return jars.pom(self.version)

    # --- configuration ------------------------------------------------------------------------
    def choose_controller_port(self) -> int:
        """The port given, else the first free one from port + CONTROLLER_OFFSET (see the module's docstring)."""
        if self.controller_port is not None:
            return self.controller_port
        first = self.port + CONTROLLER_OFFSET
        for port in range(first, min(first + CONTROLLER_OFFSET, 65536)):
            if _free(port):
                return port
        raise BrokerError(f"no free port for the Kafka controller in {first}-{first + CONTROLLER_OFFSET - 1} "
                          "on 127.0.0.1; choose another --kafka-port")

    def _write_config(self, controller_port: int) -> Path:
        (self.home / "logs").mkdir(parents=True, exist_ok=True)
        served = [f"PLAINTEXT://127.0.0.1:{self.port}"]
        if self.secured is not None:
            served += [f"SASL_SSL://127.0.0.1:{self.secured.sasl_ssl_port}", f"SSL://127.0.0.1:{self.secured.ssl_port}"]
        props = {
            "process.roles": "broker,controller",
            "node.id": "1",
            "controller.quorum.voters": f"1@127.0.0.1:{controller_port}",
            "listeners": ",".join([*served, f"CONTROLLER://127.0.0.1:{controller_port}"]),
            "advertised.listeners": ",".join(served),
            "controller.listener.names": "CONTROLLER",
            "inter.broker.listener.name": "PLAINTEXT",
            "listener.security.protocol.map": "PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT,SASL_SSL:SASL_SSL,SSL:SSL",
            "log.dirs": str(self.data_dir),
            "num.partitions": "4",
            "offsets.topic.replication.factor": "1",
            "offsets.topic.num.partitions": "8",
            "transaction.state.log.replication.factor": "1",
            "transaction.state.log.min.isr": "1",
            "transaction.state.log.num.partitions": "4",
            "group.initial.rebalance.delay.ms": "0",
            "message.max.bytes": str(MESSAGE_MAX_BYTES),
            "replica.fetch.max.bytes": str(MESSAGE_MAX_BYTES),
            # Records carry their event's time (contract: timestamp = occurred_at), so time-based retention
            # would delete a replayed export's events within minutes of their arrival, before any worker
            # read them. This broker keeps records by size instead.
            "log.retention.ms": "-1",
            "log.retention.bytes": str(2 * 1024**3),  # per partition
        }
        if self.secured is not None:
            props.update(self.secured.properties())
        if self.major >= 4:
            props["share.coordinator.state.topic.replication.factor"] = "1"
            props["share.coordinator.state.topic.min.isr"] = "1"
        path = self.home / "server.properties"
        path.write_text("".join(f"{k}={v}\n" for k, v in props.items()))
        log = str(self.log_file)
        if self.major >= 4:
            (self.home / "log4j2.properties").write_text(
                "status = warn\nappender.file.type = File\nappender.file.name = FILE\n"
                f"appender.file.fileName = {log}\nappender.file.layout.type = PatternLayout\n"
                "appender.file.layout.pattern = [%d] %p %m (%c)%n\n"
                "rootLogger.level = INFO\nrootLogger.appenderRef.file.ref = FILE\n"
            )
        else:
            (self.home / "log4j.properties").write_text(
                "log4j.rootLogger=INFO, file\nlog4j.appender.file=org.apache.log4j.FileAppender\n"
                f"log4j.appender.file.File={log}\nlog4j.appender.file.layout=org.apache.log4j.PatternLayout\n"
                "log4j.appender.file.layout.ConversionPattern=[%d] %p %m (%c)%n\n"
            )
        return path

    def _log_flag(self) -> str:
        if self.major >= 4:
            return f"-Dlog4j2.configurationFile={self.home / 'log4j2.properties'}"
        return f"-Dlog4j.configuration=file:{self.home / 'log4j.properties'}"

    def _java(self, *args: str) -> list[str]:
        return [self.java, self._log_flag(), "-cp", f"{self.cache / self.version / jars.LIB}/*", *args]

    def _format(self, config: Path) -> None:
        stamp = self.home / "version"
        if (self.data_dir / "meta.properties").exists():
            formatted_by = stamp.read_text().strip() if stamp.exists() else None
            if formatted_by and formatted_by != self.version:
                raise BrokerError(
                    f"{self.data_dir} holds data of Kafka {formatted_by}, not {self.version}; "
                    "start that version, or remove the folder for a fresh broker (`kafka start --fresh`)"
                )
            return
        proc = subprocess.run(
            self._java("kafka.tools.StorageTool", "format", f"--cluster-id={new_cluster_id()}", "-c", str(config),
                       *(self.secured.format_args() if self.secured else [])),
            capture_output=True, text=True, check=False,
        )
        if proc.returncode != 0:
            raise BrokerError(f"formatting KRaft storage failed:\n{proc.stdout}{proc.stderr}")
        stamp.write_text(self.version)

    # --- lifecycle ----------------------------------------------------------------------------
    def status(self) -> BrokerStatus:
        pid = self._live_pid()
        version = None
        stamp = self.home / "version"
        if stamp.exists():
            version = stamp.read_text().strip()
        return BrokerStatus(pid is not None and _ready(self.bootstrap), pid, version, self.bootstrap,
                            self.home, self.log_file)

    def start(self, *, timeout_s: float = 120.0, fresh: bool = False) -> BrokerStatus:
        pid = self._live_pid()
        if pid is not None:
            self._wait_ready(pid, timeout_s)
            return self.status()
        if fresh:
            shutil.rmtree(self.data_dir, ignore_errors=True)
            (self.home / "version").unlink(missing_ok=True)
        controller_port = self.choose_controller_port()
        for port in (self.port, controller_port):
            if not _free(port):
                raise BrokerError(f"port {port} on 127.0.0.1 is in use by another program; "
                                  "choose another with --kafka-port")
        if shutil.which(self.java) is None:
            raise BrokerError("Java ('java', 17 or newer) is not installed; the broker runs on it")
        self.resolve_jars()
        config = self._write_config(controller_port)
        self._format(config)
        out = open(self.home / "logs" / "stdout.log", "ab")  # noqa: SIM115 - the child owns it now
        proc = subprocess.Popen(
            [self.java, f"-Xms{self.heap}", f"-Xmx{self.heap}", "-XX:+UseG1GC", "-Djava.awt.headless=true",
             f"-Dkafka.logs.dir={self.home / 'logs'}", *self._java("kafka.Kafka", str(config))[1:]],
            stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
            cwd=self.home, start_new_session=True,
        )
        out.close()
        self.pid_file.write_text(str(proc.pid))
        try:
            self._wait_ready(proc.pid, timeout_s)
        except BrokerError:
            self.stop()
            raise
        return self.status()

    def stop(self, *, timeout_s: float = 30.0) -> bool:
        """Stop the broker this home started; True if one was running."""
        pid = self._live_pid()
        if pid is None:
            self.pid_file.unlink(missing_ok=True)
            return False
        with contextlib.suppress(ProcessLookupError):
            os.killpg(pid, signal.SIGTERM)
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline and _alive(pid):
            time.sleep(0.1)
        if _alive(pid):
            with contextlib.suppress(ProcessLookupError):
                os.killpg(pid, signal.SIGKILL)
            while _alive(pid):
                time.sleep(0.05)
        self.pid_file.unlink(missing_ok=True)
        return True

    def _live_pid(self) -> int | None:
        try:
            pid = int(self.pid_file.read_text().strip())
        except (OSError, ValueError):
            return None
        try:
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
        except OSError:
            return None
        # A recycled pid belongs to some other program: only ours runs kafka.Kafka with our config.
        if b"kafka.Kafka" in cmdline and str(self.home / "server.properties").encode() in cmdline:
            return pid if _alive(pid) else None
        return None

    def _wait_ready(self, pid: int, timeout_s: float) -> None:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if not _alive(pid):
                raise BrokerError(f"Kafka exited during start-up; last lines of {self.log_file}:\n{self._tail()}")
            if _ready(self.bootstrap):
                return
            time.sleep(0.5)
        raise BrokerError(f"Kafka did not answer a metadata request within {timeout_s:g} s:\n{self._tail()}")

    def _tail(self, lines: int = 25) -> str:
        text = ""
        for path in (self.log_file, self.home / "logs" / "stdout.log"):
            with contextlib.suppress(OSError):
                text += "\n".join(path.read_text(errors="replace").splitlines()[-lines:]) + "\n"
        return text


def new_cluster_id() -> str:
    """A KRaft cluster id: 16 random bytes, base64url. Like Kafka's own Uuid, never starting with '-'
    (a command line would read it as an option)."""
    while True:
        cluster_id = base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")
        if not cluster_id.startswith("-"):
            return cluster_id


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            state = f.read().rsplit(")", 1)[1].split()[0]
        return state not in ("Z", "X")
    except (OSError, IndexError):
        return False


def _free(port: int) -> bool:
    """Could the broker listen on 127.0.0.1:port? Bound as Java binds (SO_REUSEADDR: a port left in TIME_WAIT
    by the broker's own last run is free); a listener on any address, or a connection's local port, is not."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def _ready(bootstrap: str) -> bool:
    """True when the broker answers a metadata request (not merely an open port)."""
    import logging

    from aiokafka import AIOKafkaClient

    quiet = logging.getLogger("aiokafka")
    level, quiet.level = quiet.level, logging.CRITICAL  # "connection refused" is the expected answer here

    async def probe() -> bool:
        client = AIOKafkaClient(bootstrap_servers=bootstrap, request_timeout_ms=3000)
        try:
            await asyncio.wait_for(client.bootstrap(), 5)
            return len(client.cluster.brokers()) > 0
        except Exception:  # noqa: BLE001 - any failure just means "not ready yet"
            return False
        finally:
            await client.close()

    try:
        return asyncio.run(probe())
    finally:
        quiet.setLevel(level)
