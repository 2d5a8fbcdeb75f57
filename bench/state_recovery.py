"""State size per open ticket, worker RSS, and recovery time, with N open tickets (issue 8, items 3 and 4).

1. N open tickets (synthetic ``ticket.created`` events with the default profile's severity mix and the
   simulator's id shapes, every second one assigned, one second apart, so the early Sev1 and Sev2
   deadlines pass and their escalations fire) go through the pure core exactly as a worker would
   process them, its commits keeping up. Each ticket's serialized state is measured: mean, p99, max
   bytes (target: <= 1 KiB). Also the worst case, with nothing ever committed so every output stays
   in its ticket's outbox, over up to 100,000 tickets. And (issue 26) up to 100,000 open tickets under
   the shipped example policy's gold contract with its four clocks: created (Sev1 or Sev2, the
   severities gold judges every metric at), assigned, answered (IRT met), waiting on the customer, and
   a customer reply (a next-response clock), 5 ms apart, so next response, workaround and resolution
   (paused once) are all running at the end (target: p99 <= 1 KiB).
2. What that worker leaves in Kafka is written there: the events on ``tickets.events``, the consumer
   group's offsets committed at their end, and the states on the ``tickets`` table's changelog, each
   on the partition the ticket's events hash to.
3. Baseline: a bare aiokafka consumer reads the whole changelog (the least any recovery must do).
4. A worker starts on an empty data directory: it rebuilds its RocksDB tables from the changelog and
   then its in-memory index. Time from start until it logs "state rebuilt", and its RSS then.
5. It stops cleanly and starts again on its local RocksDB: the same two numbers.
6. For comparison, the RSS of a worker of another app id, on an empty events topic: no tickets at all.

    .venv/bin/python bench/state_recovery.py                 # full: 1,000,000 tickets
    .venv/bin/python bench/state_recovery.py --quick         # 2,000 tickets: keeps the harness alive
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path

import orjson
from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.partitioner import murmur2
from common import ROOT, Row, produce_all, read_all, start_worker, stop, write_result

from pipeline.domain.clock import EventPartitionClock, ManualClock
from pipeline.domain.policy import Policy, load_policy
from pipeline.domain.timefmt import format_rfc3339_ms
from pipeline.kafka.admin import ensure_topics
from pipeline.kafka.embedded import EmbeddedKafka
from pipeline.metrics import Metrics
from pipeline.processing.io import Record
from pipeline.processing.processor import Processor

PARTITIONS = 4
APP_ID = "bench-state"
CHANGELOG = f"{APP_ID}-tickets-changelog"
START = 1_767_225_600_000  # 2026-01-01T00:00:00Z
SEVERITY_MIX = (0.02, 0.13, 0.55, 0.30)  # deploy/profiles/default.toml, desktop
EXAMPLE = ROOT / "pipeline" / "resources" / "policy.example.toml"
PRODUCTS = ("desktop", "server", "cloud")


def partition_of(key: bytes) -> int:
    """Kafka's default partitioner, as the producers of tickets.events use it."""
    return (murmur2(key) & 0x7FFFFFFF) % PARTITIONS


class MemoryStore:
    """The processor's Store over dicts, keeping each ticket's bytes as the table would hold them."""

    def __init__(self) -> None:
        self.tickets: dict[str, bytes] = {}
        self.partition: dict[str, int] = {}
        self.events: list[tuple[int, bytes, bytes]] = []  # (partition, key, value) in processing order

    def get(self, ticket_id: str):  # noqa: ANN201
        from pipeline.domain.ticket import TicketState

        raw = self.tickets.get(ticket_id)
        return None if raw is None else TicketState.from_bytes(ticket_id, raw)

    def put(self, state) -> None:  # noqa: ANN001
        self.tickets[state.ticket_id] = state.to_bytes()
        self.partition[state.ticket_id] = state.partition

    def delete(self, ticket_id: str) -> None:
        self.tickets.pop(ticket_id, None)

    def get_clock(self, partition: int) -> None:
        return None

    def put_clock(self, partition: int, now_ms: int) -> None:
        pass

    def put_window(self, key: bytes, value: bytes | None) -> None:
        pass

    def all_states(self):  # noqa: ANN201
        return iter(())

    def all_windows(self):  # noqa: ANN201
        return iter(())


class CaughtUp:
    """Positions of a worker whose commits keep up: every record before the one in hand is committed."""

    def __init__(self, offsets: list[int]) -> None:
        self._offsets = offsets

    def committed(self, source: int, partition: int) -> int:
        return self._offsets[partition]


