"""Escalation latency in live (wall-clock) mode: Kafka timestamp of each published escalation minus the
instant it fell due (its ``emitted_at``). Target: p99 <= 1 s.

It starts an embedded broker and one worker (with a policy whose Sev1 target is 1 minute, so the run is
short: rungs at 30 s and 48 s), publishes Sev1 tickets whose first rung (IRT at risk, 50 %) falls due
spread over the next ``--spread`` seconds, and reads back both rungs of every ticket.

    .venv/bin/python bench/escalation_latency.py              # 600 tickets, ~1,200 escalations
    .venv/bin/python bench/escalation_latency.py --quick      # 50 tickets: keeps the harness alive in CI
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

import orjson
from aiokafka import AIOKafkaProducer
from common import ROOT, start_worker, stop, write_result

from pipeline.domain.records import Escalation
from pipeline.domain.timefmt import format_rfc3339_ms, parse_rfc3339_ms
from pipeline.kafka.embedded import EmbeddedKafka
from pipeline.kafka.tail import Tail


def percentile(sorted_values: list[float], q: float) -> float:
    if not sorted_values:
        return float("nan")
    k = min(len(sorted_values) - 1, max(0, round(q * (len(sorted_values) - 1))))
    return sorted_values[k]


async def publish(bootstrap: str, topic: str, tickets: int, spread_s: float, lead_s: float) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, linger_ms=5)
    await producer.start()
    try:
        now = int(time.time() * 1000)
        for i in range(tickets):
            # the 50 % rung of a Sev1 (1 min target: 30 s) falls due lead_s + i * spread/tickets from now
            due = now + int((lead_s + i * spread_s / tickets) * 1000)
            created = due - 30_000
            tid = f"LAT-{i:05d}"
            doc = {"event_id": f"{tid}-c", "type": "ticket.created", "ticket_id": tid, "severity": 1,
                   "occurred_at": format_rfc3339_ms(created), "product": "bench", "customer_id": "C"}
            await producer.send(topic, orjson.dumps(doc), key=tid.encode(), timestamp_ms=created)
        await producer.flush()
    finally:
        await producer.stop()


async def collect(bootstrap: str, topic: str, want: int, timeout_s: float) -> list[float]:
    latencies: list[float] = []
    async with Tail(bootstrap, topic) as tail:
        await tail.wait_for_partitions()
        end = time.monotonic() + timeout_s
        while len(latencies) < want and time.monotonic() < end:
            for r in await tail.records():
                esc = Escalation.decode(r.value)
                latencies.append((r.timestamp - parse_rfc3339_ms(esc.emitted_at)) / 1000)
    return latencies


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="a small run (CI)")
    parser.add_argument("--tickets", type=int, default=None)
    parser.add_argument("--spread", type=float, default=None, help="seconds over which the first rungs fall due")
    parser.add_argument("--kafka-version", default=os.environ.get("SLA_KAFKA_VERSION", "3.9.1"))
    parser.add_argument("--out", default=str(ROOT / "bench" / "results" / "escalation_latency.json"))
    args = parser.parse_args()
    tickets = args.tickets or (50 if args.quick else 600)
    spread = args.spread or (10.0 if args.quick else 60.0)
    lead = 15.0  # time for the worker to take the tickets in before the first rung is due

    work = Path(tempfile.mkdtemp(prefix="bench-latency-"))
    port = 29500 + os.getpid() % 1000
    broker = EmbeddedKafka(home=work / "kafka", version=args.kafka_version, port=port)
    broker.start()
    web = port + 2
    policy = work / "policy.toml"
    policy.write_text("[irt]\ntargets_minutes = { 1 = 1 }\n")
    worker = start_worker({"KAFKA_BOOTSTRAP_SERVERS": broker.bootstrap, "SLA_DATA_DIR": str(work / "data"),
                           "SLA_WEB_PORT": str(web), "SLA_CLOCK": "wall", "SLA_LOG_LEVEL": "warning",
                           "SLA_POLICY_FILE": str(policy)}, work / "worker.log")
    try:
        deadline = time.monotonic() + 120
        while True:  # ready when /metrics answers
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{web}/metrics", timeout=1).read()
                break
            except OSError:
                if time.monotonic() > deadline or worker.poll() is not None:
                    raise SystemExit(f"worker did not start; see {work / 'worker.log'}") from None
                time.sleep(0.5)
        time.sleep(3)  # let the group settle
        asyncio.run(publish(broker.bootstrap, "tickets.events", tickets, spread, lead))
        want = 2 * tickets  # 50 % and 80 % rungs
        latencies = sorted(asyncio.run(collect(broker.bootstrap, "sla.escalations", want,
                                               timeout_s=lead + spread + 120)))
    finally:
        stop([worker], timeout_s=30)
        broker.stop()

    result = {
        "benchmark": "escalation_latency",
        "mode": "quick" if args.quick else "full",
        "kafka_version": args.kafka_version,
        "escalations": len(latencies),
        "p50_s": round(percentile(latencies, 0.50), 4),
        "p99_s": round(percentile(latencies, 0.99), 4),
        "max_s": round(latencies[-1], 4) if latencies else None,
        "mean_s": round(statistics.fmean(latencies), 4) if latencies else None,
        "target_p99_s": 1.0,
    }
    write_result(args.out, result)
    return 0 if latencies else 1


if __name__ == "__main__":
    sys.exit(main())
