"""Judged clocks (contract v3 section 10), checked independently of the engine: one hand-worked case per row
and precise rule of the metric table, through the processor's published records.

The contracts are section 10's example: gold round the clock (IRT 10/30/120/480 min, next response 30/120/480
min, workaround 240/1440 min, resolution 1440/4320/10080 min for Sev1/2/3/4 where given; resolution pauses
while waiting; notices for resolution and next response), standard in the emea business hours (Monday to
Friday in Berlin, 08:00-18:00, Friday to 17:00). Tickets of product "automation" get gold by rule, others
the default, standard. T0 is Monday 2026-03-02 09:00 UTC.
"""

from __future__ import annotations

import dataclasses

import orjson
import pytest

from pipeline.domain import bizcrit, calendar, engine
from pipeline.domain.contracts import Contract, ContractRule
from pipeline.domain.events import Event, Rejection, decode
from pipeline.domain.policy import Policy
from pipeline.domain.records import Escalation, Outcome
from pipeline.domain.ticket import TicketState
from pipeline.domain.timefmt import format_rfc3339_ms as ts
from pipeline.processing.io import DeadLetter
from tests.business_hours import berlin
from tests.desk import HOUR, MIN, T0, Desk

H = HOUR
DIGEST = "0123456789ab"
EMEA = calendar.parse("emea", {"timezone": "Europe/Berlin", "hours": {
    "mon": ["08:00-18:00"], "tue": ["08:00-18:00"], "wed": ["08:00-18:00"], "thu": ["08:00-18:00"],
    "fri": ["08:00-17:00"]}})


def _contract(name: str, targets_minutes: dict[str, dict[int, float]], **settings: object) -> Contract:
    targets = {metric: {sev: int(minutes * MIN) for sev, minutes in per.items()}
               for metric, per in targets_minutes.items()}
    return Contract(name, targets, dict.fromkeys(("irt", *targets), 0.99), **settings)  # type: ignore[arg-type]


GOLD = _contract("gold", {"irt": {1: 10, 2: 30, 3: 120, 4: 480}, "next_response": {1: 30, 2: 120, 3: 480},
                          "workaround": {1: 240, 2: 1440}, "resolution": {1: 1440, 2: 4320, 3: 10080}},
                 pause_while_waiting=frozenset({"resolution"}), notify=frozenset({"resolution", "next_response"}))
STANDARD = _contract("standard", {"irt": {1: 15, 2: 60, 3: 240, 4: 1440}, "resolution": {2: 7200, 3: 14400}},
                     calendar=EMEA)
# a weekday plan with a short resolution target, to work a weekend out by hand
WEEKDAY = _contract("weekday", {"irt": {3: 240}, "resolution": {3: 600}}, calendar=EMEA,
                    pause_while_waiting=frozenset({"resolution"}))
# Sev1 round the clock, the rest in business hours (rule 4: the calendar follows the current severity)
SPLIT = _contract("split", {"workaround": {1: 120}, "resolution": {1: 480, 2: 600}}, calendar=EMEA,
                  calendar_for_severity={1: calendar.ROUND_THE_CLOCK})
POLICY = Policy(contracts={"gold": GOLD, "standard": STANDARD, "weekday": WEEKDAY, "split": SPLIT},
                contract_rules=(ContractRule("gold", products=frozenset({"automation"})),),
                default_contract="standard", digest=DIGEST)


@pytest.fixture
def desk() -> Desk:
    return Desk(policy=POLICY)


def _of(outcomes: list[Outcome], metric: str) -> list[Outcome]:
    return [o for o in outcomes if o.metric == metric]


def _judged(outcomes: list[Outcome]) -> list[tuple[str, int, str | None, str]]:
    """(metric, cycle, outcome, decided_at) of the judged outcomes, in order."""
    return [(o.metric, o.cycle, o.outcome, o.decided_at) for o in outcomes if o.outcome is not None]


def _notices(desk: Desk, metric: str = "") -> list[tuple[str, int, str]]:
    """(kind, level, emitted_at) of the contract's notices (of one metric, if given), in order."""
    return [(e.kind, e.level, e.emitted_at) for e in desk.escalations
            if bizcrit.is_notice(e.kind) and e.kind.startswith(metric)]


def _answered(desk: Desk, severity: int, at: int = T0, **fields: object) -> None:
    """A ticket created at ``at`` and answered 5 minutes later (its IRT met, out of the way)."""
    desk.create(at=at, severity=severity, **fields)
    desk.send("ticket.responded", at=at + 5 * MIN, engineer_id="E1")


# --- irt --------------------------------------------------------------------------------------------------

def test_irt_runs_from_creation_to_the_first_response_under_the_tickets_contract(desk: Desk) -> None:
    desk.create(severity=2)
    (irt,) = desk.send("ticket.responded", at=T0 + 20 * MIN, engineer_id="E1")
    assert (irt.outcome_id, irt.outcome, irt.target_seconds, irt.value_seconds, irt.counted_seconds) == (
        "T1:irt:1", "met", 1800, 1200, 1200)  # gold's 30 min, not [irt]'s 60
    assert (irt.contract, irt.policy, irt.calendar) == ("gold", DIGEST, "24x7")
    assert (irt.requested_contract, irt.paused_seconds, irt.started_at) == (None, None, None)
    assert desk.send("ticket.responded", at=T0 + 25 * MIN, engineer_id="E2") == []