def open_tickets(n: int, *, commits: bool = True) -> MemoryStore:
    """n open tickets' states, made by the pure core from their events.

    With ``commits`` the worker's commits keep up, so each outbox holds only what is not yet committed
    (the steady state); without, nothing is ever committed and every output stays in its ticket's outbox
    (the worst case: commits stalled).
    """
    rng = random.Random(8)
    offsets = [0] * PARTITIONS
    wall = ManualClock(START)
    processor = Processor(clock=EventPartitionClock(wall), wall=wall, metrics=Metrics.create(),
                          policy=Policy(), orphan_timeout_ms=600_000, events_topic="tickets.events",
                          positions=CaughtUp(offsets) if commits else None)
    store = MemoryStore()
    feed = feeder(processor, store, offsets)
    for i in range(1, n + 1):
        tid = f"SIM-1-{i:07d}"
        at = START + i * 1000
        severity = rng.choices((1, 2, 3, 4), SEVERITY_MIX)[0]
        feed({"type": "ticket.created", "ticket_id": tid, "severity": severity, "product": rng.choice(PRODUCTS),
              "customer_id": f"desk-cust-{rng.randrange(10_000):05d}", "fastlane": rng.random() < 0.05,
              "tier": 1, "event_id": f"{tid}-1", "occurred_at": format_rfc3339_ms(at)})
        if i % 2 == 0:
            feed({"type": "ticket.assigned", "ticket_id": tid, "engineer_id": f"eng-{rng.randrange(200):03d}",
                  "event_id": f"{tid}-2", "occurred_at": format_rfc3339_ms(at + 500)})
    return store


def judged_tickets(n: int) -> MemoryStore:
    """n open tickets under the example policy's gold contract, each with its four clocks (IRT met; next
    response, workaround and resolution running, the resolution paused once), the worker's commits keeping
    up."""
    rng = random.Random(26)
    offsets = [0] * PARTITIONS
    wall = ManualClock(START)
    policy = load_policy(EXAMPLE)
    processor = Processor(clock=EventPartitionClock(wall), wall=wall, metrics=Metrics.create(), policy=policy,
                          orphan_timeout_ms=600_000, events_topic="tickets.events", positions=CaughtUp(offsets))
    store = MemoryStore()
    feed = feeder(processor, store, offsets)
    for i in range(1, n + 1):
        tid = f"SIM-1-{i:07d}"
        at = START + i * 5
        engineer = f"eng-{rng.randrange(200):03d}"
        kinds = [("ticket.created", {"severity": 1 if rng.random() < 0.25 else 2, "product": "service-provider",
                                     "customer_id": f"serv-cust-{rng.randrange(400):05d}", "contract": "gold",
                                     "fastlane": rng.random() < 0.15, "tier": 1}),
                 ("ticket.assigned", {"engineer_id": engineer}), ("ticket.responded", {"engineer_id": engineer}),
                 ("ticket.waiting_on_customer", {}), ("ticket.customer_replied", {})]
        for k, (kind, fields) in enumerate(kinds):
            feed({"type": kind, "ticket_id": tid, **fields, "event_id": f"{tid}-{k + 1}",
                  "occurred_at": format_rfc3339_ms(at + k)})
    for tid in store.tickets:  # what this measure is of: IRT met, the other three running
        state = store.get(tid)
        clocks = {c.metric: c for c in state.clocks}
        assert state.contract == "gold" and clocks["irt"].outcome == "met", (tid, state.clocks)
        assert all(clocks[m].running for m in ("next_response", "workaround", "resolution")), (tid, state.clocks)
        assert clocks["resolution"].pauses, (tid, state.clocks)
    return store


def feeder(processor: Processor, store: MemoryStore, offsets: list[int]):  # noqa: ANN201
    """A function that hands one event to the processor as the next record of its ticket's partition."""

    def feed(doc: dict) -> None:
        key = doc["ticket_id"].encode()
        p = partition_of(key)
        value = orjson.dumps(doc)
        processor.handle(Record("tickets.events", p, offsets[p], key, value, None), store)
        store.events.append((p, key, value))
        offsets[p] += 1

    return feed


async def write_worker_history(bootstrap: str, store: MemoryStore) -> None:
    """What a worker that processed these events and committed them leaves in Kafka: the events, the
    group's committed offsets at their end, and the tickets table's changelog."""
    await ensure_topics(bootstrap, {"tickets.events": PARTITIONS})
    await ensure_topics(bootstrap, {CHANGELOG: PARTITIONS}, configs={CHANGELOG: {"cleanup.policy": "compact"}})
    rows: list[Row] = [("tickets.events", p, key, value) for p, key, value in store.events]
    rows += [(CHANGELOG, store.partition[tid], tid.encode(), raw) for tid, raw in store.tickets.items()]
    await produce_all(bootstrap, rows)
    ends = [0] * PARTITIONS
    for p, _, _ in store.events:
        ends[p] += 1
    group = AIOKafkaConsumer(bootstrap_servers=bootstrap, group_id=APP_ID, enable_auto_commit=False)
    await group.start()
    try:
        tps = [TopicPartition("tickets.events", p) for p in range(PARTITIONS)]
        group.assign(tps)
        await group.commit({tp: ends[tp.partition] for tp in tps})
    finally:
        await group.stop()


