"""The support manager's reviews: periods, hand-worked numbers, empty periods, and self-contained HTML."""

from __future__ import annotations

import re

import orjson
import pytest

from pipeline.domain.policy import Policy
from pipeline.domain.records import DsatReview
from pipeline.domain.timefmt import format_rfc3339_ms, parse_rfc3339_ms
from pipeline.errors import ConfigError
from pipeline.reports import build, debrief, period, render
from tests.scenario import core_records

MIN, HOUR, DAY = 60_000, 3_600_000, 86_400_000
BERLIN = "Europe/Berlin"
D0 = parse_rfc3339_ms("2026-03-02T23:00:00Z")  # 2026-03-03 00:00 in Berlin (a Tuesday)
LATER = parse_rfc3339_ms("2027-01-01T00:00:00Z")  # the judging clock, long after every period below


def doc(n: int, etype: str, tid: str, at: int, **fields: object) -> dict:
    return {"event_id": f"{tid}-{n}", "type": etype, "ticket_id": tid, "occurred_at": format_rfc3339_ms(at), **fields}


# --- periods ---------------------------------------------------------------------------------------

def test_periods_run_from_local_midnight_to_local_midnight_across_daylight_saving() -> None:
    spring = period.parse("day", "2026-03-29", BERLIN, LATER)  # clocks go forward: a 23-hour day
    assert (spring.end_ms - spring.start_ms) == 23 * HOUR
    assert format_rfc3339_ms(spring.start_ms) == "2026-03-28T23:00:00.000Z"
    autumn = period.parse("day", "2026-10-25", BERLIN, LATER)
    assert (autumn.end_ms - autumn.start_ms) == 25 * HOUR
    week = period.parse("week", "2026-W48", BERLIN, LATER)
    assert (week.first_day.isoformat(), week.days, week.label) == ("2026-11-23", 7, "2026-W48")
    assert week.previous().label == "2026-W47"
    feb = period.parse("month", "2028-02", "UTC", LATER)
    assert (feb.days, format_rfc3339_ms(feb.end_ms)) == (29, "2028-03-01T00:00:00.000Z")
    assert [d.label for d in feb.each_day()][-1] == "2028-02-29"
    assert period.parse("month", "2026-01", "UTC", LATER).previous().label == "2025-12"


def test_default_periods_are_the_last_complete_ones_and_bad_ones_name_their_option() -> None:
    now = parse_rfc3339_ms("2026-11-29T08:30:00Z")  # a Sunday morning
    assert period.parse("day", None, BERLIN, now).label == "2026-11-28"
    assert period.parse("week", None, BERLIN, now).label == "2026-W47"
    assert period.parse("month", None, BERLIN, now).label == "2026-10"
    for kind, flag, bad in (("day", "--date", "28.11.2026"), ("week", "--week", "2026-48"),
                            ("week", "--week", "2026-W54"), ("month", "--month", "2026-13")):
        with pytest.raises(ConfigError, match=f"^{flag}: must be"):
            period.parse(kind, bad, BERLIN, now)  # type: ignore[arg-type]


# --- the daily Sev1 debrief ----------------------------------------------------------------------------

