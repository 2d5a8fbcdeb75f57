"""Contract v3 section 2: one far-future record must not move any partition's clock, not even the first
record of a partition that has no clock yet. In event time such a partition judges its first record
against the wall clock (``[clock] event_future_hours`` ahead at most); in live mode the wall clock always
judges. Every rejected record goes to the DLQ as ``future_timestamp`` (docs/decisions.md)."""

from __future__ import annotations

import dataclasses

import orjson
import pytest

from pipeline.domain.clock import EventPartitionClock, ManualClock, WallPartitionClock
from pipeline.domain.policy import Policy
from pipeline.domain.records import Outcome
from pipeline.domain.timefmt import format_rfc3339_ms, parse_rfc3339_ms
from pipeline.metrics import Metrics
from pipeline.processing.io import DeadLetter, Emit, Output, Record
from pipeline.processing.processor import Processor
from tests.fakes import DictStore

T0 = parse_rfc3339_ms("2026-03-02T09:00:00Z")
Y2099 = parse_rfc3339_ms("2099-01-01T00:00:00Z")
MIN, HOUR, DAY = 60_000, 3_600_000, 86_400_000


class Rig:
    """One processor over four partitions of tickets.events, its wall clock moved by hand."""

    def __init__(self, *, event_time: bool, policy: Policy | None = None, store: DictStore | None = None) -> None:
        self.wall = ManualClock(T0)
        clock = EventPartitionClock(self.wall) if event_time else WallPartitionClock(self.wall)
        self.metrics = Metrics.create()
        self.proc = Processor(clock=clock, wall=self.wall, metrics=self.metrics, policy=policy or Policy(),
                              orphan_timeout_ms=10 * MIN, events_topic="tickets.events", ticks_topic="ticks")
        self.store = store or DictStore()
        self.offsets = [0, 0, 0, 0]
        self.outputs: list[Output] = []

    def send(self, etype: str, at: int, *, partition: int = 0, tid: str | None = "T1", **fields: object) -> list:
        doc = {"event_id": f"{tid}-{etype}-{at}", "type": etype, "occurred_at": format_rfc3339_ms(at), **fields}
        if tid is not None:
            doc["ticket_id"] = tid
        record = Record("tickets.events", partition, self.offsets[partition], tid and tid.encode(), orjson.dumps(doc))
        self.offsets[partition] += 1
        out = self.proc.handle(record, self.store)
        self.outputs += out
        return [o for o in out if isinstance(o, DeadLetter)]

    def create(self, at: int = T0, *, partition: int = 0, tid: str = "T1", severity: int = 1) -> list:
        return self.send("ticket.created", at, partition=partition, tid=tid, severity=severity, product="automation",
                         customer_id="C1")

    def irt(self) -> list[tuple[str, str, str]]:
        return [(o.ticket_id, o.outcome, o.decided_at) for o in
                (Outcome.decode(e.value) for e in self.outputs if isinstance(e, Emit) and e.topic == "outcomes")
                if o.metric == "irt"]

    def metric(self, name: str, **labels: str) -> float:
        return self.metrics.registry.get_sample_value(name, labels or None) or 0.0


def test_event_time_a_2099_first_record_does_not_start_the_partitions_clock() -> None:
    desk = Rig(event_time=True)
    [letter] = desk.send("heartbeat", Y2099, tid=None)
    assert letter.reason == "future_timestamp" and letter.source_offset == 0
    assert ("ahead of the wall clock, as its partition has no event-time clock yet (2026-03-02T09:00:00.000Z); "
            "at most 168 h is accepted") in letter.detail
    assert desk.proc.clock.now(0) is None and desk.store.clocks == {}  # neither in memory nor persisted
    assert desk.metric("sla_events_rejected_total", reason="future_timestamp") == 1
    # the partition's clock starts from the real records, and judges their deadlines
    assert desk.create(severity=1) == []
    assert desk.send("heartbeat", T0 + 14 * MIN, tid=None) == []
    assert desk.irt() == []  # not breached in 2099: the clock is at 09:14
    desk.send("heartbeat", T0 + 16 * MIN, tid=None)
    assert desk.irt() == [("T1", "breached", "2026-03-02T09:15:00.000Z")]
    assert desk.store.clocks == {0: T0}  # persisted from the first good record (then at most once a wall second)


@pytest.mark.parametrize(("ahead", "rejected"), [(7 * DAY, False), (7 * DAY + 1, True)])
def test_event_time_a_first_record_may_be_event_future_hours_ahead_of_the_wall_clock(ahead: int,
                                                                                      rejected: bool) -> None:
    desk = Rig(event_time=True)
    letters = desk.create(T0 + ahead)
    assert [letter.reason for letter in letters] == (["future_timestamp"] if rejected else [])
    assert desk.proc.clock.now(0) == (None if rejected else T0 + ahead)


