"""The records the pipeline publishes (contract section 5), typed, with their one encoding and decoding.

Every writer (the processor) and every reader (the notifier, the terminal views, the demo, the tests)
goes through these classes, so a field is named in one place. ``encode`` gives the bytes on the topic:
an object in field order (orjson writes a dataclass that way), and a record published again after a
crash is the same bytes. ``decode`` raises :class:`MalformedRecord` for anything that is not one.
"""

from __future__ import annotations

import dataclasses
from typing import Any, TypeVar

import orjson

from pipeline.domain import bizcrit, sla
from pipeline.domain.ticket import TicketState
from pipeline.domain.timefmt import format_rfc3339_ms

R = TypeVar("R")


class MalformedRecord(ValueError):
    """Bytes on an output topic that are not the record the topic carries."""


def _decode(cls: type[R], raw: bytes | None) -> R:
    try:
        doc = orjson.loads(raw) if raw is not None else None
    except orjson.JSONDecodeError as exc:
        raise MalformedRecord(f"not JSON: {exc}") from None
    if not isinstance(doc, dict):
        raise MalformedRecord(f"not a JSON object: {type(doc).__name__}")
    names = [f.name for f in dataclasses.fields(cls)]  # type: ignore[arg-type]
    required = [f.name for f in dataclasses.fields(cls) if f.default is dataclasses.MISSING]  # type: ignore[arg-type]
    missing = [n for n in required if n not in doc]
    if missing:
        raise MalformedRecord(f"missing {', '.join(missing)}")
    return cls(**{n: doc[n] for n in names if n in doc})


def _seconds(ms: int | None) -> float | None:
    return None if ms is None else ms / 1000


@dataclasses.dataclass(slots=True, unsafe_hash=True)  # not frozen: built per event, 5x cheaper (nothing mutates it)
class Outcome:
    """One SLA outcome on ``sla.outcomes``; ``outcome_id`` is its idempotency key."""

    outcome_id: str
    ticket_id: str
    metric: str
    cycle: int
    severity: int
    product: str | None
    customer_id: str | None
    fastlane: bool
    engineer_id: str | None
    target_seconds: float | None
    value_seconds: float | None
    outcome: str | None
    decided_at: str
    agent_value_seconds: float | None = None  # TTR only
    # contract section 9, only when the policy defines calendars: the ticket's calendar; for TTR and TTW
    # also the span in that calendar's time (value_seconds stays wall time)
    calendar: str | None = None
    calendar_value_seconds: float | None = None
    # contract v3 section 10, only when the policy defines contracts
    contract: str | None = None  # the contract the ticket is judged under
    requested_contract: str | None = None  # the ticket's own contract, when the policy lacks it
    policy: str | None = None  # the policy's digest
    counted_seconds: float | None = None  # judged metrics: calendar time less pauses (compared with the target)
    paused_seconds: float | None = None  # judged metrics: calendar time paused, when any
    started_at: str | None = None  # next_response: the customer reply that started the clock

    @classmethod
    def of(cls, state: TicketState, d: sla.Decision) -> Outcome:
        named = d.policy is not None
        return cls(f"{state.ticket_id}:{d.metric}:{d.cycle}", state.ticket_id, d.metric, d.cycle, d.severity,
                   state.product, state.customer_id, state.fastlane, d.engineer_id, _seconds(d.target_ms),
                   _seconds(d.value_ms), d.outcome, format_rfc3339_ms(d.decided_at), _seconds(d.agent_value_ms),
                   d.calendar, _seconds(d.calendar_value_ms), d.contract if named else None, d.requested_contract,
                   d.policy, _seconds(d.counted_ms), _seconds(d.paused_ms),
                   None if d.started_at is None else format_rfc3339_ms(d.started_at))

    def encode(self) -> bytes:
        """The base fields, then each optional one only when it has a value (v1 readers see v1 records)."""
        doc: dict[str, Any] = {name: getattr(self, name) for name in _OUTCOME_BASE}
        for name in _OUTCOME_OPTIONAL:
            value = getattr(self, name)
            if value is not None:
                doc[name] = value
        return orjson.dumps(doc)

    @classmethod
    def decode(cls, raw: bytes | None) -> Outcome:
        return _decode(cls, raw)