def debrief_day() -> tuple[period.Period, list[dict]]:
    day = period.parse("day", "2026-03-03", BERLIN, LATER)
    t = D0 + 9 * HOUR  # 09:00 in Berlin (08:00 UTC)
    docs = [
        # A: Sev1, answered after 20 min (breached), tier 3 at 30 min, management at 2 h, workaround at 2 h 30
        doc(1, "ticket.created", "A", t, severity=1, product="plesk", customer_id="ACME"),
        doc(2, "ticket.assigned", "A", t + 2 * MIN, engineer_id="E1"),
        doc(3, "ticket.responded", "A", t + 20 * MIN, engineer_id="E1"),
        doc(4, "ticket.workaround_provided", "A", t + 150 * MIN, engineer_id="E2"),
        doc(5, "ticket.resolved", "A", t + 5 * HOUR, engineer_id="E2"),
        # B: FastLane Sev2 (BizCrit too) at 21:00, answered in time, still BizCrit at midnight
        doc(1, "ticket.created", "B", t + 12 * HOUR, severity=2, fastlane=True, product="cloud", customer_id="BETA"),
        doc(2, "ticket.responded", "B", t + 12 * HOUR + 5 * MIN, engineer_id="E3"),
        # C: Sev3, not in the debrief
        doc(1, "ticket.created", "C", t, severity=3, product="plesk", customer_id="ACME"),
        doc(2, "ticket.responded", "C", t + 30 * MIN, engineer_id="E1"),
        # D: a Sev1 of the day before, closed before this day began: not in it
        doc(1, "ticket.created", "D", t - DAY, severity=1, product="plesk", customer_id="ACME"),
        doc(2, "ticket.responded", "D", t - DAY + 5 * MIN, engineer_id="E1"),
        doc(3, "ticket.resolved", "D", t - DAY + 20 * MIN, engineer_id="E1"),
        doc(4, "ticket.closed", "D", t - DAY + 30 * MIN),
        # E: Sev3 at 14:00, raised to Sev1 at 15:00 and given a workaround at 15:10
        doc(1, "ticket.created", "E", t + 5 * HOUR, severity=3, product="cloud", customer_id="GAMMA"),
        doc(2, "ticket.responded", "E", t + 5 * HOUR + 10 * MIN, engineer_id="E4"),
        doc(3, "ticket.severity_changed", "E", t + 6 * HOUR, severity=1),
        doc(4, "ticket.workaround_provided", "E", t + 6 * HOUR + 10 * MIN, engineer_id="E4"),
        # a heartbeat two days later (on every partition) decides what time alone decides: B's rungs
        {"event_id": "hb", "type": "heartbeat", "occurred_at": format_rfc3339_ms(t + 2 * DAY)},
    ]
    return day, sorted(docs, key=lambda d: parse_rfc3339_ms(d["occurred_at"]))


def test_the_debrief_holds_each_sev1_or_bizcrit_ticket_of_the_day_with_what_went_wrong_on_top() -> None:
    day, docs = debrief_day()
    core = core_records(docs)
    report = debrief.debrief(day, core.events, core.outcomes, core.escalations, Policy())
    by_id = {t["ticket_id"]: t for t in report["tickets"]}
    assert list(by_id) == ["A", "B", "E"]  # the breach first; C (Sev3) and D (closed the day before) are not in it
    a, b, e = by_id["A"], by_id["B"], by_id["E"]
    assert (a["irt"]["outcome"], a["irt"]["value_seconds"], a["irt"]["target_seconds"]) == ("breached", None, 900)
    assert a["first_response_seconds"] == 1200  # decided at the deadline; the answer came 5 min later
    assert a["rungs_reached"] == ["tier3", "management"] and a["highest_rung"] == "management"
    assert a["bizcrit_seconds"] == 150 * 60 and not a["bizcrit_at_end"]
    assert a["engineers"] == ["E1", "E2"] and a["ttw"]["value_seconds"] == 150 * 60
    assert a["ttr"][0]["value_seconds"] == 5 * 3600
    whats = [(x["what"], x["who"]) for x in a["timeline"]]
    assert ("first response", "E1") in whats and ("workaround", "E2") in whats
    assert ("bizcrit_management 2", "senior management (paged)") in whats
    assert ("IRT", "E1") in whats
    # B entered BizCrit at 21:00 Berlin time and was still BizCrit at midnight: 3 h of this day
    assert b["irt"]["outcome"] == "met" and b["bizcrit_at_end"] and b["bizcrit_seconds"] == 3 * 3600
    assert b["rungs_reached"] == ["tier3", "management", "executive"]  # executive at 01:00: the next day's, shown
    assert e["bizcrit_seconds"] == 10 * 60 and e["irt"]["outcome"] == "met"
    assert report["summary"] == {
        "tickets": 3, "irt_breaches": 1, "breached_tickets": ["A"],
        "rungs_reached": {"tier3": 2, "management": 2, "executive": 1}, "pages": report["summary"]["pages"],
        "bizcrit_seconds": 150 * 60 + 3 * 3600 + 10 * 60, "bizcrit_at_end": 1,
    }
    paged = [x for t in report["tickets"] for x in t["timeline"] if x["kind"] == "escalation"
             and "(paged)" in x["who"]]
    assert report["summary"]["pages"] == len(paged) == 5  # A: IRT at 80 %, IRT breach, management; B: 2


# --- the weekly DSAT review ----------------------------------------------------------------------------