def test_event_time_the_first_records_allowance_is_the_policy_key() -> None:
    desk = Rig(event_time=True, policy=dataclasses.replace(Policy(), event_future_ms=24 * HOUR))
    [letter] = desk.create(T0 + 25 * HOUR)
    assert "at most 24 h is accepted" in letter.detail
    assert desk.create(T0 + 23 * HOUR, tid="T2") == []


def test_event_time_a_2099_record_on_a_new_partition_moves_no_partitions_clock() -> None:
    desk = Rig(event_time=True)
    desk.create(partition=0)
    [letter] = desk.create(Y2099, partition=1, tid="T2")
    assert letter.source_partition == 1
    assert (desk.proc.clock.now(0), desk.proc.clock.now(1)) == (T0, None)
    assert desk.irt() == []
    assert desk.create(T0 + MIN, partition=1, tid="T3") == []  # partition 1's first good record starts its clock
    assert desk.proc.clock.now(1) == T0 + MIN


def test_event_time_a_replay_of_old_history_is_not_judged_by_the_wall_clock() -> None:
    old = T0 - 365 * DAY
    desk = Rig(event_time=True)
    assert desk.create(old) == []  # a year before the wall clock: history, accepted
    assert desk.send("heartbeat", old + 16 * MIN, tid=None) == []
    assert desk.irt() == [("T1", "breached", format_rfc3339_ms(old + 15 * MIN))]


def test_event_time_a_restored_clock_judges_the_partition_not_the_wall_clock() -> None:
    """After a restart the persisted clock is the reference: an event 8 days past a replay's clock is
    rejected although it is long before the wall clock's time."""
    old = T0 - 60 * DAY
    first = Rig(event_time=True)
    first.create(old)
    restarted = Rig(event_time=True, store=first.store)
    [letter] = restarted.send("ticket.assigned", old + 8 * DAY, engineer_id="E1")
    assert letter.reason == "future_timestamp" and "ahead of its partition's event-time clock" in letter.detail
    assert restarted.proc.clock.now(0) is None  # it judges the future; only re-read events move the clock


def test_event_time_a_restored_clock_ahead_of_the_re_read_events_fires_no_deadline_before_their_responses() -> None:
    """kill -9 can keep the clocks changelog's last write and lose the tickets changelog's: after the restart
    the stored clock is past a deadline whose response is among the records re-read from the committed
    offset. The response is applied before the deadline fires (seen in a clean-clone CI run, where the
    restarted worker published 'breached' for a ticket it had already published as 'met')."""
    first = Rig(event_time=True)
    first.create(T0)  # Sev1: 15 min
    first.store.put_clock(0, T0 + 20 * MIN)  # the clock was saved; the response's state write was lost
    restarted = Rig(event_time=True, store=first.store)
    restarted.create(T0 + 5 * MIN, tid="T2")  # re-read from the committed offset: another ticket first
    restarted.send("ticket.responded", T0 + 10 * MIN, engineer_id="E1")
    restarted.send("heartbeat", T0 + 20 * MIN, tid=None)
    assert [o for o in restarted.irt() if o[0] == "T1"] == [("T1", "met", format_rfc3339_ms(T0 + 10 * MIN))]


def test_live_the_wall_clock_judges_the_first_record_too() -> None:
    desk = Rig(event_time=False)
    [letter] = desk.create(Y2099)
    assert letter.reason == "future_timestamp"
    assert "ahead of the worker's clock (2026-03-02T09:00:00.000Z); at most 5 min is accepted" in letter.detail
    assert desk.create(T0 + 4 * MIN, tid="T2") == []
    assert desk.proc.clock.now(0) == T0  # live time is the wall clock's, whatever the events say


def test_held_events_are_counted_once_with_the_severity_they_were_answered_at() -> None:
    """Counting happens once per record, after it: a record that releases held events counts their first
    response at the severity the ticket had then, not the one a later held event gave it."""
    desk = Rig(event_time=True)
    desk.send("ticket.responded", T0 + 5 * MIN, engineer_id="E1")
    desk.send("ticket.severity_changed", T0 + 6 * MIN, severity=3)
    assert desk.metric("sla_events_held") == 2
    desk.create(T0, severity=1)
    assert desk.metric("sla_events_held") == 0
    assert desk.metric("sla_irt_seconds_count", severity="1") == 1
    assert desk.metric("sla_irt_seconds_sum", severity="1") == 300
    assert desk.metric("sla_irt_seconds_count", severity="3") == 0
    assert desk.metric("sla_irt_outcomes_total", severity="1", outcome="met") == 1
    assert desk.metric("sla_events_total", type="ticket.responded") == 1
