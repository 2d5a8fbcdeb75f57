"""SLA semantics (contract sections 3 and 5), one test per rule, through the processor's outputs."""

from __future__ import annotations

import pytest

from pipeline.domain.clock import WallPartitionClock
from pipeline.domain.policy import Policy
from pipeline.domain.records import Outcome
from pipeline.domain.timefmt import format_rfc3339_ms
from pipeline.metrics import Metrics
from pipeline.processing.io import Emit
from pipeline.processing.processor import Processor
from tests.desk import HOUR, MIN, SEC, T0, Desk
from tests.fakes import TICKS


@pytest.fixture
def desk() -> Desk:
    return Desk()


def test_a_response_at_14_min_59_s_is_met(desk: Desk) -> None:
    desk.create(severity=1)
    (irt,) = desk.send("ticket.responded", at=T0 + 14 * MIN + 59 * SEC, engineer_id="E1")
    assert (irt.metric, irt.outcome, irt.value_seconds, irt.target_seconds) == ("irt", "met", 899, 900)
    assert irt.outcome_id == "T1:irt:1" and irt.engineer_id == "E1"
    assert irt.decided_at == format_rfc3339_ms(T0 + 14 * MIN + 59 * SEC)
    assert desk.clock_to(T0 + 2 * HOUR) == []  # met is final: no breach later


def test_a_response_exactly_at_the_deadline_is_met(desk: Desk) -> None:
    desk.create(severity=2)
    (irt,) = desk.send("ticket.responded", at=T0 + HOUR, engineer_id="E1")
    assert irt.outcome == "met"


def test_no_response_breaches_at_exactly_15_min_with_no_further_event(desk: Desk) -> None:
    desk.create(severity=1)
    assert desk.clock_to(T0 + 15 * MIN) == []  # at the deadline a response would still be in time
    (irt,) = desk.clock_to(T0 + 15 * MIN + 1)
    assert (irt.outcome, irt.value_seconds, irt.target_seconds) == ("breached", None, 900)
    assert irt.decided_at == format_rfc3339_ms(T0 + 15 * MIN)  # decided at the deadline itself
    assert desk.metric("sla_irt_outcomes_total", severity="1", outcome="breached") == 1


def test_a_late_response_does_not_make_a_second_outcome(desk: Desk) -> None:
    desk.create(severity=1)
    desk.clock_to(T0 + 20 * MIN)
    assert desk.send("ticket.responded", at=T0 + 21 * MIN, engineer_id="E1") == []
    assert [o.outcome for o in desk.irt()] == ["breached"]
    # the real IRT is still measured for the histogram
    assert desk.metric("sla_irt_seconds_count", severity="1") == 1
    assert desk.metric("sla_irt_seconds_sum", severity="1") == 21 * 60


def test_a_response_dated_before_the_deadline_but_seen_late_in_a_replay_breaches_first() -> None:
    desk = Desk(event_time=True)
    desk.create(severity=1)
    desk.send("heartbeat", at=T0 + 16 * MIN)  # the partition's clock passes the deadline
    assert [o.outcome for o in desk.irt()] == ["breached"]
    assert desk.send("ticket.responded", at=T0 + 10 * MIN, engineer_id="E1") == []


def test_an_unanswered_ticket_resolved_and_closed_still_breaches_at_its_deadline(desk: Desk) -> None:
    desk.create(severity=1)
    desk.send("ticket.resolved", at=T0 + 5 * MIN, engineer_id="E1")
    desk.send("ticket.closed", at=T0 + 6 * MIN)
    assert desk.irt() == []
    (irt,) = desk.clock_to(T0 + 16 * MIN)
    assert irt.outcome == "breached" and irt.decided_at == format_rfc3339_ms(T0 + 15 * MIN)


