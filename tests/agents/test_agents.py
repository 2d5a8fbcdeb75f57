"""The agent tier: the app built by ``create_app``, its ticket and engineer agents, the Publisher and the
tick timer, run in-process on Faust's machinery without a broker (see ``tests/agents/harness.py``)."""

from __future__ import annotations

from pathlib import Path

from pipeline.domain.clock import ManualClock
from pipeline.domain.engineers import EngineerState
from pipeline.domain.records import Escalation, Outcome
from pipeline.domain.ticket import TicketState
from tests.agents.harness import Worker
from tests.builders import T0, EventFactory

MIN = 60_000


async def test_the_ticket_agent_publishes_outcomes_escalations_and_dead_letters_through_the_publisher(
        tmp_path: Path, events: EventFactory) -> None:
    async with Worker(tmp_path) as w:
        await w.event(events.created())
        await w.event(b"{not json", key=b"T9")
        await w.event(events.heartbeat(T0 + 16 * MIN))
        escalations = [Escalation.decode(s.value) for s in w.sent_to("sla.escalations")]
        assert [(e.kind, e.level) for e in escalations] == [("irt_at_risk", 1), ("irt_at_risk", 2),
                                                            ("irt_breached", 3)]
        assert {s.key for s in w.sent_to("sla.escalations")} == {b"T1"}
        [irt] = [Outcome.decode(s.value) for s in w.sent_to("sla.outcomes")]
        assert (irt.outcome_id, irt.outcome, irt.decided_at) == ("T1:irt:1", "breached", "2026-03-02T09:15:00.000Z")
        [letter] = w.sent_to("tickets.events.dlq")
        assert letter.value == b"{not json" and letter.key == b"T9"
        assert letter.headers["dlq.reason"] == b"malformed_json" and letter.headers["dlq.source.offset"] == b"1"
        # the state reached the tickets table (its changelog), with the outcome still in its outbox
        states = [s for s in w.producer.changelog if s.topic == "sla-pipeline-tickets-changelog"]
        assert states and TicketState.from_bytes("T1", states[-1].value).irt_outcome == "breached"


async def test_the_tick_timer_decides_a_live_breach_with_no_further_event(tmp_path: Path, events: EventFactory) -> None:
    wall = ManualClock(T0)
    async with Worker(tmp_path, clock="wall", wall=wall) as w:
        await w.timer_turn([0])  # the first tick after an assignment rebuilds the index
        await w.event(events.created(at=T0))
        wall.set(T0 + 10 * MIN)
        assert await w.timer_turn([0]) == [0]  # the first rung (7.5 min) is due: one tick
        assert [Escalation.decode(s.value).kind for s in w.sent_to("sla.escalations")] == ["irt_at_risk"]
        assert await w.timer_turn([0]) == []  # nothing more is due at 10 min
        wall.set(T0 + 15 * MIN + 1)
        await w.timer_turn([0])
        [irt] = [Outcome.decode(s.value) for s in w.sent_to("sla.outcomes")]
        assert (irt.outcome, irt.decided_at) == ("breached", "2026-03-02T09:15:00.000Z")
        assert w.pipeline.metrics.registry.get_sample_value(
            "sla_irt_outcomes_total", {"severity": "1", "outcome": "breached"}) == 1


async def test_a_business_hours_deadline_after_a_weekend_fires_on_monday_at_the_right_instant(
        tmp_path: Path, events: EventFactory) -> None:
    from tests.business_hours import berlin, business_hours_policy

    friday = berlin("2026-03-06T16:30")  # the contract's example: Sev3, 4 h, Monday to Friday in Berlin
    wall = ManualClock(friday)
    async with Worker(tmp_path, clock="wall", wall=wall, policy=business_hours_policy(tmp_path)) as w:
        await w.timer_turn([0])  # the first tick after an assignment rebuilds the index
        await w.event(events.created(at=friday, severity=3))
        for local in ("2026-03-06T17:00", "2026-03-07T09:00", "2026-03-08T18:00", "2026-03-09T08:00",
                      "2026-03-09T11:30"):
            wall.set(berlin(local))
            assert await w.timer_turn([0]) == [], f"no tick is due at {local}"
        wall.set(berlin("2026-03-09T11:30") + 1)
        assert await w.timer_turn([0]) == [0]
        [irt] = [Outcome.decode(s.value) for s in w.sent_to("sla.outcomes")]
        assert (irt.outcome, irt.decided_at, irt.calendar) == ("breached", "2026-03-09T10:30:00.000Z", "emea")


async def test_the_tick_timer_keeps_one_tick_in_flight_per_partition(tmp_path: Path) -> None:
    wall = ManualClock(T0)
    async with Worker(tmp_path, clock="wall", wall=wall) as w:
        timer = w.pipeline.tickets.timer
        assert timer.due([0, 1], now=100.0) == [0, 1]  # a rebuild is pending on every partition
        assert timer.due([0, 1], now=101.0) == []  # not delivered yet: no second tick
        assert timer.due([0, 1], now=111.0) == [0, 1]  # lost? sent again after 10 s
        timer.arrived(0)
        assert timer.due([0], now=112.0) == [0]


async def test_engineer_facts_reach_the_engineer_agent_and_its_table(tmp_path: Path, events: EventFactory) -> None:
    async with Worker(tmp_path) as w:
        await w.event(events.created(severity=2))
        await w.event(events.assigned(at=T0 + 1 * MIN, engineer_id="E1"))
        await w.event(events.event("ticket.responded", T0 + 5 * MIN, engineer_id="E1"))
        assert await w.deliver_facts() == 1  # one response sample, keyed by engineer
        raw = w.pipeline.engineer_table[b"E1"]
        summary = EngineerState.from_bytes("E1", raw).summary(T0 + 6 * MIN, "7d")
        assert (summary.samples, summary.art_seconds, summary.art_ratio) == (1, 240.0, 1.0)
        await w.deliver_facts()  # the same fact again (at-least-once): counted once
        assert EngineerState.from_bytes("E1", w.pipeline.engineer_table[b"E1"]).summary(
            T0 + 6 * MIN, "7d").samples == 1
