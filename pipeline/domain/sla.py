"""SLA rules (contract sections 3 and 10) as plain functions over a ticket's state. No I/O, no clock reads.

* :func:`apply_event` applies one event at its instant and returns the decisions it makes.
* :func:`on_clock` returns the decisions that time alone makes (a judged clock's deadline passing).
* :func:`next_due` says when the ticket next needs :func:`on_clock` without any new event.

Which event starts, ends, pauses or cancels which judged clock (section 10's table) is decided here;
the clocks themselves (targets, calendars, deadlines) are :mod:`pipeline.domain.judged`'s. TTR and TTW
stay measurements (no outcome). An instant "passes" a deadline when it is strictly later: a response
exactly at the deadline is met, and at the same instant events apply before deadlines.
"""

from __future__ import annotations

import dataclasses

from pipeline.domain import calendar, judged
from pipeline.domain.calendar import Calendar
from pipeline.domain.contracts import DEFAULT, IRT, NEXT_RESPONSE, RESOLUTION, WORKAROUND
from pipeline.domain.events import Event
from pipeline.domain.judged import BREACHED, MET, JudgedClock
from pipeline.domain.policy import Policy
from pipeline.domain.ticket import TicketState

TTR, TTW = "ttr", "ttw"
__all__ = ["BREACHED", "IRT", "MET", "TTR", "TTW", "Decision"]


@dataclasses.dataclass(slots=True, unsafe_hash=True)  # not frozen: built per event, 5x cheaper (nothing mutates it)
class Decision:
    """One SLA outcome (contract section 5), before it is turned into a record."""

    metric: str
    cycle: int
    severity: int
    target_ms: int | None
    value_ms: int | None
    outcome: str | None
    decided_at: int
    engineer_id: str | None
    agent_value_ms: int | None = None
    calendar: str | None = None  # the ticket's calendar, when the policy defines calendars or contracts
    calendar_value_ms: int | None = None  # TTR/TTW: the same span in that calendar's time
    # contract v3 section 10 (the last three only when the policy defines contracts)
    contract: str = DEFAULT  # the contract judged under (metrics label every outcome with it)
    policy: str | None = None  # the policy's digest; None under a policy without contracts (v2 records)
    requested_contract: str | None = None
    counted_ms: int | None = None  # judged metrics: calendar time less pauses, compared with the target
    paused_ms: int | None = None  # judged metrics: calendar time paused, when there was any
    started_at: int | None = None  # next_response: the customer reply that started the clock

    @property
    def key(self) -> str:
        return f"{self.metric}:{self.cycle}"


def calendar_of(state: TicketState, policy: Policy) -> Calendar:
    """The calendar the ticket's judged clocks count in: by its contract and current severity."""
    return judged.calendar_of(state, policy)


def irt_target(state: TicketState, policy: Policy) -> int:
    target = judged.target_of(state, policy, IRT)
    assert target is not None  # IRT always has a target (section 10, rule 2)
    return target


def irt_deadline(state: TicketState, policy: Policy) -> int | None:
    """When the unanswered ticket breaches IRT, or None once IRT is decided."""
    clock = judged.irt_clock(state)
    return None if clock is None else judged.deadline(state, clock, policy)


def at_risk_from(state: TicketState, policy: Policy) -> int:
    """When the unanswered ticket will have used the at-risk share of its budget, in its calendar's time."""
    clock = judged.irt_clock(state)
    at = None if clock is None else judged.at_risk_at(state, clock, policy)
    assert at is not None
    return at


def next_due(state: TicketState, policy: Policy) -> int | None:
    candidates = [h.hold_until for h in state.held]
    for clock in state.clocks:
        deadline = judged.deadline(state, clock, policy)
        if deadline is not None:
            candidates.append(deadline)
    if state.closed_at is not None:
        candidates.append(state.closed_at + policy.closed_retention_ms)
    return min(candidates, default=None)


def on_clock(state: TicketState, now: int, policy: Policy) -> list[Decision]:
    """Decisions due strictly before ``now``: every judged clock past its deadline breaches there."""
    out = []
    for clock in state.clocks:
        deadline = judged.deadline(state, clock, policy)
        if deadline is not None and deadline < now:
            out.append(_judge(state, clock, BREACHED, deadline, None, state.engineer_id, policy))
    return out


def overdue(state: TicketState, at: int, policy: Policy) -> list[Decision]:
    """After a change at ``at``: clocks it put past their deadline breach at the change (section 3)."""
    return [_judge(state, clock, BREACHED, at, None, state.engineer_id, policy) for clock in state.clocks
            if (d := judged.deadline(state, clock, policy)) is not None and d < at]


def expired(state: TicketState, now: int, policy: Policy) -> bool:
    """A closed ticket whose retention has passed, with nothing left to decide, may be dropped."""
    return (
        state.closed_at is not None
        and now > state.closed_at + policy.closed_retention_ms
        and irt_deadline(state, policy) is None
        and not state.held
    )


