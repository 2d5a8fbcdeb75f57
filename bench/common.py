"""What the harnesses in bench/ share: producing and reading topics in bulk, starting and stopping
workers, and writing a result. Imported by the scripts beside it (``python bench/<name>.py``)."""

from __future__ import annotations

import asyncio
import json
import os
import platform
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterable
from pathlib import Path

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from pipeline.domain.timefmt import format_rfc3339_ms  # noqa: E402

Row = tuple[str, int | None, bytes | None, bytes]  # topic, partition (None: by key), key, value


async def produce_all(bootstrap: str, rows: Iterable[Row], stamp: Callable[[Row], int | None] | None = None) -> None:
    """Send every row, in order, waiting for the broker's acks 20,000 at a time; ``stamp(row)`` gives a
    row's record timestamp (default: the producer's clock)."""
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, linger_ms=20, max_batch_size=512 * 1024, acks=1)
    await producer.start()
    try:
        pending = []
        for row in rows:
            topic, partition, key, value = row
            pending.append(await producer.send(topic, value, key=key, partition=partition,
                                               timestamp_ms=None if stamp is None else stamp(row)))
            if len(pending) >= 20_000:
                await asyncio.gather(*pending)
                pending.clear()
        await asyncio.gather(*pending)
    finally:
        await producer.stop()


async def read_all(bootstrap: str, topic: str, partitions: int, n: int,
                   each: Callable[[bytes], object] | None = None) -> float:
    """Seconds a bare consumer takes to read n records of the topic from the start (calling ``each`` on
    every value, if given)."""
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, group_id=None, enable_auto_commit=False,
                                max_partition_fetch_bytes=4 * 1024 * 1024, fetch_max_bytes=16 * 1024 * 1024)
    await consumer.start()
    try:
        tps = [TopicPartition(topic, p) for p in range(partitions)]
        consumer.assign(tps)
        await consumer.seek_to_beginning(*tps)
        seen = 0
        t0 = time.monotonic()
        while seen < n:
            for records in (await consumer.getmany(timeout_ms=1000, max_records=10_000)).values():
                if each is not None:
                    for r in records:
                        each(r.value)
                seen += len(records)
        return time.monotonic() - t0
    finally:
        await consumer.stop()


def start_worker(env: dict[str, str], log_path: Path) -> subprocess.Popen:
    """``sla-pipeline worker`` in a session of its own, with ``env`` over this environment."""
    log = open(log_path, "wb")  # noqa: SIM115 - the child keeps writing to it
    try:
        return subprocess.Popen([sys.executable, "-m", "pipeline.cli", "worker"], env={**os.environ, **env},
                                cwd=ROOT, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    finally:
        log.close()  # the child has its own copy


def stop(procs: Iterable[subprocess.Popen], timeout_s: float = 120) -> None:
    """SIGTERM to each process group still running, then wait for all of them."""
    procs = list(procs)
    for proc in procs:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGTERM)
    for proc in procs:
        proc.wait(timeout_s)


def write_result(out: str, result: dict) -> None:
    """Add the machine and the time, write the JSON to ``out`` and print it."""
    result = {
        **result,
        "machine": f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}",
        "measured_at": format_rfc3339_ms(int(time.time() * 1000)),
    }
    Path(out).parent.mkdir(parents=True, exist_ok=True)
    Path(out).write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))


def quix_python() -> Path:
    """The Python of ``.venv-quix``, the bench-only environment of the quix-streams reference, made (or remade
    when ``bench/requirements-quix.txt`` changed) with the pinned requirements. Raises SystemExit saying why
    when pip fails."""
    import hashlib

    requirements = ROOT / "bench" / "requirements-quix.txt"
    venv = ROOT / ".venv-quix"
    python = venv / "bin" / "python"
    stamp = venv / ".installed"
    want = hashlib.sha256(requirements.read_bytes()).hexdigest()[:16]
    if python.exists() and stamp.exists() and stamp.read_text().strip() == want:
        return python
    print(f"bench: making {venv} for the quix-streams reference (pip, once)", file=sys.stderr, flush=True)
    steps = [[sys.executable, "-m", "venv", "--clear", str(venv)],
             [str(python), "-m", "pip", "install", "-q", "--no-deps", "-r", str(requirements)]]
    for step in steps:
        done = subprocess.run(step, capture_output=True, text=True)
        if done.returncode != 0:
            raise SystemExit(f"bench: {' '.join(step[:4])} failed:\n{done.stdout}{done.stderr}")
    stamp.write_text(want + "\n")
    return python
