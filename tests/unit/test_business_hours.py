"""Business-hours calendars in the engine (contract section 9), worked by hand: the contract's Friday
example fires on Monday at 11:30 Berlin time with nothing in between, holidays, a severity change between a
24x7 and a business-hours severity and back, at-risk in calendar time, BizCrit rungs round the clock, and
outcomes that name their calendar. Each mistake in the policy's calendar section names its key."""

from __future__ import annotations

from pathlib import Path

import pytest

from pipeline.domain import engineers
from pipeline.domain.events import Event
from pipeline.domain.policy import Policy, load_policy
from pipeline.domain.ticket import TicketState
from pipeline.domain.timefmt import format_rfc3339_ms
from pipeline.errors import ConfigError
from tests.business_hours import berlin, business_hours_policy
from tests.desk import HOUR, MIN, Desk


@pytest.fixture
def policy(tmp_path: Path) -> Policy:
    return business_hours_policy(tmp_path)


@pytest.fixture
def desk(policy: Policy) -> Desk:
    return Desk(policy=policy)


def stamp(local: str) -> str:
    return format_rfc3339_ms(berlin(local))


def test_the_contracts_friday_example_breaches_on_monday_at_11_30_with_no_event_in_between(desk: Desk) -> None:
    friday = berlin("2026-03-06T16:30")
    desk.wall.set(friday)
    desk.create(severity=3, at=friday)
    assert not desk.proc.needs_tick(0)
    for local in ("2026-03-06T17:00", "2026-03-07T12:00", "2026-03-08T23:59", "2026-03-09T11:30"):
        assert desk.clock_to(berlin(local)) == [], f"nothing is due at {local}"
    assert not desk.proc.needs_tick(0)  # at the deadline itself a response would still be in time
    desk.wall.set(berlin("2026-03-09T11:30") + 1)
    assert desk.proc.needs_tick(0)  # the timer puts a tick on the partition: the breach is due
    (irt,) = desk.clock_to(berlin("2026-03-09T11:30") + 1)
    assert (irt.outcome, irt.decided_at, irt.target_seconds) == ("breached", stamp("2026-03-09T11:30"), 14_400)
    assert irt.calendar == "emea"
    assert desk.metric("sla_irt_window_tickets", severity="3", window="1h", outcome="breached") == 1


def test_monday_at_14_00_is_due_at_the_end_of_the_range_and_a_response_then_meets_it(desk: Desk) -> None:
    desk.create(severity=3, at=berlin("2026-03-09T14:00"))
    (irt,) = desk.send("ticket.responded", at=berlin("2026-03-09T18:00"), engineer_id="E1")
    assert (irt.outcome, irt.value_seconds, irt.calendar) == ("met", 14_400, "emea")
    desk.create("T2", severity=3, at=berlin("2026-03-09T14:00"))
    (late,) = desk.clock_to(berlin("2026-03-09T18:00") + 1)
    assert (late.ticket_id, late.decided_at) == ("T2", stamp("2026-03-09T18:00"))  # not Tuesday


def test_a_ticket_created_on_a_holiday_counts_from_the_next_working_morning(desk: Desk) -> None:
    desk.create(severity=3, at=berlin("2026-12-24T10:00"))  # Christmas Eve; 25th, 26th holidays, 27th Sunday
    assert desk.clock_to(berlin("2026-12-28T12:00")) == []
    (irt,) = desk.clock_to(berlin("2026-12-28T12:00") + 1)
    assert irt.decided_at == stamp("2026-12-28T12:00")


def test_a_severity_change_from_24x7_to_business_hours_and_back(desk: Desk) -> None:
    # Sev2 (24x7, 60 min) lowered to Sev3 on Friday evening: the weekend no longer counts ...
    desk.create(severity=2, at=berlin("2026-03-06T16:30"))
    assert desk.send("ticket.severity_changed", at=berlin("2026-03-06T16:45"), severity=3) == []
    assert desk.clock_to(berlin("2026-03-07T10:00")) == []  # Sev2's 17:30 deadline no longer applies
    # ... raised back on Saturday morning: the 24x7 deadline (Friday 17:30) has passed, so it breaches now
    (irt,) = desk.send("ticket.severity_changed", at=berlin("2026-03-07T10:00"), severity=2)
    assert (irt.outcome, irt.decided_at, irt.target_seconds, irt.calendar) == (
        "breached", stamp("2026-03-07T10:00"), 3600, "24x7")
    # and the other way: lowered before the hours begin, the deadline counts from creation in the calendar
    desk.create("T2", severity=2, at=berlin("2026-03-09T07:00"))
    desk.send("ticket.severity_changed", "T2", at=berlin("2026-03-09T07:30"), severity=3)
    assert desk.clock_to(berlin("2026-03-09T12:00")) == []
    (irt2,) = desk.clock_to(berlin("2026-03-09T12:00") + 1)
    assert (irt2.ticket_id, irt2.decided_at) == ("T2", stamp("2026-03-09T12:00"))


