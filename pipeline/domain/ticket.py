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

from pipeline.domain.contracts import IRT
from pipeline.domain.judged import JudgedClock

SEEN_LIMIT = 32  # event-id digests remembered per ticket, newest last
DIGEST_BYTES = 6  # 48 bits: two of one ticket's last 32 event ids collide with odds of about 1e-12
HELD_LIMIT = 64  # events held for a ticket whose ticket.created has not arrived yet
FORMAT = 3  # the first element of a serialized state (format 2 had no judged clocks, 1 was an object; both still read)


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
    first_response_at: int | None = None  # the first public response (it ends the IRT clock)
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
    seen: bytes = b""  # the digests, newest last, DIGEST_BYTES each
    held: list[HeldEvent] = dataclasses.field(default_factory=list)
    outbox: list[Pending] = dataclasses.field(default_factory=list)
    # contract v3 section 10: the contract chosen at creation (None under a policy without contracts), the
    # ticket's own `contract` when the policy lacked it, the judged clocks (the IRT clock always; the others
    # while they run), and how many next-response clocks the ticket has started
    contract: str | None = None
    requested_contract: str | None = None
    clocks: list[JudgedClock] = dataclasses.field(default_factory=list)
    next_responses: int = 0

    @property
    def irt_outcome(self) -> str | None:
        """The IRT decision ("met" or "breached"), None while undecided."""
        for clock in self.clocks:
            if clock.metric == IRT:
                return clock.outcome
        return None

    # --- dedupe -------------------------------------------------------------------------------
    def has_seen(self, digest: bytes) -> bool:
        return digest_in(self.seen, digest)

    def remember(self, digest: bytes) -> None:
        self.seen = digests_with(self.seen, digest, SEEN_LIMIT)

    @property
    def exists(self) -> bool:
        return self.created_at is not None

    # --- serialization ------------------------------------------------------------------------
    def to_bytes(self) -> bytes:
        """A JSON array in field order (format 2): no keys to write or look up, about 3x faster both ways."""
        return orjson.dumps([
            FORMAT, self.partition, self.created_at, self.severity, self.product, self.customer_id, self.fastlane,
            self.tier, self.engineer_id, self.closed_at, self.first_response_at, self.cycle,
            self.cycle_start, self.waiting_ms, self.waiting_since, self.ttw_at, self.resolved_at,
            self.bizcrit_since, self.escalated, self.sample_start, self.sample_engineer,
            base64.b64encode(self.seen).decode() if self.seen else "",
            [h.to_list() for h in self.held] if self.held else [],
            [o.to_list() for o in self.outbox] if self.outbox else [],
            self.contract, self.requested_contract, [c.to_list() for c in self.clocks], self.next_responses,
        ])

    @classmethod
    def from_bytes(cls, ticket_id: str, data: bytes) -> TicketState:
        row = orjson.loads(data)
        if type(row) is dict:
            return cls._from_format_1(ticket_id, row)
        if row[0] == 2:
            return cls._from_format_2(ticket_id, row)
        (_, partition, created_at, severity, product, customer_id, fastlane, tier, engineer_id, closed_at,
         first_response_at, cycle, cycle_start, waiting_ms, waiting_since, ttw_at, resolved_at,
         bizcrit_since, escalated, sample_start, sample_engineer, seen, held, outbox, contract, requested,
         clocks, next_responses) = row
        return cls(ticket_id, partition, created_at, severity, product, customer_id, fastlane, tier, engineer_id,
                   closed_at, first_response_at, cycle, cycle_start, waiting_ms, waiting_since,
                   ttw_at, resolved_at, bizcrit_since, escalated, sample_start, sample_engineer,
                   base64.b64decode(seen) if seen else b"",
                   [HeldEvent(*h) for h in held] if held else [],
                   [Pending(*o) for o in outbox] if outbox else [],
                   contract, requested, [JudgedClock.from_list(c) for c in clocks], next_responses)

    @classmethod
    def _from_format_2(cls, ticket_id: str, row: list[Any]) -> TicketState:
        """States written before judged clocks: the IRT decision was a field of its own."""
        (_, partition, created_at, severity, product, customer_id, fastlane, tier, engineer_id, closed_at,
         first_response_at, irt_outcome, cycle, cycle_start, waiting_ms, waiting_since, ttw_at, resolved_at,
         bizcrit_since, escalated, sample_start, sample_engineer, seen, held, outbox) = row
        return cls(ticket_id, partition, created_at, severity, product, customer_id, fastlane, tier, engineer_id,
                   closed_at, first_response_at, cycle, cycle_start, waiting_ms, waiting_since,
                   ttw_at, resolved_at, bizcrit_since, escalated, sample_start, sample_engineer,
                   base64.b64decode(seen) if seen else b"",
                   [HeldEvent(*h) for h in held] if held else [],
                   [Pending(*o) for o in outbox] if outbox else [],
                   clocks=_irt_clock(created_at, first_response_at, irt_outcome))

    @classmethod
    def _from_format_1(cls, ticket_id: str, doc: dict[str, Any]) -> TicketState:
        """States written before format 2 (an object with short keys), as tables and changelogs still hold."""
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
            seen=base64.b64decode(doc.get("s", "")),
            held=[HeldEvent.from_list(row) for row in doc.get("h", [])],
            outbox=[Pending(*row) for row in doc.get("ob", [])],
            clocks=_irt_clock(doc.get("c"), doc.get("r"), doc.get("io")),
        )


def _irt_clock(created_at: int | None, first_response_at: int | None, outcome: str | None) -> list[JudgedClock]:
    """The IRT clock of a state written before judged clocks (formats 1 and 2)."""
    if created_at is None:
        return []
    return [JudgedClock(IRT, 1, created_at, first_response_at, outcome)]


# --- event-id digests: packed DIGEST_BYTES each, newest last (the engineers' fact ids use them too) ---
def event_digest(event_id: str) -> bytes:
    """A stable digest of an event id (Python's hash() differs per process)."""
    return hashlib.blake2b(event_id.encode(), digest_size=DIGEST_BYTES).digest()


def digest_in(seen: bytes, digest: bytes) -> bool:
    """Is ``digest`` one of the digests packed in ``seen`` (DIGEST_BYTES each)?"""
    at = seen.find(digest)
    while at != -1:
        if at % DIGEST_BYTES == 0:  # aligned: a digest, not the end of one and the start of the next
            return True
        at = seen.find(digest, at + 1)
    return False


def digests_with(seen: bytes, digest: bytes, limit: int) -> bytes:
    """``seen`` with ``digest`` added last, keeping the newest ``limit`` digests."""
    seen += digest
    return seen if len(seen) <= limit * DIGEST_BYTES else seen[-limit * DIGEST_BYTES:]
