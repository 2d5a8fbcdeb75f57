"""Outcome counts in tumbling windows, per partition: IRT per severity (contract section 6:
``sla_irt_window_tickets``) and every judged metric per contract and severity (section 10:
``sla_window_outcomes``).

Counts, never lists: each bucket is ``[met, breached]`` for one partition, group and window start.
Hourly buckets are kept 30 days (for the 24h, 7d and 30d views); 5-minute buckets are kept 2 hours, so
the 1h view is exact to 5 minutes. A view over W counts the outcomes decided in buckets that end
after ``now - W``. Every change is returned as a row for the caller to persist; :meth:`load` takes
rows back after a restart or rebalance.
"""

from __future__ import annotations

import heapq
from collections.abc import Callable, Iterable

from pipeline.domain.sla import BREACHED, MET
from pipeline.domain.timefmt import DAY_MS, HOUR_MS, MINUTE_MS

FINE_MS = 5 * MINUTE_MS
WINDOWS_MS = {"1h": HOUR_MS, "24h": DAY_MS, "7d": 7 * DAY_MS, "30d": 30 * DAY_MS}
_GRAINS = {"f": (FINE_MS, 2 * HOUR_MS), "h": (HOUR_MS, 30 * DAY_MS + HOUR_MS)}  # code: (width, kept)
OUTCOMES = (MET, BREACHED)  # an IRT decision's outcomes, in the order a bucket counts them

Row = tuple[bytes, bytes | None]  # (key, value); None deletes the row


Group = tuple  # what a bucket counts: (severity,) for IRT, (contract, metric, severity) for judged outcomes


class Windows:
    """Buckets per partition and group; ``arity`` is the group's length (its last item is a severity).
    Rows of other arities are not this instance's (both kinds share one table)."""

    def __init__(self, arity: int) -> None:
        self.arity = arity
        # partition -> (grain code, group, bucket start) -> [met, breached]
        self._buckets: dict[int, dict[tuple[str, Group, int], list[int]]] = {}
        self._expiry: dict[int, list[tuple[int, tuple[str, Group, int]]]] = {}  # partition -> heap of (expires, key)

    def add_group(self, partition: int, group: Group, outcome: str, at_ms: int) -> list[Row]:
        slot = OUTCOMES.index(outcome)
        rows = []
        buckets = self._buckets.setdefault(partition, {})
        for code, (width, _) in _GRAINS.items():
            key = (code, group, at_ms - at_ms % width)
            counts = buckets.get(key)
            if counts is None:
                counts = buckets[key] = [0, 0]
                heapq.heappush(self._expiry.setdefault(partition, []), (_expires(key), key))
            counts[slot] += 1
            rows.append((_row_key(partition, key), b"%d,%d" % tuple(counts)))
        return rows

    def expire(self, partition: int, now_ms: int) -> list[Row]:
        """Drop buckets past their keeping time; a heap peek when none is (this runs for every record)."""
        heap = self._expiry.get(partition)
        if not heap or heap[0][0] > now_ms:
            return []
        buckets = self._buckets[partition]
        rows = []
        while heap and heap[0][0] <= now_ms:
            _, key = heapq.heappop(heap)
            if buckets.pop(key, None) is not None:
                rows.append((_row_key(partition, key), None))
        return rows

    def load(self, rows: Iterable[tuple[bytes, bytes]]) -> None:
        for raw_key, raw_value in rows:
            parts = raw_key.decode().split("|")
            if len(parts) != self.arity + 3:
                continue
            partition, code, *group, start = parts
            met, breached = (int(n) for n in raw_value.split(b","))
            key = (code, (*group[:-1], int(group[-1])), int(start))
            self._buckets.setdefault(int(partition), {})[key] = [met, breached]
            heapq.heappush(self._expiry.setdefault(int(partition), []), (_expires(key), key))

    def clear(self) -> None:
        self._buckets.clear()
        self._expiry.clear()

    def group_totals(self, now_of: Callable[[int], int | None]) -> dict[tuple, int]:
        """(window, *group, outcome) -> outcomes, over the partitions held, each at its own clock."""
        out: dict[tuple, int] = {}
        for partition, buckets in self._buckets.items():
            now = now_of(partition)
            if now is None:
                continue
            for (code, group, start), counts in buckets.items():
                width = _GRAINS[code][0]
                for window, span in WINDOWS_MS.items():
                    if (code == "f") != (window == "1h") or start + width <= now - span:
                        continue
                    for slot, outcome in enumerate(OUTCOMES):
                        key = (window, *group, outcome)
                        out[key] = out.get(key, 0) + counts[slot]
        return out


class IrtWindows(Windows):
    """IRT outcomes per severity (the v2 series)."""

    def __init__(self) -> None:
        super().__init__(1)

    def add(self, partition: int, severity: int, outcome: str, at_ms: int) -> list[Row]:
        return self.add_group(partition, (severity,), outcome, at_ms)

    def totals(self, now_of: Callable[[int], int | None]) -> dict[tuple[str, int, str], int]:
        """(window, severity, outcome) -> tickets."""
        return self.group_totals(now_of)  # type: ignore[return-value]


class ContractWindows(Windows):
    """Judged outcomes per contract, metric and severity (section 10)."""

    def __init__(self) -> None:
        super().__init__(3)


def _expires(key: tuple[str, Group, int]) -> int:
    width, kept = _GRAINS[key[0]]
    return key[2] + width + kept


def _row_key(partition: int, key: tuple[str, Group, int]) -> bytes:
    code, group, start = key
    return "|".join((str(partition), code, *map(str, group), str(start))).encode()
