"""The agent tier for judged clocks (contract v3 section 10): the worker built by ``create_app`` decides a
next-response breach from its tick timer alone, on the injectable wall clock, with no event after the reply."""

from __future__ import annotations

from pathlib import Path

from pipeline.domain import bizcrit
from pipeline.domain.clock import ManualClock
from pipeline.domain.contracts import Contract
from pipeline.domain.policy import Policy
from pipeline.domain.records import Escalation, Outcome
from tests.agents.harness import Worker
from tests.builders import T0, EventFactory

MIN = 60_000
GOLD = Contract("gold", {"irt": {2: 30 * MIN}, "next_response": {2: 120 * MIN}},
                {"irt": 0.99, "next_response": 0.99}, notify=frozenset({"next_response"}))
POLICY = Policy(contracts={"gold": GOLD}, default_contract="gold", digest="0123456789ab")


async def test_the_tick_timer_breaches_an_unanswered_customer_reply_at_its_deadline_with_no_event(
        tmp_path: Path, events: EventFactory) -> None:
    wall = ManualClock(T0)
    async with Worker(tmp_path, clock="wall", wall=wall, policy=POLICY) as w:
        await w.timer_turn([0])  # the first tick after an assignment rebuilds the index
        await w.event(events.created(at=T0, severity=2))
        wall.set(T0 + 5 * MIN)
        await w.event(events.event("ticket.responded", T0 + 5 * MIN, engineer_id="E1"))
        wall.set(T0 + 10 * MIN)
        await w.event(events.event("ticket.customer_replied", T0 + 10 * MIN))  # due at 130 min, at risk at 70

        def published() -> tuple[list[Outcome], list[Escalation]]:
            return ([Outcome.decode(s.value) for s in w.sent_to("sla.outcomes")],
                    [Escalation.decode(s.value) for s in w.sent_to("sla.escalations")])

        wall.set(T0 + 71 * MIN)
        assert await w.timer_turn([0]) == [0]
        outcomes, escalations = published()
        assert [o.metric for o in outcomes] == ["irt"]
        assert [(e.escalation_id, e.emitted_at) for e in escalations] == [
            ("T1:next_response_at_risk:1:1", "2026-03-02T10:10:00.000Z")]
        wall.set(T0 + 130 * MIN)  # a response now would still be in time: nothing is due
        assert await w.timer_turn([0]) == []
        wall.set(T0 + 130 * MIN + 1)
        assert await w.timer_turn([0]) == [0]
        outcomes, escalations = published()
        nr = outcomes[-1]
        assert (nr.outcome_id, nr.outcome, nr.decided_at, nr.started_at, nr.value_seconds, nr.contract) == (
            "T1:next_response:1", "breached", "2026-03-02T11:10:00.000Z", "2026-03-02T09:10:00.000Z", None, "gold")
        breach = escalations[-1]
        assert (breach.escalation_id, breach.emitted_at, breach.paged) == (
            "T1:next_response_breached:3:1", "2026-03-02T11:10:00.000Z", False)
        assert not bizcrit.pages(breach.kind, breach.level)
        assert {s.key for s in w.sent_to("sla.outcomes") + w.sent_to("sla.escalations")} == {b"T1"}
        assert w.pipeline.metrics.registry.get_sample_value("sla_outcomes_total", {
            "contract": "gold", "metric": "next_response", "severity": "2", "outcome": "breached"}) == 1
        wall.set(T0 + 10 * 60 * MIN)
        await w.timer_turn([0])
        assert len(w.sent_to("sla.outcomes")) == 2  # decided once
