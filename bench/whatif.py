"""What-if (issue 28): events per second judging a month of the default profile under two policies.

1. Simulate a month of the default profile (seed 1) under the shipped example policy (its gold and standard
   contracts: tickets name plans, customers reply, workarounds and resolutions come against the targets),
   write it as JSON lines, and put it on ``tickets.events`` (4 partitions, keyed by ticket, stamped with
   ``occurred_at``) of an embedded broker.
2. Baseline: a bare aiokafka consumer reads every record of the topic once.
3. The what-if as ``sla-pipeline whatif`` runs it, in this process (phases timed apart): read the period
   (tickets created in the month, their records to 7 days after it) from the file or from the topic, judge
   it under the example (live) and a candidate (gold's next-response targets halved) in 1 and 2 worker
   processes, compare, render JSON. ``events_per_s`` is the period's events over the whole run's wall
   time (each event is judged twice, once per policy: ``judgements_per_s``); CPU seconds of this process
   and its worker processes are given beside it, a figure that moves less when the machine is shared.

    .venv/bin/python bench/whatif.py            # a month (about 160,000 events)
    .venv/bin/python bench/whatif.py --quick    # three days: keeps the harness alive
"""

from __future__ import annotations

import argparse
import asyncio
import os
import resource
import sys
import tempfile
import time
from pathlib import Path

import orjson
from common import ROOT, produce_all, read_all, write_result

from pipeline.domain.policy import Policy, load_policy
from pipeline.domain.timefmt import DAY_MS, parse_rfc3339_ms
from pipeline.explain.source import partition_of
from pipeline.kafka.admin import ensure_topics
from pipeline.kafka.embedded import EmbeddedKafka
from pipeline.simulate.generator import events
from pipeline.simulate.profile import load_profile
from pipeline.whatif import render, source, whatif
from pipeline.whatif.source import Window

PARTITIONS = 4
TOPIC = "tickets.events"
MONTH_START = parse_rfc3339_ms("2026-03-01T00:00:00Z")
EXAMPLE = ROOT / "pipeline" / "resources" / "policy.example.toml"
GOLD_NEXT = "next_response = { 1 = 30, 2 = 120, 3 = 480 }"
TARGET = 25_000


def policies(work: Path) -> tuple[Policy, Policy]:
    """The shipped example (live) and a candidate halving gold's next-response targets."""
    text = EXAMPLE.read_text()
    assert GOLD_NEXT in text
    candidate = work / "candidate.toml"
    candidate.write_text(text.replace(GOLD_NEXT, "next_response = { 1 = 15, 2 = 60, 3 = 240 }"))
    return load_policy(EXAMPLE), load_policy(candidate)


def cpu_s() -> float:
    """CPU seconds of this process and of its worker processes that have ended."""
    me, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return me.ru_utime + me.ru_stime + children.ru_utime + children.ru_stime


def measure(read, window: Window, live: Policy, candidate: Policy, processes: int, where: str) -> dict:
    """One what-if, its phases timed: read, judge and compare, render."""
    cpu0, t0 = cpu_s(), time.perf_counter()
    partitions = read()
    t1 = time.perf_counter()
    report = whatif(partitions, window, live, candidate, live_name="example", candidate_name="candidate",
                    source=where, processes=processes)
    t2 = time.perf_counter()
    render.as_json(report)
    t3 = time.perf_counter()
    n = sum(len(r) for r in partitions.values())
    return {"source": where, "processes": processes, "events": n, "tickets": report["whatif"]["tickets"],
            "flips": len(report["flips"]), "read_s": round(t1 - t0, 2), "judge_and_compare_s": round(t2 - t1, 2),
            "render_s": round(t3 - t2, 3), "total_s": round(t3 - t0, 2), "events_per_s": round(n / (t3 - t0)),
            "judgements_per_s": round(2 * n / (t3 - t0)), "judge_events_per_s": round(n / (t2 - t1)),
            "cpu_s": round(cpu_s() - cpu0, 2)}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--kafka-version", default=os.environ.get("SLA_KAFKA_VERSION", "3.9.1"))
    parser.add_argument("--out", default=str(ROOT / "bench" / "results" / "whatif.json"))
    args = parser.parse_args()
    days = 3 if args.quick else 31
    work = Path(tempfile.mkdtemp(prefix="bench-whatif-"))
    live, candidate = policies(work)
    docs = list(events(load_profile(), 1, MONTH_START, MONTH_START + days * DAY_MS, policy=live))
    lines = [orjson.dumps(d) for d in docs]
    events_file = work / "events.jsonl"
    events_file.write_bytes(b"\n".join(lines) + b"\n")
    window = Window(MONTH_START, MONTH_START + days * DAY_MS)
    rows = [(TOPIC, partition_of(d["ticket_id"].encode(), PARTITIONS), d["ticket_id"].encode(), v)
            for d, v in zip(docs, lines, strict=True)]
    port = 29950 + os.getpid() % 40
    broker = EmbeddedKafka(home=work / "kafka", version=args.kafka_version, port=port, heap="1g")
    broker.start()
    runs = []
    try:
        async def publish() -> None:
            await ensure_topics(broker.bootstrap, {TOPIC: PARTITIONS})
            await produce_all(broker.bootstrap, rows, lambda row: parse_rfc3339_ms(orjson.loads(row[3])["occurred_at"]))

        asyncio.run(publish())
        bare_s = asyncio.run(read_all(broker.bootstrap, TOPIC, PARTITIONS, len(rows)))
        for processes in (1, 2):
            runs.append(measure(lambda: source.from_file(events_file, window, PARTITIONS), window, live, candidate,
                                processes, "file"))
            runs.append(measure(lambda: asyncio.run(source.from_topic(broker.bootstrap, TOPIC, window)), window, live,
                                candidate, processes, "topic"))
    finally:
        broker.stop()
    best = max(r["events_per_s"] for r in runs)
    by = {(r["source"], r["processes"]): r for r in runs}
    result = {
        "benchmark": "whatif",
        "mode": "quick" if args.quick else "full",
        "days": days,
        "events_on_topic": len(rows),
        "baseline_bare_consumer_s": round(bare_s, 2),
        "baseline_bare_consumer_events_per_s": round(len(rows) / bare_s),
        "runs": runs,
        "two_over_one_process_file": round(by["file", 2]["events_per_s"] / by["file", 1]["events_per_s"], 2),
        "two_over_one_process_topic": round(by["topic", 2]["events_per_s"] / by["topic", 1]["events_per_s"], 2),
        "target_events_per_s": TARGET,
        "target_met": best >= TARGET,
        "load_average": os.getloadavg(),
    }
    write_result(args.out, result)
    return 0


if __name__ == "__main__":
    sys.exit(main())
