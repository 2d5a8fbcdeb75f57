"""The ticket agent: reads raw records, hands them to the processor, publishes what it returns.

It consumes two co-partitioned topics: ``tickets.events`` and the internal ticks topic. In live
(wall-clock) mode a timer puts a tick on partition p when something is due there, so deadlines and
orphan timeouts fire even when no event arrives; table writes stay inside stream processing, as
Faust requires. In event-time mode ticks only trigger the rebuild after a rebalance: only events move
a partition's clock there.
"""

from __future__ import annotations

import logging
import time

import faust
from faust.types import TP

from pipeline.processing.io import DeadLetter, Emit, Output, Record
from pipeline.processing.processor import Processor
from pipeline.tables.tickets import TableStore

log = logging.getLogger(__name__)


class Publisher:
    """Sends the processor's outputs to their topics; Faust flushes them before it commits offsets."""

    def __init__(self, dlq: faust.TopicT, outputs: dict[str, faust.TopicT]) -> None:
        self._dlq = dlq
        self._outputs = outputs

    async def publish(self, outputs: list[Output]) -> None:
        for out in outputs:
            if isinstance(out, Emit):
                await self._outputs[out.topic].send(key=out.key, value=out.value)
            elif isinstance(out, DeadLetter):
                await self._dlq.send(
                    key=out.key, value=out.value, headers=out.headers(),
                    timestamp=None if out.timestamp_ms is None else out.timestamp_ms / 1000,
                )


class CommittedOffsets:
    """The processor's Positions: this consumer group's committed offsets, as Faust tracks them.

    Faust loads them from Kafka after every assignment (``perform_seek``) and updates them on each
    commit; a record at offset o is committed when o < committed.
    """

    def __init__(self, app: faust.App, events_topic: str, ticks_topic: str) -> None:
        self._app = app
        self._topics = (events_topic, ticks_topic)

    def committed(self, source: int, partition: int) -> int | None:
        offsets = getattr(self._app.consumer, "_committed_offset", None)
        if offsets is None:
            return None
        return offsets.get(TP(self._topics[source], partition))


def records_behind(owned: list[int], broker: dict[int, tuple[int | None, int]], *, fetched: dict[int, int | None],
                   done: dict[int, int | None]) -> dict[int, int]:
    """Records behind per owned partition of tickets.events (``sla_consumer_lag_records``).

    ``fetched`` is the consumer's high-water mark, known only once it has fetched from the partition;
    ``broker`` is the (log start, end) the broker last gave for it, polled, so that a partition the
    worker owns but never fetched from (a stalled consumer) still shows its backlog. ``done`` is the
    next offset processed or committed; with neither, everything from the log start is behind.
    """
    behind = {}
    for p in owned:
        start, end = broker.get(p, (None, None))
        high = fetched.get(p)
        high = end if high is None else high if end is None else max(high, end)
        position = done.get(p)
        if position is None:
            position = start
        if high is not None and position is not None:
            behind[p] = max(0, high - position)
    return behind


def register(
    app: faust.App,
    *,
    source: faust.TopicT,
    ticks: faust.TopicT,
    events_topic: str,
    processor: Processor,
    store: TableStore,
    publisher: Publisher,
    tick_interval_s: float,
) -> None:
    tick_pending: dict[int, float] = {}
    ticks_topic = ticks.get_topic_name()

    @app.agent(source, name="tickets", concurrency=1)
    async def tickets(stream: faust.StreamT) -> None:
        async for event in stream.events():
            msg = event.message
            if msg.topic == ticks_topic:
                tick_pending.pop(msg.partition, None)
            record = Record(msg.topic, msg.partition, msg.offset, msg.key, msg.value,
                            None if msg.timestamp is None else int(msg.timestamp * 1000))
            outputs = processor.handle(record, store)
            if outputs:
                await publisher.publish(outputs)

    @app.on_partitions_assigned.connect
    async def _assigned(sender: faust.App, assigned: set, **kwargs: object) -> None:
        processor.partitions_changed()
        processor.metrics.rebalances.inc()
        tick_pending.clear()

    ends: dict[int, tuple[int, int]] = {}  # partition -> (log start, end) as the broker last said

    def lag() -> dict[int, int]:
        owned = [tp.partition for tp in app.consumer.assignment() if tp.topic == events_topic]
        committed = getattr(app.consumer, "_committed_offset", {})
        return records_behind(
            owned, ends,
            fetched={p: app.consumer.highwater(TP(events_topic, p)) for p in owned},
            done={p: processor.next_offsets.get(p, committed.get(TP(events_topic, p))) for p in owned},
        )

    @app.timer(interval=15.0, name="partition-offsets")
    async def poll_offsets() -> None:
        owned = [tp for tp in app.consumer.assignment() if tp.topic == events_topic]
        if not owned:
            return
        try:
            starts = await app.consumer.earliest_offsets(*owned)
            highs = await app.consumer.highwaters(*owned)
        except Exception as exc:  # noqa: BLE001 - a metric's input; the next poll tries again
            log.warning("could not read the offsets of %s: %s", events_topic, exc)
            return
        ends.clear()
        ends.update({tp.partition: (starts.get(tp), highs[tp]) for tp in owned if tp in highs})

    processor.metrics.observe_lag(lag)

    @app.on_partitions_revoked.connect
    async def _revoked(sender: faust.App, revoked: set, **kwargs: object) -> None:
        processor.partitions_changed()

    @app.timer(interval=tick_interval_s, name="ticks")
    async def send_ticks() -> None:
        now = time.monotonic()
        for tp in app.consumer.assignment():
            if tp.topic != events_topic:
                continue
            sent = tick_pending.get(tp.partition)
            if sent is not None and now - sent < 10:  # one tick in flight per partition
                continue
            if processor.needs_tick(tp.partition):
                tick_pending[tp.partition] = now
                await ticks.send(key=None, value=b"", partition=tp.partition)