def test_irt_is_never_cancelled_an_unanswered_ticket_resolved_and_closed_breaches_at_its_deadline(desk: Desk) -> None:
    desk.create(severity=1)
    resolved = desk.send("ticket.resolved", at=T0 + 5 * MIN, engineer_id="E1")
    assert _of(resolved, "irt") == []
    desk.send("ticket.closed", at=T0 + 6 * MIN)
    assert desk.clock_to(T0 + 10 * MIN) == []
    (irt,) = desk.clock_to(T0 + 10 * MIN + 1)
    assert (irt.metric, irt.outcome, irt.decided_at, irt.value_seconds, irt.counted_seconds) == (
        "irt", "breached", ts(T0 + 10 * MIN), None, None)


def test_the_bizcrit_irt_rungs_use_the_irt_target_under_the_tickets_contract(desk: Desk) -> None:
    desk.create(severity=1)  # gold: 10 min, not [irt]'s 15
    desk.clock_to(T0 + 11 * MIN)
    assert desk.ladder() == [("irt_at_risk", 1, ts(T0 + 5 * MIN)), ("irt_at_risk", 2, ts(T0 + 8 * MIN)),
                             ("irt_breached", 3, ts(T0 + 10 * MIN))]
    assert {e.contract for e in desk.escalations} == {"gold"}


def test_irt_severities_a_contract_leaves_out_fall_back_to_the_irt_targets_and_nothing_else_does(desk: Desk) -> None:
    # rule 2: weekday names only Sev3 IRT and resolution; a Sev2 is judged on [irt]'s 60 min (in emea hours)
    desk.create(severity=2, contract="weekday")  # Monday 10:00 Berlin, inside the hours
    (irt,) = desk.send("ticket.responded", at=T0 + 50 * MIN, engineer_id="E1")
    assert (irt.outcome, irt.target_seconds, irt.contract, irt.calendar) == ("met", 3600, "weekday", "emea")
    desk.send("ticket.customer_replied", at=T0 + H)
    assert desk.clock_to(T0 + 30 * 24 * H) == []  # no next response, workaround or Sev2 resolution target


# --- next_response ----------------------------------------------------------------------------------------

def test_next_response_runs_from_a_customer_reply_after_the_first_response_to_the_next_response(desk: Desk) -> None:
    _answered(desk, severity=2)
    assert desk.send("ticket.customer_replied", at=T0 + 10 * MIN) == []
    (nr,) = desk.send("ticket.responded", at=T0 + 60 * MIN, engineer_id="E2")
    assert (nr.outcome_id, nr.outcome, nr.target_seconds, nr.value_seconds, nr.counted_seconds) == (
        "T1:next_response:1", "met", 7200, 3000, 3000)
    assert (nr.started_at, nr.engineer_id, nr.contract) == (ts(T0 + 10 * MIN), "E2", "gold")


def test_an_unanswered_reply_breaches_next_response_at_its_deadline_with_no_event(desk: Desk) -> None:
    _answered(desk, severity=2)
    desk.send("ticket.customer_replied", at=T0 + 10 * MIN)
    assert desk.clock_to(T0 + 130 * MIN) == []  # a response now would still be in time
    (nr,) = desk.clock_to(T0 + 130 * MIN + 1)
    assert (nr.metric, nr.outcome, nr.decided_at, nr.value_seconds, nr.counted_seconds, nr.started_at) == (
        "next_response", "breached", ts(T0 + 130 * MIN), None, None, ts(T0 + 10 * MIN))
    assert desk.send("ticket.responded", at=T0 + 3 * H, engineer_id="E1") == []  # one outcome per clock


def test_a_response_exactly_at_the_next_response_deadline_is_met(desk: Desk) -> None:
    _answered(desk, severity=2)
    desk.send("ticket.customer_replied", at=T0 + 10 * MIN)
    assert desk.clock_to(T0 + 130 * MIN) == []
    (nr,) = desk.send("ticket.responded", at=T0 + 130 * MIN, engineer_id="E1")
    assert (nr.outcome, nr.value_seconds, nr.target_seconds) == ("met", 7200, 7200)


def test_a_reply_after_a_breach_but_before_the_answer_starts_no_second_clock(desk: Desk) -> None:
    _answered(desk, severity=2)
    desk.send("ticket.customer_replied", at=T0 + 10 * MIN)
    desk.clock_to(T0 + 131 * MIN)  # breached: the clock still runs until the answer
    desk.send("ticket.customer_replied", at=T0 + 200 * MIN)
    assert desk.send("ticket.responded", at=T0 + 210 * MIN, engineer_id="E1") == []
    desk.send("ticket.customer_replied", at=T0 + 220 * MIN)
    (nr,) = desk.send("ticket.responded", at=T0 + 230 * MIN, engineer_id="E1")
    assert (nr.outcome_id, nr.outcome, nr.started_at) == ("T1:next_response:2", "met", ts(T0 + 220 * MIN))
    assert [o.outcome_id for o in _of(desk.outcomes, "next_response")] == ["T1:next_response:1",
                                                                            "T1:next_response:2"]


@pytest.mark.parametrize(("etype", "fields"), [("ticket.resolved", {"engineer_id": "E1"}), ("ticket.closed", {})])
def test_resolving_or_closing_cancels_a_running_next_response_clock(desk: Desk, etype: str, fields: dict) -> None:
    _answered(desk, severity=2)
    desk.send("ticket.customer_replied", at=T0 + 10 * MIN)
    desk.send(etype, at=T0 + 20 * MIN, **fields)
    desk.clock_to(T0 + 10 * H)
    assert _of(desk.outcomes, "next_response") == []


