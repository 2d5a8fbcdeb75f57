"""CPU time of the pure core per event: the Processor over a dict store, no Kafka, no Faust.

The events are the simulator's default profile (seed 1), keyed and spread over 4 partitions as the
worker sees them. States go through bytes on every read and write, as with the real table. Offsets are
"committed" 1,000 records behind on each partition, as a worker's periodic commit does, so outboxes are
pruned as they are in production. Measured with ``time.process_time`` (CPU, not wall), best of
``--repeat`` runs, beside a baseline in the same run: ``orjson.loads`` of each event.

Target (issue 15): <= 20 us per event on 100,000 events. The same events are run a second time with
business-hours calendars (issue 17: the policy example's emea calendar for every Sev3 and Sev4 and for
desktop Sev2), and the ratio of the two is reported.

SLA contracts (issue 26): the simulator draws as many events again under the shipped example policy (its
gold and standard contracts: tickets name a plan in ``contract``, customers reply after first responses,
tickets wait on the customer, workarounds and resolutions come against the contracts' targets). The core
runs them under that policy and under the same policy without its contracts (its business-hours
calendars kept, by the [calendar_for] rules: the cost of the contracts alone), and round the clock
(``Policy()``). Target: contracts over calendars-only <= 1.3.

    .venv/bin/python bench/core.py                # 100,000 events
    .venv/bin/python bench/core.py --events 20000 --repeat 1 --out /tmp/core.json
"""

from __future__ import annotations

import argparse
import dataclasses
import hashlib
import itertools
import sys
import tempfile
import time
from pathlib import Path

import orjson
from common import write_result  # (puts the project on sys.path)

from pipeline.domain import calendar
from pipeline.domain.clock import EventPartitionClock, ManualClock
from pipeline.domain.engineers import EngineerState, Fact
from pipeline.domain.policy import Policy, load_policy
from pipeline.metrics import Metrics
from pipeline.processing.io import Emit, Record
from pipeline.processing.processor import Processor
from pipeline.simulate.generator import events
from pipeline.simulate.profile import load_profile
from tests.fakes import DictStore

T0 = 1_772_442_000_000  # 2026-03-02T09:00:00Z
ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "pipeline" / "resources" / "policy.example.toml"
COMMIT_LAG = 1_000


class Trailing:
    """Offsets committed ``lag`` records behind what the processor has read."""

    def __init__(self, lag: int) -> None:
        self.lag = lag
        self.read: dict[int, int] = {}

    def committed(self, source: int, partition: int) -> int | None:
        n = self.read.get(partition)
        return None if n is None else max(0, n - self.lag)


def records(n: int, policy: Policy | None = None) -> list[Record]:
    """The simulator's first n events (drawn under ``policy``: with contracts, what they judge too)."""
    out, offsets = [], [0, 0, 0, 0]
    for doc in itertools.islice(events(load_profile(), 1, T0, policy=policy), n):
        key = doc.get("ticket_id", "").encode()
        p = int(hashlib.md5(key).hexdigest(), 16) % 4
        out.append(Record("tickets.events", p, offsets[p], key, orjson.dumps(doc), None))
        offsets[p] += 1
    return out


def example_policy(*, calendar_for: bool = False) -> Policy:
    """The shipped example policy (its emea calendar, gold and standard contracts); ``calendar_for``: with its
    commented-out [calendar_for] rules uncommented (they choose calendars for tickets no contract names one
    for: every ticket, once the contracts are taken away)."""
    lines = EXAMPLE.read_text().splitlines()
    if calendar_for:
        start = lines.index("# [calendar_for]")
        end = next(i for i in range(start, len(lines)) if not lines[i].startswith("#"))
        lines[start:end] = [line.removeprefix("# ") for line in lines[start:end]]
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "policy.toml"
        path.write_text("\n".join(lines) + "\n")
        return load_policy(path)


def business_hours_policy() -> Policy:
    """The example's calendars by its [calendar_for] rules, without its contracts: a v2 policy."""
    return dataclasses.replace(example_policy(calendar_for=True), contracts={}, contract_rules=(),
                               default_contract="default", digest="builtin")


def facts_of(recs: list[Record]) -> list[bytes]:
    """The engineer facts the core publishes for these events, as the engineer agent receives them."""
    wall = ManualClock(T0)
    proc = Processor(clock=EventPartitionClock(wall), wall=wall, metrics=Metrics.create(), policy=Policy(),
                     orphan_timeout_ms=600_000, events_topic="tickets.events", ticks_topic="ticks")
    store = DictStore()
    return [out.value for r in recs for out in proc.handle(r, store)
            if isinstance(out, Emit) and out.topic == "facts"]