def test_severity_lowered_before_the_response_moves_the_deadline(desk: Desk) -> None:
    desk.create(severity=1)
    desk.send("ticket.severity_changed", at=T0 + 5 * MIN, severity=3)
    assert desk.clock_to(T0 + 3 * HOUR) == []
    (irt,) = desk.send("ticket.responded", at=T0 + 3 * HOUR + 30 * MIN, engineer_id="E1")
    assert (irt.outcome, irt.severity, irt.target_seconds) == ("met", 3, 4 * 3600)


def test_severity_raised_late_breaches_at_the_change(desk: Desk) -> None:
    desk.create(severity=3)
    (irt,) = desk.send("ticket.severity_changed", at=T0 + 30 * MIN, severity=1)
    assert (irt.outcome, irt.severity, irt.target_seconds) == ("breached", 1, 900)
    assert irt.decided_at == format_rfc3339_ms(T0 + 30 * MIN)


def test_severity_raised_in_time_gives_the_new_shorter_deadline(desk: Desk) -> None:
    desk.create(severity=3)
    desk.send("ticket.severity_changed", at=T0 + 10 * MIN, severity=1)  # new deadline 09:15, still ahead
    (irt,) = desk.clock_to(T0 + 15 * MIN + 1)
    assert irt.outcome == "breached" and irt.decided_at == format_rfc3339_ms(T0 + 15 * MIN)


def test_a_severity_change_after_the_response_does_not_touch_irt(desk: Desk) -> None:
    desk.create(severity=3)
    desk.send("ticket.responded", at=T0 + 20 * MIN, engineer_id="E1")
    assert desk.send("ticket.severity_changed", at=T0 + 30 * MIN, severity=1) == []
    assert [o.outcome for o in desk.irt()] == ["met"]


def test_fastlane_halves_the_target(desk: Desk) -> None:
    desk.create("F1", severity=1, fastlane=True)
    desk.create("N1", severity=1)
    (fast,) = desk.send("ticket.responded", "F1", at=T0 + 8 * MIN, engineer_id="E1")
    (normal,) = desk.send("ticket.responded", "N1", at=T0 + 8 * MIN, engineer_id="E1")
    assert (fast.outcome, fast.target_seconds, fast.fastlane) == ("breached", 450, True)
    assert fast.value_seconds is None and fast.decided_at == format_rfc3339_ms(T0 + 7 * MIN + 30 * SEC)
    assert (normal.outcome, normal.target_seconds) == ("met", 900)


def test_an_event_dated_before_creation_applies_at_the_creation_instant(desk: Desk) -> None:
    desk.send("ticket.responded", at=T0 - 5 * MIN, engineer_id="E1")  # held: the ticket does not exist yet
    (irt,) = desk.create(at=T0)
    assert (irt.outcome, irt.value_seconds) == ("met", 0)


def test_waiting_on_customer_counts_in_ttr_but_not_in_agent_ttr(desk: Desk) -> None:
    desk.create(severity=3)
    desk.send("ticket.responded", at=T0 + 30 * MIN, engineer_id="E1")
    desk.send("ticket.waiting_on_customer", at=T0 + 1 * HOUR)
    desk.send("ticket.customer_replied", at=T0 + 3 * HOUR)
    desk.send("ticket.waiting_on_customer", at=T0 + 4 * HOUR)
    ttw, ttr = desk.send("ticket.resolved", at=T0 + 5 * HOUR, engineer_id="E2")  # still waiting: stops there
    assert (ttr.metric, ttr.cycle, ttr.value_seconds, ttr.agent_value_seconds) == ("ttr", 1, 5 * 3600,
                                                                                              2 * 3600)
    assert ttr.outcome is None and ttr.target_seconds is None and ttr.engineer_id == "E2"
    assert (ttw.metric, ttw.value_seconds) == ("ttw", 5 * 3600)  # resolved before any workaround


