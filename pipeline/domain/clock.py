"""Clocks. The core never reads the time itself: it is handed a clock, so tests can move time.

* :class:`WallClock` / :class:`ManualClock` answer "what time is it" (epoch milliseconds).
* A partition clock answers "what time is it *on partition p*": wall time in live mode, or the
  event-time watermark of that partition (highest ``occurred_at`` seen minus the allowed lateness).
"""

from __future__ import annotations

import time
from typing import Protocol


class Clock(Protocol):
    def now_ms(self) -> int: ...


class WallClock:
    def now_ms(self) -> int:
        return time.time_ns() // 1_000_000


class ManualClock:
    """A clock that moves only when told to (tests, simulations)."""

    def __init__(self, start_ms: int = 0) -> None:
        self._now = start_ms

    def now_ms(self) -> int:
        return self._now

    def set(self, ms: int) -> None:
        self._now = ms

    def advance(self, ms: int) -> None:
        self._now += ms


class PartitionClock(Protocol):
    event_time: bool

    def observe(self, partition: int, occurred_at_ms: int) -> bool:
        """Note an event's time; True when the partition's clock moved forward."""

    def now(self, partition: int) -> int | None:
        """The partition's time now, or None while it has none (event time before any event)."""

    def knows(self, partition: int) -> bool: ...

    def restore(self, partition: int, now_ms: int | None) -> None: ...

    def forget(self) -> None: ...


class WallPartitionClock:
    """Live mode: every partition's time is the wall clock's."""

    event_time = False

    def __init__(self, clock: Clock) -> None:
        self._clock = clock

    def observe(self, partition: int, occurred_at_ms: int) -> bool:
        return False

    def now(self, partition: int) -> int:
        return self._clock.now_ms()

    def knows(self, partition: int) -> bool:
        return True

    def restore(self, partition: int, now_ms: int | None) -> None:
        return None

    def forget(self) -> None:
        return None


class EventPartitionClock:
    """Event-time mode: per partition, the highest ``occurred_at`` seen minus the allowed lateness.

    Monotonic: a late event never moves a partition's clock back. Heartbeats advance it like any event.
    """

    event_time = True

    def __init__(self, lateness_ms: int = 0) -> None:
        self._lateness = lateness_ms
        self._high: dict[int, int] = {}

    def observe(self, partition: int, occurred_at_ms: int) -> bool:
        if occurred_at_ms > self._high.get(partition, -(2**62)):
            self._high[partition] = occurred_at_ms
            return True
        return False

    def now(self, partition: int) -> int | None:
        high = self._high.get(partition)
        return None if high is None else high - self._lateness

    def high_water(self, partition: int) -> int | None:
        return self._high.get(partition)

    def knows(self, partition: int) -> bool:
        return partition in self._high

    def restore(self, partition: int, now_ms: int | None) -> None:
        """Take back a persisted high-water mark (after a restart or a rebalance)."""
        if now_ms is not None:
            self._high[partition] = max(now_ms, self._high.get(partition, now_ms))

    def forget(self) -> None:
        self._high.clear()
