"""The BizCrit escalation ladder (contract section 4): every rung, every exit, once per key and cycle."""

from __future__ import annotations

import pytest

from pipeline.domain.timefmt import format_rfc3339_ms as ts
from tests.desk import HOUR, MIN, SEC, T0, Desk


@pytest.fixture
def desk() -> Desk:
    return Desk()


def test_an_unanswered_sev1_climbs_every_rung_at_its_instant(desk: Desk) -> None:
    desk.create(severity=1)
    desk.clock_to(T0 + 4 * HOUR + 1)
    assert desk.ladder() == [
        ("irt_at_risk", 1, ts(T0 + 7 * MIN + 30 * SEC)),
        ("irt_at_risk", 2, ts(T0 + 12 * MIN)),
        ("irt_breached", 3, ts(T0 + 15 * MIN)),
        ("bizcrit_tier3", 1, ts(T0 + 30 * MIN)),
        ("bizcrit_management", 2, ts(T0 + 2 * HOUR)),
        ("bizcrit_executive", 3, ts(T0 + 4 * HOUR)),
    ]
    first = desk.escalations[0]
    assert first.escalation_id == "T1:irt_at_risk:1:1" and first.cycle == 1
    assert (first.budget_used, first.deadline, first.severity) == (0.5, ts(T0 + 15 * MIN), 1)
    assert "unanswered after 7 min 30 s" in first.reason and "50%" in first.reason
    assert desk.metric("sla_escalations_total", kind="irt_at_risk") == 2


def test_each_rung_fires_only_once_however_often_the_clock_ticks(desk: Desk) -> None:
    desk.create(severity=1)
    for minute in range(0, 300, 7):
        desk.clock_to(T0 + minute * MIN)
    keys = [e.escalation_id for e in desk.escalations]
    assert len(keys) == len(set(keys)) == 6


def test_a_rung_does_not_fire_at_its_instant_only_after(desk: Desk) -> None:
    desk.create(severity=1)
    desk.clock_to(T0 + 7 * MIN + 30 * SEC)
    assert desk.ladder() == []
    desk.clock_to(T0 + 7 * MIN + 30 * SEC + 1)
    assert [k for k, _, _ in desk.ladder()] == ["irt_at_risk"]


def test_an_answer_stops_the_irt_rungs_but_not_the_bizcrit_ones(desk: Desk) -> None:
    desk.create(severity=1)
    desk.send("ticket.responded", at=T0 + 10 * MIN, engineer_id="E1")
    desk.clock_to(T0 + 31 * MIN)
    assert [(k, lvl) for k, lvl, _ in desk.ladder()] == [("irt_at_risk", 1), ("bizcrit_tier3", 1)]
    tier3 = desk.escalations[-1]
    assert tier3.deadline is None and tier3.budget_used is None and tier3.engineer_id == "E1"
    assert "BizCrit for 30 min without a workaround" in tier3.reason


@pytest.mark.parametrize(
    ("etype", "fields", "why"),
    [
        ("ticket.workaround_provided", {"engineer_id": "E1"}, "a workaround was provided"),
        ("ticket.resolved", {"engineer_id": "E1"}, "it was resolved"),
        ("ticket.severity_changed", {"severity": 3}, "its severity was lowered to 3"),
        ("ticket.closed", {}, "it was closed"),
    ],
)
def test_every_exit_ends_the_ladder_with_bizcrit_exited(desk: Desk, etype: str, fields: dict, why: str) -> None:
    desk.create(severity=1)
    desk.send("ticket.responded", at=T0 + 5 * MIN, engineer_id="E1")
    desk.send(etype, at=T0 + 40 * MIN, **fields)
    desk.clock_to(T0 + 6 * HOUR)
    assert [(k, lvl) for k, lvl, _ in desk.ladder()] == [("bizcrit_tier3", 1), ("bizcrit_exited", 0)]
    exited = desk.escalations[-1]
    assert exited.emitted_at == ts(T0 + 40 * MIN) and why in exited.reason
    assert desk.metric("sla_bizcrit_open_tickets") == 0


def test_a_workaround_makes_the_sev1_a_sev2_and_the_exit_says_so(desk: Desk) -> None:
    desk.create(severity=1)
    desk.send("ticket.workaround_provided", at=T0 + 3 * MIN, engineer_id="E1")
    desk.clock_to(T0 + 5 * HOUR)
    # still unanswered, but no longer BizCrit: no IRT rungs, only the (Sev2) IRT breach outcome
    assert [(k, lvl) for k, lvl, _ in desk.ladder()] == [("bizcrit_exited", 0)]
    assert desk.escalations[0].severity == 2
    assert [o.severity for o in desk.irt()] == [2]