def review(n: int, at: str, rating: str = "dissatisfied", reason: str | None = "Reason not clear",
           product: str = "plesk", fastlane: bool = False, engineer: str | None = "E1",
           comment: str | None = None) -> DsatReview:
    return DsatReview(f"T{n}:s", f"T{n}", engineer, rating, reason, 2, product, "C1", at, fastlane, comment)


def test_the_dsat_review_lists_every_survey_with_its_drivers_per_segment_trend_and_owners() -> None:
    week = period.parse("week", "2026-W10", "UTC", LATER)  # 2026-03-02 to 2026-03-09
    reviews = [
        review(1, "2026-03-02T10:00:00.000Z", comment="Took <b>days</b>"),
        review(1, "2026-03-02T10:00:00.000Z", comment="Took <b>days</b>"),  # published again: counted once
        review(2, "2026-03-04T10:00:00.000Z", "neutral", None, fastlane=True, engineer=None),
        review(3, "2026-03-08T23:59:59.999Z", "very_dissatisfied", "Workflow: Resolution was delayed", "cloud"),
        review(4, "2026-03-09T00:00:00.000Z"),  # the next week
        review(5, "2026-02-25T12:00:00.000Z"), review(6, "2026-02-24T12:00:00.000Z", "neutral"),  # W09
    ]
    report = build.dsat_review(week, reviews)
    assert [r["ticket_id"] for r in report["reviews"]] == ["T1", "T2", "T3"]
    assert report["reviews"][0]["comment"] == "Took <b>days</b>" and report["reviews"][1]["reason"] == "unspecified"
    assert report["drivers"] == {
        "product": {"cloud": {"Workflow: Resolution was delayed": 1}, "plesk": {"Reason not clear": 1,
                                                                               "unspecified": 1}},
        "fastlane": {"FastLane": {"unspecified": 1}, "standard": {"Reason not clear": 1,
                                                                 "Workflow: Resolution was delayed": 1}},
    }
    assert [(t["week"], t["total"]) for t in report["trend"]] == [
        ("2026-W06", 0), ("2026-W07", 0), ("2026-W08", 0), ("2026-W09", 2), ("2026-W10", 3)]
    assert report["trend"][-1] == {"week": "2026-W10", "total": 3, "neutral": 1, "dissatisfied": 1,
                                   "very_dissatisfied": 1}
    assert report["owners"] == [{"engineer_id": "E1", "surveys": 2}, {"engineer_id": "unassigned", "surveys": 1}]
    assert report["summary"]["previous_week"] == 2
    page = render.html(report)
    assert "Took &lt;b&gt;days&lt;/b&gt;" in page and "<b>days</b>" not in page  # text from customers is escaped


# --- the monthly SLA report ----------------------------------------------------------------------------

def test_percentiles_are_nearest_rank() -> None:
    values = [float(v) for v in range(1, 101)]
    assert [build.percentile(values, p) for p in (50, 90, 99, 100)] == [50.0, 90.0, 99.0, 100.0]
    assert build.percentile([7.0], 99) == 7.0 and build.percentile([], 50) is None
    assert build.percentile([3.0, 1.0, 2.0], 50) == 2.0


def test_the_monthly_report_counts_compliance_percentiles_rungs_and_the_stack_rank_from_the_core() -> None:
    month = period.parse("month", "2026-03", "UTC", LATER)
    day, docs = debrief_day()
    core = core_records(docs)
    report = build.monthly(month, core.outcomes, core.escalations, core.facts, Policy())
    irt = report["irt"]
    assert irt["overall"] == {"tickets": 5, "met": 4, "breached": 1, "ratio": 0.8, "meets_goal": False}
    assert irt["by_severity"]["1"] == {"tickets": 2, "met": 1, "breached": 1, "ratio": 0.5, "meets_goal": False}
    # A (breached) and D; E was Sev3 when it was answered
    assert irt["by_product"]["cloud"] == {"tickets": 2, "met": 2, "breached": 0, "ratio": 1.0, "meets_goal": True}
    assert [d for d in irt["per_day"] if d["tickets"]] == [
        {"day": "2026-03-02", "tickets": 1, "met": 1, "breached": 0, "ratio": 1.0, "meets_goal": True},
        {"day": "2026-03-03", "tickets": 4, "met": 3, "breached": 1, "ratio": 0.75, "meets_goal": False}]
    assert len(irt["per_day"]) == 31
    # TTW from creation: D 20 min (its resolution came first), E 70 min, A 150 min
    assert report["ttw"]["1"] == {"count": 3, "p50": 4200.0, "p90": 9000.0, "p99": 9000.0}
    rungs = report["bizcrit"]["rungs"]
    assert rungs["tier3"]["tickets"] == 2 and rungs["management"]["tickets"] == 2
    assert rungs["tier3"]["total_seconds"] == 90 * 60 + 90 * 60  # A and B: from 30 min to 2 h in BizCrit
    assert rungs["management"]["total_seconds"] == 30 * 60 + 2 * 3600  # A until its workaround; B until 4 h
    assert rungs["executive"] == {"tickets": 1, "total_seconds": 28 * 86400, "mean_seconds": 28 * 86400}
    # B, still BizCrit: from 2026-03-04T00:00Z to the month's end
    assert report["stack_rank"]["ranked"] == []  # nobody has 5 surveys and 5 samples
    (e1,) = report["stack_rank"]["unranked"]  # only A had an assignment, so only E1 has a response sample
    assert (e1["engineer_id"], e1["samples"], e1["art_seconds"], e1["art_ratio"]) == ("E1", 1, 1080.0, 0.0)


