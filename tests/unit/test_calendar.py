"""Business-hours calendars: calendar time between instants and the instant a target is reached, exact to
the millisecond, across daylight-saving changes, holidays and sparse hours (contract section 9)."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pipeline.domain import calendar as cal
from pipeline.domain.calendar import CalendarError, elapsed, parse, reached
from pipeline.domain.timefmt import parse_rfc3339_ms

HOUR, MIN = 3_600_000, 60_000
WEEKDAYS = {d: ["08:00-18:00"] for d in ("mon", "tue", "wed", "thu")}
EMEA = parse("emea", {"timezone": "Europe/Berlin", "hours": {**WEEKDAYS, "fri": ["08:00-17:00"]},
                      "holidays": ["2026-12-24", "2026-12-25", "2026-12-26"]})
NYC = parse("nyc", {"timezone": "America/New_York", "hours": {d: ["09:00-12:00", "13:00-17:30"]
                                                              for d in ("mon", "tue", "wed", "thu", "fri")}})
ONE_HOUR_A_WEEK = parse("sparse", {"timezone": "Europe/Berlin", "hours": {"wed": ["10:00-11:00"]}})
ALL_DAY = parse("allday", {"timezone": "Europe/Berlin", "hours": {d: ["00:00-24:00"] for d in cal.DAY_NAMES}})
CALENDARS = [EMEA, NYC, ONE_HOUR_A_WEEK, ALL_DAY, cal.ROUND_THE_CLOCK]


def at(local: str, zone: str = "Europe/Berlin") -> int:
    return int(datetime.fromisoformat(local).replace(tzinfo=ZoneInfo(zone)).timestamp() * 1000)


def test_the_contracts_friday_example_and_the_end_of_a_range() -> None:
    friday = at("2026-03-06T16:30")  # 30 min before Friday's close
    assert reached(EMEA, friday, 4 * HOUR) == at("2026-03-09T11:30")  # Monday 11:30 Berlin
    monday = at("2026-03-09T14:00")
    assert reached(EMEA, monday, 4 * HOUR) == at("2026-03-09T18:00")  # the range's end, not Tuesday
    assert elapsed(EMEA, friday, at("2026-03-09T11:30")) == 4 * HOUR


def test_creation_before_inside_and_after_the_hours() -> None:
    assert reached(EMEA, at("2026-03-09T06:00"), HOUR) == at("2026-03-09T09:00")  # counts from the opening
    assert reached(EMEA, at("2026-03-09T09:15"), HOUR) == at("2026-03-09T10:15")
    assert reached(EMEA, at("2026-03-09T19:00"), HOUR) == at("2026-03-10T09:00")  # after closing: next day
    assert reached(EMEA, at("2026-03-07T12:00"), HOUR) == at("2026-03-09T09:00")  # Saturday: Monday
    assert elapsed(EMEA, at("2026-03-07T00:00"), at("2026-03-09T00:00")) == 0  # a weekend has no hours
    assert reached(EMEA, at("2026-03-09T06:00"), 0) == at("2026-03-09T06:00")


def test_holidays_have_no_hours() -> None:
    created = at("2026-12-23T17:00")  # Wednesday before three holidays, then a weekend
    assert reached(EMEA, created, 2 * HOUR) == at("2026-12-28T09:00")  # one hour Wednesday, one on Monday
    assert elapsed(EMEA, at("2026-12-24T00:00"), at("2026-12-27T00:00")) == 0


@pytest.mark.parametrize(("zone", "spring", "autumn"), [
    ("Europe/Berlin", "2026-03-29", "2026-10-25"),
    ("America/New_York", "2026-03-08", "2026-11-01"),
])
def test_hours_follow_the_daylight_saving_changes_of_their_zone(zone: str, spring: str, autumn: str) -> None:
    whole = parse("whole", {"timezone": zone, "hours": {d: ["00:00-24:00"] for d in cal.DAY_NAMES}})
    office = parse("office", {"timezone": zone, "hours": {d: ["08:00-18:00"] for d in cal.DAY_NAMES}})
    night = parse("night", {"timezone": zone, "hours": {d: ["01:00-04:00"] for d in cal.DAY_NAMES}})
    for day, hours in ((spring, 23), (autumn, 25)):
        midnight, next_midnight = at(f"{day}T00:00", zone), _next_midnight(day, zone)
        assert next_midnight - midnight == hours * HOUR
        assert elapsed(whole, midnight, next_midnight) == hours * HOUR  # the day as long as it really is
        assert elapsed(office, midnight, next_midnight) == 10 * HOUR  # 08:00 to 18:00 local, whatever the offset
        assert reached(office, midnight, 10 * HOUR) == at(f"{day}T18:00", zone)
    # the night range crosses the change: 2 h on the spring day, 4 h on the autumn day
    assert elapsed(night, at(f"{spring}T00:00", zone), _next_midnight(spring, zone)) == 2 * HOUR
    assert elapsed(night, at(f"{autumn}T00:00", zone), _next_midnight(autumn, zone)) == 4 * HOUR


def _next_midnight(day: str, zone: str) -> int:
    from datetime import date, timedelta

    return at((date.fromisoformat(day) + timedelta(days=1)).isoformat() + "T00:00", zone)


def test_one_open_hour_a_week() -> None:
    monday = at("2026-03-09T12:00")
    assert reached(ONE_HOUR_A_WEEK, monday, HOUR) == at("2026-03-11T11:00")
    assert reached(ONE_HOUR_A_WEEK, monday, 4 * HOUR) == at("2026-04-01T11:00")  # four Wednesdays
    assert elapsed(ONE_HOUR_A_WEEK, monday, at("2026-04-01T11:00")) == 4 * HOUR


INSTANT = st.integers(min_value=parse_rfc3339_ms("2025-01-01T00:00:00Z"),
                      max_value=parse_rfc3339_ms("2027-12-31T00:00:00Z"))
AMOUNT = st.integers(min_value=0, max_value=30 * HOUR)


@given(st.sampled_from(CALENDARS), INSTANT, AMOUNT)
def test_reached_is_the_first_instant_at_which_elapsed_reaches_the_amount(c: cal.Calendar, start: int,
                                                                        amount: int) -> None:
    due = reached(c, start, amount)
    assert due >= start
    assert elapsed(c, start, due) == amount
    if amount > 0:
        assert elapsed(c, start, due - 1) == amount - 1  # one millisecond earlier is not enough


@given(st.sampled_from(CALENDARS), INSTANT, st.integers(0, 40 * 24 * HOUR), st.integers(0, 40 * 24 * HOUR))
def test_elapsed_adds_up_over_adjacent_spans_and_never_exceeds_wall_time(c: cal.Calendar, a: int, ab: int,
                                                                         bc: int) -> None:
    b, c_ = a + ab, a + ab + bc
    assert elapsed(c, a, c_) == elapsed(c, a, b) + elapsed(c, b, c_)
    assert 0 <= elapsed(c, a, b) <= ab
    assert elapsed(c, b, a) == 0 or ab == 0


@given(INSTANT, AMOUNT)
def test_round_the_clock_is_wall_time(start: int, amount: int) -> None:
    assert reached(cal.ROUND_THE_CLOCK, start, amount) == start + amount
    assert reached(ALL_DAY, start, amount) == start + amount  # "00:00-24:00" every day is the same thing


@pytest.mark.parametrize(("doc", "key"), [
    ({"timezone": "Europe/Berlyn", "hours": {"mon": ["08:00-18:00"]}}, "calendars.x.timezone"),
    ({"hours": {"mon": ["08:00-18:00"]}}, "calendars.x.timezone"),
    ({"timezone": "UTC", "hours": {"monday": ["08:00-18:00"]}}, "calendars.x.hours.monday"),
    ({"timezone": "UTC", "hours": {"mon": ["8:00-18:00"]}}, "calendars.x.hours.mon[0]"),
    ({"timezone": "UTC", "hours": {"mon": ["18:00-08:00"]}}, "calendars.x.hours.mon[0]"),
    ({"timezone": "UTC", "hours": {"mon": ["08:00-24:30"]}}, "calendars.x.hours.mon[0]"),
    ({"timezone": "UTC", "hours": {"mon": ["08:00-12:00", "11:00-13:00"]}}, "calendars.x.hours.mon"),
    ({"timezone": "UTC", "hours": {"mon": "08:00-18:00"}}, "calendars.x.hours.mon"),
    ({"timezone": "UTC", "hours": {"mon": ["08:00-18:00"]}, "holidays": ["24.12.2026"]}, "calendars.x.holidays[0]"),
    ({"timezone": "UTC", "hours": {}}, "calendars.x.hours"),
    ({"timezone": "UTC", "hours": {"mon": ["08:00-18:00"]}, "hour": {}}, "calendars.x.hour"),
])
def test_each_mistake_in_a_calendar_names_its_key(doc: dict, key: str) -> None:
    with pytest.raises(CalendarError) as caught:
        parse("x", doc)
    assert caught.value.key == key, caught.value


# --- an independent reference: walk the wall clock minute by minute ----------------------------------

# ranges that begin and end inside the hour a change skips or repeats (02:00-03:00 in Berlin)
NIGHTS = parse("nights", {"timezone": "Europe/Berlin", "hours": {d: ["00:00-02:30", "02:45-03:15", "22:00-24:00"]
                                                                for d in cal.DAY_NAMES},
                          "holidays": ["2026-03-28"]})  # ranges across both changes; a holiday the day before one
# around the 2026 changes of both zones (Berlin: 29 March, 25 October; New York: 8 March, 1 November)
NEAR_A_CHANGE = st.sampled_from(["2026-03-06", "2026-03-27", "2026-10-23", "2026-10-30", "2026-12-23"]).flatmap(
    lambda day: st.integers(0, 4 * 24 * 60).map(lambda minute: parse_rfc3339_ms(f"{day}T00:00:00Z") + minute * MIN))


def counts(c: cal.Calendar, minute_ms: int) -> bool:
    """Does this wall-clock minute count? Asked of the local date and time alone, as a person would."""
    local = datetime.fromtimestamp(minute_ms / 1000, tz=ZoneInfo(c.zone))
    if local.date() in c.holidays:
        return False
    of_day = local.hour * 60 + local.minute
    return any(start <= of_day < end for start, end in c.week[local.weekday()])


@settings(max_examples=60, deadline=None)
@given(st.sampled_from([EMEA, NYC, NIGHTS]), NEAR_A_CHANGE, st.integers(1, 20 * 60))
def test_deadlines_agree_with_a_minute_by_minute_walk_of_the_local_clock(c: cal.Calendar, start: int,
                                                                         minutes: int) -> None:
    left, at = minutes, start
    while True:
        if counts(c, at):
            left -= 1
            if left == 0:
                break
        at += MIN
    assert reached(c, start, minutes * MIN) == at + MIN
    assert elapsed(c, start, at + MIN) == minutes * MIN


# Spring and autumn changes inside the hours, a half-hour change, and a range a change pushes past midnight.
ODD = [parse("night", {"timezone": "Europe/Berlin", "hours": {d: ["02:30-05:00", "22:00-24:00"]
                                                           for d in cal.DAY_NAMES}}),
       parse("lordhowe", {"timezone": "Australia/Lord_Howe", "hours": {d: ["01:00-03:00"] for d in cal.DAY_NAMES},
                          "holidays": ["2026-04-05"]})]


@settings(max_examples=300, deadline=None)
@given(c=st.sampled_from([EMEA, NYC, ONE_HOUR_A_WEEK, ALL_DAY, *ODD]),
       start=st.integers(parse_rfc3339_ms("2025-01-01T00:00:00Z"), parse_rfc3339_ms("2028-12-31T00:00:00Z")),
       span=st.integers(0, 400 * 24 * HOUR), amount=st.integers(1, 300 * HOUR))
def test_the_bisected_answers_equal_the_day_by_day_walk(c: cal.Calendar, start: int, span: int, amount: int) -> None:
    """elapsed() and reached() answer from an index of each calendar's ranges; the walk over the days is
    the reference they must equal to the millisecond, wherever the index was first built."""
    cal.clear_caches()
    if span % 2:  # build the index far from this start first, so it is widened, not built around it
        elapsed(c, start + 900 * 24 * HOUR, start + 901 * 24 * HOUR)
    assert elapsed(c, start, start + span) == cal._elapsed_day_by_day(c, start, start + span)
    try:
        walked = cal._reached.__wrapped__(c, start, amount)
    except CalendarError:  # too few hours within MAX_DAYS: both say so
        with pytest.raises(CalendarError):
            reached(c, start, amount)
        return
    assert reached(c, start, amount) == walked
