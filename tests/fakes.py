"""Test doubles shared by the unit tests."""

from __future__ import annotations

from collections.abc import Iterator

import orjson

from pipeline.domain.ticket import TicketState
from pipeline.processing.io import Record


class DictStore:
    """The processor's Store over plain dicts; states round-trip through bytes like the real table."""

    def __init__(self) -> None:
        self.tickets: dict[str, bytes] = {}
        self.clocks: dict[int, int] = {}
        self.windows: dict[bytes, bytes] = {}

    def get(self, ticket_id: str) -> TicketState | None:
        raw = self.tickets.get(ticket_id)
        return None if raw is None else TicketState.from_bytes(ticket_id, raw)

    def put(self, state: TicketState) -> None:
        self.tickets[state.ticket_id] = state.to_bytes()

    def delete(self, ticket_id: str) -> None:
        self.tickets.pop(ticket_id, None)

    def get_clock(self, partition: int) -> int | None:
        return self.clocks.get(partition)

    def put_clock(self, partition: int, now_ms: int) -> None:
        self.clocks[partition] = now_ms

    def put_window(self, key: bytes, value: bytes | None) -> None:
        if value is None:
            self.windows.pop(key, None)
        else:
            self.windows[key] = value

    def all_windows(self) -> Iterator[tuple[bytes, bytes]]:
        yield from list(self.windows.items())

    def all_states(self) -> Iterator[TicketState]:
        for ticket_id, raw in list(self.tickets.items()):
            yield TicketState.from_bytes(ticket_id, raw)


TICKS = "sla-pipeline-ticks"


class Feed:
    """Builds records with increasing offsets, as one partition of tickets.events would hold them."""

    def __init__(self, partition: int = 0, topic: str = "tickets.events") -> None:
        self.partition = partition
        self.topic = topic
        self.offset = 0
        self.tick_offset = 0

    def tick(self) -> Record:
        rec = Record(TICKS, self.partition, self.tick_offset, None, b"")
        self.tick_offset += 1
        return rec

    def record(self, doc: dict | bytes, key: bytes | None | str = "auto") -> Record:
        value = doc if isinstance(doc, bytes) else orjson.dumps(doc)
        if key == "auto":
            key = doc.get("ticket_id", "").encode() or None if isinstance(doc, dict) else None
        rec = Record(self.topic, self.partition, self.offset, key, value, None)  # type: ignore[arg-type]
        self.offset += 1
        return rec