def test_a_customer_reply_before_the_first_response_starts_no_next_response_clock(desk: Desk) -> None:
    desk.create(severity=2)
    desk.send("ticket.customer_replied", at=T0 + 5 * MIN)
    assert [o.metric for o in desk.send("ticket.responded", at=T0 + 9 * MIN, engineer_id="E1")] == ["irt"]
    desk.clock_to(T0 + 10 * H)
    assert _of(desk.outcomes, "next_response") == []
    desk.send("ticket.customer_replied", at=T0 + 10 * H)  # after the first response: the ticket's first clock
    (nr,) = desk.send("ticket.responded", at=T0 + 10 * H + 5 * MIN, engineer_id="E1")
    assert (nr.outcome_id, nr.outcome, nr.value_seconds) == ("T1:next_response:1", "met", 300)


def test_two_replies_before_an_answer_make_one_clock_from_the_first(desk: Desk) -> None:
    _answered(desk, severity=2)
    desk.send("ticket.customer_replied", at=T0 + 10 * MIN)
    desk.send("ticket.customer_replied", at=T0 + 70 * MIN)
    # from the first reply the 2 h ran out at 130 min; from the second the answer at 135 min would be in time
    (nr,) = desk.send("ticket.responded", at=T0 + 135 * MIN, engineer_id="E1")
    assert (nr.outcome_id, nr.outcome, nr.decided_at, nr.started_at) == (
        "T1:next_response:1", "breached", ts(T0 + 130 * MIN), ts(T0 + 10 * MIN))
    desk.send("ticket.customer_replied", at=T0 + 3 * H)  # the next reply after the answer: clock 2
    (second,) = desk.send("ticket.responded", at=T0 + 4 * H, engineer_id="E1")
    assert (second.outcome_id, second.outcome, second.value_seconds) == ("T1:next_response:2", "met", 3600)
    assert len(_of(desk.outcomes, "next_response")) == 2


def test_a_reply_while_resolved_starts_no_clock(desk: Desk) -> None:
    _answered(desk, severity=2)
    desk.send("ticket.resolved", at=T0 + H, engineer_id="E1")
    assert desk.send("ticket.customer_replied", at=T0 + 2 * H) == []
    desk.clock_to(T0 + 10 * H)
    assert _of(desk.outcomes, "next_response") == []


def test_waiting_on_the_customer_never_pauses_irt_or_next_response(desk: Desk) -> None:
    desk.create("U1", severity=2)
    desk.send("ticket.waiting_on_customer", "U1", at=T0 + 5 * MIN)
    _answered(desk, severity=2)
    desk.send("ticket.customer_replied", at=T0 + 10 * MIN)
    desk.send("ticket.waiting_on_customer", at=T0 + 20 * MIN)
    desk.clock_to(T0 + 3 * H)
    assert [(o.ticket_id, o.metric, o.outcome, o.decided_at) for o in desk.outcomes if o.outcome == "breached"] == [
        ("U1", "irt", "breached", ts(T0 + 30 * MIN)), ("T1", "next_response", "breached", ts(T0 + 130 * MIN))]


# --- workaround and resolution ----------------------------------------------------------------------------

def test_a_sev1_workaround_is_judged_at_sev1_and_ttw_stays_a_measurement(desk: Desk) -> None:
    _answered(desk, severity=1)
    out = desk.send("ticket.workaround_provided", at=T0 + 200 * MIN, engineer_id="E1")
    (wa,) = _of(out, "workaround")
    assert (wa.outcome_id, wa.outcome, wa.severity, wa.target_seconds, wa.value_seconds) == (
        "T1:workaround:1", "met", 1, 14400, 12000)
    (ttw,) = _of(out, "ttw")
    assert (ttw.outcome, ttw.target_seconds, ttw.value_seconds, ttw.contract, ttw.policy) == (
        None, None, 12000, "gold", DIGEST)


def test_the_drop_to_sev2_after_a_workaround_retargets_the_running_resolution_clock_from_its_start(
        desk: Desk) -> None:
    _answered(desk, severity=1)
    desk.send("ticket.workaround_provided", at=T0 + 3 * H, engineer_id="E1")
    assert _of(desk.clock_to(T0 + 25 * H), "resolution") == []  # Sev1's 24 h no longer applies
    out = desk.send("ticket.resolved", at=T0 + 30 * H, engineer_id="E1")
    (res,) = _of(out, "resolution")
    assert (res.outcome, res.severity, res.target_seconds, res.value_seconds) == ("met", 2, 259200, 108000)
    (ttr,) = _of(out, "ttr")
    assert (ttr.outcome, ttr.value_seconds, ttr.contract) == (None, 108000, "gold")


def test_the_calendar_follows_the_severity_a_sev1_workaround_moves_resolution_into_business_hours(
        desk: Desk) -> None:
    friday = berlin("2026-03-06T20:00")  # closed: emea opens again on Monday at 08:00
    _answered(desk, severity=1, at=friday, contract="split")
    (wa,) = _of(desk.send("ticket.workaround_provided", at=friday + H, engineer_id="E1"), "workaround")
    assert (wa.outcome, wa.severity, wa.calendar, wa.target_seconds) == ("met", 1, "24x7", 7200)
    # at Sev1 (8 h round the clock) it would breach on Saturday at 04:00; at Sev2 it is 10 h of emea time
    assert _of(desk.clock_to(berlin("2026-03-07T05:00")), "resolution") == []
    assert _of(desk.clock_to(berlin("2026-03-09T18:00")), "resolution") == []
    (res,) = _of(desk.clock_to(berlin("2026-03-09T18:00") + 1), "resolution")
    assert (res.outcome, res.decided_at, res.severity, res.calendar, res.target_seconds) == (
        "breached", ts(berlin("2026-03-09T18:00")), 2, "emea", 36000)


