"""IRT rungs after a change (contract v3, section 4): one change that makes several IRT rungs overdue at
once fires only the highest, at the change, saying what happened; the lower ones never fire in that cycle.

Hand-worked: the policy's defaults (Sev1 15 min, Sev2 1 h, Sev3 4 h; FastLane halves them; rungs at 50 %,
80 % and 100 % of the IRT budget; tier 3 after 30 min of BizCrit).
"""

from __future__ import annotations

from collections import defaultdict

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from pipeline.domain import bizcrit, engine
from pipeline.domain.events import Event
from pipeline.domain.policy import Policy
from pipeline.domain.ticket import TicketState
from pipeline.domain.timefmt import format_rfc3339_ms as ts
from tests.desk import HOUR, MIN, SEC, T0, Desk

LABEL = "Sev1 ticket T1 (automation, customer C1)"


@pytest.fixture
def desk() -> Desk:
    return Desk()


def test_a_sev3_raised_to_sev1_after_4h40_unanswered_pages_once_with_what_happened(desk: Desk) -> None:
    desk.create(severity=3)
    desk.send("ticket.severity_changed", at=T0 + 4 * HOUR + 40 * MIN, severity=1)
    assert desk.ladder() == [("irt_breached", 3, ts(T0 + 4 * HOUR + 40 * MIN))]
    breach = desk.escalations[0]
    assert breach.reason == (f"{LABEL} was raised to Sev1 4 h 40 min after creation, still unanswered: "
                             "it has breached its 15 min IRT target")
    assert breach.budget_used == round(280 / 15, 4) and breach.deadline == ts(T0 + 15 * MIN)
    assert [o.outcome for o in desk.irt()] == ["breached"]  # decided at its Sev3 deadline, once
    desk.clock_to(T0 + 9 * HOUR)
    assert [k for k, _, _ in desk.ladder()] == ["irt_breached", "bizcrit_tier3", "bizcrit_management",
                                                "bizcrit_executive"]
    assert desk.metric("sla_escalations_total", kind="irt_at_risk") == 0


def test_a_raise_between_half_and_80_percent_sends_only_the_first_at_risk_rung_then_climbs_as_usual(
        desk: Desk) -> None:
    desk.create(severity=3)
    desk.send("ticket.severity_changed", at=T0 + 10 * MIN, severity=1)  # 10 of 15 min used
    assert desk.ladder() == [("irt_at_risk", 1, ts(T0 + 10 * MIN))]
    first = desk.escalations[0]
    assert first.budget_used == 0.6667
    assert first.reason == (f"{LABEL} was raised to Sev1 10 min after creation, still unanswered: "
                            "it has used 67% of its 15 min IRT target")
    desk.clock_to(T0 + 15 * MIN + 1)
    assert desk.ladder()[1:] == [("irt_at_risk", 2, ts(T0 + 12 * MIN)), ("irt_breached", 3, ts(T0 + 15 * MIN))]
    assert [e.budget_used for e in desk.escalations] == [0.6667, 0.8, 1.0]


@pytest.mark.parametrize(("created", "raised_at"), [((3, False), 12 * MIN), ((2, True), 6 * MIN)],
                         ids=["entering BizCrit", "inside the stint"])
def test_a_raise_exactly_at_80_percent_sends_the_second_at_risk_rung_alone(
        desk: Desk, created: tuple[int, bool], raised_at: int) -> None:
    severity, fastlane = created
    desk.create(severity=severity, fastlane=fastlane)
    desk.send("ticket.severity_changed", at=T0 + raised_at, severity=1)
    assert desk.ladder() == [("irt_at_risk", 2, ts(T0 + raised_at))]
    desk.clock_to(T0 + 16 * MIN)
    deadline = T0 + raised_at * 5 // 4  # the change is at 80 % of the new budget
    assert desk.ladder() == [("irt_at_risk", 2, ts(T0 + raised_at)), ("irt_breached", 3, ts(deadline))]
    assert desk.escalations[0].budget_used == 0.8


