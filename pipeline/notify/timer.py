"""The notifier's time: a monotonic clock, waits with a deadline and time limits, in one injectable object.

:class:`Timer` is real time. :class:`ManualTimer` moves only when told (:meth:`ManualTimer.advance`), so a
test of retries and back-off runs in no time and the same way every run: every wait and time limit whose
deadline is passed ends, in deadline order, and each task it wakes runs before time moves on.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Awaitable
from typing import TypeVar

T = TypeVar("T")


class Timer:
    """Real time."""

    def monotonic(self) -> float:
        return time.monotonic()

    async def wait(self, event: asyncio.Event, timeout: float | None) -> None:
        """Until ``event`` is set or ``timeout`` seconds have passed (None: no limit)."""
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(event.wait(), timeout)

    async def limit(self, aw: Awaitable[T], timeout: float) -> T:
        """``aw``'s result; after ``timeout`` seconds it is cancelled and :class:`TimeoutError` raised."""
        return await asyncio.wait_for(aw, timeout)


class ManualTimer(Timer):
    """Time that moves only when :meth:`advance` moves it."""

    _SETTLE_TURNS = 50  # event-loop turns given to woken tasks: far more than a wake-post-wait chain takes

    def __init__(self, start: float = 0.0) -> None:
        self.now = start
        self._alarms: list[tuple[float, asyncio.Future[None]]] = []

    def monotonic(self) -> float:
        return self.now

    def _alarm(self, timeout: float) -> asyncio.Future[None]:
        alarm: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        if timeout <= 0:
            alarm.set_result(None)
        else:
            self._alarms.append((self.now + timeout, alarm))
        return alarm

    async def wait(self, event: asyncio.Event, timeout: float | None) -> None:
        if timeout is None:
            await event.wait()
            return
        alarm = self._alarm(timeout)
        waiter = asyncio.ensure_future(event.wait())
        try:
            await asyncio.wait({alarm, waiter}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            waiter.cancel()
            alarm.cancel()

    async def limit(self, aw: Awaitable[T], timeout: float) -> T:
        alarm = self._alarm(timeout)
        task = asyncio.ensure_future(aw)
        try:
            await asyncio.wait({alarm, task}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            alarm.cancel()
            if not task.done():
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
        if task.cancelled():
            raise TimeoutError(f"took longer than {timeout} s")
        return task.result()

    async def advance(self, seconds: float) -> None:
        """Move time on by ``seconds``: each wait or limit ends at its deadline, earliest first."""
        end = self.now + seconds
        while True:
            await self._settle()
            self._alarms = [(at, alarm) for at, alarm in self._alarms if not alarm.done()]
            due = min((at for at, _ in self._alarms), default=None)
            if due is None or due > end:
                break
            self.now = max(self.now, due)
            for at, alarm in self._alarms:
                if at <= self.now:
                    alarm.set_result(None)
        self.now = end
        await self._settle()

    async def _settle(self) -> None:
        for _ in range(self._SETTLE_TURNS):
            await asyncio.sleep(0)
