"""One ticket's state, as kept in the ``tickets`` table, and its compact serialized form.

The state is small on purpose (target: under 1 KiB per open ticket): ids of seen events are kept as
6-byte digests, at most :data:`SEEN_LIMIT` of them; outputs stay in the outbox only until the record
that caused them is committed. The rules that change it live in :mod:`pipeline.domain.sla`.
"""

from __future__ import annotations

import base64
import dataclasses
import hashlib
from typing import Any

import orjson

SEEN_LIMIT = 32  # event-id digests remembered per ticket, newest last
DIGEST_BYTES = 6  # 48 bits: two of one ticket's last 32 event ids collide with odds of about 1e-12
HELD_LIMIT = 64  # events held for a ticket whose ticket.created has not arrived yet


def pack_digests(digests: list[bytes]) -> str:
    """Digests as one compact base64 string (for serialized state)."""
    return base64.b64encode(b"".join(digests)).decode()


def unpack_digests(text: str) -> list[bytes]:
    raw = base64.b64decode(text)
    return [raw[i : i + DIGEST_BYTES] for i in range(0, len(raw), DIGEST_BYTES)]


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
class Pending:
    """An output already published, kept until its source record's offset is committed.

    After a crash the worker's local state can be ahead of its committed offsets; the outputs of
    such records are published again from here (same idempotency key), so none is lost.
    """

    source: int  # 0 = the events topic, 1 = the ticks topic (same partition as the ticket)
    offset: int
    topic: str  # "outcomes", "escalations", "facts" or "dsat"
    value: list[Any] | tuple[Any, ...]  # the decision's own fields; the ticket's fixed fields come from state

    def to_list(self) -> list[Any]:
        return [self.source, self.offset, self.topic, self.value]


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
    # IRT: the first response, and the one decision ("met" or "breached")
    first_response_at: int | None = None
    irt_outcome: str | None = None
    # the current TTR cycle
    cycle: int = 1
    cycle_start: int | None = None
    waiting_ms: int = 0
    waiting_since: int | None = None
    ttw_at: int | None = None  # workaround (or resolution if first) in this cycle
    resolved_at: int | None = None
    # BizCrit: since when (None when not), and the escalations emitted in this cycle ("kind:level")
    bizcrit_since: int | None = None
    escalated: list[str] = dataclasses.field(default_factory=list)
    # the open engineer response sample: since when, for whom
    sample_start: int | None = None
    sample_engineer: str | None = None
    seen: list[bytes] = dataclasses.field(default_factory=list)
    held: list[HeldEvent] = dataclasses.field(default_factory=list)
    outbox: list[Pending] = dataclasses.field(default_factory=list)

    # --- dedupe -------------------------------------------------------------------------------
    def has_seen(self, digest: bytes) -> bool:
        return digest in self.seen

    def remember(self, digest: bytes) -> None:
        self.seen.append(digest)
        if len(self.seen) > SEEN_LIMIT:
            del self.seen[: len(self.seen) - SEEN_LIMIT]

    @property
    def exists(self) -> bool:
        return self.created_at is not None

    # --- serialization ------------------------------------------------------------------------
    def to_bytes(self) -> bytes:
        doc: dict[str, Any] = {"p": self.partition}  # the ticket id is the table key
        if self.created_at is not None:
            doc.update(c=self.created_at, sev=self.severity, prod=self.product, cust=self.customer_id,
                       cy=self.cycle, cs=self.cycle_start)
            if self.fastlane:
                doc["fl"] = True
            if self.tier != 1:
                doc["tier"] = self.tier
        optional = (
            ("eng", self.engineer_id), ("x", self.closed_at), ("r", self.first_response_at),
            ("io", self.irt_outcome), ("ws", self.waiting_since), ("tw", self.ttw_at), ("z", self.resolved_at),
            ("bz", self.bizcrit_since), ("ss", self.sample_start), ("se", self.sample_engineer),
        )
        doc.update((k, v) for k, v in optional if v is not None)
        if self.waiting_ms:
            doc["wt"] = self.waiting_ms
        if self.escalated:
            doc["esc"] = self.escalated
        if self.seen:
            doc["s"] = pack_digests(self.seen)
        if self.held:
            doc["h"] = [h.to_list() for h in self.held]
        if self.outbox:
            doc["ob"] = [o.to_list() for o in self.outbox]
        return orjson.dumps(doc)

    @classmethod
    def from_bytes(cls, ticket_id: str, data: bytes) -> TicketState:
        doc = orjson.loads(data)
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
            first_response_at=doc.get("r"),
            irt_outcome=doc.get("io"),
            cycle=doc.get("cy", 1),
            cycle_start=doc.get("cs"),
            waiting_ms=doc.get("wt", 0),
            waiting_since=doc.get("ws"),
            ttw_at=doc.get("tw"),
            resolved_at=doc.get("z"),
            bizcrit_since=doc.get("bz"),
            escalated=doc.get("esc", []),
            sample_start=doc.get("ss"),
            sample_engineer=doc.get("se"),
            seen=unpack_digests(doc.get("s", "")),
            held=[HeldEvent.from_list(row) for row in doc.get("h", [])],
            outbox=[Pending(*row) for row in doc.get("ob", [])],
        )
