"""What every source adapter implements, and what they share. Pure: no I/O, no clock reads.

An adapter is built once at start-up from its mapping (a checked ``Mapping``) and its secret, then for
each call: :meth:`Adapter.authenticate` (raises :class:`Unauthorized`: answered 401, nothing stored),
then :meth:`Adapter.events` (raises :class:`Unmappable`: answered 4xx with the reason, the raw body kept
on the DLQ). Events are section 2 dicts; their ``event_id`` comes from the source's own ids
(:func:`event_id`), so a retried webhook is a duplicate downstream, never a second event.
"""

from __future__ import annotations

import dataclasses
import hashlib
import hmac
import re
from collections.abc import Callable, Mapping
from typing import Any, Protocol

import orjson

from pipeline.domain.timefmt import TimestampError, format_rfc3339_ms, parse_rfc3339_ms

SOURCES = ("zendesk", "jira", "freshdesk", "zammad", "glpi", "rt")
YES = frozenset({"yes", "true", "1", "on", "y"})  # what a yes/no select or text field says for yes (any case)
_HHMM = re.compile(r"([+-]\d{2})(\d{2})$")  # Jira and GLPI write +0100; RFC 3339 wants +01:00


class Unauthorized(Exception):
    """The call is not from the ticket system: a wrong or missing signature, token or secret, or a replay."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class Unmappable(Exception):
    """An authentic call whose payload cannot be turned into events. ``reason`` is a short code for the DLQ
    header and the metrics (``malformed_json``, ``unknown_event``, ``missing_field:<path>``,
    ``invalid_field:<path>``); ``detail`` a sentence for the sender's logs."""

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(f"{reason}: {detail}")
        self.reason = reason
        self.detail = detail


@dataclasses.dataclass(frozen=True, slots=True)
class Request:
    """One webhook call as the adapter sees it: header names lower-cased, the raw body, when it arrived."""

    headers: Mapping[str, str]
    body: bytes
    received_ms: int
    query: Mapping[str, str] = dataclasses.field(default_factory=dict)


class Adapter(Protocol):
    source: str

    def authenticate(self, request: Request) -> None:
        """Raise :class:`Unauthorized` unless the call is the ticket system's."""

    def events(self, request: Request) -> list[dict[str, Any]]:
        """The section 2 events this call means (maybe none: a call about nothing the SLA judges), in
        ``occurred_at`` order; raise :class:`Unmappable` when it cannot be read."""


def ticket_id(prefix: str, native: object) -> str:
    """The pipeline's ticket id for a source's ticket: the mapping's prefix and the source's id."""
    return f"{prefix}{native}"


def event_id(source: str, native_ticket: object, native_event: object, kind: str) -> str:
    """A stable event id from the source's own ids: the same webhook, retried, gives the same id.
    ``kind`` tells apart the several events one source event may give (a reply that also changes status)."""
    raw = f"{source}:{native_ticket}:{native_event}:{kind}"
    return raw if len(raw) <= 128 else f"{source}:{hashlib.sha256(raw.encode()).hexdigest()}"


def event(etype: str, ticket: str, eid: str, at_ms: int, **fields: Any) -> dict[str, Any]:
    """A section 2 event dict (fields that are None are left out)."""
    doc = {"event_id": eid, "type": etype, "ticket_id": ticket, "occurred_at": format_rfc3339_ms(at_ms)}
    doc.update({k: v for k, v in fields.items() if v is not None})
    return doc


def constant_time_equal(a: str | bytes, b: str | bytes) -> bool:
    a = a.encode() if isinstance(a, str) else a
    b = b.encode() if isinstance(b, str) else b
    return hmac.compare_digest(a, b)


# --- reading payloads: what every adapter's ``events`` needs ------------------------------------------------


def load_json(body: bytes, hint: str = "") -> Any:
    """The body as JSON (any value); ``Unmappable("malformed_json")`` when it is not JSON. ``hint`` is added
    to the detail (a likely cause for this source's senders)."""
    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise Unmappable("malformed_json", f"the body is not JSON{hint}: {exc}") from None


def load_object(body: bytes) -> dict[str, Any]:
    """The body as a JSON object: ``Unmappable("malformed_json")`` when it is not JSON or not an object."""
    doc = load_json(body)
    if not isinstance(doc, dict):
        raise Unmappable("malformed_json", "the body is JSON but not an object")
    return doc


def need_object(doc: Mapping[str, Any], key: str, detail: str | None = None) -> dict[str, Any]:
    """``doc[key]``, which must be an object: else ``Unmappable("missing_field:<key>")``."""
    value = doc.get(key)
    if not isinstance(value, dict):
        raise Unmappable(f"missing_field:{key}", detail or f"the payload has no {key} object")
    return value


def text(value: Any, keys: tuple[str, ...] = (), *, first: bool = False,
         scalars: tuple[type, ...] = (str, int, float)) -> str | None:
    """A payload value as text: a string or number, stripped, "" being none (placeholders render a missing
    value as ""); booleans and None are never text. An object is text only when ``keys`` names where its
    text is (Zammad's and GLPI's expanded objects: ``("name",)``; a Jira select option: ``("value",
    "name")``, the first that is set), a list only with ``first`` (its first item). ``scalars`` narrows what
    counts as text (RT: strings and integers)."""
    if isinstance(value, dict):
        if not keys:
            return None
        picked = None
        for key in keys:
            picked = picked or value.get(key)
        return text(picked, keys, first=first, scalars=scalars)
    if isinstance(value, list):
        return text(value[0], keys, first=first, scalars=scalars) if first and value else None
    if isinstance(value, bool) or not isinstance(value, scalars):
        return None
    return str(value).strip() or None


def truthy(value: Any, yes: frozenset[str] = YES, *, read: Callable[[Any], str | None] = text,
           ticked: bool = False) -> bool:
    """A flag field: a boolean as it is, else its text (through ``read``) one of ``yes``, in any case. With
    ``ticked`` a list is a checkbox field, true when any box is ticked (Jira)."""
    if isinstance(value, bool):
        return value
    if ticked and isinstance(value, list):
        return bool(value)
    said = read(value)
    return said is not None and said.casefold() in yes


def parse_instant(value: Any, path: str) -> int:
    """Epoch ms of the payload's RFC 3339 time at ``path`` (``+hhmm`` offsets read as ``+hh:mm``): None is
    ``Unmappable("missing_field:<path>")``, anything unreadable ``Unmappable("invalid_field:<path>")``."""
    if value is None:
        raise Unmappable(f"missing_field:{path}", f"the payload has no {path}")
    try:
        return parse_rfc3339_ms(_HHMM.sub(r"\1:\2", value) if isinstance(value, str) else value)
    except TimestampError as exc:
        raise Unmappable(f"invalid_field:{path}", f"{value!r}: {exc}") from None


def severity_of(priority: str | None, severities: Mapping[str, int], default: int, path: str) -> int:
    """The severity the mapping's ``[severity]`` table gives a priority's name (any case); no priority: the
    mapping's default; a priority the table lacks: ``Unmappable("invalid_field:<path>")``."""
    if not priority:
        return default
    severity = severities.get(priority.casefold())
    if severity is None:
        raise Unmappable(f"invalid_field:{path}", f"priority {priority!r} is not in the mapping's [severity] table")
    return severity