def test_an_unanswered_sev1_reopened_pages_its_breach_once_in_the_new_cycle(desk: Desk) -> None:
    desk.create(severity=1)
    desk.send("ticket.resolved", at=T0 + 5 * MIN, engineer_id="E1")  # resolved without a public response
    desk.send("ticket.reopened", at=T0 + HOUR)
    desk.clock_to(T0 + HOUR + 31 * MIN)
    assert [e.escalation_id for e in desk.escalations] == [
        "T1:bizcrit_exited:0:1", "T1:irt_breached:3:2", "T1:bizcrit_tier3:1:2"]
    breach = desk.escalations[1]
    assert breach.emitted_at == ts(T0 + HOUR)
    assert breach.reason == (f"{LABEL} was reopened 1 h after creation, still unanswered: "
                             "it has breached its 15 min IRT target")


def test_a_fastlane_sev3_raised_to_sev2_late_enters_bizcrit_at_its_highest_overdue_rung(desk: Desk) -> None:
    desk.create(severity=3, fastlane=True)
    desk.send("ticket.severity_changed", at=T0 + 27 * MIN, severity=2)  # 27 of 30 min used
    desk.clock_to(T0 + 31 * MIN)
    assert desk.ladder() == [("irt_at_risk", 2, ts(T0 + 27 * MIN)), ("irt_breached", 3, ts(T0 + 30 * MIN))]
    at_risk = desk.escalations[0]
    assert at_risk.budget_used == 0.9
    assert at_risk.reason.startswith("Sev2 FastLane ticket T1 (automation, customer C1) was raised to Sev2 27 min "
                                     "after creation, still unanswered: it has used 90% of its 30 min IRT target")


def test_a_fastlane_sev2_raised_to_sev1_inside_its_stint_fires_one_rung_and_keeps_its_bizcrit_clock(
        desk: Desk) -> None:
    desk.create(severity=2, fastlane=True)
    desk.send("ticket.severity_changed", at=T0 + 10 * MIN, severity=1)  # Sev1 FastLane: 7 min 30 s, all overdue
    desk.clock_to(T0 + 30 * MIN + 1)
    assert desk.ladder() == [("irt_breached", 3, ts(T0 + 10 * MIN)), ("bizcrit_tier3", 1, ts(T0 + 30 * MIN))]
    assert "was raised to Sev1 10 min after creation" in desk.escalations[0].reason


# --- the pure ladder: restarts between the change and the next tick -------------------------------------------

def _event(etype: str, at: int, **fields: object) -> Event:
    return Event(f"{etype}@{at}", etype, "T1", at, **fields)  # type: ignore[arg-type]


def _created(severity: int, fastlane: bool = False) -> tuple[TicketState, list[bizcrit.Escalation]]:
    state = TicketState("T1", 0)
    step = engine.create(state, _event("ticket.created", T0, severity=severity, product="automation",
                                       customer_id="C1", fastlane=fastlane), Policy())
    return state, step.escalations


def _restarted(state: TicketState) -> TicketState:
    return TicketState.from_bytes(state.ticket_id, state.to_bytes())


def test_a_restart_between_the_raise_and_the_next_tick_fires_no_skipped_rung() -> None:
    policy = Policy()
    state, _ = _created(severity=3)
    raised = engine.apply(state, _event("ticket.severity_changed", T0 + 4 * HOUR + 40 * MIN, severity=1), policy)
    assert [e.code for e in raised.escalations] == ["irt_breached:3"]
    state = _restarted(state)
    later = engine.advance(state, T0 + 5 * HOUR + 11 * MIN, policy).escalations
    assert [(e.code, e.at) for e in later] == [("bizcrit_tier3:1", T0 + 5 * HOUR + 10 * MIN)]
    assert bizcrit.rung_instants(state, policy) == [(T0 + 6 * HOUR + 40 * MIN, bizcrit.MANAGEMENT, 2),
                                                    (T0 + 8 * HOUR + 40 * MIN, bizcrit.EXECUTIVE, 3)]


def test_a_raise_exactly_at_the_new_deadline_waits_for_the_breach_and_survives_a_restart() -> None:
    policy = Policy()
    state, _ = _created(severity=3)
    raised = engine.apply(state, _event("ticket.severity_changed", T0 + 15 * MIN, severity=1), policy)
    assert raised.escalations == []  # a response at this very instant would still meet the target
    state = _restarted(state)
    assert engine.next_due(state, policy) == T0 + 15 * MIN
    later = engine.advance(state, T0 + 15 * MIN + 1, policy).escalations
    assert [(e.code, e.at) for e in later] == [("irt_breached:3", T0 + 15 * MIN)]
    assert [e.code for e in engine.advance(state, T0 + 46 * MIN, policy).escalations] == ["bizcrit_tier3:1"]


