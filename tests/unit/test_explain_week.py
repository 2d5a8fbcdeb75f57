"""The explanation cannot disagree with the worker: for every ticket of a simulated week under the shipped
example policy (business hours, gold and standard contracts), explaining the ticket from its own records gives
exactly the outcome records the processor published for it while folding the whole stream, and the same
escalations."""

from __future__ import annotations

from collections import defaultdict

import orjson
import pytest

from pipeline import resources
from pipeline.domain.clock import EventPartitionClock, ManualClock
from pipeline.domain.policy import Policy, load_policy
from pipeline.domain.timefmt import DAY_MS, parse_rfc3339_ms
from pipeline.explain.fold import explain
from pipeline.explain.source import by_ticket, partition_of
from pipeline.metrics import Metrics
from pipeline.processing.io import Emit, Record
from pipeline.processing.processor import Processor
from pipeline.simulate.generator import events
from pipeline.simulate.profile import load_profile
from tests.fakes import DictStore

START = parse_rfc3339_ms("2026-03-02T00:00:00Z")  # a Monday
PARTITIONS = 3
TOPIC = "tickets.events"


@pytest.fixture(scope="module")
def example() -> Policy:
    with resources.as_file(resources.resource(resources.POLICY_EXAMPLE)) as path:
        return load_policy(path)


@pytest.fixture(scope="module")
def week(example: Policy) -> tuple[dict[int, list[Record]], dict[str, list[dict]], dict[str, list[dict]], dict]:
    """The week's records per partition, and what one processor published per ticket over the whole stream."""
    wall = ManualClock(START + 30 * DAY_MS)
    clock = EventPartitionClock(wall)
    processor = Processor(clock=clock, wall=wall, metrics=Metrics.create(), policy=example,
                          orphan_timeout_ms=600_000, events_topic=TOPIC)
    store = DictStore()
    partitions: dict[int, list[Record]] = defaultdict(list)
    outcomes: dict[str, list[dict]] = defaultdict(list)
    escalations: dict[str, list[dict]] = defaultdict(list)
    for doc in events(load_profile(), 11, START, START + 7 * DAY_MS, policy=example):
        key = doc["ticket_id"].encode()
        p = partition_of(key, PARTITIONS)
        record = Record(TOPIC, p, len(partitions[p]), key, orjson.dumps(doc), None)
        partitions[p].append(record)
        for out in processor.handle(record, store):
            if isinstance(out, Emit) and out.topic == "outcomes":
                outcomes[out.key.decode()].append(orjson.loads(out.value))
            elif isinstance(out, Emit) and out.topic == "escalations":
                escalations[out.key.decode()].append(orjson.loads(out.value))
    ends = {p: clock.now(p) for p in partitions}
    return partitions, outcomes, escalations, ends


def test_every_ticket_of_a_simulated_week_is_explained_with_the_outcomes_the_worker_published(
    example: Policy, week: tuple,
) -> None:
    partitions, outcomes, escalations, ends = week
    explained = 0
    metrics = Metrics.create()
    kinds: set[str] = set()
    for p, records in partitions.items():
        for ticket_id, found in by_ticket(records).items():
            expl = explain(ticket_id, found.records, example, ends[p], marks=found.marks, metrics=metrics)
            assert expl.outcomes == outcomes.get(ticket_id, []), ticket_id
            assert expl.escalations == escalations.get(ticket_id, []), ticket_id
            # each judged outcome is one clock's, shown with the same verdict
            for o in expl.outcomes:
                if o["metric"] in ("ttr", "ttw"):
                    continue
                line = next(c for c in expl.clocks if (c.metric, c.cycle) == (o["metric"], o["cycle"]))
                assert line.outcome == o["outcome"] and line.record == o
            kinds |= {f"{o['contract']}:{o['metric']}:{o['outcome']}" for o in expl.outcomes if o["outcome"]}
            explained += 1
    # the week exercised what the example policy judges: both contracts, breaches and met outcomes
    assert explained > 300
    assert {"gold:irt:met", "gold:next_response:met", "gold:resolution:met", "standard:irt:met",
            "standard:irt:breached"} <= kinds
    assert any(k.endswith(":breached") and not k.startswith("standard:irt") for k in kinds)