def test_ttw_ends_at_the_workaround_and_a_sev1_becomes_sev2(desk: Desk) -> None:
    desk.create(severity=1)
    (ttw,) = desk.send("ticket.workaround_provided", at=T0 + 10 * MIN, engineer_id="E1")
    assert (ttw.metric, ttw.value_seconds, ttw.severity) == ("ttw", 600, 1)
    # unanswered, now Sev2: the IRT deadline moved to one hour
    assert desk.clock_to(T0 + 30 * MIN) == []
    (irt,) = desk.clock_to(T0 + HOUR + 1)
    assert (irt.severity, irt.target_seconds) == (2, 3600)
    (ttr,) = desk.send("ticket.resolved", at=T0 + 2 * HOUR, engineer_id="E1")  # no second TTW in this cycle
    assert ttr.metric == "ttr"


def test_a_reopen_starts_cycle_2_and_the_ttr_clock_restarts(desk: Desk) -> None:
    desk.create(severity=2)
    desk.send("ticket.responded", at=T0 + 10 * MIN, engineer_id="E1")
    desk.send("ticket.resolved", at=T0 + 2 * HOUR, engineer_id="E1")
    assert desk.send("ticket.reopened", at=T0 + 5 * HOUR) == []
    ttw, ttr = desk.send("ticket.resolved", at=T0 + 6 * HOUR, engineer_id="E1")
    assert (ttr.cycle, ttr.value_seconds, ttr.outcome_id) == (2, 3600, "T1:ttr:2")
    assert (ttw.cycle, ttw.value_seconds) == (2, 3600)
    assert [o.outcome_id for o in desk.outcomes] == ["T1:irt:1", "T1:ttw:1", "T1:ttr:1", "T1:ttw:2", "T1:ttr:2"]


def test_a_reopen_of_an_unresolved_ticket_does_nothing(desk: Desk) -> None:
    desk.create(severity=2)
    desk.send("ticket.reopened", at=T0 + HOUR)
    *_, ttr = desk.send("ticket.resolved", at=T0 + 2 * HOUR, engineer_id="E1")
    assert (ttr.cycle, ttr.value_seconds) == (1, 2 * 3600)


def test_at_risk_means_half_the_budget_used_and_not_yet_breached(desk: Desk) -> None:
    desk.create("A", severity=1)
    desk.create("B", severity=1, at=T0 + 5 * MIN)
    desk.create("C", severity=2)
    desk.wall.set(T0 + 7 * MIN)
    assert desk.metric("sla_irt_at_risk_tickets", severity="1") == 0
    desk.wall.set(T0 + 7 * MIN + 30 * SEC)  # A is at 50 %
    assert desk.metric("sla_irt_at_risk_tickets", severity="1") == 1
    desk.wall.set(T0 + 14 * MIN)
    assert desk.metric("sla_irt_at_risk_tickets", severity="1") == 2
    desk.send("ticket.responded", "B", at=T0 + 14 * MIN, engineer_id="E1")
    assert desk.metric("sla_irt_at_risk_tickets", severity="1") == 1
    desk.clock_to(T0 + 16 * MIN)  # A breached: no longer "at risk"
    assert desk.metric("sla_irt_at_risk_tickets", severity="1") == 0
    assert desk.metric("sla_irt_at_risk_tickets", severity="2") == 0


def test_window_gauges_count_outcomes_per_severity_and_window(desk: Desk) -> None:
    for i in range(3):
        desk.create(f"M{i}", severity=2)
        desk.send("ticket.responded", f"M{i}", at=T0 + 10 * MIN, engineer_id="E1")
    desk.create("X", severity=1)
    desk.clock_to(T0 + 20 * MIN)
    assert desk.metric("sla_irt_window_tickets", severity="2", window="1h", outcome="met") == 3
    assert desk.metric("sla_irt_window_tickets", severity="1", window="24h", outcome="breached") == 1
    desk.clock_to(T0 + 2 * HOUR)
    assert desk.metric("sla_irt_window_tickets", severity="2", window="1h", outcome="met") == 0
    assert desk.metric("sla_irt_window_tickets", severity="2", window="24h", outcome="met") == 3
    desk.clock_to(T0 + 31 * 24 * HOUR)
    assert desk.metric("sla_irt_window_tickets", severity="2", window="30d", outcome="met") == 0
    assert desk.store.windows == {}  # expired buckets are deleted, not kept forever