def test_with_calendars_the_monthly_report_splits_compliance_by_calendar(tmp_path) -> None:
    from tests.business_hours import business_hours_policy

    month = period.parse("month", "2026-03", "UTC", LATER)
    _, docs = debrief_day()
    plain = build.monthly(month, core_records(docs).outcomes, [], [], Policy())
    assert plain["irt"]["by_calendar"] == {} and "IRT compliance per calendar" not in render.html(plain)
    policy = business_hours_policy(tmp_path)  # Sev3 and Sev4 on the emea calendar
    report = build.monthly(month, core_records(docs, policy).outcomes, [], [], policy)
    by_calendar = report["irt"]["by_calendar"]
    assert sorted(by_calendar) == ["24x7", "emea"]
    assert by_calendar["emea"]["tickets"] == 2  # C and E were Sev3 when their IRT was decided
    assert sum(c["tickets"] for c in by_calendar.values()) == report["irt"]["overall"]["tickets"]
    assert "<h2>IRT compliance per calendar</h2>" in render.html(report)
    rows = render.render(report, "csv")["irt_compliance.csv"]
    assert "calendar,emea,2," in rows


# --- empty periods and the pages themselves ------------------------------------------------------------

@pytest.mark.parametrize("kind", ["debrief", "dsat", "monthly"])
def test_an_empty_period_gives_an_honest_empty_report_in_every_format(kind: str) -> None:
    policy = Policy()
    if kind == "debrief":
        report = debrief.debrief(period.parse("day", "2026-03-03", "UTC", LATER), [], [], [], policy)
        empty = "No ticket was Sev1 or BizCrit on this day."
    elif kind == "dsat":
        report = build.dsat_review(period.parse("week", "2026-W10", "UTC", LATER), [])
        empty = "No Neutral or worse survey this week."
    else:
        report = build.monthly(period.parse("month", "2026-03", "UTC", LATER), [], [], [], policy)
        empty = "No IRT decided this month."
    page = render.html(report)
    assert empty in page
    assert orjson.loads(render.render(report, "json")["json"]) == report
    assert all(isinstance(text, str) for text in render.render(report, "csv").values())


def test_an_html_report_is_one_self_contained_page_with_drawn_charts() -> None:
    day, docs = debrief_day()
    core = core_records(docs)
    pages = {
        "debrief": render.html(debrief.debrief(day, core.events, core.outcomes, core.escalations, Policy())),
        "dsat": render.html(build.dsat_review(period.parse("week", "2026-W10", "UTC", LATER),
                                              [review(1, "2026-03-03T10:00:00.000Z")])),
        "monthly": render.html(build.monthly(period.parse("month", "2026-03", "UTC", LATER), core.outcomes,
                                             core.escalations, core.facts, Policy())),
    }
    charts = {"debrief": 1, "dsat": 3, "monthly": 1}
    for name, page in pages.items():
        assert page.startswith("<!DOCTYPE html>") and "<script" not in page
        assert not re.search(r"""(src|href)=["']?(https?:)?//""", page), name  # nothing fetched from anywhere
        svgs = re.findall(r"<svg\b.*?</svg>", page, flags=re.S)
        assert len(svgs) == charts[name], name
        assert all(re.search(r"<path\b", s) for s in svgs)
        ids = re.findall(r'\bid="([^"]+)"', page)
        assert len(ids) == len(set(ids)), f"{name}: element ids repeat across its charts"


