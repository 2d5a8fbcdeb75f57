"""What happens to one record: decode, dedupe, hold or apply, fire due timers. No Faust in here.

The Faust agent hands each record to :meth:`Processor.process` with a :class:`Store` over its tables,
and publishes the outputs it gets back. Tests do the same with a dict-backed store.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Iterable
from typing import Protocol

from pipeline.domain import events as ev
from pipeline.domain.clock import Clock, PartitionClock
from pipeline.domain.due import DueIndex
from pipeline.domain.events import Event, Rejection, decode
from pipeline.domain.ticket import HELD_LIMIT, HeldEvent, TicketState, event_digest
from pipeline.metrics import Metrics

log = logging.getLogger(__name__)


@dataclasses.dataclass(frozen=True, slots=True)
class Record:
    """One Kafka record as received."""

    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes | None
    timestamp_ms: int | None = None


@dataclasses.dataclass(frozen=True, slots=True)
class DeadLetter:
    """A record for the DLQ: the original key and bytes, and where they came from."""

    key: bytes | None
    value: bytes | None
    reason: str
    detail: str
    source_topic: str
    source_partition: int
    source_offset: int
    timestamp_ms: int | None

    @classmethod
    def of(cls, record: Record, rejection: Rejection) -> DeadLetter:
        return cls(record.key, record.value, rejection.reason, rejection.detail,
                   record.topic, record.partition, record.offset, record.timestamp_ms)

    def headers(self) -> list[tuple[str, bytes]]:
        return [
            ("dlq.reason", self.reason.encode()),
            ("dlq.source.partition", str(self.source_partition).encode()),
            ("dlq.source.offset", str(self.source_offset).encode()),
            ("dlq.source.topic", self.source_topic.encode()),
            ("dlq.detail", self.detail.encode()),
        ]


Output = DeadLetter


class Store(Protocol):
    """The processor's view of its tables, for the partition being processed."""

    def get(self, ticket_id: str) -> TicketState | None: ...

    def put(self, state: TicketState) -> None: ...

    def delete(self, ticket_id: str) -> None: ...

    def get_clock(self, partition: int) -> int | None: ...

    def put_clock(self, partition: int, now_ms: int) -> None: ...

    def all_states(self) -> Iterable[TicketState]:
        """Every ticket of the partitions this worker owns (after recovery)."""


