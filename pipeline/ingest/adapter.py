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
from collections.abc import Mapping
from typing import Any, Protocol

from pipeline.domain.timefmt import format_rfc3339_ms

SOURCES = ("zendesk", "jira", "freshdesk", "zammad", "glpi", "rt")


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
