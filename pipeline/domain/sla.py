"""SLA rules (contract section 3) as plain functions over a ticket's state. No I/O, no clock reads.

* :func:`apply_event` applies one event at its instant and returns the decisions it makes.
* :func:`on_clock` returns the decisions that time alone makes (an IRT deadline passing).
* :func:`next_due` says when the ticket next needs :func:`on_clock` without any new event.

An instant "passes" a deadline when it is strictly later: a response exactly at the deadline is met,
and at the same instant events apply before deadlines.
"""

from __future__ import annotations

import dataclasses
import math

from pipeline.domain import calendar
from pipeline.domain.calendar import Calendar
from pipeline.domain.events import Event
from pipeline.domain.policy import Policy
from pipeline.domain.ticket import TicketState

IRT, TTR, TTW = "irt", "ttr", "ttw"
MET, BREACHED = "met", "breached"


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
    calendar: str | None = None  # the ticket's calendar, when the policy defines calendars
    calendar_value_ms: int | None = None  # TTR/TTW: the same span in that calendar's time

    @property
    def key(self) -> str:
        return f"{self.metric}:{self.cycle}"


def calendar_of(state: TicketState, policy: Policy) -> Calendar:
    """The calendar the ticket's IRT is counted in: chosen by its current severity, product and FastLane."""
    return policy.calendar_for(state.severity, state.product, state.fastlane)  # type: ignore[arg-type]


def irt_deadline(state: TicketState, policy: Policy) -> int | None:
    """When the unanswered ticket breaches IRT, or None once IRT is decided: the first instant at which its
    calendar's time since creation reaches the target (round the clock: creation plus the target)."""
    if state.created_at is None or state.irt_outcome is not None or state.severity is None:
        return None
    return calendar.reached(calendar_of(state, policy), state.created_at,
                            policy.irt_target_ms(state.severity, state.fastlane))


def at_risk_from(state: TicketState, policy: Policy) -> int:
    """When the unanswered ticket will have used the at-risk share of its budget, in its calendar's time."""
    assert state.created_at is not None
    return calendar.reached(calendar_of(state, policy), state.created_at,
                            math.ceil(policy.at_risk_fraction * irt_target(state, policy)))


def irt_target(state: TicketState, policy: Policy) -> int:
    assert state.severity is not None
    return policy.irt_target_ms(state.severity, state.fastlane)


def next_due(state: TicketState, policy: Policy) -> int | None:
    candidates = [h.hold_until for h in state.held]
    deadline = irt_deadline(state, policy)
    if deadline is not None:
        candidates.append(deadline)
    if state.closed_at is not None:
        candidates.append(state.closed_at + policy.closed_retention_ms)
    return min(candidates, default=None)


def on_clock(state: TicketState, now: int, policy: Policy) -> list[Decision]:
    """Decisions due strictly before ``now``: an unanswered ticket breaches IRT at its deadline."""
    deadline = irt_deadline(state, policy)
    if deadline is None or not deadline < now:
        return []
    return [_irt(state, policy, BREACHED, deadline, None, state.engineer_id)]


def expired(state: TicketState, now: int, policy: Policy) -> bool:
    """A closed ticket whose retention has passed, with nothing left to decide, may be dropped."""
    return (
        state.closed_at is not None
        and now > state.closed_at + policy.closed_retention_ms
        and irt_deadline(state, policy) is None
        and not state.held
    )


def create(state: TicketState, event: Event) -> None:
    state.created_at = event.occurred_at
    state.severity = event.severity
    state.product = event.product
    state.customer_id = event.customer_id
    state.fastlane = bool(event.fastlane)
    state.tier = event.tier or 1
    state.cycle = 1
    state.cycle_start = event.occurred_at


def apply_event(state: TicketState, event: Event, at: int, policy: Policy) -> list[Decision]:
    """Apply a non-creation event to an existing ticket at instant ``at`` (never before creation).

    The caller decides first what passed before ``at`` (:mod:`pipeline.domain.engine` does), so the
    result does not depend on when a timer happened to fire.
    """
    handler = _HANDLERS.get(event.type)
    return handler(state, event, at, policy) if handler is not None else []


