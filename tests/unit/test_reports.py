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


def doc(n: int, etype: str, tid: str, at: int, **fields: object) -> dict:
    return {"event_id": f"{tid}-{n}", "type": etype, "ticket_id": tid, "occurred_at": format_rfc3339_ms(at), **fields}


# --- periods ---------------------------------------------------------------------------------------

def test_periods_run_from_local_midnight_to_local_midnight_across_daylight_saving() -> None:
    spring = period.parse("day", "2026-03-29", BERLIN, 0)  # clocks go forward: a 23-hour day
    assert (spring.end_ms - spring.start_ms) == 23 * HOUR
    assert format_rfc3339_ms(spring.start_ms) == "2026-03-28T23:00:00.000Z"
    autumn = period.parse("day", "2026-10-25", BERLIN, 0)
    assert (autumn.end_ms - autumn.start_ms) == 25 * HOUR
    week = period.parse("week", "2026-W48", BERLIN, 0)
    assert (week.first_day.isoformat(), week.days, week.label) == ("2026-11-23", 7, "2026-W48")
    assert week.previous().label == "2026-W47"
    feb = period.parse("month", "2028-02", "UTC", 0)
    assert (feb.days, format_rfc3339_ms(feb.end_ms)) == (29, "2028-03-01T00:00:00.000Z")
    assert [d.label for d in feb.each_day()][-1] == "2028-02-29"
    assert period.parse("month", "2026-01", "UTC", 0).previous().label == "2025-12"


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
    day = period.parse("day", "2026-03-03", BERLIN, 0)
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
    week = period.parse("week", "2026-W10", "UTC", 0)  # 2026-03-02 to 2026-03-09
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
    month = period.parse("month", "2026-03", "UTC", 0)
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

    month = period.parse("month", "2026-03", "UTC", 0)
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
        report = debrief.debrief(period.parse("day", "2026-03-03", "UTC", 0), [], [], [], policy)
        empty = "No ticket was Sev1 or BizCrit on this day."
    elif kind == "dsat":
        report = build.dsat_review(period.parse("week", "2026-W10", "UTC", 0), [])
        empty = "No Neutral or worse survey this week."
    else:
        report = build.monthly(period.parse("month", "2026-03", "UTC", 0), [], [], [], policy)
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
        "dsat": render.html(build.dsat_review(period.parse("week", "2026-W10", "UTC", 0),
                                              [review(1, "2026-03-03T10:00:00.000Z")])),
        "monthly": render.html(build.monthly(period.parse("month", "2026-03", "UTC", 0), core.outcomes,
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