_OUTCOME_OPTIONAL = ("agent_value_seconds", "calendar", "calendar_value_seconds", "contract", "requested_contract",
                     "policy", "counted_seconds", "paused_seconds", "started_at")
_OUTCOME_BASE = tuple(f.name for f in dataclasses.fields(Outcome) if f.name not in _OUTCOME_OPTIONAL)


@dataclasses.dataclass(slots=True, unsafe_hash=True)  # not frozen: built per event, 5x cheaper (nothing mutates it)
class Escalation:
    """One rung of the BizCrit ladder on ``sla.escalations``; ``escalation_id`` is its idempotency key."""

    escalation_id: str
    cycle: int
    ticket_id: str
    kind: str
    level: int
    severity: int
    product: str | None
    customer_id: str | None
    fastlane: bool
    engineer_id: str | None
    deadline: str | None
    budget_used: float | None
    reason: str
    emitted_at: str
    contract: str | None = None  # contract v3 section 10: the ticket's contract, only under contracts

    @classmethod
    def of(cls, state: TicketState, e: bizcrit.Escalation) -> Escalation:
        escalation_id = f"{state.ticket_id}:{e.kind}:{e.level}:{e.cycle}"
        if e.kind == bizcrit.ALLOWANCE_EXCEEDED:  # once per customer and month: the month is its "cycle"
            escalation_id = f"{state.customer_id}:{e.kind}:{format_rfc3339_ms(e.at)[:7]}"
        return cls(escalation_id, e.cycle, state.ticket_id, e.kind, e.level,
                   e.severity, state.product, state.customer_id, state.fastlane, e.engineer_id,
                   None if e.deadline is None else format_rfc3339_ms(e.deadline), e.budget_used, e.reason,
                   format_rfc3339_ms(e.at), e.contract)

    @property
    def paged(self) -> bool:
        """Whether this escalation pages on-call (the ladder's rule), rather than warning the NOC."""
        return bizcrit.pages(self.kind, self.level)

    def encode(self) -> bytes:
        if self.contract is None:  # v2 records, byte for byte
            return orjson.dumps({f: getattr(self, f) for f in _ESCALATION_V2})
        return orjson.dumps(self)

    @classmethod
    def decode(cls, raw: bytes | None) -> Escalation:
        record = _decode(cls, raw)
        if record.kind not in bizcrit.KINDS:
            raise MalformedRecord(f"unknown kind {record.kind!r}")
        return record


_ESCALATION_V2 = tuple(f.name for f in dataclasses.fields(Escalation) if f.name != "contract")


@dataclasses.dataclass(slots=True, unsafe_hash=True)  # not frozen: built per event, 5x cheaper (nothing mutates it)
class DsatReview:
    """A neutral or dissatisfied survey on ``sla.dsat_reviews``, for the weekly DSAT review."""

    review_id: str
    ticket_id: str
    engineer_id: str | None
    rating: str
    dsat_reason: str | None
    severity: int | None
    product: str | None
    customer_id: str | None
    submitted_at: str
    fastlane: bool | None = None  # the customer segment of the weekly review; None in records before it
    comment: str | None = None  # the survey's free text, if it had one

    @classmethod
    def of(cls, state: TicketState, event_id: str, engineer_id: str | None, rating: str, reason: str | None,
           submitted_at: int, comment: str | None = None) -> DsatReview:
        return cls(f"{state.ticket_id}:{event_id}", state.ticket_id, engineer_id, rating, reason, state.severity,
                   state.product, state.customer_id, format_rfc3339_ms(submitted_at), state.fastlane, comment)

    def encode(self) -> bytes:
        return orjson.dumps(self)

    @classmethod
    def decode(cls, raw: bytes | None) -> DsatReview:
        return _decode(cls, raw)