def test_a_raise_at_the_new_deadline_answered_at_that_instant_pages_nothing_about_irt() -> None:
    policy = Policy()
    state, _ = _created(severity=3)
    engine.apply(state, _event("ticket.severity_changed", T0 + 15 * MIN, severity=1), policy)
    answered = engine.apply(state, _event("ticket.responded", T0 + 15 * MIN, engineer_id="E1"), policy)
    assert [(d.metric, d.outcome) for d in answered.decisions] == [("irt", "met")]
    later = engine.advance(state, T0 + 2 * HOUR, policy).escalations
    assert [e.code for e in later] == ["bizcrit_tier3:1"]


# --- a property over any events -----------------------------------------------------------------------------

_CHANGES = st.one_of(
    st.tuples(st.just("ticket.severity_changed"), st.integers(1, 4)),
    st.tuples(st.sampled_from(["ticket.responded", "ticket.workaround_provided", "ticket.resolved",
                               "ticket.reopened", "ticket.closed", "tick", "restart"]), st.just(0)),
)


@settings(max_examples=400, deadline=None)
@given(severity=st.integers(1, 4), fastlane=st.booleans(),
       steps=st.lists(st.tuples(st.integers(0, 90 * 60), _CHANGES), max_size=12))
def test_whatever_the_events_at_risk_stays_within_budget_and_one_cycle_never_pages_twice_at_once(
        severity: int, fastlane: bool, steps: list[tuple[int, tuple[str, int]]]) -> None:
    """Steps come whole seconds apart; ticks and restarts may share an instant with an event.

    Two ticket events never share an instant here: two changes in one millisecond are two changes, and
    the first one's rung is out before the second is known. Nor does a FastLane ticket become Sev1 at
    exactly its new deadline (7 min 30 s) inside its stint, the limit named in ``bizcrit._due``.
    """
    policy = Policy()
    state, out = _created(severity, fastlane)
    at = T0
    for gap_s, (kind, value) in steps:
        ticket_event = kind not in ("tick", "restart")
        at += max(gap_s, 1 if ticket_event else 0) * SEC
        assume(not (fastlane and kind == "ticket.severity_changed" and value == 1 and at == T0 + 450 * SEC))
        if kind == "restart":
            state = _restarted(state)
        elif kind == "tick":
            out += engine.advance(state, at, policy).escalations
        else:
            fields = {"severity": value} if kind == "ticket.severity_changed" else {"engineer_id": "E1"}
            out += engine.apply(state, _event(kind, at, **fields), policy).escalations
    out += engine.advance(state, at + 48 * HOUR, policy).escalations
    assert all(e.budget_used is None or e.budget_used <= 1 for e in out if e.kind != bizcrit.IRT_BREACHED)
    irt = [e for e in out if e.kind in (bizcrit.IRT_AT_RISK, bizcrit.IRT_BREACHED)]
    instants: dict[int, list[int]] = defaultdict(list)
    for e in irt:
        instants[e.cycle].append(e.at)
    assert all(len(ats) == len(set(ats)) for ats in instants.values()), [(e.code, e.cycle, e.at) for e in irt]
    keys = [(e.code, e.cycle) for e in out]
    assert len(keys) == len(set(keys))  # exactly once per kind, level and cycle
    levels = defaultdict(list)
    for e in irt:
        levels[e.cycle].append(e.level)
    assert all(lv == sorted(lv) for lv in levels.values())  # a skipped rung never comes after a higher one


def test_two_changes_in_one_instant_are_two_changes() -> None:
    """Why the property keeps ticket events apart: the first change's rung is out before the second exists."""
    policy = Policy()
    state, _ = _created(severity=3, fastlane=True)
    to_sev2 = engine.apply(state, _event("ticket.severity_changed", T0 + 20 * MIN, severity=2), policy)
    to_sev1 = engine.apply(state, _event("ticket.severity_changed", T0 + 20 * MIN, severity=1), policy)
    assert [e.code for e in to_sev2.escalations + to_sev1.escalations] == ["irt_at_risk:1", "irt_breached:3"]