def test_a_resolution_ends_the_workaround_clock_in_time_and_a_later_workaround_changes_nothing(desk: Desk) -> None:
    _answered(desk, severity=2)
    out = desk.send("ticket.resolved", at=T0 + 10 * H, engineer_id="E1")
    assert _judged(out) == [("workaround", 1, "met", ts(T0 + 10 * H)), ("resolution", 1, "met", ts(T0 + 10 * H))]
    assert _of(out, "workaround")[0].value_seconds == 36000
    assert desk.send("ticket.workaround_provided", at=T0 + 11 * H, engineer_id="E1") == []


def test_a_workaround_already_breached_when_the_resolution_comes_is_not_judged_again(desk: Desk) -> None:
    _answered(desk, severity=1)
    assert _judged(desk.clock_to(T0 + 240 * MIN + 1)) == [("workaround", 1, "breached", ts(T0 + 240 * MIN))]
    out = desk.send("ticket.resolved", at=T0 + 5 * H, engineer_id="E1")
    assert _judged(out) == [("resolution", 1, "met", ts(T0 + 5 * H))]


def test_closing_cancels_only_the_clocks_still_running(desk: Desk) -> None:
    _answered(desk, severity=1)
    desk.clock_to(T0 + 5 * H)  # the workaround breached at 4 h
    assert desk.send("ticket.closed", at=T0 + 5 * H) == []
    desk.clock_to(T0 + 30 * H)  # the resolution (24 h) was cancelled by the close
    assert _judged(desk.outcomes) == [("irt", 1, "met", ts(T0 + 5 * MIN)),
                                      ("workaround", 1, "breached", ts(T0 + 4 * H))]


def test_a_metric_without_a_target_ends_with_no_outcome_and_a_later_raise_does_not_revive_it(desk: Desk) -> None:
    _answered(desk, severity=3)  # gold has no Sev3 workaround target
    assert [o.metric for o in desk.send("ticket.workaround_provided", at=T0 + 10 * H, engineer_id="E1")] == ["ttw"]
    desk.send("ticket.severity_changed", at=T0 + 30 * H, severity=2)
    desk.clock_to(T0 + 40 * H)
    assert _of(desk.outcomes, "workaround") == []


# --- reopen cycles ----------------------------------------------------------------------------------------

def test_a_reopen_starts_new_workaround_and_resolution_clocks_of_cycle_2_and_no_next_response_clock(
        desk: Desk) -> None:
    _answered(desk, severity=2)
    desk.send("ticket.customer_replied", at=T0 + 10 * MIN)  # next-response clock 1 ...
    desk.send("ticket.resolved", at=T0 + H, engineer_id="E1")  # ... cancelled here
    assert desk.send("ticket.reopened", at=T0 + 2 * H) == []
    desk.clock_to(T0 + 5 * H)  # a next-response clock from the reopen would have breached at 4 h
    assert _of(desk.outcomes, "next_response") == []
    desk.send("ticket.customer_replied", at=T0 + 5 * H)
    (nr,) = desk.send("ticket.responded", at=T0 + 5 * H + 30 * MIN, engineer_id="E1")
    assert (nr.outcome_id, nr.value_seconds) == ("T1:next_response:2", 1800)  # cancelled clocks count (rule 5)
    out = desk.send("ticket.resolved", at=T0 + 8 * H, engineer_id="E1")
    assert {(o.outcome_id, o.outcome, o.value_seconds) for o in out} == {
        ("T1:workaround:2", "met", 21600), ("T1:ttw:2", None, 21600),
        ("T1:ttr:2", None, 21600), ("T1:resolution:2", "met", 21600)}


def test_a_reopened_cycle_breaches_from_the_reopen(desk: Desk) -> None:
    _answered(desk, severity=2)
    desk.send("ticket.resolved", at=T0 + H, engineer_id="E1")
    desk.send("ticket.reopened", at=T0 + 2 * H)
    assert _judged(desk.clock_to(T0 + 26 * H + 1)) == [("workaround", 2, "breached", ts(T0 + 26 * H))]


# --- pauses -----------------------------------------------------------------------------------------------

FRIDAY_2PM = "2026-03-06T14:00"


@pytest.mark.parametrize(("pause", "deadline", "paused_seconds"), [
    (None, "2026-03-09T15:00", None),  # Friday 14:00-17:00, then Monday 08:00-15:00: 10 h
    (("2026-03-06T16:00", "2026-03-09T10:00"), "2026-03-09T18:00", 3 * 3600),  # 1 h on Friday, 2 h on Monday
    (("2026-03-06T17:30", "2026-03-09T07:30"), "2026-03-09T15:00", None),  # the closed weekend: nothing paused
], ids=["no pause", "across the weekend", "inside the closed weekend"])
def test_a_pause_moves_the_deadline_by_exactly_the_paused_calendar_time(
        desk: Desk, pause: tuple[str, str] | None, deadline: str, paused_seconds: int | None) -> None:
    _answered(desk, severity=3, at=berlin(FRIDAY_2PM), contract="weekday")
    if pause is not None:
        desk.send("ticket.waiting_on_customer", at=berlin(pause[0]))
        desk.send("ticket.customer_replied", at=berlin(pause[1]))
    assert desk.clock_to(berlin(deadline)) == []
    (res,) = desk.clock_to(berlin(deadline) + 1)
    assert (res.metric, res.outcome, res.decided_at, res.calendar) == (
        "resolution", "breached", ts(berlin(deadline)), "emea")
    assert res.paused_seconds == paused_seconds


