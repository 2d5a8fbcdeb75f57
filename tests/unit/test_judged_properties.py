"""Judged clocks (contract v3 section 10) under random event sequences (Hypothesis), on the pure engine.

One ticket lives through random events; a timer advances the engine exactly when ``next_due`` says, as the
processor's tick does. Checked: every clock is decided at most once and IRT exactly once, whenever the timer
fires and across restarts; a pause never brings a deadline earlier nor an outcome sooner or worse; without
pauses and contracts the IRT outcomes and the ladder are v2's, and IRT matches a small reference model of
section 3 written here.
"""

from __future__ import annotations

import dataclasses
from collections import Counter
from collections.abc import Callable

from hypothesis import given, settings
from hypothesis import strategies as st

from pipeline.domain import calendar, engine, judged
from pipeline.domain.contracts import Contract
from pipeline.domain.events import Event
from pipeline.domain.policy import Policy
from pipeline.domain.ticket import TicketState
from tests.desk import MIN, T0

DAY = 24 * 60 * MIN
EMEA = calendar.parse("emea", {"timezone": "Europe/Berlin", "hours": {
    "mon": ["08:00-18:00"], "tue": ["08:00-18:00"], "wed": ["08:00-18:00"], "thu": ["08:00-18:00"],
    "fri": ["08:00-17:00"]}})
PAUSED = frozenset({"workaround", "resolution"})
NOTIFY = frozenset({"next_response", "workaround", "resolution"})


def _contract(name: str, targets_minutes: dict[str, dict[int, int]], **settings: object) -> Contract:
    targets = {m: {sev: minutes * MIN for sev, minutes in per.items()} for m, per in targets_minutes.items()}
    return Contract(name, targets, dict.fromkeys(("irt", *targets), 0.99), **settings)  # type: ignore[arg-type]


TARGETS = {"irt": {1: 10, 2: 30, 3: 120}, "next_response": {1: 30, 2: 120, 3: 480},
           "workaround": {1: 240, 2: 1440}, "resolution": {1: 1440, 2: 4320, 3: 10080}}
CONTRACTS = {
    "gold": _contract("gold", TARGETS, pause_while_waiting=PAUSED, notify=NOTIFY),
    "weekday": _contract("weekday", TARGETS, calendar=EMEA, pause_while_waiting=PAUSED, notify=NOTIFY),
    "open": _contract("open", TARGETS, notify=NOTIFY),  # the same targets, never paused
}
POLICY = Policy(contracts=CONTRACTS, default_contract="gold", digest="0123456789ab")

TYPES = ("ticket.responded", "ticket.customer_replied", "ticket.waiting_on_customer", "ticket.severity_changed",
         "ticket.workaround_provided", "ticket.resolved", "ticket.reopened", "ticket.closed", "tick")
WAITING = "ticket.waiting_on_customer"
Step = tuple[int, str, int]  # minutes after the previous step, event type (or "tick"), severity for a change
steps = st.lists(st.tuples(st.integers(0, 600), st.sampled_from(TYPES), st.integers(1, 4)), max_size=25)


@dataclasses.dataclass
class Run:
    state: TicketState
    decisions: list = dataclasses.field(default_factory=list)
    escalations: list = dataclasses.field(default_factory=list)

    def add(self, step: engine.Step) -> None:
        self.decisions += step.decisions
        self.escalations += step.escalations

    def judged(self) -> list:
        return [d for d in self.decisions if d.outcome is not None]


def run(policy: Policy, severity: int, fastlane: bool, events: list[Step], *, contract: str | None = None,
        timer: bool = True, restart: bool = False, check: Callable[[TicketState], None] | None = None) -> Run:
    """The ticket's life under ``policy``: the timer fires at each ``next_due`` (as the processor's tick), or
    not at all (each event decides what passed before it); ``restart`` rebuilds the state from its bytes
    after every step. Ends 60 days after the last event, far past every deadline that can still come."""
    state = TicketState("T1", 0)
    out = Run(state)
    out.add(engine.create(state, Event("c", "ticket.created", "T1", T0, severity=severity, product="automation",
                                       customer_id="C1", fastlane=fastlane, contract=contract), policy))

    def tick_until(now: int) -> None:
        nonlocal state
        last = None
        while timer and (due := engine.next_due(state, policy)) is not None and due < now:
            if due == last:  # nothing left to decide there: only a closed ticket's retention may stay due
                assert due == state.closed_at + policy.closed_retention_ms  # type: ignore[operator]
                return
            out.add(engine.advance(state, due + 1, policy))
            last = due
            if restart:
                state = TicketState.from_bytes("T1", state.to_bytes())

    at = T0
    for i, (gap, etype, new_severity) in enumerate(events):
        at += gap * MIN
        tick_until(at)
        if etype == "tick":
            out.add(engine.advance(state, at, policy))
        elif state.closed_at is None:  # the processor ignores a closed ticket's events
            fields = {"severity": new_severity} if etype == "ticket.severity_changed" else {}
            if etype in ("ticket.responded", "ticket.workaround_provided", "ticket.resolved"):
                fields["engineer_id"] = "E1"
            out.add(engine.apply(state, Event(f"e{i}", etype, "T1", at, **fields), policy))  # type: ignore[arg-type]
        if check is not None:
            check(state)
        if restart:
            state = TicketState.from_bytes("T1", state.to_bytes())
    tick_until(at + 60 * DAY)
    out.add(engine.advance(state, at + 60 * DAY, policy))
    out.state = state
    return out