def test_at_risk_is_a_share_of_calendar_time(desk: Desk) -> None:
    desk.create(severity=3, at=berlin("2026-03-06T16:30"))  # half of 4 h: Monday 09:30
    for local, risky in (("2026-03-06T16:59", 0), ("2026-03-07T12:00", 0), ("2026-03-09T09:29", 0),
                         ("2026-03-09T09:30", 1), ("2026-03-09T11:30", 1)):
        desk.wall.set(berlin(local))
        assert desk.metric("sla_irt_at_risk_tickets", severity="3") == risky, local
    desk.wall.set(berlin("2026-03-09T09:30") - 1)  # one millisecond short of half the budget
    assert desk.metric("sla_irt_at_risk_tickets", severity="3") == 0


def test_the_board_counts_tickets_waiting_for_the_hours_to_open(desk: Desk) -> None:
    desk.create("A", severity=3, at=berlin("2026-03-06T16:30"))
    desk.create("B", severity=2, at=berlin("2026-03-06T16:30"))  # 24x7: never waiting
    desk.create("C", severity=4, at=berlin("2026-03-06T16:40"))
    for local, waiting in (("2026-03-06T16:59:59.999", 0), ("2026-03-06T17:00", 2), ("2026-03-08T23:59", 2),
                           ("2026-03-09T08:00", 0)):
        desk.wall.set(berlin(local))
        assert desk.metric("sla_irt_paused_tickets", severity="3") + desk.metric(
            "sla_irt_paused_tickets", severity="4") == waiting, local
    desk.send("ticket.responded", "C", at=berlin("2026-03-09T08:05"), engineer_id="E1")
    desk.create("D", severity=3, at=berlin("2026-03-09T17:00"))
    desk.wall.set(berlin("2026-03-09T18:00"))
    assert desk.metric("sla_irt_paused_tickets", severity="3") == 1  # D; A's deadline (11:30) has passed
    assert desk.metric("sla_irt_paused_tickets", severity="4") == 0  # C was answered


def test_bizcrit_rungs_run_round_the_clock_while_irt_rungs_wait_for_the_hours(desk: Desk) -> None:
    # a desktop Sev1 on the emea calendar, 5 minutes before Friday's close: 5 of its 15 minutes count today
    desk.create(severity=1, at=berlin("2026-03-06T16:55"), product="desktop")
    desk.clock_to(berlin("2026-03-06T17:26"))
    assert [(k, lvl) for k, lvl, _ in desk.ladder()] == [("bizcrit_tier3", 1)]  # 30 min of wall time
    desk.clock_to(berlin("2026-03-09T08:11"))
    ladder = {(k, lvl): at for k, lvl, at in desk.ladder()}
    assert ladder[("irt_at_risk", 1)] == stamp("2026-03-09T08:02:30")  # 7.5 of 15 calendar minutes
    assert ladder[("irt_breached", 3)] == stamp("2026-03-09T08:10")
    assert ladder[("bizcrit_executive", 3)] == stamp("2026-03-06T20:55")  # 4 h round the clock
    at_risk = next(e for e in desk.escalations if e.kind == "irt_at_risk" and e.level == 1)
    assert at_risk.budget_used == 0.5 and at_risk.deadline == stamp("2026-03-09T08:10")
    assert "of them in its emea calendar's hours" in at_risk.reason


def test_ttr_and_ttw_add_their_span_in_calendar_time(desk: Desk) -> None:
    desk.create(severity=3, at=berlin("2026-03-06T16:30"))
    desk.send("ticket.responded", at=berlin("2026-03-06T16:45"), engineer_id="E1")
    ttw, ttr = desk.send("ticket.resolved", at=berlin("2026-03-09T09:00"), engineer_id="E1")
    for outcome in (ttw, ttr):
        assert outcome.value_seconds == (64 * 60 + 30) * 60  # wall time, as in v1
        assert (outcome.calendar, outcome.calendar_value_seconds) == ("emea", 90 * 60)  # 30 min + 60 min
    desk.create("S1", severity=1, at=berlin("2026-03-06T16:30"))  # automation Sev1: 24x7
    outs = desk.send("ticket.workaround_provided", "S1", at=berlin("2026-03-06T18:00"), engineer_id="E1")
    (ttw1,) = [o for o in outs if o.metric == "ttw"]
    assert (ttw1.calendar, ttw1.calendar_value_seconds, ttw1.value_seconds) == ("24x7", 5400, 5400)