def test_a_resolution_met_after_a_weekend_pause_counts_calendar_time_less_the_pause(desk: Desk) -> None:
    _answered(desk, severity=3, at=berlin(FRIDAY_2PM), contract="weekday")
    desk.send("ticket.waiting_on_customer", at=berlin("2026-03-06T16:00"))
    desk.send("ticket.customer_replied", at=berlin("2026-03-09T10:00"))
    (res,) = _of(desk.send("ticket.resolved", at=berlin("2026-03-09T17:59"), engineer_id="E1"), "resolution")
    assert (res.outcome, res.target_seconds, res.counted_seconds, res.paused_seconds) == (
        "met", 36000, 35940, 10800)  # 2 h on Friday and 7 h 59 min on Monday; 3 h paused
    assert res.value_seconds == 3 * 86400 + 3 * 3600 + 59 * 60  # wall time, above the target (rule 1)


def test_a_clock_cannot_breach_while_paused_and_resumes_with_its_deadline_moved(desk: Desk) -> None:
    _answered(desk, severity=2)  # gold resolution: 72 h round the clock
    desk.send("ticket.waiting_on_customer", at=T0 + 70 * H)
    assert _of(desk.clock_to(T0 + 200 * H), "resolution") == []
    assert _of(desk.send("ticket.customer_replied", at=T0 + 200 * H), "resolution") == []
    assert _of(desk.clock_to(T0 + 202 * H), "resolution") == []  # 70 h counted before, 2 h after
    (res,) = _of(desk.clock_to(T0 + 202 * H + 1), "resolution")
    assert (res.outcome, res.decided_at, res.paused_seconds) == ("breached", ts(T0 + 202 * H), 130 * 3600)


def test_the_clocks_end_ends_its_pause(desk: Desk) -> None:
    _answered(desk, severity=2)
    desk.send("ticket.waiting_on_customer", at=T0 + 70 * H)
    (res,) = _of(desk.send("ticket.resolved", at=T0 + 100 * H, engineer_id="E1"), "resolution")
    assert (res.outcome, res.counted_seconds, res.paused_seconds, res.value_seconds) == (
        "met", 70 * 3600, 30 * 3600, 100 * 3600)


def test_a_raise_during_a_pause_that_puts_the_clock_past_breaches_it_when_the_pause_ends(desk: Desk) -> None:
    _answered(desk, severity=3)  # gold resolution Sev3: 168 h
    desk.send("ticket.waiting_on_customer", at=T0 + 80 * H)
    raised = desk.send("ticket.severity_changed", at=T0 + 90 * H, severity=2)  # Sev2: 72 h, 80 h counted
    # the workaround, not paused, gets Sev2's 24 h and is past it: breached at the change
    assert _judged(raised) == [("workaround", 1, "breached", ts(T0 + 90 * H))]
    assert _of(desk.clock_to(T0 + 95 * H), "resolution") == []
    (res,) = _of(desk.send("ticket.customer_replied", at=T0 + 100 * H), "resolution")
    assert (res.outcome, res.decided_at, res.severity, res.target_seconds, res.paused_seconds) == (
        "breached", ts(T0 + 100 * H), 2, 259200, 20 * 3600)
    # at-risk and breach both became due at the pause's end: only the breach notice (rule 7)
    assert _notices(desk) == [("resolution_breached", 3, ts(T0 + 100 * H))]


def _raised_past_during_a_pause(desk: Desk, pause_ends_with: str) -> Escalation:
    """Sev3 (168 h), waiting at 80 h, raised to Sev2 (72 h) at 90 h, the pause ended at 100 h by a reply or by
    the resolution: the clock counted 72 h at 72 h (its deadline) and 80 h in all; 20 h were paused."""
    _answered(desk, severity=3)
    desk.send("ticket.waiting_on_customer", at=T0 + 80 * H)
    desk.send("ticket.severity_changed", at=T0 + 90 * H, severity=2)
    desk.send(pause_ends_with, at=T0 + 100 * H, **({"engineer_id": "E1"} if pause_ends_with == "ticket.resolved"
                                                   else {}))
    (res,) = _of(desk.outcomes, "resolution")
    assert (res.outcome, res.decided_at, res.paused_seconds) == ("breached", ts(T0 + 100 * H), 20 * 3600)
    (notice,) = [e for e in desk.escalations if e.kind == "resolution_breached"]
    return notice


def test_a_breach_notice_of_a_clock_ended_in_a_pause_reports_its_counted_share(desk: Desk) -> None:
    notice = _raised_past_during_a_pause(desk, "ticket.resolved")
    assert notice.budget_used == round(80 / 72, 4)


def test_a_breach_notice_names_the_first_instant_the_counted_time_reached_the_target(desk: Desk) -> None:
    notice = _raised_past_during_a_pause(desk, "ticket.customer_replied")
    assert (notice.budget_used, notice.deadline) == (round(80 / 72, 4), ts(T0 + 72 * H))