def run_fold(facts: list[bytes]) -> float:
    """The engineer agent's own work per fact: decode it, fold it into its engineer's state (kept decoded, as
    the agent keeps them), and encode the state for the table."""
    states: dict[str, EngineerState] = {}
    started = time.process_time()
    for raw in facts:
        fact = Fact.from_bytes(raw)
        state = states.get(fact.engineer_id)
        if state is None:
            state = states[fact.engineer_id] = EngineerState(fact.engineer_id)
        if state.apply(fact):
            state.to_bytes()
    return time.process_time() - started


def run_core(recs: list[Record], policy: Policy) -> tuple[float, int]:
    positions = Trailing(COMMIT_LAG)
    wall = ManualClock(T0)
    proc = Processor(clock=EventPartitionClock(wall), wall=wall, metrics=Metrics.create(), policy=policy,
                     orphan_timeout_ms=600_000, events_topic="tickets.events", ticks_topic="ticks",
                     positions=positions)
    store, outputs = DictStore(), 0
    calendar.clear_caches()  # every run starts cold, as a worker does: a repeat must not find its deadlines
    started = time.process_time()
    for r in recs:
        positions.read[r.partition] = r.offset
        outputs += len(proc.handle(r, store))
    return time.process_time() - started, outputs


def run_baseline(recs: list[Record]) -> float:
    return run_baseline_of([r.value for r in recs])


def run_baseline_of(values: list[bytes]) -> float:
    started = time.process_time()
    for value in values:
        orjson.loads(value)
    return time.process_time() - started


def contract_figures(judged: list[Record], under: tuple[float, int], without: tuple[float, int],
                     round_the_clock: tuple[float, int]) -> dict:
    """The contracts measure: the same events under the example policy, without its contracts, and 24x7."""
    kinds: dict[str, int] = {}
    named = 0
    for r in judged:
        doc = orjson.loads(r.value)
        kinds[doc["type"]] = kinds.get(doc["type"], 0) + 1
        named += "contract" in doc
    ratio = under[0] / without[0]
    return {
        "events": len(judged),
        "tickets": kinds.get("ticket.created", 0),
        "tickets_naming_a_contract": named,
        "customer_replies": kinds.get("ticket.customer_replied", 0),
        "waiting_on_customer": kinds.get("ticket.waiting_on_customer", 0),
        "workarounds": kinds.get("ticket.workaround_provided", 0),
        "outputs_under_contracts": under[1],
        "outputs_without_contracts": without[1],
        "core_us_per_event_under_contracts": round(under[0] / len(judged) * 1e6, 2),
        "core_us_per_event_without_contracts": round(without[0] / len(judged) * 1e6, 2),
        "core_us_per_event_round_the_clock": round(round_the_clock[0] / len(judged) * 1e6, 2),
        "contracts_over_without": round(ratio, 3),
        "contracts_over_round_the_clock": round(under[0] / round_the_clock[0], 3),
        "target_contracts_over_without": 1.3,
        "target_met": ratio <= 1.3,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--out", type=Path, default=Path(__file__).parent / "results" / "core.json")
    args = parser.parse_args()
    recs = records(args.events)
    core = min(run_core(recs, Policy()) for _ in range(args.repeat))
    calendars = business_hours_policy()
    business = min(run_core(recs, calendars) for _ in range(args.repeat))
    contracts = example_policy()
    assert contracts.uses_contracts and not calendars.uses_contracts and calendars.uses_calendars
    judged = records(args.events, contracts)
    under_contracts = min(run_core(judged, contracts) for _ in range(args.repeat))
    without_contracts = min(run_core(judged, calendars) for _ in range(args.repeat))
    round_the_clock = min(run_core(judged, Policy()) for _ in range(args.repeat))
    facts = facts_of(recs)
    fold = min(run_fold(facts) for _ in range(args.repeat))
    fact_baseline = min(run_baseline_of(facts) for _ in range(args.repeat))
    baseline = min(run_baseline(recs) for _ in range(args.repeat))
    us = core[0] / len(recs) * 1e6
    result = {
        "events": len(recs),
        "outputs": core[1],
        "core_us_per_event": round(us, 2),
        "baseline_orjson_loads_us_per_event": round(baseline / len(recs) * 1e6, 3),
        "core_over_baseline": round(core[0] / baseline, 1),
        "business_hours_core_us_per_event": round(business[0] / len(recs) * 1e6, 2),
        "business_hours_over_24x7": round(business[0] / core[0], 3),
        "contracts": contract_figures(judged, under_contracts, without_contracts, round_the_clock),
        "engineer_facts": len(facts),
        "engineer_fold_us_per_fact": round(fold / len(facts) * 1e6, 2) if facts else None,
        "engineer_fold_over_orjson_loads": round(fold / fact_baseline, 1) if facts else None,
        "target_us_per_event": 20,
        "target_met": us <= 20,
        "command": " ".join(["bench/core.py", *sys.argv[1:]]),
    }
    write_result(str(args.out), result)  # (prints it too)
    return 0


if __name__ == "__main__":
    sys.exit(main())
