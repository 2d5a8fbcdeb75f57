"""The lag gauge the NOC's "consumer lag" alert reads: a partition never fetched from still shows its backlog."""

from __future__ import annotations

import asyncio
from collections import defaultdict

from faust.types import TP

from pipeline.agents.offsets import records_behind, rewind_uncommitted, rewind_uncommitted_now


def test_lag_is_the_high_water_mark_minus_what_was_processed() -> None:
    got = records_behind([0, 1], {}, fetched={0: 500, 1: 80}, done={0: 200, 1: 80})
    assert got == {0: 300, 1: 0}


def test_a_partition_never_fetched_from_shows_its_whole_backlog_from_the_brokers_offsets() -> None:
    # owned, nothing fetched (no high-water mark in the consumer), nothing processed or committed
    got = records_behind([2], {2: (100, 5000)}, fetched={2: None}, done={2: None})
    assert got == {2: 4900}


def test_the_brokers_end_offset_counts_when_it_is_newer_than_the_last_fetch() -> None:
    got = records_behind([0], {0: (0, 900)}, fetched={0: 700}, done={0: 650})
    assert got == {0: 250}


def test_without_any_offsets_a_partition_is_left_out_rather_than_reported_as_zero() -> None:
    assert records_behind([3], {}, fetched={3: None}, done={3: None}) == {}


# --- partitions nobody committed yet are read from their beginning after each of Faust's seeks -----------------


class FakeFaustConsumer:
    """What Faust's consumer offers here: its assignment, committed and read offsets, the log starts, seeks."""

    def __init__(self, assigned: set[TP], committed: dict[TP, int]) -> None:
        self._assigned = assigned
        self._committed_offset = dict(committed)
        self._read_offset: defaultdict[TP, int | None] = defaultdict(lambda: None)
        self.calls: list[tuple] = []

    def assignment(self) -> set[TP]:
        return set(self._assigned)

    async def earliest_offsets(self, *partitions: TP) -> dict[TP, int]:
        return {tp: 3 * tp.partition for tp in partitions}  # retention has removed the first records of some

    async def seek(self, partition: TP, offset: int) -> None:  # Faust's: the position and its read offset
        self.calls.append(("seek", partition, offset))
        self._read_offset[partition] = offset or None

    async def perform_seek(self) -> None:  # Faust's: every partition to its committed offset, if it has one
        self.calls.append(("committed",))
        for tp, offset in self._committed_offset.items():
            self._read_offset[tp] = offset


class FakeApp:
    def __init__(self, consumer: FakeFaustConsumer) -> None:
        self.consumer = consumer
        self.handlers: list = []
        self.on_partitions_assigned = self

    def connect(self, handler):  # the signal's decorator
        self.handlers.append(handler)
        return handler

    def assign(self) -> None:
        for handler in self.handlers:
            asyncio.run(handler(self, self.consumer.assignment()))  # as mode.Signal.send calls it


EVENTS = [TP("tickets.events", p) for p in range(4)]


def test_an_assigned_partition_without_a_committed_offset_is_sought_to_its_beginning() -> None:
    consumer = FakeFaustConsumer({*EVENTS, TP("other", 0)}, {EVENTS[0]: 120, EVENTS[2]: 7})
    consumer._read_offset[EVENTS[1]] = 4_850  # records discarded during a rebalance moved it to the end
    rewound = asyncio.run(rewind_uncommitted_now(consumer, frozenset({"tickets.events"})))
    assert rewound == [EVENTS[1], EVENTS[3]]  # not the committed ones, not another topic's
    assert consumer.calls == [("seek", EVENTS[1], 3), ("seek", EVENTS[3], 9)]  # to each log start
    assert consumer._read_offset[EVENTS[1]] == 3  # Faust would drop the re-read records below 4,850


def test_with_every_partition_committed_nothing_is_sought() -> None:
    consumer = FakeFaustConsumer(set(EVENTS), {tp: 1 for tp in EVENTS})
    assert asyncio.run(rewind_uncommitted_now(consumer, frozenset({"tickets.events"}))) == []
    assert consumer.calls == []


def test_faust_s_seek_to_committed_offsets_is_followed_by_the_rewind_and_installed_once() -> None:
    consumer = FakeFaustConsumer(set(EVENTS), {EVENTS[0]: 10, EVENTS[1]: 10, EVENTS[2]: 10})
    app = FakeApp(consumer)
    rewind_uncommitted(app, {"tickets.events"})  # type: ignore[arg-type]
    app.assign()
    app.assign()  # a second rebalance must not wrap the seek twice
    asyncio.run(consumer.perform_seek())
    assert consumer.calls == [("committed",), ("seek", EVENTS[3], 9)]


def test_the_fake_consumer_offers_only_what_faust_s_kafka_consumer_has() -> None:
    from faust.transport.drivers.aiokafka import Consumer

    used = [name for name in vars(FakeFaustConsumer) if not name.startswith("__")]
    assert used and all(hasattr(Consumer, name) for name in used if not name.startswith("_")), used