def test_an_at_risk_instant_that_falls_in_a_pause_fires_when_it_ends(desk: Desk) -> None:
    _answered(desk, severity=3)
    desk.send("ticket.waiting_on_customer", at=T0 + 40 * H)  # 40 h counted of Sev3's 168 h
    desk.send("ticket.severity_changed", at=T0 + 50 * H, severity=2)  # 40 of 72 h: at risk, but paused
    assert _notices(desk) == []
    desk.send("ticket.customer_replied", at=T0 + 60 * H)
    assert _notices(desk) == [("resolution_at_risk", 1, ts(T0 + 60 * H))]
    notice = desk.escalations[-1]
    assert (notice.budget_used, notice.deadline) == (round(40 / 72, 4), ts(T0 + 92 * H))
    desk.clock_to(T0 + 93 * H)
    assert _notices(desk, "resolution")[1:] == [("resolution_breached", 3, ts(T0 + 92 * H))]


def test_paused_clocks_are_not_counted_at_risk(desk: Desk) -> None:
    _answered(desk, severity=2)
    key = ("gold", "resolution", 2)
    desk.clock_to(T0 + 40 * H)  # 40 of 72 h
    assert desk.proc.at_risk_clock_counts().get(key) == 1
    desk.send("ticket.waiting_on_customer", at=T0 + 41 * H)
    desk.clock_to(T0 + 42 * H)
    assert desk.proc.at_risk_clock_counts().get(key, 0) == 0
    desk.send("ticket.customer_replied", at=T0 + 43 * H)
    desk.clock_to(T0 + 44 * H)
    assert desk.proc.at_risk_clock_counts().get(key) == 1


def test_waiting_does_not_pause_a_metric_the_contract_does_not_list(desk: Desk) -> None:
    _answered(desk, severity=1)
    desk.send("ticket.waiting_on_customer", at=T0 + 100 * MIN)
    assert _judged(desk.clock_to(T0 + 240 * MIN + 1)) == [("workaround", 1, "breached", ts(T0 + 240 * MIN))]


# --- severity changes -------------------------------------------------------------------------------------

def test_a_raise_retargets_a_running_clock_from_its_start(desk: Desk) -> None:
    _answered(desk, severity=3)
    desk.send("ticket.severity_changed", at=T0 + 10 * H, severity=2)
    assert _of(desk.clock_to(T0 + 72 * H), "resolution") == []
    (res,) = _of(desk.clock_to(T0 + 72 * H + 1), "resolution")
    assert (res.outcome, res.decided_at, res.severity, res.target_seconds) == ("breached", ts(T0 + 72 * H), 2, 259200)


def test_a_raise_past_the_new_deadline_breaches_at_the_change(desk: Desk) -> None:
    _answered(desk, severity=3)
    out = desk.send("ticket.severity_changed", at=T0 + 80 * H, severity=2)
    assert _judged(out) == [("workaround", 1, "breached", ts(T0 + 80 * H)),
                            ("resolution", 1, "breached", ts(T0 + 80 * H))]


def test_a_lowered_severity_gives_the_longer_target(desk: Desk) -> None:
    _answered(desk, severity=2)
    desk.send("ticket.severity_changed", at=T0 + 10 * H, severity=3)
    desk.clock_to(T0 + 100 * H)
    (res,) = _of(desk.send("ticket.resolved", at=T0 + 100 * H, engineer_id="E1"), "resolution")
    assert (res.outcome, res.severity, res.target_seconds) == ("met", 3, 604800)


def test_a_metric_whose_target_appears_only_after_a_raise_is_judged_from_its_start(desk: Desk) -> None:
    _answered(desk, severity=3)  # no Sev3 workaround target: the clock runs unjudged
    assert desk.send("ticket.severity_changed", at=T0 + 20 * H, severity=2) == []  # Sev2: 24 h from creation
    assert _of(desk.clock_to(T0 + 24 * H), "workaround") == []
    (wa,) = _of(desk.clock_to(T0 + 24 * H + 1), "workaround")
    assert (wa.outcome, wa.decided_at, wa.severity, wa.target_seconds) == ("breached", ts(T0 + 24 * H), 2, 86400)


def test_a_next_response_clock_without_a_target_is_judged_from_its_start_once_a_raise_gives_one(desk: Desk) -> None:
    _answered(desk, severity=4)  # gold has no Sev4 next-response target
    desk.send("ticket.customer_replied", at=T0 + 10 * MIN)
    desk.send("ticket.severity_changed", at=T0 + 2 * H, severity=3)  # 8 h from the reply
    (nr,) = desk.send("ticket.responded", at=T0 + 8 * H, engineer_id="E1")
    assert (nr.metric, nr.outcome, nr.severity, nr.target_seconds, nr.value_seconds) == (
        "next_response", "met", 3, 28800, 7 * 3600 + 50 * 60)


def test_a_severity_lowered_away_from_a_target_and_raised_back_late_breaches_at_the_raise(desk: Desk) -> None:
    _answered(desk, severity=2)
    desk.send("ticket.severity_changed", at=T0 + H, severity=3)  # rule 4: the workaround runs unjudged
    desk.clock_to(T0 + 30 * H)
    assert _of(desk.outcomes, "workaround") == []
    out = desk.send("ticket.severity_changed", at=T0 + 30 * H, severity=2)
    assert _judged(out) == [("workaround", 1, "breached", ts(T0 + 30 * H))]


# --- FastLane ---------------------------------------------------------------------------------------------

def test_the_policys_fastlane_multiplier_applies_to_every_judged_metric(desk: Desk) -> None:
    desk.create(severity=2, fastlane=True)
    (irt,) = desk.send("ticket.responded", at=T0 + 10 * MIN, engineer_id="E1")
    assert (irt.outcome, irt.target_seconds) == ("met", 900)
    desk.send("ticket.customer_replied", at=T0 + 20 * MIN)
    desk.clock_to(T0 + 40 * H)
    assert sorted((o.decided_at, o.metric, o.target_seconds) for o in desk.outcomes if o.outcome == "breached") == [
        (ts(T0 + 80 * MIN), "next_response", 3600), (ts(T0 + 12 * H), "workaround", 43200),
        (ts(T0 + 36 * H), "resolution", 129600)]