def test_a_reopened_sev1_re_enters_bizcrit_and_climbs_again_in_cycle_2(desk: Desk) -> None:
    desk.create(severity=1)
    desk.send("ticket.responded", at=T0 + 5 * MIN, engineer_id="E1")
    desk.send("ticket.resolved", at=T0 + 20 * MIN, engineer_id="E1")  # resolved while still Sev1
    desk.send("ticket.reopened", at=T0 + 2 * HOUR)
    desk.clock_to(T0 + 2 * HOUR + 31 * MIN)
    ids = [e.escalation_id for e in desk.escalations]
    assert ids == ["T1:bizcrit_exited:0:1", "T1:bizcrit_tier3:1:2"]
    assert desk.escalations[-1].emitted_at == ts(T0 + 2 * HOUR + 30 * MIN)  # counted from the reopen
    assert desk.metric("sla_bizcrit_open_tickets") == 1
    assert desk.metric("sla_bizcrit_open_tickets_by_rung", rung="tier3") == 1


def test_a_fastlane_sev2_is_bizcrit_with_halved_irt_rungs(desk: Desk) -> None:
    desk.create("F", severity=2, fastlane=True)
    desk.create("N", severity=2)
    desk.clock_to(T0 + 31 * MIN)
    assert desk.ladder("N") == []
    assert desk.ladder("F") == [
        ("irt_at_risk", 1, ts(T0 + 15 * MIN)),
        ("irt_at_risk", 2, ts(T0 + 24 * MIN)),
        ("irt_breached", 3, ts(T0 + 30 * MIN)),
        ("bizcrit_tier3", 1, ts(T0 + 30 * MIN)),
    ]


def test_raising_severity_late_fires_only_the_highest_overdue_rung_at_the_change(desk: Desk) -> None:
    desk.create(severity=3)
    desk.send("ticket.severity_changed", at=T0 + 20 * MIN, severity=1)
    assert desk.ladder() == [("irt_breached", 3, ts(T0 + 20 * MIN))]  # 50 % and 80 % are skipped, not sent
    assert [o.outcome for o in desk.irt()] == ["breached"]
    desk.clock_to(T0 + 50 * MIN + 1)  # BizCrit rungs count from the change
    assert desk.ladder()[-1] == ("bizcrit_tier3", 1, ts(T0 + 50 * MIN))
    assert [k for k, _, _ in desk.ladder()] == ["irt_breached", "bizcrit_tier3"]


def test_rungs_passed_before_a_lowering_fire_before_the_exit_in_a_replay() -> None:
    desk = Desk(event_time=True)
    desk.create(severity=1)
    desk.send("ticket.severity_changed", at=T0 + 20 * MIN, severity=3)  # no tick ran in between
    assert [(k, lvl) for k, lvl, _ in desk.ladder()] == [
        ("irt_at_risk", 1), ("irt_at_risk", 2), ("irt_breached", 3), ("bizcrit_exited", 0)]
    assert desk.ladder()[0][2] == ts(T0 + 7 * MIN + 30 * SEC)  # at its own instant, not at the change


def test_lowered_then_raised_again_in_one_cycle_does_not_repeat_keys(desk: Desk) -> None:
    desk.create(severity=1)
    desk.clock_to(T0 + 8 * MIN)
    desk.send("ticket.severity_changed", at=T0 + 9 * MIN, severity=2)
    desk.send("ticket.severity_changed", at=T0 + 10 * MIN, severity=1)
    desk.send("ticket.severity_changed", at=T0 + 11 * MIN, severity=3)
    keys = [e.escalation_id for e in desk.escalations]
    assert keys == ["T1:irt_at_risk:1:1", "T1:bizcrit_exited:0:1"]


def test_bizcrit_board_counts_tickets_by_rung(desk: Desk) -> None:
    desk.create("A", severity=1)
    desk.create("B", severity=1, at=T0 + 100 * MIN)
    desk.create("C", severity=3)
    desk.clock_to(T0 + 125 * MIN)
    assert desk.metric("sla_bizcrit_open_tickets") == 2
    assert desk.metric("sla_bizcrit_open_tickets_by_rung", rung="management") == 1
    assert desk.metric("sla_bizcrit_open_tickets_by_rung", rung="none") == 1
