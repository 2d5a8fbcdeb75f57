"""The ticket agent: reads raw records, hands them to the processor, publishes what it returns.

It consumes two co-partitioned topics: ``tickets.events`` and the internal ticks topic. In live
(wall-clock) mode a timer puts a tick on partition p when something is due there, so deadlines and
orphan timeouts fire even when no event arrives; table writes stay inside stream processing, as
Faust requires. In event-time mode ticks only trigger the rebuild after a rebalance: only events move
a partition's clock there.
"""

from __future__ import annotations

import dataclasses
import logging
import time
from collections.abc import Awaitable, Callable

import faust

from pipeline.agents import Progress
from pipeline.agents.publisher import Publisher
from pipeline.errors import StorageError
from pipeline.processing.io import Record, Store
from pipeline.processing.processor import Processor
from pipeline.tables.guard import halt

log = logging.getLogger(__name__)

TICK_INTERVAL_S = 0.1  # how often the timer asks which owned partitions need a tick


class TickTimer:
    """Decides, every interval, which owned partitions get a tick: one in flight per partition at most."""

    def __init__(self, processor: Processor, resend_after_s: float = 10.0) -> None:
        self.processor = processor
        self.resend_after_s = resend_after_s
        self._pending: dict[int, float] = {}  # partition -> monotonic time its tick was sent
        self.assigned = False  # a partition assignment has happened (readiness)

    def due(self, owned: list[int], now: float | None = None) -> list[int]:
        now = time.monotonic() if now is None else now
        out = []
        for partition in owned:
            sent = self._pending.get(partition)
            if sent is not None and now - sent < self.resend_after_s:
                continue
            if self.processor.needs_tick(partition):
                self._pending[partition] = now
                out.append(partition)
        return out

    def arrived(self, partition: int) -> None:
        self._pending.pop(partition, None)

    def reset(self) -> None:
        self._pending.clear()


@dataclasses.dataclass(frozen=True)
class TicketAgent:
    agent: faust.types.AgentT
    progress: Progress
    timer: TickTimer
    tick: Callable[[list[int]], Awaitable[list[int]]]  # one turn of the tick timer over these partitions


def register(
    app: faust.App,
    *,
    source: faust.TopicT,
    ticks: faust.TopicT,
    events_topic: str,
    processor: Processor,
    store: Store,
    publisher: Publisher,
) -> TicketAgent:
    timer = TickTimer(processor)
    progress = Progress()
    ticks_topic = ticks.get_topic_name()

    @app.agent(source, name="tickets", concurrency=1)
    async def tickets(stream: faust.StreamT) -> None:
        async for event in stream.events():
            msg = event.message
            if msg.topic == ticks_topic:
                timer.arrived(msg.partition)
            record = Record(msg.topic, msg.partition, msg.offset, msg.key, msg.value,
                            None if msg.timestamp is None else int(msg.timestamp * 1000))
            try:
                outputs = processor.handle(record, store)
            except StorageError as exc:  # not the record's fault: stop before anything is committed
                halt(exc)
                raise  # halt never returns; if it did, this record must not count as done, nor publish anything
            if outputs:
                await publisher.publish(outputs)
            progress.records += 1

    @app.on_partitions_assigned.connect
    async def _assigned(sender: faust.App, assigned: set, **kwargs: object) -> None:
        processor.partitions_changed()
        processor.metrics.rebalances.inc()
        timer.reset()
        timer.assigned = True

    @app.on_partitions_revoked.connect
    async def _revoked(sender: faust.App, revoked: set, **kwargs: object) -> None:
        processor.partitions_changed()

    async def tick(owned: list[int]) -> list[int]:
        sent = timer.due(owned)
        for partition in sent:
            await ticks.send(key=None, value=b"", partition=partition)
        return sent

    @app.timer(interval=TICK_INTERVAL_S, name="ticks")
    async def send_ticks() -> None:
        await tick([tp.partition for tp in app.consumer.assignment() if tp.topic == events_topic])

    return TicketAgent(tickets, progress, timer, tick)
