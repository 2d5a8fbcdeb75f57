"""The ``tickets`` table (ticket state by ticket_id), the per-partition ``clocks`` table, and the
``irt_windows`` table (IRT outcome counts per partition, severity and time bucket).

Both are RocksDB-backed and co-partitioned with ``tickets.events``: a write made while processing a
record of partition p lands in partition p of the table and of its changelog. The ``engineers`` and
``customers`` tables, declared here too, are keyed by engineer and by customer: each is co-partitioned with the
internal topic its agent reads (engineer facts, customer incidents).
"""

from __future__ import annotations

from collections.abc import Iterator

import faust

from pipeline.domain.ticket import TicketState
from pipeline.tables.guard import storage

# every table of the worker, each with a changelog
TABLES = ("tickets", "clocks", "irt_windows", "engineers", "customers")


def declare(app: faust.App, partitions: int) -> TableStore:
    raw = {"key_type": bytes, "value_type": bytes}  # bytes means the raw codec for tables
    tickets = app.Table("tickets", partitions=partitions, help="Ticket state by ticket_id.", **raw)
    clocks = app.Table("clocks", partitions=partitions, help="Event-time clock per partition.", **raw)
    windows = app.Table("irt_windows", partitions=partitions, help="IRT outcome counts per time bucket.", **raw)
    return TableStore(tickets, clocks, windows)


def declare_engineers(app: faust.App, partitions: int) -> faust.Table:
    return app.Table("engineers", partitions=partitions, key_type=bytes, value_type=bytes,
                     help="Engineer aggregates (daily buckets) by engineer_id.")


def declare_customers(app: faust.App, partitions: int) -> faust.Table:
    return app.Table("customers", partitions=partitions, key_type=bytes, value_type=bytes,
                     help="Critical incidents per month against the contract's allowance, by customer_id.")


class TableStore:
    """The processor's :class:`pipeline.processing.processor.Store` over the Faust tables."""

    def __init__(self, tickets: faust.Table, clocks: faust.Table, windows: faust.Table) -> None:
        self._tickets = tickets
        self._clocks = clocks
        self._windows = windows

    def get(self, ticket_id: str) -> TicketState | None:
        with storage("tickets", "reading"):
            raw = self._tickets.get(ticket_id.encode())
        return None if raw is None else TicketState.from_bytes(ticket_id, raw)

    def put(self, state: TicketState) -> None:
        value = state.to_bytes()
        with storage("tickets", "writing"):
            self._tickets[state.ticket_id.encode()] = value

    def delete(self, ticket_id: str) -> None:
        with storage("tickets", "deleting from"):
            self._tickets.pop(ticket_id.encode(), None)

    def get_clock(self, partition: int) -> int | None:
        with storage("clocks", "reading"):
            raw = self._clocks.get(b"p%d" % partition)
        return None if raw is None else int(raw)

    def put_clock(self, partition: int, now_ms: int) -> None:
        with storage("clocks", "writing"):
            self._clocks[b"p%d" % partition] = b"%d" % now_ms

    def put_window(self, key: bytes, value: bytes | None) -> None:
        with storage("irt_windows", "writing"):
            if value is None:
                self._windows.pop(key, None)
            else:
                self._windows[key] = value

    def all_windows(self) -> Iterator[tuple[bytes, bytes]]:
        yield from _items(self._windows, "irt_windows")

    def all_states(self) -> Iterator[TicketState]:
        for key, raw in _items(self._tickets, "tickets"):
            yield TicketState.from_bytes(key.decode(), raw)


def _items(table: faust.Table, name: str) -> Iterator[tuple[bytes, bytes]]:
    """A table's items, each read under :func:`storage` (without holding them all in memory)."""
    with storage(name, "reading"):
        items = iter(table.items())
    while True:
        with storage(name, "reading"):
            try:
                item = next(items)
            except StopIteration:
                return
        yield item
