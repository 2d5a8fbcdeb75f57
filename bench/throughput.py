"""Throughput of one worker against a raw-consumer baseline, on the same pre-filled topic, in one run.

1. Start an embedded broker; fill ``tickets.events`` (4 partitions) with N simulator events.
2. Baseline: a bare aiokafka consumer reads every partition from the start and orjson-decodes each value.
3. Faust floor: a bare Faust agent (``bench/faust_floor.py``: same Faust settings, concurrency 1, no
   tables, no output) reads and decodes the same topic. The pipeline cannot be faster than this.
   Then the Faust floor with the same I/O (``--with-io``): decode, one table write, one send per event.
   Beside it, a reference (issue 15, target 6): a quix-streams application with the same I/O
   (``bench/quix_reference.py``, in a bench-only virtualenv), what a user could pick instead of Faust.
4. Pipeline: one worker (all agents on, event-time clock, RocksDB) drains the same topic; the rate is
   taken from its own ``sla_events_total`` between the first and the last event it counted.
5. Scale-out: the first M events (``--scale-events``) on a topic of their own, drained by one worker
   and then by two workers of one consumer group (rates summed over both).

Targets (issue 8): pipeline / baseline >= 0.5, and >= 20,000 events/s for one worker. Issue 15: pipeline /
Faust floor with the same I/O >= 0.8. Issue 26: with the example policy's SLA contracts (``--policy``: the
events drawn under it, with what contracts judge, and the workers applying it) that share must not fall
below 0.41, the share without contracts before them.

    .venv/bin/python bench/throughput.py                       # full: 1,000,000 events, scale-out on 200,000
    .venv/bin/python bench/throughput.py --quick               # 20,000 events: keeps the harness alive
    .venv/bin/python bench/throughput.py --policy pipeline/resources/policy.example.toml   # with contracts
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import os
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

import orjson
from common import ROOT, produce_all, quix_python, read_all, start_worker, stop, write_result

from pipeline.domain.policy import Policy, load_policy
from pipeline.kafka.admin import ensure_topics
from pipeline.kafka.embedded import EmbeddedKafka
from pipeline.simulate.generator import events
from pipeline.simulate.profile import load_profile

TOPIC = "tickets.events"
START = 1_767_225_600_000  # 2026-01-01T00:00:00Z
STALL_S = 180  # a run whose count stands still this long has stalled: it fails instead of hanging


async def fill(bootstrap: str, n: int, topic: str = TOPIC, policy: Policy | None = None) -> float:
    """Seconds to produce the simulator's first n events (drawn under ``policy``) to the topic."""
    await ensure_topics(bootstrap, {topic: 4})
    t0 = time.monotonic()
    docs = itertools.islice(events(load_profile(), 1, START, policy=policy), n)
    await produce_all(bootstrap, ((topic, None, doc["ticket_id"].encode(), orjson.dumps(doc)) for doc in docs))
    return time.monotonic() - t0


async def baseline(bootstrap: str, n: int) -> float:
    """Seconds a bare consumer takes to read and decode all n records."""
    return await read_all(bootstrap, TOPIC, 4, n, orjson.loads)


def counted(port: int) -> float:
    from prometheus_client.parser import text_string_to_metric_families

    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as resp:
        text = resp.read().decode()
    total = 0.0
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            if s.name in ("sla_events_total", "sla_events_rejected_total"):
                total += s.value
    return total