def test_windows_survive_a_rebalance(desk: Desk) -> None:
    desk.create(severity=2)
    desk.send("ticket.responded", at=T0 + 10 * MIN, engineer_id="E1")
    desk.proc.partitions_changed()
    assert desk.metric("sla_irt_window_tickets", severity="2", window="24h", outcome="met") == 0  # not ours now
    desk.clock_to(T0 + 11 * MIN)  # the next record rebuilds from the tables
    assert desk.metric("sla_irt_window_tickets", severity="2", window="24h", outcome="met") == 1


def test_closed_tickets_are_dropped_after_retention_but_never_before_irt_is_decided() -> None:
    desk = Desk(policy=Policy(closed_retention_ms=HOUR))
    desk.create(severity=4)
    desk.send("ticket.closed", at=T0 + 10 * MIN)
    desk.clock_to(T0 + 3 * HOUR)
    assert desk.store.get("T1") is not None  # its Sev4 deadline (24 h) is still ahead
    desk.clock_to(T0 + 24 * HOUR + 1)
    assert [o.outcome for o in desk.irt()] == ["breached"]
    desk.clock_to(T0 + 26 * HOUR)
    assert desk.store.get("T1") is None


class Committed:
    def __init__(self) -> None:
        self.offsets: dict[tuple[int, int], int] = {}

    def committed(self, source: int, partition: int) -> int | None:
        return self.offsets.get((source, partition))


def test_outputs_of_uncommitted_records_are_published_again_after_a_restart() -> None:
    """kill -9 after the state was written but before the outcome reached Kafka: nothing may be lost."""
    desk = Desk()
    positions = Committed()
    desk.proc.outbox.positions = positions
    desk.create("T1", severity=2)  # offset 0
    desk.send("ticket.responded", "T1", at=T0 + 5 * MIN, engineer_id="E1")  # offset 1: IRT met
    desk.create("T2", severity=2)  # offset 2
    desk.send("ticket.responded", "T2", at=T0 + 6 * MIN, engineer_id="E1")  # offset 3: IRT met
    positions.offsets[(0, 0)] = 2  # offsets 0 and 1 were committed, 2 and 3 were not

    restarted = Processor(clock=WallPartitionClock(desk.wall), wall=desk.wall, metrics=Metrics.create(),
                          policy=desk.proc.policy, orphan_timeout_ms=10 * MIN, events_topic="tickets.events",
                          ticks_topic=TICKS, positions=positions)
    # the worker re-reads from offset 2; its local state already has both responses
    replay = desk.feed.record({"event_id": "e3", "type": "ticket.created", "ticket_id": "T2",
                               "occurred_at": format_rfc3339_ms(T0), "severity": 2, "product": "automation",
                               "customer_id": "C1"})
    outputs = restarted.handle(replay, desk.store)
    again = [Outcome.decode(o.value) for o in outputs if isinstance(o, Emit)]
    assert [o.outcome_id for o in again] == ["T2:irt:1"]  # only the uncommitted one
    assert again == [o for o in desk.outcomes if o.outcome_id == "T2:irt:1"]  # the very same record
    assert restarted.metrics.registry.get_sample_value("sla_outputs_republished_total", {"topic": "outcomes"}) == 1

    positions.offsets[(0, 0)] = 5  # everything committed: a later rebalance republishes nothing
    restarted.partitions_changed()
    assert [o for o in restarted.handle(desk.feed.tick(), desk.store) if isinstance(o, Emit)] == []
    # committed entries are not rewritten at start-up (a million tickets would take minutes); the ticket's
    # next write drops them
    assert [p.offset for p in desk.store.get("T1").outbox] == [1]
    note = desk.feed.record({"event_id": "e9", "type": "ticket.customer_replied", "ticket_id": "T1",
                             "occurred_at": format_rfc3339_ms(T0 + 7 * MIN)})
    restarted.handle(note, desk.store)
    assert all(p.offset >= 5 for p in desk.store.get("T1").outbox)
