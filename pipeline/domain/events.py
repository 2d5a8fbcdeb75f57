"""Ticket events: decode and validate one Kafka record (contract section 2).

:func:`decode` turns any bytes into either an :class:`Event` or a :class:`Rejection` with one of the
contract's reasons. It never raises: that is what keeps a bad record from stopping the pipeline.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable
from typing import Any

import orjson

from pipeline.domain.timefmt import TimestampError, parse_rfc3339_ms

MAX_EVENT_BYTES = 64 * 1024
MAX_ID_CHARS = 128
MAX_TEXT_CHARS = 1024
MAX_COMMENT_CHARS = 4000  # a survey's free-text comment (contract v2.1, optional)
MAX_CONTRACT_CHARS = 64  # ticket.created's contract (v3 section 10): the customer's plan, as the ticket system names it

RATINGS = ("very_satisfied", "satisfied", "neutral", "dissatisfied", "very_dissatisfied")
DSAT_RATINGS = frozenset({"neutral", "dissatisfied", "very_dissatisfied"})

# Reasons of contract section 2 (the field-specific ones are built by missing()/invalid()).
MALFORMED_JSON = "malformed_json"
NOT_AN_OBJECT = "not_an_object"
TOO_LARGE = "too_large"
UNKNOWN_TYPE = "unknown_type"
KEY_MISMATCH = "key_mismatch"
ORPHAN = "orphan"
FUTURE_TIMESTAMP = "future_timestamp"  # contract v2: occurred_at too far ahead of the clock that would judge it
INTERNAL_ERROR = "internal_error"  # our extension: a bug of ours, never the sender's fault


def missing(field: str) -> str:
    return f"missing_field:{field}"


def invalid(field: str) -> str:
    return f"invalid_field:{field}"


@dataclasses.dataclass(frozen=True, slots=True)
class Rejection:
    """Why a record is refused: ``reason`` is the contract's code, ``detail`` a sentence for people."""

    reason: str
    detail: str


@dataclasses.dataclass(slots=True, unsafe_hash=True)  # not frozen: built per event, 5x cheaper (nothing mutates it)
class Event:
    """One valid ticket event. Times are epoch milliseconds; absent optional fields are None."""

    event_id: str
    type: str
    ticket_id: str | None
    occurred_at: int
    severity: int | None = None
    product: str | None = None
    customer_id: str | None = None
    fastlane: bool | None = None
    tier: int | None = None
    engineer_id: str | None = None
    rating: str | None = None
    dsat_reason: str | None = None
    score: float | None = None
    comment: str | None = None  # a survey's free text
    contract: str | None = None  # ticket.created: the plan the ticket system names (v3 section 10)


class _Invalid(Exception):
    def __init__(self, detail: str) -> None:
        self.detail = detail


def _text(max_chars: int) -> Callable[[Any], str]:
    def check(value: Any) -> str:
        if not isinstance(value, str):
            raise _Invalid(f"must be a string, got {_json_type(value)}")
        if not 1 <= len(value) <= max_chars:
            raise _Invalid(f"must be 1-{max_chars} characters, got {len(value)}")
        return value

    return check


def _int_range(low: int, high: int) -> Callable[[Any], int]:
    def check(value: Any) -> int:
        if type(value) is not int or not low <= value <= high:  # bool is not an int here
            raise _Invalid(f"must be an integer from {low} to {high}, got {_short(value)}")
        return value

    return check


def _boolean(value: Any) -> bool:
    if not isinstance(value, bool):
        raise _Invalid(f"must be true or false, got {_short(value)}")
    return value


def _rating(value: Any) -> str:
    if value not in RATINGS:
        raise _Invalid(f"must be one of {', '.join(RATINGS)}, got {_short(value)}")
    return value