def create(state: TicketState, event: Event, policy: Policy) -> None:
    state.created_at = event.occurred_at
    state.severity = event.severity
    state.product = event.product
    state.customer_id = event.customer_id
    state.fastlane = bool(event.fastlane)
    state.tier = event.tier or 1
    state.cycle = 1
    state.cycle_start = event.occurred_at
    if policy.uses_contracts:
        choice = policy.choose_contract(event.contract, state.customer_id, state.product, state.fastlane)
        state.contract, state.requested_contract = choice.contract, choice.requested
    contract = judged.contract_of(state, policy)
    state.clocks = [JudgedClock(m, 1, event.occurred_at) for m in contract.metrics if m != NEXT_RESPONSE]


def apply_event(state: TicketState, event: Event, at: int, policy: Policy) -> list[Decision]:
    """Apply a non-creation event to an existing ticket at instant ``at`` (never before creation).

    The caller decides first what passed before ``at`` (:mod:`pipeline.domain.engine` does), so the
    result does not depend on when a timer happened to fire. Clocks the event put past their deadline
    (a severity raised, a pause ended) breach at ``at``.
    """
    handler = _HANDLERS.get(event.type)
    decisions = handler(state, event, at, policy) if handler is not None else []
    return decisions + overdue(state, at, policy)
def _assigned(state: TicketState, event: Event, at: int, policy: Policy) -> list[Decision]:
    state.engineer_id = event.engineer_id
    if event.tier is not None:
        state.tier = event.tier
    return []


def _responded(state: TicketState, event: Event, at: int, policy: Policy) -> list[Decision]:
    state.engineer_id = state.engineer_id or event.engineer_id
    if state.first_response_at is None:
        state.first_response_at = at
    # the first response ends IRT; any response ends a running next-response clock
    return [*_end(state, judged.find(state, IRT), at, event.engineer_id, policy),
            *_end(state, judged.find(state, NEXT_RESPONSE), at, event.engineer_id, policy)]


def _severity_changed(state: TicketState, event: Event, at: int, policy: Policy) -> list[Decision]:
    state.severity = event.severity  # clocks re-target from their start; apply_event breaches the overdue
    return []


def _waiting(state: TicketState, event: Event, at: int, policy: Policy) -> list[Decision]:
    if state.waiting_since is None and state.resolved_at is None:
        state.waiting_since = at
        listed = judged.contract_of(state, policy).pause_while_waiting
        for clock in state.clocks:
            if clock.metric in listed and clock.running and not clock.paused:
                clock.paused_since = at
    return []


def _customer_replied(state: TicketState, event: Event, at: int, policy: Policy) -> list[Decision]:
    _stop_waiting(state, at)
    # section 10: a reply after the first response starts a next-response clock, unless one runs or the
    # ticket is resolved; its cycle numbers count every such clock (cancelled ones too)
    if (state.first_response_at is not None and state.resolved_at is None and state.closed_at is None
            and judged.contract_of(state, policy).judges(NEXT_RESPONSE)
            and judged.find(state, NEXT_RESPONSE) is None):
        state.next_responses += 1
        state.clocks.append(JudgedClock(NEXT_RESPONSE, state.next_responses, at))
    return []


def _stop_waiting(state: TicketState, at: int) -> None:
    if state.waiting_since is not None:
        state.waiting_ms += max(0, at - state.waiting_since)
        state.waiting_since = None
    for clock in state.clocks:
        _resume(clock, at)


def _resume(clock: JudgedClock, at: int) -> None:
    if clock.paused_since is not None:
        clock.pauses += [clock.paused_since, max(at, clock.paused_since)]
        clock.paused_since = None


def _workaround(state: TicketState, event: Event, at: int, policy: Policy) -> list[Decision]:
    state.engineer_id = state.engineer_id or event.engineer_id
    # judged at the severity it has now (a Sev1's workaround at Sev1), before the drop below
    decisions = _end(state, judged.find(state, WORKAROUND), at, event.engineer_id, policy)
    if state.ttw_at is None and state.resolved_at is None:
        state.ttw_at = at
        decisions.append(_cycle_outcome(state, TTW, at, event.engineer_id, policy))
    if state.severity == 1:  # a workaround makes a Sev1 a Sev2 (it leaves BizCrit); clocks re-target
        state.severity = 2
    return decisions


def _resolved(state: TicketState, event: Event, at: int, policy: Policy) -> list[Decision]:
    state.engineer_id = state.engineer_id or event.engineer_id
    if state.resolved_at is not None:
        return []
    _stop_waiting(state, at)
    state.resolved_at = at
    decisions = _end(state, judged.find(state, WORKAROUND), at, event.engineer_id, policy)
    if state.ttw_at is None:  # resolved before any workaround: TTW ends here too
        state.ttw_at = at
        decisions.append(_cycle_outcome(state, TTW, at, event.engineer_id, policy))
    ttr = _cycle_outcome(state, TTR, at, event.engineer_id, policy)
    decisions.append(dataclasses.replace(ttr, agent_value_ms=ttr.value_ms - state.waiting_ms))  # type: ignore[operator]
    decisions += _end(state, judged.find(state, RESOLUTION), at, event.engineer_id, policy)
    _cancel(state, NEXT_RESPONSE)
    return decisions


