"""One ticket's state, as kept in the ``tickets`` table, and its compact serialized form.

The state is small on purpose (contract target: under 1 KiB per open ticket): ids of seen events are
kept as 8-byte digests, at most :data:`SEEN_LIMIT` of them.
"""

from __future__ import annotations

import base64
import dataclasses
import hashlib
from typing import Any

import orjson

from pipeline.domain.events import Event

SEEN_LIMIT = 32  # event-id digests remembered per ticket, newest last
DIGEST_BYTES = 6  # 48 bits: two of one ticket's last 32 event ids collide with odds of about 1e-12
HELD_LIMIT = 64  # events held for a ticket whose ticket.created has not arrived yet


def event_digest(event_id: str) -> bytes:
    """A stable digest of an event id (Python's hash() differs per process)."""
    return hashlib.blake2b(event_id.encode(), digest_size=DIGEST_BYTES).digest()


@dataclasses.dataclass(slots=True)
class HeldEvent:
    """An event that arrived before its ticket existed, kept as received until it can be applied."""

    hold_until: int
    partition: int
    offset: int
    key: str | None
    raw: str  # the record's value; valid UTF-8, so raw.encode() gives back the very bytes received
    timestamp_ms: int | None

    def to_list(self) -> list[Any]:
        return [self.hold_until, self.partition, self.offset, self.key, self.raw, self.timestamp_ms]

    @classmethod
    def from_list(cls, row: list[Any]) -> HeldEvent:
        return cls(*row)


@dataclasses.dataclass(slots=True)
class TicketState:
    ticket_id: str
    partition: int
    created_at: int | None = None
    severity: int | None = None
    product: str | None = None
    customer_id: str | None = None
    fastlane: bool = False
    tier: int = 1
    engineer_id: str | None = None
    closed_at: int | None = None
    seen: list[bytes] = dataclasses.field(default_factory=list)
    held: list[HeldEvent] = dataclasses.field(default_factory=list)

    # --- dedupe -------------------------------------------------------------------------------
    def has_seen(self, digest: bytes) -> bool:
        return digest in self.seen

    def remember(self, digest: bytes) -> None:
        self.seen.append(digest)
        if len(self.seen) > SEEN_LIMIT:
            del self.seen[: len(self.seen) - SEEN_LIMIT]

    # --- lifecycle ----------------------------------------------------------------------------
    @property
    def exists(self) -> bool:
        return self.created_at is not None

    def create(self, event: Event) -> None:
        self.created_at = event.occurred_at
        self.severity = event.severity
        self.product = event.product
        self.customer_id = event.customer_id
        self.fastlane = bool(event.fastlane)
        self.tier = event.tier or 1

    def apply(self, event: Event) -> None:
        """Apply a non-creation event to an existing ticket (the SLA clocks build on this)."""
        if event.type == "ticket.assigned":
            self.engineer_id = event.engineer_id
            if event.tier is not None:
                self.tier = event.tier
        elif event.type == "ticket.severity_changed":
            self.severity = event.severity
        elif event.type == "ticket.closed":
            self.closed_at = event.occurred_at
        elif event.type in ("ticket.responded", "ticket.workaround_provided", "ticket.resolved"):
            self.engineer_id = self.engineer_id or event.engineer_id

    def next_due(self) -> int | None:
        """The next instant at which this ticket needs attention without any new event."""
        return min((h.hold_until for h in self.held), default=None)

    # --- serialization ------------------------------------------------------------------------
    def to_bytes(self) -> bytes:
        doc: dict[str, Any] = {"p": self.partition}  # the ticket id is the table key
        if self.created_at is not None:
            doc.update(
                c=self.created_at, sev=self.severity, prod=self.product, cust=self.customer_id,
                fl=self.fastlane, tier=self.tier,
            )
        if self.engineer_id is not None:
            doc["eng"] = self.engineer_id
        if self.closed_at is not None:
            doc["x"] = self.closed_at
        if self.seen:
            doc["s"] = base64.b64encode(b"".join(self.seen)).decode()
        if self.held:
            doc["h"] = [h.to_list() for h in self.held]
        return orjson.dumps(doc)

    @classmethod
    def from_bytes(cls, ticket_id: str, data: bytes) -> TicketState:
        doc = orjson.loads(data)
        seen = base64.b64decode(doc.get("s", ""))
        return cls(
            ticket_id=ticket_id,
            partition=doc["p"],
            created_at=doc.get("c"),
            severity=doc.get("sev"),
            product=doc.get("prod"),
            customer_id=doc.get("cust"),
            fastlane=doc.get("fl", False),
            tier=doc.get("tier", 1),
            engineer_id=doc.get("eng"),
            closed_at=doc.get("x"),
            seen=[seen[i : i + DIGEST_BYTES] for i in range(0, len(seen), DIGEST_BYTES)],
            held=[HeldEvent.from_list(row) for row in doc.get("h", [])],
        )