def _score(value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise _Invalid(f"must be a number from 0 to 100, got {_short(value)}")
    if not 0 <= value <= 100:
        raise _Invalid(f"must be a number from 0 to 100, got {_short(value)}")
    return float(value)


_ID = _text(MAX_ID_CHARS)
_Spec = tuple[str, Callable[[Any], Any], bool]  # (field, check, required)

# Per type: the fields beyond event_id/type/ticket_id/occurred_at. Unknown extra fields are allowed
# (the contract may grow); these are validated.
SCHEMAS: dict[str, tuple[_Spec, ...]] = {
    "ticket.created": (
        ("severity", _int_range(1, 4), True),
        ("product", _ID, True),
        ("customer_id", _ID, True),
        ("fastlane", _boolean, False),
        ("tier", _int_range(1, 3), False),
        ("contract", _text(MAX_CONTRACT_CHARS), False),
    ),
    "ticket.assigned": (("engineer_id", _ID, True), ("tier", _int_range(1, 3), False)),
    "ticket.responded": (("engineer_id", _ID, True),),
    "ticket.waiting_on_customer": (),
    "ticket.customer_replied": (),
    "ticket.severity_changed": (("severity", _int_range(1, 4), True),),
    "ticket.workaround_provided": (("engineer_id", _ID, True),),
    "ticket.resolved": (("engineer_id", _ID, True),),
    "ticket.reopened": (),
    "ticket.closed": (),
    "ticket.survey_submitted": (
        ("rating", _rating, True),
        ("dsat_reason", _text(MAX_TEXT_CHARS), False),
        ("engineer_id", _ID, False),
        ("comment", _text(MAX_COMMENT_CHARS), False),
    ),
    "ticket.quality_reviewed": (("engineer_id", _ID, True), ("score", _score, True)),
    "heartbeat": (),
}
EVENT_TYPES = frozenset(SCHEMAS)
_DEFAULTS = {"ticket.created": {"fastlane": False, "tier": 1}}


def decode(value: bytes | None, key: bytes | None) -> Event | Rejection:
    """Validate one record's value against its key. Never raises."""
    try:
        return _decode(value, key)
    except Exception as exc:  # noqa: BLE001 - the promise is: any bytes in, an answer out
        return Rejection(INTERNAL_ERROR, f"validator failed: {type(exc).__name__}: {exc}")


def _decode(value: bytes | None, key: bytes | None) -> Event | Rejection:
    if value is None:
        return Rejection(MALFORMED_JSON, "the record has no value (a tombstone)")
    if len(value) > MAX_EVENT_BYTES:
        return Rejection(TOO_LARGE, f"{len(value)} bytes; an event may be at most {MAX_EVENT_BYTES}")
    try:
        doc = orjson.loads(value)
    except orjson.JSONDecodeError as exc:
        return Rejection(MALFORMED_JSON, f"not UTF-8 JSON: {exc}")
    if not isinstance(doc, dict):
        return Rejection(NOT_AN_OBJECT, f"the JSON is {_json_type(doc)}, not an object")

    if "type" not in doc:
        return Rejection(missing("type"), "no 'type' field")
    etype = doc["type"]
    if not isinstance(etype, str):
        return Rejection(invalid("type"), f"'type' must be a string, got {_json_type(etype)}")
    schema = SCHEMAS.get(etype)
    if schema is None:
        return Rejection(UNKNOWN_TYPE, f"unknown event type {_short(etype)}")

    fast = _fast(doc, key, etype, schema)
    if fast is not None:
        return fast
    fields: dict[str, Any] = {"type": etype}
    for field, check, required in _PLANS[etype]:
        raw = doc.get(field)
        if field not in doc or (raw is None and not required):
            if required:
                return Rejection(missing(field), f"{etype} needs '{field}'")
            continue
        try:
            fields[field] = check(raw)
        except _Invalid as bad:
            return Rejection(invalid(field), f"'{field}' {bad.detail}")
        if field == "ticket_id":
            mismatch = _key_mismatch(key, fields["ticket_id"])
            if mismatch:
                return Rejection(KEY_MISMATCH, mismatch)
    for field, default in _DEFAULTS.get(etype, {}).items():
        fields.setdefault(field, default)
    fields.setdefault("ticket_id", None)
    return Event(**fields)


def _timestamp(value: Any) -> int:
    try:
        return parse_rfc3339_ms(value)
    except TimestampError as exc:
        raise _Invalid(str(exc)) from None


def _fast(doc: dict[str, Any], key: bytes | None, etype: str, schema: tuple[_Spec, ...]) -> Event | None:
    """The event if every field is valid, else None: then the general path finds the first fault and says
    which (so this one needs no messages and no order). Most events take only this path."""
    event_id = doc.get("event_id")
    if type(event_id) is not str or not 0 < len(event_id) <= MAX_ID_CHARS:
        return None
    ticket_id = doc.get("ticket_id")
    if ticket_id is None:
        if etype != "heartbeat":
            return None
    elif type(ticket_id) is not str or not 0 < len(ticket_id) <= MAX_ID_CHARS or key != ticket_id.encode():
        return None
    try:
        occurred_at = parse_rfc3339_ms(doc.get("occurred_at"))  # type: ignore[arg-type]
    except TimestampError:
        return None
    extra: dict[str, Any] = {}
    for field, check, required in schema:
        raw = doc.get(field)
        if raw is None:
            if required:
                return None
            continue
        try:
            extra[field] = check(raw)
        except _Invalid:
            return None
    defaults = _DEFAULTS.get(etype)
    if defaults:
        for field, default in defaults.items():
            extra.setdefault(field, default)
    return Event(event_id, etype, ticket_id, occurred_at, **extra)


# Per type, every field to check in order: the common ones, the ticket id (optional for heartbeats), its own.
_PLANS: dict[str, tuple[_Spec, ...]] = {
    etype: (("event_id", _ID, True), ("occurred_at", _timestamp, True), ("ticket_id", _ID, etype != "heartbeat"),
            *schema)
    for etype, schema in SCHEMAS.items()
}


def _key_mismatch(key: bytes | None, ticket_id: str) -> str | None:
    if key is None:
        return f"the record has no key; it must be the ticket_id {ticket_id!r}"
    try:
        text = key.decode("utf-8")
    except UnicodeDecodeError:
        return "the record key is not UTF-8; it must be the ticket_id"
    if text != ticket_id:
        return f"the record key {_short(text)} differs from ticket_id {_short(ticket_id)}"
    return None


def _json_type(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "an array"
    if isinstance(value, dict):
        return "an object"
    return type(value).__name__


def _short(value: Any, limit: int = 60) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."