def pipeline_rate(bootstrap: str, n: int, work: Path, port: int, *, workers: int = 1, topic: str = TOPIC,
                  app_id: str = "bench", samples: list[tuple[float, float]] | None = None,
                  policy_file: Path | None = None) -> tuple[float, float]:
    """(seconds from first to last event counted, events counted) for `workers` workers draining the topic;
    ``samples`` gets (time, events counted) at each look. The count is read from /metrics once a second,
    or every 5 s on runs of 100,000 events and more: a scrape costs the worker CPU (its engineer series
    grow with the run), and Prometheus scrapes every 15 s, not every second."""
    poll_s = 5.0 if n >= 100_000 else 1.0
    procs = [
        start_worker({"KAFKA_BOOTSTRAP_SERVERS": bootstrap, "SLA_DATA_DIR": str(work / f"{app_id}-data-{i}"),
                      "SLA_WEB_PORT": str(port + i), "SLA_CLOCK": "event", "SLA_LOG_LEVEL": "warning",
                      "SLA_APP_ID": app_id, "SLA_TOPIC_EVENTS": topic,
                      **({"SLA_POLICY_FILE": str(policy_file)} if policy_file else {})},
                     work / f"{app_id}-worker-{i}.log")
        for i in range(workers)
    ]
    try:
        first = last = None
        moved = (time.monotonic(), -1.0)  # when the count last changed, and to what
        deadline = time.monotonic() + 3 * 3600
        while time.monotonic() < deadline:
            for i, worker in enumerate(procs):
                if worker.poll() is not None:
                    raise SystemExit(f"worker exited; see {work / f'{app_id}-worker-{i}.log'}")
            try:
                each = [counted(port + i) for i in range(workers)]
            except OSError:
                time.sleep(0.5)
                continue
            done = sum(each)
            now = time.monotonic()
            if done != moved[1]:
                moved = (now, done)
            elif now - moved[0] > STALL_S:
                raise SystemExit(f"no progress for {STALL_S} s: events counted per worker {each} of {n}; "
                                 f"logs in {work}")
            if done > 0 and first is None:
                first = (now, done)
            if first is not None:
                last = (now, done)
                if samples is not None:
                    samples.append(last)
            if done >= n:
                break
            time.sleep(poll_s)
        assert first is not None and last is not None
        return last[0] - first[0], last[1] - first[1]
    finally:
        stop(procs)


def fifths(samples: list[tuple[float, float]], n: int) -> tuple[float | None, float | None]:
    """Events per second over about the first fifth of the n events and over about the last fifth (issue 15:
    no decline as state grows), from the once-a-second samples; None when the run was too short for it."""
    if len(samples) < 3:
        return None, None
    (t0, c0), (t_end, c_end) = samples[0], samples[-1]
    i = next((k for k, (_, done) in enumerate(samples) if k > 0 and done >= n / 5), len(samples) - 1)
    j = max((k for k, (_, done) in enumerate(samples[:-1]) if done <= 4 * n / 5), default=0)
    first = (samples[i][1] - c0) / max(samples[i][0] - t0, 1e-9)
    last = (c_end - samples[j][1]) / max(t_end - samples[j][0], 1e-9)
    return first, last


def faust_floor(bootstrap: str, n: int, work: Path, port: int, *, with_io: bool = False) -> float:
    """Seconds a bare Faust agent takes from its first record to its n-th (``with_io``: plus one table write
    and one send per record)."""
    name = "floor-io" if with_io else "floor"
    return timed_child([sys.executable, str(ROOT / "bench" / "faust_floor.py"), "--bootstrap", bootstrap,
                        "--events", str(n), "--data-dir", str(work / f"{name}-data"), "--web-port", str(port),
                        *(["--with-io"] if with_io else [])], work / f"{name}.log", "the Faust floor")


def quix_reference(bootstrap: str, n: int, work: Path) -> float:
    """Seconds the quix-streams reference takes from its first record to its n-th."""
    return timed_child([str(quix_python()), str(ROOT / "bench" / "quix_reference.py"), "--bootstrap", bootstrap,
                        "--events", str(n), "--state-dir", str(work / "quix-state")], work / "quix.log",
                       "the quix-streams reference")