common = settings(max_examples=150, deadline=None)


@common
@given(severity=st.integers(1, 4), fastlane=st.booleans(), contract=st.sampled_from(sorted(CONTRACTS)),
       events=steps, restart=st.booleans())
def test_every_clock_is_decided_at_most_once_and_irt_exactly_once(
        severity: int, fastlane: bool, contract: str, events: list[Step], restart: bool) -> None:
    out = run(POLICY, severity, fastlane, events, contract=contract, restart=restart)
    keys = Counter((d.metric, d.cycle) for d in out.judged())
    assert [k for k, n in keys.items() if n > 1] == []
    assert keys[("irt", 1)] == 1
    for d in out.judged():
        assert (d.value_ms is None) == (d.outcome == "breached") == (d.counted_ms is None)
        if d.outcome == "met":
            assert d.counted_ms <= d.target_ms  # type: ignore[operator]
    notices = Counter((e.kind, e.level, e.cycle) for e in out.escalations)
    assert [k for k, n in notices.items() if n > 1] == []  # once per kind, level and cycle
    breaches = {(d.metric, d.cycle): d.decided_at for d in out.judged() if d.outcome == "breached"}
    at_risk = {(e.kind.removesuffix("_at_risk"), e.cycle): e.at for e in out.escalations
               if e.kind.endswith("_at_risk") and e.kind != "irt_at_risk"}
    for e in out.escalations:
        if e.kind.endswith("_breached") and e.kind != "irt_breached":
            clock = (e.kind.removesuffix("_breached"), e.cycle)
            assert breaches[clock] == e.at  # a breach notice goes with the breach, at its instant
            assert at_risk.get(clock, e.at) <= e.at  # an at-risk notice, if any, came first


@common
@given(severity=st.integers(1, 4), fastlane=st.booleans(), contract=st.sampled_from(sorted(CONTRACTS)),
       events=steps)
def test_when_the_timer_fires_and_restarts_change_no_outcome_and_no_notice(
        severity: int, fastlane: bool, contract: str, events: list[Step]) -> None:
    on_time = run(POLICY, severity, fastlane, events, contract=contract, restart=True)
    by_events = run(POLICY, severity, fastlane, events, contract=contract, timer=False)
    # one late advance decides in clock order, not time order (the contract fixes no order on the topics)
    assert _in_time_order(on_time.decisions) == _in_time_order(by_events.decisions)
    assert _in_time_order(on_time.escalations) == _in_time_order(by_events.escalations)


def _in_time_order(items: list) -> list:
    return sorted(items, key=lambda x: (getattr(x, "decided_at", None) or x.at, repr(x)))


@common
@given(severity=st.integers(1, 3), fastlane=st.booleans(), contract=st.sampled_from(["gold", "weekday"]),
       events=steps)
def test_a_pause_never_brings_a_deadline_earlier_nor_an_outcome_sooner_or_worse(
        severity: int, fastlane: bool, contract: str, events: list[Step]) -> None:
    def deadlines_not_earlier(state: TicketState) -> None:
        for clock in state.clocks:
            paused = judged.deadline(state, clock, POLICY)
            unpaused = judged.deadline(state, dataclasses.replace(clock, pauses=[]), POLICY)
            if paused is not None and unpaused is not None:
                assert paused >= unpaused, clock

    with_pauses = run(POLICY, severity, fastlane, events, contract=contract, check=deadlines_not_earlier)
    without = run(POLICY, severity, fastlane, [(g, "tick" if t == WAITING else t, s) for g, t, s in events],
                  contract=contract)
    paused = {(d.metric, d.cycle): d for d in with_pauses.judged()}
    unpaused = {(d.metric, d.cycle): d for d in without.judged()}
    for key, d in unpaused.items():
        if d.metric not in PAUSED:
            assert paused.get(key) == d  # irt and next_response never pause
        elif d.outcome == "met":
            assert paused[key].outcome == "met" and paused[key].decided_at == d.decided_at
    # a pause may leave a clock without an outcome (still paused, cancelled by a close, or lowered to a
    # severity without a target before it could breach); a breach with pauses was one without, no later
    for key, p in paused.items():
        if p.outcome == "breached":
            assert unpaused[key].outcome == "breached" and unpaused[key].decided_at <= p.decided_at