async def read_changelog(bootstrap: str, n: int) -> float:
    """Seconds a bare consumer takes to read the whole changelog: the floor under any recovery."""
    return await read_all(bootstrap, CHANGELOG, PARTITIONS, n)


def summary(sizes: list[int]) -> dict:
    return {"mean": round(statistics.fmean(sizes), 1), "p99": sizes[int(0.99 * (len(sizes) - 1))], "max": sizes[-1]}


def rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError(f"no VmRSS for {pid}")


def start_and_rebuild(bootstrap: str, work: Path, data: Path, port: int, app_id: str, label: str,
                      timeout_s: float = 3600, events_topic: str = "tickets.events") -> dict:
    """Start a worker, wait for its "state rebuilt" line; return seconds, RSS, the line; stop it cleanly."""
    log_path = work / f"worker-{label}.log"
    t0 = time.monotonic()
    worker = start_worker({"KAFKA_BOOTSTRAP_SERVERS": bootstrap, "SLA_DATA_DIR": str(data), "SLA_WEB_PORT": str(port),
                           "SLA_CLOCK": "event", "SLA_LOG_LEVEL": "info", "SLA_APP_ID": app_id,
                           "SLA_TOPIC_EVENTS": events_topic}, log_path)
    try:
        while True:
            if worker.poll() is not None:
                raise SystemExit(f"worker exited; see {log_path}")
            if time.monotonic() - t0 > timeout_s:
                raise SystemExit(f"no 'state rebuilt' within {timeout_s:.0f} s; see {log_path}")
            line = next((ln for ln in log_path.read_text(errors="replace").splitlines() if "state rebuilt" in ln), None)
            if line:
                seconds = time.monotonic() - t0
                return {"seconds": round(seconds, 2), "rss_mib": round(rss_mib(worker.pid), 1),
                        "log": line.split("state rebuilt", 1)[1].strip(": ")}
            time.sleep(0.2)
    finally:
        stop([worker])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--tickets", type=int)
    parser.add_argument("--kafka-version", default=os.environ.get("SLA_KAFKA_VERSION", "3.9.1"))
    parser.add_argument("--out", default=str(ROOT / "bench" / "results" / "state_recovery.json"))
    args = parser.parse_args()
    n = args.tickets or (2_000 if args.quick else 1_000_000)

    t0 = time.monotonic()
    store = open_tickets(n)
    core_s = time.monotonic() - t0
    sizes = sorted(len(raw) for raw in store.tickets.values())
    assert len(sizes) == n, f"{len(sizes)} states for {n} tickets"
    stalled = sorted(len(raw) for raw in open_tickets(min(n, 100_000), commits=False).tickets.values())
    four_clocks = sorted(len(raw) for raw in judged_tickets(min(n, 100_000)).tickets.values())

    work = Path(tempfile.mkdtemp(prefix="bench-state-"))
    port = 29900 + os.getpid() % 50
    broker = EmbeddedKafka(home=work / "kafka", version=args.kafka_version, port=port, heap="1g")
    broker.start()
    try:
        asyncio.run(write_worker_history(broker.bootstrap, store))
        del store
        read_s = asyncio.run(read_changelog(broker.bootstrap, n))
        empty = start_and_rebuild(broker.bootstrap, work, work / "empty-data", port + 2, "bench-empty", "empty",
                                  events_topic="empty.events")
        cold = start_and_rebuild(broker.bootstrap, work, work / "data", port + 2, APP_ID, "cold")
        warm = start_and_rebuild(broker.bootstrap, work, work / "data", port + 2, APP_ID, "warm")
    finally:
        broker.stop()
    result = {
        "benchmark": "state_recovery",
        "mode": "quick" if args.quick else "full",
        "open_tickets": n,
        "kafka_version": args.kafka_version,
        "core_seconds_to_make_states": round(core_s, 1),
        "state_bytes": summary(sizes),
        "state_bytes_commits_stalled": {"tickets": len(stalled), **summary(stalled)},
        "state_bytes_four_clocks": {"tickets": len(four_clocks), "policy": "policy.example.toml, gold",
                                    **summary(four_clocks)},
        "changelog_read_by_bare_consumer_seconds": round(read_s, 2),
        "worker_without_local_rocksdb": cold,
        "worker_with_local_rocksdb": warm,
        "worker_with_no_tickets": empty,
        "targets": {"state_bytes_max": 1024, "state_bytes_four_clocks_p99": 1024},
    }
    write_result(args.out, result)
    return 0


if __name__ == "__main__":
    sys.exit(main())