# --- the judging clock: a report never counts time after it ------------------------------------------

def test_a_debrief_of_today_counts_only_to_the_judging_clock_and_says_the_day_is_not_over() -> None:
    noon = D0 + 12 * HOUR  # 12:00 in Berlin
    docs = [
        doc(1, "ticket.created", "S", noon, severity=1, product="plesk", customer_id="ACME"),
        doc(2, "ticket.assigned", "S", noon + 2 * MIN, engineer_id="E1"),
        doc(3, "ticket.responded", "S", noon + 5 * MIN, engineer_id="E1"),
        # after 13:19: a stream read in event time may already hold these; the clock has not judged them
        doc(4, "ticket.workaround_provided", "S", noon + 3 * HOUR, engineer_id="E1"),
        {"event_id": "hb", "type": "heartbeat", "occurred_at": format_rfc3339_ms(noon + 6 * HOUR)},
    ]
    core = core_records(docs)
    now = noon + 79 * MIN  # 13:19 in Berlin
    report = debrief.debrief(period.parse("day", "2026-03-03", BERLIN, now), core.events, core.outcomes,
                             core.escalations, Policy())
    (s,) = report["tickets"]
    assert s["bizcrit_seconds"] == 79 * 60 and s["bizcrit_at_end"]  # the open stint, counted to 13:19
    assert s["rungs_reached"] == ["tier3"]  # management comes at 14:00, after the clock
    assert "workaround" not in [x["what"] for x in s["timeline"]]
    assert report["period"]["complete"] is False
    assert report["period"]["counted_to"] == format_rfc3339_ms(now)
    page = render.html(report)
    assert "to 13:19, the day is not over" in page
    assert "still BizCrit at 13:19" in page and "midnight" not in page
    # the same day once it is over: BizCrit to the workaround at 15:00, nothing open at midnight
    whole = debrief.debrief(period.parse("day", "2026-03-03", BERLIN, LATER), core.events, core.outcomes,
                            core.escalations, Policy())
    assert whole["tickets"][0]["bizcrit_seconds"] == 3 * 3600 and not whole["tickets"][0]["bizcrit_at_end"]
    assert whole["tickets"][0]["rungs_reached"] == ["tier3", "management"]
    assert "still BizCrit at midnight" in render.html(whole) and "is not over" not in render.html(whole)


def test_a_monthly_report_on_the_first_day_counts_that_day_and_open_rungs_to_the_clock() -> None:
    first = parse_rfc3339_ms("2026-03-01T00:00:00Z")
    docs = [
        # X: Sev1 never answered: IRT breached at 09:15, tier 3 09:30, management 11:00, executive 13:00
        doc(1, "ticket.created", "X", first + 9 * HOUR, severity=1, product="plesk", customer_id="ACME"),
        # G: Sev2 answered by E1 8 minutes after the assignment (a response sample)
        doc(1, "ticket.created", "G", first + 9 * HOUR, severity=2, product="cloud", customer_id="BETA"),
        doc(2, "ticket.assigned", "G", first + 9 * HOUR + 2 * MIN, engineer_id="E1"),
        doc(3, "ticket.responded", "G", first + 9 * HOUR + 10 * MIN, engineer_id="E1"),
        {"event_id": "hb", "type": "heartbeat", "occurred_at": format_rfc3339_ms(first + 2 * DAY)},
    ]
    core = core_records(docs)
    now = first + 13 * HOUR + 19 * MIN
    month = period.parse("month", "2026-03", "UTC", now)
    report = build.monthly(month, core.outcomes, core.escalations, core.facts, Policy())
    assert [d["day"] for d in report["irt"]["per_day"]] == ["2026-03-01"]  # one day has begun, not 31
    assert report["irt"]["overall"]["tickets"] == 2 and report["irt"]["overall"]["breached"] == 1
    executive = report["bizcrit"]["rungs"]["executive"]
    assert executive == {"tickets": 1, "total_seconds": 19 * 60, "mean_seconds": 19 * 60}  # 13:00 to 13:19
    assert report["bizcrit"]["rungs"]["management"]["total_seconds"] == 2 * 3600  # closed at the next rung
    rank = report["stack_rank"]
    assert rank["as_of"] == format_rfc3339_ms(now)
    (e1,) = rank["unranked"]
    assert (e1["engineer_id"], e1["samples"]) == ("E1", 1)  # the 30 days to 13:19, not to the 31st
    page = render.html(report)
    assert "to 2026-03-01 13:19, the month is not over" in page
    # the month as the old report counted it, to its end: 31 days and a rung that lasts a month
    whole = build.monthly(period.parse("month", "2026-03", "UTC", LATER), core.outcomes, core.escalations,
                          core.facts, Policy())
    assert len(whole["irt"]["per_day"]) == 31 and whole["bizcrit"]["rungs"]["executive"]["total_seconds"] > 30 * 86400


