"""Ingestion as a user sees it: duplicates applied once, early events held then applied, orphans
dead-lettered at their timeout with their original bytes, closed tickets final, bad records never fatal."""

from __future__ import annotations

import pytest

from pipeline.domain.clock import EventPartitionClock, ManualClock, WallPartitionClock
from pipeline.domain.policy import Policy
from pipeline.errors import StorageError
from pipeline.metrics import Metrics
from pipeline.processing.io import DeadLetter
from pipeline.processing.processor import Processor
from pipeline.tables.guard import storage
from tests.builders import T0, EventFactory
from tests.fakes import TICKS, DictStore, Feed

MIN = 60_000


def value(metric: Metrics, name: str, **labels: str) -> float:
    got = metric.registry.get_sample_value(name, labels or None)
    return 0.0 if got is None else got


@pytest.fixture
def wall() -> ManualClock:
    return ManualClock(T0)


def make(wall: ManualClock, *, event_time: bool = False, orphan_ms: int = 10 * MIN) -> Processor:
    clock = EventPartitionClock(wall) if event_time else WallPartitionClock(wall)
    return Processor(clock=clock, wall=wall, metrics=Metrics.create(), policy=Policy(), orphan_timeout_ms=orphan_ms,
                     events_topic="tickets.events", ticks_topic=TICKS)


@pytest.fixture
def live(wall: ManualClock) -> Processor:
    return make(wall)


@pytest.fixture
def replay(wall: ManualClock) -> Processor:
    return make(wall, event_time=True)


def test_a_duplicate_event_is_applied_once_and_counted(live: Processor, events: EventFactory) -> None:
    store, feed = DictStore(), Feed()
    assert live.handle(feed.record(events.created()), store) == []
    first = events.assigned(at=T0 + MIN, engineer_id="E7")
    assert live.handle(feed.record(first), store) == []
    # the same assignment event again, after a different one moved the ticket on
    live.handle(feed.record(events.assigned(at=T0 + MIN, engineer_id="E8")), store)
    assert live.handle(feed.record(first), store) == []
    assert store.get("T1").engineer_id == "E8"
    assert value(live.metrics, "sla_events_duplicate_total") == 1
    assert value(live.metrics, "sla_events_total", type="ticket.assigned") == 3


def test_a_second_creation_is_ignored(live: Processor, events: EventFactory) -> None:
    store, feed = DictStore(), Feed()
    live.handle(feed.record(events.created(severity=2)), store)
    live.handle(feed.record(events.created(severity=4)), store)
    assert store.get("T1").severity == 2
    assert value(live.metrics, "sla_events_ignored_total", reason="already_created") == 1


def test_events_after_closed_are_ignored(live: Processor, events: EventFactory) -> None:
    store, feed = DictStore(), Feed()
    live.handle(feed.record(events.created()), store)
    live.handle(feed.record(events.event("ticket.closed", T0 + 2 * MIN)), store)
    live.handle(feed.record(events.assigned(at=T0 + 3 * MIN)), store)
    assert store.get("T1").engineer_id is None
    assert value(live.metrics, "sla_events_ignored_total", reason="after_closed") == 1


def test_an_early_event_is_held_then_applied_when_the_ticket_arrives(
    live: Processor, wall: ManualClock, events: EventFactory,
) -> None:
    store, feed = DictStore(), Feed()
    assert live.handle(feed.record(events.assigned(at=T0 + MIN, engineer_id="E7")), store) == []
    assert value(live.metrics, "sla_events_held") == 1
    wall.advance(10 * MIN)
    assert live.handle(feed.tick(), store) == []  # still within the orphan timeout
    live.handle(feed.record(events.created()), store)
    state = store.get("T1")
    assert state.exists and state.engineer_id == "E7" and state.held == []
    assert value(live.metrics, "sla_events_held") == 0
    wall.advance(60 * MIN)
    later = live.handle(feed.tick(), store)
    assert not any(isinstance(o, DeadLetter) for o in later)  # nothing held is left to expire
    assert value(live.metrics, "sla_events_rejected_total", reason="orphan") == 0


def test_an_orphan_goes_to_the_dlq_at_its_timeout_with_its_original_bytes(
    live: Processor, wall: ManualClock, events: EventFactory,
) -> None:
    store, feed = DictStore(), Feed(partition=3)
    feed.offset = 41
    record = feed.record(events.assigned(tid="T404", at=T0 + MIN))
    live.handle(record, store)
    wall.advance(10 * MIN)
    assert live.handle(feed.tick(), store) == []  # exactly at the timeout is still within it
    wall.advance(1)
    (letter,) = live.handle(feed.tick(), store)
    assert isinstance(letter, DeadLetter)
    assert (letter.reason, letter.value, letter.key) == ("orphan", record.value, b"T404")
    assert (letter.source_partition, letter.source_offset) == (3, 41)
    assert store.get("T404") is None  # nothing left of a ticket that never existed
    assert value(live.metrics, "sla_events_rejected_total", reason="orphan") == 1
    assert value(live.metrics, "sla_events_held") == 0


def test_a_repeated_orphan_is_a_duplicate_not_a_second_hold(live: Processor, events: EventFactory) -> None:
    store, feed = DictStore(), Feed()
    orphan = events.assigned(tid="T5", at=T0 + MIN)
    live.handle(feed.record(orphan), store)
    live.handle(feed.record(orphan), store)
    assert len(store.get("T5").held) == 1
    assert value(live.metrics, "sla_events_duplicate_total") == 1


