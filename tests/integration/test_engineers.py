"""Engineer performance through the real broker: facts re-keyed by engineer, aggregated where each engineer
lives, and a stack rank that is complete and identical on every worker, and equal to the pure core's."""

from __future__ import annotations

import time
import urllib.request

import orjson

from pipeline.domain.engineers import EngineerState, Fact
from pipeline.domain.policy import Policy
from pipeline.tables.engineer_view import EngineerView
from tests import scenario
from tests.integration.conftest import Broker, Topics, collect_unique
from tests.integration.test_sla_engine import publish_scenario

N_TICKETS = 800


def expected_report(placed: dict, topic: str, window: str) -> dict:
    facts: list[bytes] = []
    scenario.expected_outputs(placed, topic, facts=facts)
    view = EngineerView(Policy(), event_time=True)
    for raw in facts:
        fact = Fact.from_bytes(raw)
        state = view.states.setdefault(fact.engineer_id, EngineerState(fact.engineer_id))
        state.apply(fact)
    return view.report(window)


def stackrank(port: int, window: str) -> dict:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/stackrank?window={window}", timeout=5) as resp:
        return orjson.loads(resp.read())


async def test_stack_rank_is_complete_and_identical_on_both_workers(
    broker: Broker, topics: Topics, worker_factory,
) -> None:
    first = worker_factory(SLA_CLOCK="event", SLA_REPORTS_OPEN="true").start()
    second = worker_factory(SLA_CLOCK="event", SLA_REPORTS_OPEN="true").start()
    placed = await publish_scenario(broker, topics, scenario.tickets(N_TICKETS, seed=21), end_beat=False)
    want = {w: expected_report(placed, topics.events, w) for w in ("7d", "30d")}
    assert len(want["30d"]["ranked"]) >= 10  # a real ranking, not a handful

    deadline = time.monotonic() + 120
    while True:
        got = {(port, w): stackrank(port, w) for port in (first.port, second.port) for w in ("7d", "30d")}
        if all(got[(p, w)] == want[w] for p in (first.port, second.port) for w in want):
            break
        assert time.monotonic() < deadline, f"stack rank differs: {got[(first.port, '30d')]['ranked'][:2]} vs " \
                                            f"{want['30d']['ranked'][:2]}"
        time.sleep(1)

    # each engineer's gauges come from exactly one worker (the owner of its partition)
    exported = [{e for (name, labels), _ in w.metrics().items() if name == "sla_engineer_vsat_ratio"
                 for k, e in labels if k == "engineer"} for w in (first, second)]
    assert exported[0].isdisjoint(exported[1])
    assert exported[0] | exported[1] == {r["engineer"] for r in want["30d"]["ranked"] + want["30d"]["unranked"]}


async def test_dsat_surveys_reach_the_review_feed(broker: Broker, topics: Topics, worker_factory) -> None:
    worker_factory(SLA_CLOCK="event", SLA_TOPIC_DSAT=topics.dsat).start()
    docs = scenario.tickets(300, seed=22)
    placed = await publish_scenario(broker, topics, docs, end_beat=False)
    dsat = [d for d in docs if d["type"] == "ticket.survey_submitted"
            and d["rating"] in ("neutral", "dissatisfied", "very_dissatisfied")]
    assert dsat and placed
    got, _ = await collect_unique(broker.bootstrap, topics.dsat, "review_id", want=len(dsat), timeout=120)
    assert set(got) == {f"{d['ticket_id']}:{d['event_id']}" for d in dsat}
    sample = got[f"{dsat[0]['ticket_id']}:{dsat[0]['event_id']}"]
    assert sample["rating"] == dsat[0]["rating"] and sample["dsat_reason"] == dsat[0]["dsat_reason"]
    assert sample["engineer_id"] and sample["product"] and sample["severity"] in (1, 2, 3, 4)
