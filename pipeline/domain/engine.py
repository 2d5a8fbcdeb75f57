"""One step of a ticket's life, in the order the contract demands. Pure: state in, decisions out.

For an event at instant ``at``: first what time alone decided before ``at`` (IRT deadline, ladder
rungs, under the ticket's old configuration), then the event itself, then the ladder again, where
rungs the event made overdue fire at ``at``.
"""

from __future__ import annotations

import dataclasses

from pipeline.domain import allowances, bizcrit, engineers, notices, sla
from pipeline.domain.events import DSAT_RATINGS, Event
from pipeline.domain.policy import Policy
from pipeline.domain.ticket import TicketState


@dataclasses.dataclass(slots=True)
class Step:
    decisions: list[sla.Decision] = dataclasses.field(default_factory=list)
    escalations: list[bizcrit.Escalation] = dataclasses.field(default_factory=list)
    facts: list[engineers.Fact] = dataclasses.field(default_factory=list)
    dsat: list[Event] = dataclasses.field(default_factory=list)  # neutral/dissatisfied surveys to review
    incidents: list[allowances.Incident] = dataclasses.field(default_factory=list)  # keyed by customer


def create(state: TicketState, event: Event, policy: Policy) -> Step:
    sla.create(state, event, policy)
    incident = allowances.incident_for(state, policy)  # the severity at creation counts (rule 8)
    return Step([], bizcrit.step(state, event.occurred_at, policy, changed=True, cause=event),
                incidents=[incident] if incident is not None else [])


def apply(state: TicketState, event: Event, policy: Policy) -> Step:
    assert state.created_at is not None
    at = max(event.occurred_at, state.created_at)
    result = advance(state, at, policy)
    decisions = sla.apply_event(state, event, at, policy)
    result.decisions += decisions
    result.escalations += bizcrit.step(state, at, policy, changed=True, cause=event)
    result.escalations += notices.after_change(state, decisions, at, policy)
    sla.prune(state)
    result.facts += engineers.facts_for(state, event, at, policy)
    if event.type == "ticket.survey_submitted" and event.rating in DSAT_RATINGS:
        result.dsat.append(event)
    return result


def advance(state: TicketState, now: int, policy: Policy) -> Step:
    """What the passing of time decides, strictly before ``now``."""
    early = notices.at_risk_due(state, now, policy)  # before the breaches: at-risk comes first in time
    decisions = sla.on_clock(state, now, policy)
    return Step(decisions, [*bizcrit.step(state, now, policy), *early, *notices.breaches(state, decisions, policy)])


def next_due(state: TicketState, policy: Policy) -> int | None:
    candidates = [t for t in (sla.next_due(state, policy), bizcrit.next_rung(state, policy),
                              notices.next_at_risk(state, policy)) if t is not None]
    return min(candidates, default=None)