def _reopened(state: TicketState, event: Event, at: int, policy: Policy) -> list[Decision]:
    if state.resolved_at is None:  # a reopen acts only on a resolved ticket
        return []
    state.cycle += 1
    state.cycle_start = at
    state.resolved_at = None
    state.ttw_at = None
    state.waiting_ms = 0
    state.waiting_since = None
    state.escalated = []  # escalations are once per kind, level and cycle
    contract = judged.contract_of(state, policy)
    state.clocks += [JudgedClock(m, state.cycle, at) for m in (WORKAROUND, RESOLUTION) if contract.judges(m)]
    return []


def _closed(state: TicketState, event: Event, at: int, policy: Policy) -> list[Decision]:
    _stop_waiting(state, at)
    state.closed_at = at
    for metric in (NEXT_RESPONSE, WORKAROUND, RESOLUTION):  # IRT is never cancelled
        _cancel(state, metric)
    return []


_HANDLERS = {
    "ticket.assigned": _assigned,
    "ticket.responded": _responded,
    "ticket.severity_changed": _severity_changed,
    "ticket.waiting_on_customer": _waiting,
    "ticket.customer_replied": _customer_replied,
    "ticket.workaround_provided": _workaround,
    "ticket.resolved": _resolved,
    "ticket.reopened": _reopened,
    "ticket.closed": _closed,
}


# --- clocks ending ------------------------------------------------------------------------------

def _end(state: TicketState, clock: JudgedClock | None, at: int, engineer_id: str | None,
         policy: Policy) -> list[Decision]:
    """End a running clock at ``at``: met if undecided and in time (on_clock has already breached one
    past its deadline; one put past it while paused breaches now); no outcome without a target."""
    if clock is None or not clock.running:
        return []
    _resume(clock, at)
    clock.end = at  # pruned after the step (its breach notice still reads it); the IRT clock stays
    target = judged.target_of(state, policy, clock.metric)
    if clock.outcome is not None or target is None:
        return []
    if judged.counted(clock, calendar_of(state, policy), at) <= target:
        return [_judge(state, clock, MET, at, at - clock.start, engineer_id, policy)]
    return [_judge(state, clock, BREACHED, at, None, engineer_id, policy)]


def prune(state: TicketState) -> None:
    """Drop the clocks that ended: nothing more to decide (the IRT clock stays as the ticket's IRT record)."""
    if any(c.end is not None and c.metric != IRT for c in state.clocks):
        state.clocks = [c for c in state.clocks if c.end is None or c.metric == IRT]


def _cancel(state: TicketState, metric: str) -> None:
    """Section 10's "cancelled": the running clock goes without an outcome (decided ones stay decided)."""
    clock = judged.find(state, metric)
    if clock is not None:
        state.clocks.remove(clock)


# --- decisions ----------------------------------------------------------------------------------

def _judge(state: TicketState, clock: JudgedClock, outcome: str, decided_at: int, value_ms: int | None,
           engineer_id: str | None, policy: Policy) -> Decision:
    clock.outcome = outcome
    decision = Decision(clock.metric, clock.cycle, state.severity, judged.target_of(state, policy, clock.metric),  # type: ignore[arg-type]
                        value_ms, outcome, decided_at, engineer_id)
    if policy.uses_calendars or policy.uses_contracts:
        cal = calendar_of(state, policy)
        decision.calendar = cal.name
        if policy.uses_contracts:
            paused = judged.paused_ms(clock, cal, decided_at)
            decision.counted_ms = None if value_ms is None else judged.counted(clock, cal, decided_at)
            decision.paused_ms = paused or None
            if clock.metric == NEXT_RESPONSE:
                decision.started_at = clock.start
    _name(decision, state, policy)
    return decision


def _cycle_outcome(state: TicketState, metric: str, at: int, engineer_id: str | None, policy: Policy) -> Decision:
    assert state.cycle_start is not None and state.severity is not None
    decision = Decision(metric, state.cycle, state.severity, None, at - state.cycle_start, None, at,
                        engineer_id or state.engineer_id)
    if policy.uses_calendars or policy.uses_contracts:
        cal = calendar_of(state, policy)
        decision.calendar, decision.calendar_value_ms = cal.name, calendar.elapsed(cal, state.cycle_start, at)
    _name(decision, state, policy)
    return decision


def _name(decision: Decision, state: TicketState, policy: Policy) -> None:
    """The contract the decision was made under; the policy's digest only under contracts (v2 bytes)."""
    if policy.uses_contracts:
        decision.contract, decision.requested_contract = judged.contract_name(state, policy)
        decision.policy = policy.digest
