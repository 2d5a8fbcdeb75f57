"""Contract v2's ``future_timestamp``: one upstream system with a wrong clock must not move a partition's
clock and breach every ticket on it. Too far ahead of the clock that would judge it, an event goes to the
DLQ and the clock stays where it was; a replay's quiet weekend is not "too far"."""

from __future__ import annotations

from pathlib import Path

import pytest

from pipeline.domain.policy import load_policy
from pipeline.domain.timefmt import format_rfc3339_ms, parse_rfc3339_ms
from pipeline.errors import ConfigError
from pipeline.processing.io import DeadLetter
from tests.builders import EventFactory
from tests.desk import HOUR, MIN, T0, Desk

Y2099 = parse_rfc3339_ms("2099-01-01T00:00:00Z")


def send(desk: Desk, doc: dict) -> list:
    outputs = desk.proc.handle(desk.feed.record(doc), desk.store)
    desk._collect(outputs)
    return [o for o in outputs if isinstance(o, DeadLetter)]


def test_live_an_event_dated_2099_goes_to_the_dlq_and_one_within_the_allowance_is_applied(
    events: EventFactory,
) -> None:
    desk = Desk(clock_guard=True)
    desk.create(severity=1)
    [letter] = send(desk, events.assigned(at=Y2099, engineer_id="E1"))
    assert letter.reason == "future_timestamp" and letter.source_offset == 1
    assert "ahead of the worker's clock (2026-03-02T09:00:00.000Z); at most 5 min is accepted" in letter.detail
    assert desk.metric("sla_events_rejected_total", reason="future_timestamp") == 1
    assert desk.store.get("T1").engineer_id is None
    assert send(desk, events.assigned(at=T0 + 4 * MIN, engineer_id="E2")) == []  # a little drift is fine
    assert desk.store.get("T1").engineer_id == "E2"


def test_event_time_a_2099_heartbeat_does_not_move_the_partition_clock(events: EventFactory) -> None:
    desk = Desk(event_time=True)
    desk.create(severity=1)
    [letter] = send(desk, events.heartbeat(Y2099))
    assert letter.reason == "future_timestamp" and "ahead of its partition's event-time clock" in letter.detail
    assert desk.irt() == [] and desk.escalations == []  # nothing breached: the clock stayed at 09:00
    assert desk.proc.clock.now(0) == T0
    desk.send("ticket.responded", at=T0 + 10 * MIN, engineer_id="E1")
    assert [o.outcome for o in desk.irt()] == ["met"]


def test_event_time_a_replays_three_quiet_days_are_not_rejected(events: EventFactory) -> None:
    desk = Desk(event_time=True)
    desk.create(severity=3)
    assert send(desk, events.heartbeat(T0 + 72 * HOUR)) == []
    assert [(o.outcome, o.decided_at) for o in desk.irt()] == [("breached", format_rfc3339_ms(T0 + 4 * HOUR))]


def test_the_allowances_are_policy_keys(tmp_path: Path) -> None:
    path = tmp_path / "policy.toml"
    path.write_text("[clock]\nwall_future_minutes = 2\nevent_future_hours = 24\n")
    policy = load_policy(path)
    assert (policy.wall_future_ms, policy.event_future_ms) == (2 * MIN, 24 * HOUR)
    path.write_text("[clock]\nevent_future_hours = -1\n")
    with pytest.raises(ConfigError, match="clock.event_future_hours: must be a number at least 0"):
        load_policy(path)