def test_orphan_timeout_follows_event_time_in_replays(replay: Processor, events: EventFactory) -> None:
    store, feed = DictStore(), Feed()
    replay.handle(feed.record(events.assigned(tid="T9", at=T0)), store)
    assert replay.handle(feed.record(events.heartbeat(T0 + 10 * MIN)), store) == []
    out = replay.handle(feed.record(events.heartbeat(T0 + 10 * MIN + 1)), store)
    assert [o.reason for o in out] == ["orphan"]
    assert value(replay.metrics, "sla_events_total", type="heartbeat") == 2


def test_event_clock_is_per_partition_and_survives_a_restart(wall: ManualClock, events: EventFactory) -> None:
    store, p0, p1 = DictStore(), Feed(0), Feed(1)
    first = make(wall, event_time=True)
    first.handle(p0.record(events.assigned(tid="T1", at=T0)), store)
    first.handle(p1.record(events.heartbeat(T0 + 60 * MIN)), store)  # another partition's clock: no effect
    assert store.get("T1").held
    first.handle(p0.record(events.heartbeat(T0 + 5 * MIN)), store)
    # a new worker process takes over with the same tables
    second = make(wall, event_time=True)
    assert second.handle(p0.record(events.heartbeat(T0 + 2 * MIN)), store) == []  # late beat: clock stays at 5 min
    out = second.handle(p0.record(events.heartbeat(T0 + 10 * MIN + 1)), store)
    assert [o.reason for o in out] == ["orphan"]


def test_index_is_rebuilt_from_the_table_after_a_rebalance(wall: ManualClock, events: EventFactory) -> None:
    store, feed = DictStore(), Feed(2)
    before = make(wall, orphan_ms=MIN)
    before.handle(feed.record(events.assigned(tid="T2", at=T0 + MIN)), store)
    after = make(wall, orphan_ms=MIN)
    assert after.needs_tick(2)  # stale index: a tick rebuilds it
    wall.advance(MIN + 1)
    assert [o.reason for o in after.handle(feed.tick(), store)] == ["orphan"]
    assert not after.needs_tick(2)


def test_bad_records_are_dead_lettered_with_their_reason(live: Processor, events: EventFactory) -> None:
    store, feed = DictStore(), Feed()
    out = live.handle(feed.record(b"\x00\x01garbage", key=b"T1"), store)
    assert [(o.reason, o.value, o.key) for o in out] == [("malformed_json", b"\x00\x01garbage", b"T1")]
    out = live.handle(feed.record(events.created(tid="T1"), key=b"T2"), store)
    assert [o.reason for o in out] == ["key_mismatch"]
    assert store.get("T1") is None and store.get("T2") is None
    assert value(live.metrics, "sla_events_rejected_total", reason="key_mismatch") == 1


def test_a_failure_of_ours_dead_letters_the_record_and_the_agent_goes_on(
    live: Processor, monkeypatch: pytest.MonkeyPatch, events: EventFactory,
) -> None:
    store, feed = DictStore(), Feed()

    def broken(*args: object) -> None:
        raise RuntimeError("a bug of ours")

    monkeypatch.setattr(store, "put", broken)  # (a DictStore raising: a bug, not a StorageError)
    (letter,) = live.handle(feed.record(events.created()), store)
    assert letter.reason == "internal_error" and "a bug of ours" in letter.detail
    monkeypatch.undo()
    assert live.handle(feed.record(events.created(tid="T2")), store) == []


def test_a_failing_state_store_is_not_the_records_fault_nothing_is_dead_lettered(
    live: Processor, monkeypatch: pytest.MonkeyPatch, events: EventFactory,
) -> None:
    store, feed = DictStore(), Feed()

    def full(*args: object) -> None:
        with storage("tickets", "writing"):
            raise Exception("IO error: No space left on device: While appending to file: 000004.log")  # noqa: TRY002 - what rocksdict raises

    monkeypatch.setattr(store, "put", full)
    with pytest.raises(StorageError, match="writing table 'tickets' failed: IO error: No space left on device"):
        live.handle(feed.record(events.created()), store)
    assert value(live.metrics, "sla_events_rejected_total", reason="internal_error") == 0


def test_state_of_an_open_ticket_stays_small(live: Processor, events: EventFactory) -> None:
    store, feed = DictStore(), Feed()
    live.handle(feed.record(events.created(tid="T" * 128, customer_id="C" * 128, product="P" * 128)), store)
    for i in range(100):  # far more events than the dedupe memory keeps
        live.handle(feed.record(events.assigned(tid="T" * 128, at=T0 + MIN,
                                                event_id=f"assign-{i:04d}-" + "x" * 100)), store)
    assert len(store.tickets["T" * 128]) < 1024


def test_only_the_stores_own_failures_count_as_storage_failures() -> None:
    from faust.exceptions import PartitionsMismatch

    for failure in (Exception("IO error: No space left on device"), OSError(30, "Read-only file system")):
        with pytest.raises(StorageError), storage("tickets", "writing"):
            raise failure
    for other in (PartitionsMismatch("changelog has 0 partitions"), KeyError("a bug of ours")):
        with pytest.raises(type(other)), storage("tickets", "writing"):
            raise other