# --- without pauses and contracts: v2 ----------------------------------------------------------------------

V2 = Policy()
MIRROR = Policy(contracts={"mirror": Contract("mirror", {"irt": V2.irt_targets_ms}, {"irt": 0.99})},
                default_contract="mirror", digest="0123456789ab")


def _core(d: object) -> tuple:
    """A decision's v2 fields: what a policy with contracts adds (contract, policy, counted) left out."""
    return tuple(getattr(d, f) for f in ("metric", "cycle", "severity", "target_ms", "value_ms", "outcome",
                                         "decided_at", "engineer_id", "agent_value_ms"))


def _v2_escalation(e: object) -> tuple:
    """An escalation's v2 fields: the contract a policy with contracts names left out."""
    return tuple(getattr(e, f.name) for f in dataclasses.fields(e) if f.name != "contract")  # type: ignore[arg-type]


@common
@given(severity=st.integers(1, 4), fastlane=st.booleans(), events=steps)
def test_a_contract_that_judges_only_irt_on_the_v2_targets_decides_as_v2(
        severity: int, fastlane: bool, events: list[Step]) -> None:
    v2 = run(V2, severity, fastlane, events)
    mirrored = run(MIRROR, severity, fastlane, events)
    assert [_core(d) for d in mirrored.decisions] == [_core(d) for d in v2.decisions]
    assert [_v2_escalation(e) for e in mirrored.escalations] == [_v2_escalation(e) for e in v2.escalations]
    assert all(e.contract is None for e in v2.escalations)
    assert all(d.policy is None and d.counted_ms is None for d in v2.decisions)  # v2 records stay v2


@common
@given(severity=st.integers(1, 4), fastlane=st.booleans(), events=steps)
def test_v2_irt_outcomes_match_a_reference_model_of_section_3(
        severity: int, fastlane: bool, events: list[Step]) -> None:
    (irt,) = [d for d in run(V2, severity, fastlane, events, timer=False).decisions if d.metric == "irt"]
    assert (irt.outcome, irt.decided_at, irt.value_ms, irt.severity) == _reference_irt(severity, fastlane, events)


def _reference_irt(severity: int, fastlane: bool, events: list[Step]) -> tuple[str, int, int | None, int]:
    """Section 3, from scratch: the target of the current severity counted from creation; only a response
    ends the clock; a change that puts it past breaches at the change; a Sev1 workaround makes it a Sev2;
    a closed ticket takes no more events but still breaches at its deadline."""
    def deadline(sev: int) -> int:
        return T0 + V2.irt_target_ms(sev, fastlane)

    at, sev, closed = T0, severity, False
    for gap, etype, new in events:
        at += gap * MIN
        if deadline(sev) < at:
            return "breached", deadline(sev), None, sev
        if closed:
            continue
        if etype == "ticket.responded":
            return "met", at, at - T0, sev
        if etype == "ticket.severity_changed" or (etype == "ticket.workaround_provided" and sev == 1):
            sev = new if etype == "ticket.severity_changed" else 2
            if deadline(sev) < at:
                return "breached", at, None, sev
        closed = closed or etype == "ticket.closed"
    return "breached", deadline(sev), None, sev


@common
@given(severity=st.integers(1, 4), fastlane=st.booleans(), events=steps)
def test_without_pauses_a_met_workaround_or_resolution_measures_what_ttw_or_ttr_measure(
        severity: int, fastlane: bool, events: list[Step]) -> None:
    decisions = run(POLICY, severity, fastlane, events, contract="open").decisions
    measured = {(d.metric, d.cycle): d.value_ms for d in decisions if d.outcome is None}
    for d in decisions:
        if d.outcome == "met" and d.metric in ("workaround", "resolution"):
            twin = "ttw" if d.metric == "workaround" else "ttr"
            assert measured[(twin, d.cycle)] == d.value_ms == d.counted_ms