def timed_child(cmd: list[str], log: Path, what: str) -> float:
    """Run a harness that prints one JSON line ``{"events": n, "seconds": s}`` when done; its seconds."""
    child = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.PIPE, stderr=open(log, "wb"),  # noqa: SIM115
                             text=True, start_new_session=True)
    try:
        line = child.stdout.readline()  # type: ignore[union-attr]
        if not line:
            raise SystemExit(f"{what} exited without a result; see {log}")
        return float(json.loads(line)["seconds"])
    finally:
        stop([child])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--events", type=int)
    parser.add_argument("--scale-events", type=int, help="events for the one-versus-two-workers run")
    parser.add_argument("--policy", type=Path, help="SLA policy file: events drawn under it, workers apply it")
    parser.add_argument("--kafka-version", default=os.environ.get("SLA_KAFKA_VERSION", "3.9.1"))
    parser.add_argument("--out", default=str(ROOT / "bench" / "results" / "throughput.json"))
    args = parser.parse_args()
    n = args.events or (20_000 if args.quick else 1_000_000)
    m = min(n, args.scale_events or (n if args.quick or args.events else 200_000))
    policy_file = args.policy.resolve() if args.policy else None
    policy = load_policy(policy_file) if policy_file else None
    work = Path(tempfile.mkdtemp(prefix="bench-throughput-"))
    port = 29400 + os.getpid() % 500
    broker = EmbeddedKafka(home=work / "kafka", version=args.kafka_version, port=port, heap="1g")
    broker.start()
    try:
        fill_s = asyncio.run(fill(broker.bootstrap, n, policy=policy))
        base_s = asyncio.run(baseline(broker.bootstrap, n))
        floor_s = faust_floor(broker.bootstrap, n, work, port + 2)
        floor_io_s = faust_floor(broker.bootstrap, n, work, port + 2, with_io=True)
        quix_s = quix_reference(broker.bootstrap, n, work)
        samples: list[tuple[float, float]] = []
        pipe_s, pipe_n = pipeline_rate(broker.bootstrap, n, work, port + 2, samples=samples, policy_file=policy_file)
        asyncio.run(fill(broker.bootstrap, m, "scale.events", policy=policy))
        one_s, one_n = pipeline_rate(broker.bootstrap, m, work, port + 2, topic="scale.events", app_id="bench-one",
                                     policy_file=policy_file)
        two_s, two_n = pipeline_rate(broker.bootstrap, m, work, port + 2, workers=2, topic="scale.events",
                                     app_id="bench-two", policy_file=policy_file)
    finally:
        broker.stop()
    base_rate, floor_rate, pipe_rate = n / base_s, n / floor_s, pipe_n / max(pipe_s, 1e-9)
    floor_io_rate = n / floor_io_s
    first_fifth, last_fifth = fifths(samples, n)
    one_rate, two_rate = one_n / max(one_s, 1e-9), two_n / max(two_s, 1e-9)
    result = {
        "benchmark": "throughput",
        "mode": "quick" if args.quick else "full",
        "events": n,
        "policy": policy_file.name if policy_file else "built-in (no contracts)",
        "contracts": sorted(policy.contracts) if policy else [],
        "kafka_version": args.kafka_version,
        "fill_seconds": round(fill_s, 2),
        "baseline_events_per_s": round(base_rate),
        "pipeline_events_per_s": round(pipe_rate),
        "ratio": round(pipe_rate / base_rate, 3),
        "faust_floor_events_per_s": round(floor_rate),
        "faust_floor_ratio": round(floor_rate / base_rate, 3),
        "pipeline_share_of_faust_floor": round(pipe_rate / floor_rate, 3),
        "faust_floor_with_io_events_per_s": round(floor_io_rate),
        "pipeline_first_fifth_events_per_s": None if first_fifth is None else round(first_fifth),
        "pipeline_last_fifth_events_per_s": None if last_fifth is None else round(last_fifth),
        "pipeline_last_over_first_fifth": (None if not first_fifth or last_fifth is None
                                           else round(last_fifth / first_fifth, 3)),
        "pipeline_share_of_faust_floor_with_io": round(pipe_rate / floor_io_rate, 3),
        "quix_reference_events_per_s": round(n / quix_s),
        "pipeline_share_of_quix_reference": round(pipe_rate / (n / quix_s), 3),
        "scale_out": {"events": m, "one_worker_events_per_s": round(one_rate),
                      "two_workers_events_per_s": round(two_rate), "speed_up": round(two_rate / one_rate, 2)},
        "targets": {"ratio": 0.5, "pipeline_events_per_s": 20000, "pipeline_share_of_faust_floor_with_io": 0.8,
                    "pipeline_last_over_first_fifth": 0.9},
    }
    result["command"] = " ".join(["bench/throughput.py", *sys.argv[1:]])
    write_result(args.out, result)
    return 0


if __name__ == "__main__":
    sys.exit(main())
