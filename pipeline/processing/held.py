"""Events that arrive before their ticket's ``ticket.created``: held in the ticket's state as received,
applied in ``occurred_at`` order once the ticket exists, dead-lettered as ``orphan`` after a timeout.
"""

from __future__ import annotations

from pipeline.domain import events as ev
from pipeline.domain.events import Event, Rejection, decode
from pipeline.domain.ticket import HELD_LIMIT, HeldEvent, TicketState
from pipeline.processing.io import DeadLetter, Record


def hold(state: TicketState, record: Record, now: int, timeout_ms: int) -> DeadLetter | None:
    """Hold the record until ``now + timeout_ms``; a DLQ record instead when the ticket holds too many."""
    if len(state.held) >= HELD_LIMIT:
        why = Rejection(ev.ORPHAN, f"more than {HELD_LIMIT} events held for a ticket never created")
        return DeadLetter.of(record, why)
    key = None if record.key is None else record.key.decode()
    raw = record.value.decode() if record.value is not None else ""
    state.held.append(HeldEvent(now + timeout_ms, record.partition, record.offset, key, raw, record.timestamp_ms))
    return None


def release(state: TicketState) -> tuple[int, list[Event]]:
    """Empty the ticket's held events: (how many were held, the events in ``occurred_at`` order)."""
    held, state.held = state.held, []
    ready: list[Event] = []
    for item in held:
        again = decode(item.raw.encode(), None if item.key is None else item.key.encode())
        if isinstance(again, Event):  # it passed validation once; the same bytes pass again
            ready.append(again)
    return len(held), sorted(ready, key=lambda e: e.occurred_at)


def expire(state: TicketState, now: int, timeout_ms: int, events_topic: str) -> list[DeadLetter]:
    """The held events whose time is up, as ``orphan`` DLQ records with their original bytes."""
    expired = [h for h in state.held if h.hold_until < now]
    if not expired:
        return []
    state.held = [h for h in state.held if h.hold_until >= now]
    detail = (f"no ticket.created for {state.ticket_id!r} within the orphan timeout ({timeout_ms / 1000:g} s)")
    return [
        DeadLetter(key=None if h.key is None else h.key.encode(), value=h.raw.encode(), reason=ev.ORPHAN,
                   detail=detail, source_topic=events_topic, source_partition=h.partition, source_offset=h.offset,
                   timestamp_ms=h.timestamp_ms)
        for h in expired
    ]