def test_default_periods_follow_the_judging_clock_and_a_period_not_begun_counts_nothing() -> None:
    now = D0 + 13 * HOUR + 19 * MIN  # 2026-03-03 13:19 in Berlin
    yesterday = period.parse("day", None, BERLIN, now)
    assert (yesterday.label, yesterday.complete) == ("2026-03-02", True)  # the last complete day of the clock
    assert period.parse("month", None, BERLIN, now).label == "2026-02"
    assert not period.parse("week", "2026-W10", BERLIN, now).complete  # this week is not over
    _, docs = debrief_day()
    core = core_records(docs)
    tomorrow = debrief.debrief(period.parse("day", "2026-03-04", BERLIN, now), core.events, core.outcomes,
                               core.escalations, Policy())
    assert tomorrow["tickets"] == [] and tomorrow["summary"]["bizcrit_seconds"] == 0
    assert "the day has not begun" in render.html(tomorrow)
    week = build.dsat_review(period.parse("week", "2026-W10", "UTC", parse_rfc3339_ms("2026-03-04T12:00:00Z")),
                             [review(1, "2026-03-03T10:00:00.000Z"), review(2, "2026-03-05T10:00:00.000Z")])
    assert [r["ticket_id"] for r in week["reviews"]] == ["T1"]  # the survey of Thursday has not been submitted


async def test_a_report_page_refuses_a_bad_query_naming_its_parameter_not_a_flag() -> None:
    from pipeline import reports
    from pipeline.settings import Settings

    asked: list[str] = []
    answer = reports.web_handler(Settings(), Policy(), lambda: asked.append("clock") or LATER)
    for kind, query, name in (("debrief", {"date": "28.11.2026"}, "date"), ("dsat", {"week": "2026-48"}, "week"),
                              ("monthly", {"month": "2026-13"}, "month"),
                              ("monthly", {"month": "2026-03", "format": "pdf"}, "format")):
        status, content_type, body = await answer(kind, query)
        error = orjson.loads(body)["error"]
        assert (status, content_type) == (400, "application/json")
        assert error.startswith(f"{name}: must be"), error
        assert "--" not in error
    assert asked  # wall mode: the default periods follow the injected wall clock


async def test_in_event_time_a_report_is_counted_to_the_latest_instant_the_pipeline_judged(monkeypatch) -> None:
    from pipeline import reports
    from pipeline.reports import source
    from pipeline.settings import Settings

    judged: list[int | None] = [parse_rfc3339_ms("2026-03-03T12:19:00Z"), None]

    async def published(kafka: object, topics: dict[str, str]) -> int | None:
        assert set(topics.values()) == {"decided_at", "emitted_at", "at"}
        return judged.pop(0)

    monkeypatch.setattr(source, "judged_until", published)
    event = Settings(clock="event")
    assert await reports.judging_now(event, LATER) == parse_rfc3339_ms("2026-03-03T12:19:00Z")
    assert await reports.judging_now(event, LATER) == LATER  # nothing published yet: every report is empty
    assert await reports.judging_now(Settings(), 42) == 42  # live mode: the wall clock


def test_the_judged_instant_of_a_published_record_is_read_from_its_own_field() -> None:
    from pipeline.reports import source

    assert source._instant("decided_at")(None, b'{"decided_at": "2026-03-03T12:19:00.000Z"}') == \
        parse_rfc3339_ms("2026-03-03T12:19:00Z")
    assert source._instant("at")(None, b'{"at": 1772540340000}') == 1772540340000
    assert source._instant("emitted_at")(None, b"not json") is None
    assert source._instant("emitted_at")(None, b'{"emitted_at": "yesterday"}') is None