@pytest.mark.parametrize(("multiplier", "target_seconds"), [(1.0, 1800), (0.25, 450)])
def test_a_contracts_fastlane_multiplier_replaces_the_policys(multiplier: float, target_seconds: int) -> None:
    managed = dataclasses.replace(GOLD, name="managed", fastlane_multiplier=multiplier)
    desk = Desk(policy=dataclasses.replace(POLICY, contracts={**POLICY.contracts, "managed": managed}))
    desk.create("F1", severity=2, fastlane=True, contract="managed")
    desk.create("N1", severity=2, contract="managed")
    (fast,) = desk.send("ticket.responded", "F1", at=T0 + MIN, engineer_id="E1")
    (normal,) = desk.send("ticket.responded", "N1", at=T0 + MIN, engineer_id="E1")
    assert (fast.contract, fast.target_seconds, normal.target_seconds) == ("managed", target_seconds, 1800)


# --- choosing the contract --------------------------------------------------------------------------------

@pytest.mark.parametrize(("product", "judged_under"), [("automation", "gold"), ("desktop", "standard")],
                         ids=["by rule", "by default"])
def test_an_unknown_contract_is_judged_under_the_rules_or_default_and_named_as_requested(
        product: str, judged_under: str) -> None:
    desk = Desk(policy=POLICY)
    doc = {"event_id": "c1", "type": "ticket.created", "ticket_id": "T1", "occurred_at": ts(T0), "severity": 2,
           "product": product, "customer_id": "C1", "contract": "platinum"}
    outputs = desk.proc.handle(desk.feed.record(doc), desk.store)
    assert not [o for o in outputs if isinstance(o, DeadLetter)]  # not an error of the event
    assert desk.metric("sla_contract_unknown_total") == 1
    out = desk.send("ticket.resolved", at=T0 + 30 * MIN, engineer_id="E1")
    out += desk.send("ticket.responded", at=T0 + 40 * MIN, engineer_id="E1")
    assert {o.metric for o in out} >= {"irt", "ttr", "ttw"}
    assert {(o.contract, o.requested_contract, o.policy) for o in out} == {(judged_under, "platinum", DIGEST)}


def test_an_unknown_contracts_record_carries_requested_contract_and_a_known_one_none() -> None:
    policy = POLICY
    unknown, known = TicketState("T1", 0), TicketState("T2", 0)
    for state, contract in ((unknown, "platinum"), (known, "weekday")):
        engine.create(state, Event("c", "ticket.created", state.ticket_id, T0, severity=3, product="automation",
                                   customer_id="C1", contract=contract), policy)
    step = engine.apply(unknown, Event("r", "ticket.responded", "T1", T0 + MIN, engineer_id="E1"), policy)
    record = Outcome.of(unknown, step.decisions[0])
    doc = orjson.loads(record.encode())
    assert (doc["metric"], doc["contract"], doc["requested_contract"], doc["policy"]) == (
        "irt", "gold", "platinum", DIGEST)
    assert (doc["counted_seconds"], doc["calendar"]) == (60, "24x7")
    assert "paused_seconds" not in doc and "started_at" not in doc  # only when they apply
    step = engine.apply(known, Event("r", "ticket.responded", "T2", T0 + MIN, engineer_id="E1"), policy)
    doc = orjson.loads(Outcome.of(known, step.decisions[0]).encode())
    assert doc["contract"] == "weekday" and "requested_contract" not in doc
    assert (known.contract, known.requested_contract) == ("weekday", None)


def test_a_requested_contract_the_policy_defines_wins_over_the_rules(desk: Desk) -> None:
    desk.create(severity=3, contract="standard")  # the rule would give an automation ticket gold
    (irt,) = desk.send("ticket.responded", at=T0 + 3 * H, engineer_id="E1")
    assert (irt.contract, irt.requested_contract, irt.target_seconds, irt.outcome) == ("standard", None, 14400, "met")
    assert desk.metric("sla_contract_unknown_total") == 0


@pytest.mark.parametrize(("contract", "valid"), [("x" * 64, True), ("", False), ("x" * 65, False), (7, False)])
def test_a_contract_field_is_a_string_of_1_to_64_characters(contract: object, valid: bool) -> None:
    doc = {"event_id": "c1", "type": "ticket.created", "ticket_id": "T1", "occurred_at": ts(T0), "severity": 2,
           "product": "automation", "customer_id": "C1", "contract": contract}
    result = decode(orjson.dumps(doc), b"T1")
    if valid:
        assert isinstance(result, Event) and result.contract == contract
    else:
        assert isinstance(result, Rejection) and result.reason == "invalid_field:contract"


def test_after_a_policy_change_a_ticket_keeps_a_contract_still_defined_else_is_chosen_again() -> None:
    kept, dropped = TicketState("T1", 0), TicketState("T2", 0)
    engine.create(kept, Event("c", "ticket.created", "T1", T0, severity=2, product="automation", customer_id="C1"),
                  POLICY)  # gold by rule
    engine.create(dropped, Event("c", "ticket.created", "T2", T0, severity=2, product="desktop", customer_id="C1",
                                 contract="weekday"), POLICY)
    new = dataclasses.replace(POLICY, contracts={"gold": GOLD, "standard": STANDARD}, contract_rules=(),
                              digest="fedcba987654")  # gold no longer by rule; weekday gone
    (irt,) = engine.apply(kept, Event("r", "ticket.responded", "T1", T0 + MIN, engineer_id="E1"), new).decisions
    assert (irt.contract, irt.requested_contract, irt.target_ms, irt.policy) == ("gold", None, 30 * MIN,
                                                                                   "fedcba987654")
    (irt,) = engine.apply(dropped, Event("r", "ticket.responded", "T2", T0 + MIN, engineer_id="E1"), new).decisions
    assert (irt.contract, irt.requested_contract, irt.target_ms) == ("standard", "weekday", 60 * MIN)


