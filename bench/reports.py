"""How long the support manager's reports take for a month of the default profile (issue 16).

1. Simulate a month of the default profile (seed 1, about 18,000 tickets) plus the week before it; run the
   pure core over it with the event-time clock, exactly as a worker would process it (the integration
   test holds the two equal), and put the events and everything the core published on a broker: events on
   ``tickets.events`` (timestamps ``occurred_at``), outcomes, escalations, DSAT reviews and engineer facts
   on theirs.
2. Baseline: a bare aiokafka consumer reads every record of those topics once (the least a report that
   reads the topics must do).
3. ``sla-pipeline report monthly|debrief|dsat`` as a user runs it, in HTML (the slowest format): seconds
   from start to exit, best of ``--repeat``.

    .venv/bin/python bench/reports.py            # a month (about 18,000 tickets)
    .venv/bin/python bench/reports.py --quick    # three days: keeps the harness alive
"""

from __future__ import annotations

import argparse
import asyncio
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import orjson
from aiokafka.partitioner import murmur2
from common import ROOT, Row, produce_all, read_all, write_result

from pipeline.domain.clock import EventPartitionClock, ManualClock
from pipeline.domain.policy import Policy
from pipeline.domain.timefmt import parse_rfc3339_ms
from pipeline.kafka.admin import ensure_topics
from pipeline.kafka.embedded import EmbeddedKafka
from pipeline.metrics import Metrics
from pipeline.processing.io import Emit, Record
from pipeline.processing.processor import Processor
from pipeline.simulate.generator import events
from pipeline.simulate.profile import load_profile
from tests.fakes import DictStore

PARTITIONS = 4
APP_ID = "bench-reports"
DAY = 86_400_000
MONTH_START = parse_rfc3339_ms("2026-03-01T00:00:00Z")
TOPICS = {"events": "tickets.events", "outcomes": "sla.outcomes", "escalations": "sla.escalations",
          "dsat": "sla.dsat_reviews", "facts": f"{APP_ID}-engineer-facts"}


def partition_of(key: bytes) -> int:
    return (murmur2(key) & 0x7FFFFFFF) % PARTITIONS


def simulate(days: int) -> tuple[list[Row], int]:
    """Every record a worker would leave on the topics for ``days`` from a week before the month, and the
    number of tickets created in the month."""
    start = MONTH_START - 7 * DAY
    wall = ManualClock(start)
    proc = Processor(clock=EventPartitionClock(wall), wall=wall, metrics=Metrics.create(),
                     policy=Policy(), orphan_timeout_ms=600_000, events_topic=TOPICS["events"], ticks_topic="ticks")
    store = DictStore()
    rows: list[Row] = []
    offsets = [0] * PARTITIONS
    tickets = 0
    end = MONTH_START + days * DAY
    docs = list(events(load_profile(), 1, start, end))
    docs += [{"event_id": f"end-{p}", "type": "heartbeat", "occurred_at": "2026-05-01T00:00:00Z"}
             for p in range(PARTITIONS)]
    for i, doc in enumerate(docs):
        key = doc["ticket_id"].encode() if "ticket_id" in doc else None
        p = partition_of(key) if key else i % PARTITIONS
        value = orjson.dumps(doc)
        tickets += doc["type"] == "ticket.created" and parse_rfc3339_ms(doc["occurred_at"]) >= MONTH_START
        rows.append((TOPICS["events"], p, key, value))
        for out in proc.handle(Record(TOPICS["events"], p, offsets[p], key, value), store):
            if isinstance(out, Emit) and out.topic in TOPICS:
                rows.append((TOPICS[out.topic], None, out.key, out.value))
        offsets[p] += 1
    return rows, tickets


async def publish(bootstrap: str, rows: list[Row]) -> None:
    """Events stamped with occurred_at (the contract), the pipeline's records with their publication time."""
    await ensure_topics(bootstrap, {t: PARTITIONS for t in TOPICS.values()})

    def stamp(row: Row) -> int | None:
        return parse_rfc3339_ms(orjson.loads(row[3])["occurred_at"]) if row[0] == TOPICS["events"] else None

    await produce_all(bootstrap, rows, stamp)


def report(kind: str, flag: str, value: str, bootstrap: str, out: Path) -> float:
    env = {**os.environ, "KAFKA_BOOTSTRAP_SERVERS": bootstrap, "SLA_APP_ID": APP_ID, "SLA_REPORT_TIMEZONE": "UTC"}
    t0 = time.monotonic()
    done = subprocess.run([sys.executable, "-m", "pipeline.cli", "report", kind, flag, value, "--format", "html",
                           "--out", str(out)], env=env, cwd=ROOT, capture_output=True, text=True, check=False)
    seconds = time.monotonic() - t0
    if done.returncode != 0:
        raise SystemExit(f"report {kind} failed:\n{done.stdout}{done.stderr}")
    return seconds


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--kafka-version", default=os.environ.get("SLA_KAFKA_VERSION", "3.9.1"))
    parser.add_argument("--out", default=str(ROOT / "bench" / "results" / "reports.json"))
    args = parser.parse_args()
    days = 3 if args.quick else 31
    repeat = 1 if args.quick else args.repeat
    work = Path(tempfile.mkdtemp(prefix="bench-reports-"))
    rows, tickets = simulate(days)
    port = 29900 + os.getpid() % 50
    broker = EmbeddedKafka(home=work / "kafka", version=args.kafka_version, port=port, heap="1g")
    broker.start()
    try:
        asyncio.run(publish(broker.bootstrap, rows))
        counts = {name: sum(1 for r in rows if r[0] == topic) for name, topic in TOPICS.items()}
        base_s = sum(asyncio.run(read_all(broker.bootstrap, topic, PARTITIONS, counts[name]))
                     for name, topic in TOPICS.items() if counts[name])
        timed = {}
        for kind, flag, value in (("monthly", "--month", "2026-03"), ("debrief", "--date", "2026-03-03"),
                                  ("dsat", "--week", "2026-W10")):
            timed[kind] = round(min(report(kind, flag, value, broker.bootstrap, work / "out")
                                    for _ in range(repeat)), 2)
    finally:
        broker.stop()
    result = {
        "benchmark": "reports",
        "mode": "quick" if args.quick else "full",
        "days": days,
        "tickets_in_month": tickets,
        "records": counts,
        "baseline_read_all_topics_seconds": round(base_s, 2),
        "report_seconds": timed,
        "monthly_over_baseline": round(timed["monthly"] / max(base_s, 1e-9), 1),
        "format": "html",
    }
    write_result(args.out, result)
    return 0


if __name__ == "__main__":
    sys.exit(main())
