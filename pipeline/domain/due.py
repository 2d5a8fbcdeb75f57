"""Which ticket needs attention when: a per-partition timer index, kept in memory.

It holds one due instant per ticket (the ticket's own :meth:`next_due`) and is rebuilt from the
ticket table after every rebalance, so it never needs persisting: the table is the truth.
"""

from __future__ import annotations

import heapq


class DueIndex:
    def __init__(self) -> None:
        self._heaps: dict[int, list[tuple[int, str]]] = {}
        self._due: dict[int, dict[str, int]] = {}

    def set(self, partition: int, ticket_id: str, due_ms: int | None) -> None:
        current = self._due.setdefault(partition, {})
        if due_ms is None:
            current.pop(ticket_id, None)  # its heap entry goes stale and is skipped later
            return
        if current.get(ticket_id) == due_ms:
            return
        current[ticket_id] = due_ms
        heapq.heappush(self._heaps.setdefault(partition, []), (due_ms, ticket_id))

    def next_due(self, partition: int) -> int | None:
        heap = self._heaps.get(partition)
        current = self._due.get(partition, {})
        while heap:
            due, ticket_id = heap[0]
            if current.get(ticket_id) == due:
                return due
            heapq.heappop(heap)
        return None

    def pop_due(self, partition: int, now_ms: int) -> list[str]:
        """Ticket ids due at or before ``now_ms``, earliest first; they leave the index."""
        heap = self._heaps.get(partition)
        current = self._due.get(partition, {})
        out: list[str] = []
        while heap and heap[0][0] <= now_ms:
            due, ticket_id = heapq.heappop(heap)
            if current.get(ticket_id) == due:
                del current[ticket_id]
                out.append(ticket_id)
        return out

    def count(self, partition: int | None = None) -> int:
        if partition is None:
            return sum(len(d) for d in self._due.values())
        return len(self._due.get(partition, {}))

    def clear(self) -> None:
        self._heaps.clear()
        self._due.clear()