# --- notices ----------------------------------------------------------------------------------------------

def test_a_listed_metric_sends_an_at_risk_then_a_breach_notice_once_each(desk: Desk) -> None:
    _answered(desk, severity=2)
    desk.send("ticket.customer_replied", at=T0 + 10 * MIN)  # next response due at 130 min, at risk at 70
    desk.clock_to(T0 + 71 * MIN)
    desk.clock_to(T0 + 100 * MIN)
    desk.clock_to(T0 + 131 * MIN)
    desk.clock_to(T0 + 10 * H)
    desk.send("ticket.responded", at=T0 + 10 * H, engineer_id="E1")
    notices = [e for e in desk.escalations if bizcrit.is_notice(e.kind)]
    assert [(e.escalation_id, e.level, e.emitted_at, e.deadline, e.budget_used) for e in notices] == [
        ("T1:next_response_at_risk:1:1", 1, ts(T0 + 70 * MIN), ts(T0 + 130 * MIN), 0.5),
        ("T1:next_response_breached:3:1", 3, ts(T0 + 130 * MIN), ts(T0 + 130 * MIN), 1.0)]
    assert {e.contract for e in notices} == {"gold"}
    assert not any(e.paged for e in notices)


def test_a_raise_that_makes_at_risk_and_breach_due_at_once_sends_only_the_breach(desk: Desk) -> None:
    _answered(desk, severity=3)
    desk.send("ticket.customer_replied", at=T0 + 10 * MIN)  # Sev3: 8 h
    desk.send("ticket.severity_changed", at=T0 + 110 * MIN, severity=1)  # Sev1: 30 min, 100 min used
    desk.clock_to(T0 + 10 * H)
    assert [e.escalation_id for e in desk.escalations if bizcrit.is_notice(e.kind)] == [
        "T1:next_response_breached:3:1"]
    assert _notices(desk) == [("next_response_breached", 3, ts(T0 + 110 * MIN))]


def test_a_raise_into_the_at_risk_share_sends_the_at_risk_notice_at_the_change(desk: Desk) -> None:
    _answered(desk, severity=3)
    desk.send("ticket.customer_replied", at=T0 + 10 * MIN)
    desk.send("ticket.severity_changed", at=T0 + 80 * MIN, severity=2)  # 70 of 120 min
    desk.clock_to(T0 + 10 * H)
    assert _notices(desk) == [("next_response_at_risk", 1, ts(T0 + 80 * MIN)),
                              ("next_response_breached", 3, ts(T0 + 130 * MIN))]


def test_no_notices_for_metrics_the_contract_does_not_list(desk: Desk) -> None:
    _answered(desk, severity=1)  # gold notifies resolution and next_response, not workaround
    desk.clock_to(T0 + 5 * H)
    assert _of(desk.outcomes, "workaround")[0].outcome == "breached"
    assert _notices(desk) == []
    assert {e.kind for e in desk.escalations} <= set(bizcrit.LADDER_KINDS)  # the ladder, unchanged


def test_notices_of_a_reopened_cycle_carry_its_cycle(desk: Desk) -> None:
    _answered(desk, severity=2)
    desk.send("ticket.resolved", at=T0 + H, engineer_id="E1")
    desk.send("ticket.reopened", at=T0 + 2 * H)
    desk.clock_to(T0 + 80 * H)
    assert [e.escalation_id for e in desk.escalations if bizcrit.is_notice(e.kind)] == [
        "T1:resolution_at_risk:1:2", "T1:resolution_breached:3:2"]
    assert _notices(desk) == [("resolution_at_risk", 1, ts(T0 + 38 * H)),
                              ("resolution_breached", 3, ts(T0 + 74 * H))]


def test_notices_never_page() -> None:
    for kind in (*bizcrit.NOTICE_KINDS, bizcrit.ALLOWANCE_EXCEEDED):
        assert bizcrit.is_notice(kind) and kind in bizcrit.KINDS
        assert not any(bizcrit.pages(kind, level) for level in (0, 1, 2, 3))
    assert set(bizcrit.NOTICE_KINDS) == {f"{m}_{w}" for m in ("next_response", "workaround", "resolution")
                                         for w in ("at_risk", "breached")}
    assert bizcrit.pages("irt_breached", 3) and not bizcrit.is_notice("irt_breached")


def test_a_policy_without_contracts_sends_no_notices_and_v2_records() -> None:
    desk = Desk()
    desk.create(severity=2)
    (irt,) = desk.send("ticket.responded", at=T0 + 5 * MIN, engineer_id="E1")
    desk.send("ticket.customer_replied", at=T0 + 10 * MIN)
    desk.clock_to(T0 + 30 * 24 * H)
    assert [o.metric for o in desk.outcomes] == ["irt"]
    assert _notices(desk) == []
    assert b"contract" not in Outcome.encode(irt) and b"counted_seconds" not in Outcome.encode(irt)
    assert all(e.contract is None for e in desk.escalations)