def _assigned(state: TicketState, event: Event, at: int, policy: Policy) -> list[Decision]:
    state.engineer_id = event.engineer_id
    if event.tier is not None:
        state.tier = event.tier
    return []


def _responded(state: TicketState, event: Event, at: int, policy: Policy) -> list[Decision]:
    state.engineer_id = state.engineer_id or event.engineer_id
    if state.first_response_at is not None:
        return []
    state.first_response_at = at
    if state.irt_outcome is None:  # on_clock has already breached it if the deadline had passed
        return [_irt(state, policy, MET, at, at - state.created_at, event.engineer_id)]  # type: ignore[operator]
    return []


def _severity_changed(state: TicketState, event: Event, at: int, policy: Policy) -> list[Decision]:
    return _set_severity(state, event.severity, at, policy)  # type: ignore[arg-type]


def _set_severity(state: TicketState, severity: int, at: int, policy: Policy) -> list[Decision]:
    if severity == state.severity:
        return []
    state.severity = severity
    deadline = irt_deadline(state, policy)
    if deadline is not None and deadline < at:  # the new target is already overdue: breach at the change
        return [_irt(state, policy, BREACHED, at, None, state.engineer_id)]
    return []


def _waiting(state: TicketState, event: Event, at: int, policy: Policy) -> list[Decision]:
    if state.waiting_since is None and state.resolved_at is None:
        state.waiting_since = at
    return []


def _customer_replied(state: TicketState, event: Event, at: int, policy: Policy) -> list[Decision]:
    _stop_waiting(state, at)
    return []


def _stop_waiting(state: TicketState, at: int) -> None:
    if state.waiting_since is not None:
        state.waiting_ms += max(0, at - state.waiting_since)
        state.waiting_since = None


def _workaround(state: TicketState, event: Event, at: int, policy: Policy) -> list[Decision]:
    state.engineer_id = state.engineer_id or event.engineer_id
    decisions = []
    if state.ttw_at is None and state.resolved_at is None:
        state.ttw_at = at
        decisions.append(_cycle_outcome(state, TTW, at, event.engineer_id, policy))
    if state.severity == 1:  # a workaround makes a Sev1 a Sev2 (it leaves BizCrit)
        decisions += _set_severity(state, 2, at, policy)
    return decisions


def _resolved(state: TicketState, event: Event, at: int, policy: Policy) -> list[Decision]:
    state.engineer_id = state.engineer_id or event.engineer_id
    if state.resolved_at is not None:
        return []
    _stop_waiting(state, at)
    state.resolved_at = at
    decisions = []
    if state.ttw_at is None:  # resolved before any workaround: TTW ends here too
        state.ttw_at = at
        decisions.append(_cycle_outcome(state, TTW, at, event.engineer_id, policy))
    ttr = _cycle_outcome(state, TTR, at, event.engineer_id, policy)
    decisions.append(dataclasses.replace(ttr, agent_value_ms=ttr.value_ms - state.waiting_ms))  # type: ignore[operator]
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
    return []


def _closed(state: TicketState, event: Event, at: int, policy: Policy) -> list[Decision]:
    _stop_waiting(state, at)
    state.closed_at = at
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


def _irt(state: TicketState, policy: Policy, outcome: str, decided_at: int, value_ms: int | None,
         engineer_id: str | None) -> Decision:
    state.irt_outcome = outcome
    decision = Decision(IRT, 1, state.severity, irt_target(state, policy), value_ms, outcome, decided_at,  # type: ignore[arg-type]
                        engineer_id)
    if policy.uses_calendars:
        decision.calendar = calendar_of(state, policy).name
    return decision


def _cycle_outcome(state: TicketState, metric: str, at: int, engineer_id: str | None, policy: Policy) -> Decision:
    assert state.cycle_start is not None and state.severity is not None
    decision = Decision(metric, state.cycle, state.severity, None, at - state.cycle_start, None, at,
                        engineer_id or state.engineer_id)
    if policy.uses_calendars:
        cal = calendar_of(state, policy)
        decision.calendar, decision.calendar_value_ms = cal.name, calendar.elapsed(cal, state.cycle_start, at)
    return decision
