"""Where the ticket agent stands in ``tickets.events``: committed offsets, and records behind per partition.

:class:`CommittedOffsets` is the one place that reads the consumer group's committed offsets from Faust.
Faust keeps them (loaded from Kafka after every assignment, updated on each commit) but offers no public
accessor, so its private ``_committed_offset`` mapping is read here and nowhere else.

:func:`rewind_uncommitted` closes a hole in Faust's rebalancing: records fetched while a rebalance is under
way are discarded, and Faust's ``perform_seek`` rewinds only partitions with a committed offset (aiokafka's
``seek_to_committed`` skips the others). A partition assigned before anyone committed it (a second worker
joining early, a restart after a crash before the first commit) was skipped to its end, every event on it
unprocessed.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

import faust
from faust.types import TP

log = logging.getLogger(__name__)


class CommittedOffsets:
    """The processor's Positions: a record at offset o of a partition is committed when o < committed."""

    def __init__(self, app: faust.App, events_topic: str, ticks_topic: str) -> None:
        self._app = app
        self._topics = (events_topic, ticks_topic)

    def of(self, topic: str, partition: int) -> int | None:
        offsets = getattr(self._app.consumer, "_committed_offset", None)
        return None if offsets is None else offsets.get(TP(topic, partition))

    def committed(self, source: int, partition: int) -> int | None:
        return self.of(self._topics[source], partition)


async def rewind_uncommitted_now(consumer: object, topics: frozenset[str]) -> list[TP]:
    """Seek the assigned partitions of ``topics`` that have no committed offset to their log start (what
    ``auto_offset_reset=earliest`` means); returns them. ``consumer`` is Faust's: ``assignment``,
    ``earliest_offsets`` and ``seek`` (which also resets Faust's read offset) are its public methods."""
    committed = getattr(consumer, "_committed_offset", {})
    fresh = sorted((tp for tp in consumer.assignment()  # type: ignore[attr-defined]
                    if tp.topic in topics and committed.get(tp) is None), key=lambda tp: (tp.topic, tp.partition))
    if fresh:
        starts = await consumer.earliest_offsets(*fresh)  # type: ignore[attr-defined]
        for tp in fresh:
            await consumer.seek(tp, starts.get(tp) or 0)  # type: ignore[attr-defined]
        log.info("no committed offset yet for %s: reading them from the beginning",
                 ", ".join(f"{tp.topic}[{tp.partition}]" for tp in fresh))
    return fresh


def rewind_uncommitted(app: faust.App, topics: set[str]) -> None:
    """After each of Faust's seeks to the committed offsets, also rewind the partitions of ``topics`` that
    have none. Installed on the first assignment (the consumer exists by then), before the first seek."""
    names = frozenset(topics)

    @app.on_partitions_assigned.connect
    async def _install(sender: faust.App, assigned: set, **kwargs: object) -> None:
        consumer = app.consumer
        if getattr(consumer, "_sla_rewinds_uncommitted", False):
            return
        seek_to_committed_offsets = consumer.perform_seek

        async def perform_seek() -> None:
            await seek_to_committed_offsets()
            await rewind_uncommitted_now(consumer, names)

        consumer.perform_seek = perform_seek  # type: ignore[method-assign]
        consumer._sla_rewinds_uncommitted = True  # type: ignore[attr-defined]


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


def register_lag(app: faust.App, events_topic: str, offsets: CommittedOffsets,
                 processed: dict[int, int]) -> Callable[[], dict[int, int]]:
    """Poll the broker's offsets of the owned partitions every 15 s; return the lag source for the metrics."""
    ends: dict[int, tuple[int, int]] = {}  # partition -> (log start, end) as the broker last said

    def owned() -> list[TP]:
        return [tp for tp in app.consumer.assignment() if tp.topic == events_topic]

    def lag() -> dict[int, int]:
        parts = [tp.partition for tp in owned()]
        return records_behind(
            parts, ends,
            fetched={p: app.consumer.highwater(TP(events_topic, p)) for p in parts},
            done={p: processed.get(p, offsets.of(events_topic, p)) for p in parts},
        )

    @app.timer(interval=15.0, name="partition-offsets")
    async def poll_offsets() -> None:
        tps = owned()
        if not tps:
            return
        try:
            starts = await app.consumer.earliest_offsets(*tps)
            highs = await app.consumer.highwaters(*tps)
        except Exception as exc:  # noqa: BLE001 - a metric's input; the next poll tries again
            log.warning("could not read the offsets of %s: %s", events_topic, exc)
            return
        ends.clear()
        ends.update({tp.partition: (starts.get(tp), highs[tp]) for tp in tps if tp in highs})

    return lag
