"""What an explanation holds (contract v3 section 12): plain dataclasses, instants in epoch milliseconds.

:mod:`pipeline.explain.fold` fills them; :mod:`pipeline.explain.render` turns them into JSON (instants as
RFC 3339 text) and an HTML timeline. Nothing here computes anything.
"""

from __future__ import annotations

import dataclasses
from typing import Any

# A record's status in the explanation (RecordLine.status), in the words the page shows.
APPLIED = "applied"
APPLIED_AT_CREATION = "applied at the creation instant"  # dated before its ticket's creation
HELD_THEN_APPLIED = "held, then applied"  # arrived before ticket.created
HELD = "held"  # arrived before ticket.created, which has not come (yet)
DUPLICATE = "duplicate"
IGNORED_AFTER_CLOSE = "ignored after close"
IGNORED_SECOND_CREATION = "ignored second creation"
REJECTED = "rejected"
TIME = "time"  # the partition's clock passing (other tickets' events): nothing of this ticket's own

# A judged clock's state (ClockLine.outcome besides "met" and "breached").
RUNNING, CANCELLED, UNJUDGED = "running", "cancelled", "unjudged"


@dataclasses.dataclass
class RecordLine:
    """One record of the ticket, in topic order, and what the worker did with it."""

    offset: int
    event_id: str | None
    type: str | None
    occurred_at: int | None
    status: str
    detail: str  # a sentence for people
    applied_at: int | None = None  # the instant it applied at (its own, or the creation's)
    reason: str | None = None  # rejected: the DLQ reason (contract section 2)
    caused: list[str] = dataclasses.field(default_factory=list)  # outcome_id / escalation_id published


@dataclasses.dataclass
class Interval:
    start: int
    end: int | None  # None: still open at the judging instant
    why: str


@dataclasses.dataclass
class TargetAt:
    """A clock's target from an instant on (it follows the ticket's severity, counted from the clock's start)."""

    at: int
    severity: int
    target_ms: int | None  # None: the contract judges this metric at no target at that severity
    calendar: str


@dataclasses.dataclass
class ClockLine:
    metric: str
    cycle: int
    start: int
    end: int | None
    ended_by: str | None  # the event type that ended or cancelled it
    outcome: str  # met, breached, running, cancelled, unjudged
    decided_at: int | None
    target_ms: int | None
    calendar: str
    deadline: int | None  # None while paused, or without a target
    at_risk_at: int | None
    counted_ms: int | None  # calendar time less pauses, to its end or the judging instant
    pauses: list[Interval]  # waiting on the customer (only metrics the contract pauses)
    closed_hours: list[Interval]  # the calendar's closed hours inside the clock's span
    closed_hours_ms: int  # their total
    targets: list[TargetAt]
    record: dict[str, Any] | None  # the outcome record as published on sla.outcomes

    @property
    def key(self) -> str:
        return f"{self.metric}:{self.cycle}"


@dataclasses.dataclass
class Choice:
    """What was chosen (a contract, a calendar, a severity) from an instant on, and why."""

    at: int
    value: str
    why: str


@dataclasses.dataclass
class Explanation:
    ticket_id: str
    now: int  # the judging instant
    policy: str  # the policy's digest
    exists: bool  # a ticket.created was applied
    state: str  # "open", "resolved", "closed", "never created", "no record"
    created_at: int | None = None
    product: str | None = None
    customer_id: str | None = None
    fastlane: bool = False
    severity: int | None = None
    contract: str | None = None
    requested_contract: str | None = None
    contract_why: str | None = None
    calendars: list[Choice] = dataclasses.field(default_factory=list)
    severities: list[Choice] = dataclasses.field(default_factory=list)
    clocks: list[ClockLine] = dataclasses.field(default_factory=list)
    outcomes: list[dict[str, Any]] = dataclasses.field(default_factory=list)  # every record on sla.outcomes
    escalations: list[dict[str, Any]] = dataclasses.field(default_factory=list)  # every record on sla.escalations
    records: list[RecordLine] = dataclasses.field(default_factory=list)
    notes: list[str] = dataclasses.field(default_factory=list)  # how it was judged, limits

    @property
    def measurements(self) -> list[dict[str, Any]]:
        """The TTR and TTW records (measurements: no outcome)."""
        return [o for o in self.outcomes if o["metric"] in ("ttr", "ttw")]
