"""Storage failures stop the worker, not the data: a real worker on a small tmpfs that fills up.

The test mounts its own tmpfs (it needs root, as CI has); the worker's RocksDB state lives there.
"""

from __future__ import annotations

import os
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import orjson
import pytest

from pipeline.domain.timefmt import format_rfc3339_ms
from tests.integration.conftest import ROOT, Broker, Topics, collect_unique, consume, produce

MIN = 60_000


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    disk = tmp_path / "disk"
    disk.mkdir()
    if os.geteuid() != 0:
        pytest.skip("mounting a tmpfs needs root")
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=256m", "tmpfs", str(disk)], capture_output=True,
                             text=True, check=False)
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {mounted.stderr.strip()}")
    yield disk
    subprocess.run(["umount", "-l", str(disk)], check=False)


def fill(disk: Path) -> Path:
    """Write a file until the file system is full; returns it (delete it to free the space)."""
    filler = disk / "filler"
    with open(filler, "wb", buffering=0) as f:
        for size in (1 << 20, 4096, 1):
            try:
                while True:
                    f.write(b"\0" * size)
            except OSError:
                pass
    return filler


def tickets(prefix: str, n: int) -> list[tuple[bytes, bytes]]:
    now = int(time.time() * 1000)
    out = []
    for i in range(n):
        tid = f"{prefix}-{i}"
        for doc in ({"type": "ticket.created", "severity": 3, "product": "automation", "customer_id": "C-1",
                     "occurred_at": format_rfc3339_ms(now - 2 * MIN)},
                    {"type": "ticket.responded", "engineer_id": "E-1", "occurred_at": format_rfc3339_ms(now - MIN)}):
            out.append((tid.encode(), orjson.dumps({"event_id": f"{tid}-{doc['type']}", "ticket_id": tid, **doc})))
    return out


async def test_a_full_disk_stops_the_worker_without_dead_lettering_and_a_restart_loses_nothing(
    broker: Broker, topics: Topics, worker_factory, small_disk: Path,
) -> None:
    worker = worker_factory(SLA_DATA_DIR=str(small_disk / "data")).start()
    await produce(broker.bootstrap, topics.events, tickets("A", 20))
    await collect_unique(broker.bootstrap, topics.outcomes, "outcome_id", want=20, timeout=60)

    filler = fill(small_disk)
    await produce(broker.bootstrap, topics.events, tickets("B", 20))
    try:
        code = worker.proc.wait(60)
    except subprocess.TimeoutExpired:
        pytest.fail(f"the worker kept running on a full disk:\n{worker.log_tail()}")
    log = worker.log_path.read_text(errors="replace")
    assert code == 74, log[-3000:]
    assert "state store failed: writing table" in log and "No space left on device" in log
    assert "Stopping the worker without committing (exit 74)" in log
    assert await consume(broker.bootstrap, topics.dlq, want=1, timeout=5) == []  # the data was fine

    restarted = subprocess.run(worker.proc.args, env=worker.env, cwd=ROOT, capture_output=True, text=True, timeout=120,
                               check=False)  # the orchestrator's restart, onto the still-full disk
    assert restarted.returncode == 74
    assert f"SLA_DATA_DIR {small_disk / 'data'} cannot take the worker's state: No space left on device" in (
        restarted.stderr)

    filler.unlink()  # space again
    worker.start()
    _, copies = await collect_unique(broker.bootstrap, topics.outcomes, "outcome_id", want=40, timeout=120)
    assert {o["ticket_id"] for v in copies.values() for o in v} == {f"{p}-{i}" for p in "AB" for i in range(20)}
    assert await consume(broker.bootstrap, topics.dlq, want=1, timeout=5) == []