class Processor:
    def __init__(
        self,
        *,
        clock: PartitionClock,
        wall: Clock,
        metrics: Metrics,
        orphan_timeout_ms: int,
        events_topic: str,
    ) -> None:
        self.clock = clock
        self.wall = wall
        self.metrics = metrics
        self.orphan_timeout_ms = orphan_timeout_ms
        self.events_topic = events_topic
        self.due = DueIndex()
        self._index_stale = True
        self._held = 0

    # --- rebalance ----------------------------------------------------------------------------
    def partitions_changed(self) -> None:
        """Partitions were assigned or revoked: rebuild the in-memory index before the next record."""
        self._index_stale = True

    def _ensure_index(self, store: Store) -> None:
        if not self._index_stale:
            return
        self.due.clear()
        self.clock.forget()
        held = 0
        for state in store.all_states():
            self.due.set(state.partition, state.ticket_id, state.next_due())
            held += len(state.held)
        self._held = held
        self.metrics.events_held.set(held)
        self._index_stale = False
        log.info("due index rebuilt: %d tickets with a timer, %d held events", self.due.count(), held)

    def needs_tick(self, partition: int) -> bool:
        """Live mode: is something due on this partition (or is the index stale)?"""
        if self._index_stale:
            return True
        due = self.due.next_due(partition)
        return due is not None and due <= self.wall.now_ms()

    # --- records ------------------------------------------------------------------------------
    def process(self, record: Record, store: Store) -> list[Output]:
        self._ensure_index(store)
        verdict = decode(record.value, record.key)
        if isinstance(verdict, Rejection):
            return [self._reject(DeadLetter.of(record, verdict))]
        event = verdict
        self.metrics.events.labels(type=event.type).inc()
        self.metrics.event_lag.observe(max(0.0, (self.wall.now_ms() - event.occurred_at) / 1000))
        partition = record.partition
        if self.clock.event_time and not self.clock.knows(partition):
            self.clock.restore(partition, store.get_clock(partition))
        if self.clock.observe(partition, event.occurred_at):
            store.put_clock(partition, self.clock.high_water(partition))  # type: ignore[attr-defined]
        outputs: list[Output] = []
        if event.type != "heartbeat":
            outputs += self._apply(record, event, store)
        outputs += self._fire_due(partition, store)
        return outputs

    def process_safely(self, record: Record, store: Store) -> list[Output]:
        """:meth:`process`, but a failure of ours dead-letters the record instead of killing the agent."""
        try:
            return self.process(record, store)
        except Exception as exc:  # noqa: BLE001 - the agent must survive any record
            log.exception("processing failed for %s[%d]@%d", record.topic, record.partition, record.offset)
            why = Rejection(ev.INTERNAL_ERROR, f"processing failed: {type(exc).__name__}: {exc}")
            return [self._reject(DeadLetter.of(record, why))]

    def tick(self, partition: int, store: Store) -> list[Output]:
        """A timer tick for a partition (live mode): fire whatever fell due."""
        self._ensure_index(store)
        return self._fire_due(partition, store)

    def _apply(self, record: Record, event: Event, store: Store) -> list[Output]:
        ticket_id = event.ticket_id
        assert ticket_id is not None
        state = store.get(ticket_id) or TicketState(ticket_id, record.partition)
        digest = event_digest(event.event_id)
        if state.has_seen(digest):
            self.metrics.events_duplicate.inc()
            return []
        state.remember(digest)
        outputs: list[Output] = []
        if state.closed_at is not None:
            self.metrics.events_ignored.labels(reason="after_closed").inc()
        elif event.type == "ticket.created":
            if state.exists:
                self.metrics.events_ignored.labels(reason="already_created").inc()
            else:
                state.create(event)
                self._release_held(state)
        elif not state.exists:
            outputs += self._hold(state, record, event)
        else:
            state.apply(event)
        self._save(state, store)
        return outputs

    def _hold(self, state: TicketState, record: Record, event: Event) -> list[Output]:
        if len(state.held) >= HELD_LIMIT:
            why = Rejection(ev.ORPHAN, f"more than {HELD_LIMIT} events held for a ticket never created")
            return [self._reject(DeadLetter.of(record, why))]
        now = self.clock.now(record.partition)
        assert now is not None  # the event just observed set it
        key = None if record.key is None else record.key.decode()
        raw = record.value.decode() if record.value is not None else ""
        state.held.append(HeldEvent(now + self.orphan_timeout_ms, record.partition, record.offset,
                                    key, raw, record.timestamp_ms))
        self._held_changed(+1)
        return []

    def _release_held(self, state: TicketState) -> None:
        held, state.held = state.held, []
        self._held_changed(-len(held))
        ready: list[Event] = []
        for item in held:
            again = decode(item.raw.encode(), None if item.key is None else item.key.encode())
            if isinstance(again, Event):  # it passed validation once; the same bytes pass again
                ready.append(again)
        for event in sorted(ready, key=lambda e: e.occurred_at):
            state.apply(event)

    def _fire_due(self, partition: int, store: Store) -> list[Output]:
        now = self.clock.now(partition)
        if now is None:
            return []
        outputs: list[Output] = []
        for ticket_id in self.due.pop_due(partition, now):
            state = store.get(ticket_id)
            if state is None:
                continue
            outputs += self._expire_orphans(state, now)
            if not state.exists and not state.held:
                store.delete(ticket_id)
                continue
            self._save(state, store)
        return outputs

    def _expire_orphans(self, state: TicketState, now: int) -> list[Output]:
        expired = [h for h in state.held if h.hold_until <= now]
        if not expired:
            return []
        state.held = [h for h in state.held if h.hold_until > now]
        self._held_changed(-len(expired))
        timeout_s = self.orphan_timeout_ms / 1000
        return [
            self._reject(DeadLetter(
                key=None if h.key is None else h.key.encode(),
                value=h.raw.encode(),
                reason=ev.ORPHAN,
                detail=f"no ticket.created for {state.ticket_id!r} within the orphan timeout ({timeout_s:g} s)",
                source_topic=self.events_topic,
                source_partition=h.partition,
                source_offset=h.offset,
                timestamp_ms=h.timestamp_ms,
            ))
            for h in expired
        ]

    def _save(self, state: TicketState, store: Store) -> None:
        store.put(state)
        self.due.set(state.partition, state.ticket_id, state.next_due())

    def _reject(self, letter: DeadLetter) -> DeadLetter:
        self.metrics.events_rejected.labels(reason=letter.reason).inc()
        return letter

    def _held_changed(self, delta: int) -> None:
        self._held += delta
        self.metrics.events_held.set(self._held)