def test_without_calendars_outcomes_are_as_in_v1() -> None:
    desk = Desk()
    desk.create(severity=3)
    desk.send("ticket.responded", at=desk.wall.now_ms() + MIN, engineer_id="E1")
    (ttw, ttr) = desk.send("ticket.resolved", at=desk.wall.now_ms() + HOUR, engineer_id="E1")
    for outcome in (*desk.irt(), ttw, ttr):
        assert b'"calendar' not in outcome.encode()


def test_an_engineers_answer_after_the_weekend_is_within_target_in_the_tickets_calendar(policy: Policy) -> None:
    state = TicketState("T1", 0, created_at=berlin("2026-03-06T16:50"), severity=3, product="automation",
                        sample_start=berlin("2026-03-06T16:50"), sample_engineer="E1")
    answer = Event(event_id="r1", type="ticket.responded", ticket_id="T1", occurred_at=berlin("2026-03-09T08:30"),
                   engineer_id="E1")
    (fact,) = engineers.facts_for(state, answer, berlin("2026-03-09T08:30"), policy)
    assert fact.within and fact.value_ms == berlin("2026-03-09T08:30") - berlin("2026-03-06T16:50")
    state.severity, state.sample_start, state.sample_engineer = 2, berlin("2026-03-06T16:50"), "E1"
    (late,) = engineers.facts_for(state, answer, berlin("2026-03-09T08:30"), policy)  # Sev2 is 24x7
    assert not late.within


@pytest.mark.parametrize(
    ("text", "key"),
    [
        ('[calendars.emea]\ntimezone = "Europe/Berlinn"\nhours = { mon = ["08:00-18:00"] }\n',
         "calendars.emea.timezone"),
        ('[calendars.emea]\ntimezone = "UTC"\nhours = { mon = ["8:00-18:00"] }\n', "calendars.emea.hours.mon[0]"),
        ('[calendars.emea]\ntimezone = "UTC"\nhours = { mon = ["18:00-08:00"] }\n', "calendars.emea.hours.mon[0]"),
        ('[calendars.emea]\ntimezone = "UTC"\nhours = { mon = ["08:00-12:00", "11:00-13:00"] }\n',
         "calendars.emea.hours.mon"),
        ('[calendars.emea]\ntimezone = "UTC"\nhours = { mond = ["08:00-18:00"] }\n', "calendars.emea.hours.mond"),
        ('[calendars.emea]\ntimezone = "UTC"\nhours = { mon = ["08:00-18:00"] }\nholidays = ["24.12.2026"]\n',
         "calendars.emea.holidays[0]"),
        ('[calendars.emea]\ntimezone = "UTC"\n', "calendars.emea.hours"),
        ('[calendars.24x7]\ntimezone = "UTC"\nhours = { mon = ["08:00-18:00"] }\n', "calendars.24x7"),
        ('[calendar_for]\nrules = [ { severity = [3], calendar = "apac" } ]\n', "calendar_for.rules[0].calendar"),
        ('[calendar_for]\nrules = [ { severity = [5], calendar = "24x7" } ]\n', "calendar_for.rules[0].severity"),
        ('[calendar_for]\nrules = [ { sev = [3], calendar = "24x7" } ]\n', "calendar_for.rules[0].sev"),
        ('[calendar_for]\nrules = [ { fastlane = "no", calendar = "24x7" } ]\n', "calendar_for.rules[0].fastlane"),
        ('[calendar_for]\nrules = [ { product = 7, calendar = "24x7" } ]\n', "calendar_for.rules[0].product"),
        ('[calendar_for]\nrule = []\n', "calendar_for.rule"),
        ('calendar_for = "emea"\n', "calendar_for"),
    ],
)
def test_each_mistake_in_the_calendar_section_names_its_key(tmp_path: Path, text: str, key: str) -> None:
    path = tmp_path / "p.toml"
    path.write_text(text)
    with pytest.raises(ConfigError) as caught:
        load_policy(path)
    assert f"p.toml: {key}:" in str(caught.value)


def test_rules_match_by_severity_product_and_fastlane_first_match_wins(policy: Policy) -> None:
    assert policy.calendar_for(1, "desktop", False).name == "emea"
    assert policy.calendar_for(1, "automation", True).name == "24x7"
    assert policy.calendar_for(4, "plesk", True).name == "emea"
    assert policy.calendar_for(2, "desktop", False).name == "24x7"
    assert Policy().calendar_for(3, "desktop", False).name == "24x7" and not Policy().uses_calendars
