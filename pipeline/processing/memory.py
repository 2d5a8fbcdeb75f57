"""The processor's :class:`~pipeline.processing.io.Store` over plain dicts: no Faust, no RocksDB.

The worker's table stores each :class:`TicketState` as bytes, so by default states round-trip through
``to_bytes``/``from_bytes`` here too (explain must decide exactly what the worker decided; the unit tests
count on it). ``objects=True`` keeps the states as they are, for speed where nothing else reads them
(what-if judges millions of records and never persists a state).
"""

from __future__ import annotations

from collections.abc import Iterator

from pipeline.domain.ticket import TicketState


class MemoryStore:
    """Tickets, partition clocks and outcome windows in dicts; ``tickets`` holds each state's bytes (or,
    with ``objects``, the state itself)."""

    def __init__(self, *, objects: bool = False) -> None:
        self.objects = objects
        self.tickets: dict[str, bytes | TicketState] = {}
        self.clocks: dict[int, int] = {}
        self.windows: dict[bytes, bytes] = {}

    def get(self, ticket_id: str) -> TicketState | None:
        held = self.tickets.get(ticket_id)
        if held is None or self.objects:
            return held  # type: ignore[return-value]
        return TicketState.from_bytes(ticket_id, held)  # type: ignore[arg-type]

    def put(self, state: TicketState) -> None:
        self.tickets[state.ticket_id] = state if self.objects else state.to_bytes()

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

    def all_states(self) -> Iterator[TicketState]:
        for ticket_id in list(self.tickets):
            state = self.get(ticket_id)
            if state is not None:
                yield state

    def all_windows(self) -> Iterator[tuple[bytes, bytes]]:
        yield from list(self.windows.items())
