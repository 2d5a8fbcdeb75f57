"""Business-hours calendars (contract section 9): how much of a span is inside a contract's hours, and when
a given amount of such time has passed. Pure, exact to the millisecond, and by whole days, never minutes.

A calendar is weekly hours in an IANA time zone (following its daylight-saving changes) and holidays
(whole local days without hours). Each local day's hours are turned into instants with the zone's rules
of that day, so a range across a clock change is as long as it really is: ``00:00-24:00`` on the autumn
change is 25 hours, ``02:00-04:00`` on the spring change is one hour. Range ends are exclusive.

:func:`elapsed` is calendar time between two instants; :func:`reached` is the first instant at which a
given amount of it has elapsed since a start (the IRT deadline). They are each other's inverse, and
:func:`elapsed` adds up over adjacent spans.
"""

from __future__ import annotations

import bisect
import dataclasses
import re
from collections.abc import Iterator, Mapping
from datetime import date, datetime, timedelta
from functools import lru_cache
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pipeline.domain.timefmt import DAY_MS, HOUR_MS, MINUTE_MS

DAY_NAMES = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
DAY_MINUTES = 24 * 60
MAX_DAYS = 3 * 366  # how far :func:`reached` looks for opening hours before it gives up
_EPOCH_DAY = date(1970, 1, 1)
_RANGE = re.compile(r"^(\d{2}):(\d{2})-(\d{2}):(\d{2})$")


class CalendarError(ValueError):
    """A calendar definition is wrong; ``key`` names where (e.g. ``calendars.emea.hours.mon``)."""

    def __init__(self, key: str, why: str) -> None:
        self.key = key
        self.why = why
        super().__init__(f"{key}: {why}")


@dataclasses.dataclass(frozen=True, slots=True)
class Calendar:
    """Weekly opening ranges (minutes from local midnight, start inclusive, end exclusive) per weekday
    (0 = Monday), in ``zone``, without the ``holidays``."""

    name: str
    zone: str
    week: tuple[tuple[tuple[int, int], ...], ...]  # 7 days, each a sorted tuple of (start, end) minutes
    holidays: frozenset[date] = frozenset()
    _hash: int = dataclasses.field(init=False, repr=False, compare=False, default=0)

    def __post_init__(self) -> None:
        if len(self.week) != 7:
            raise ValueError("a week has 7 days")
        if not any(self.week):
            raise CalendarError(f"calendars.{self.name}.hours", "has no opening hours at all: nothing would "
                                                                "ever be due")
        # hashed once: a calendar is a cache key on every deadline asked for
        object.__setattr__(self, "_hash", hash((self.name, self.zone, self.week, self.holidays)))

    def __hash__(self) -> int:
        return self._hash


ROUND_THE_CLOCK = Calendar("24x7", "UTC", ((0, DAY_MINUTES),) * 7)


def is_24x7(cal: Calendar) -> bool:
    return cal is ROUND_THE_CLOCK or (cal.week == ROUND_THE_CLOCK.week and not cal.holidays)


@lru_cache(maxsize=4096)
def _open_ranges(cal: Calendar, day: date) -> tuple[tuple[int, int], ...]:
    """The day's opening ranges as instants (epoch ms), in order; () on a holiday or a closed day.

    An instant counts when the local clock then shows a time inside one of the day's ranges, as a person
    reading the contract would count: on a spring change the skipped hour is not there (``02:30-05:00``
    opens at 03:00), on an autumn change the repeated hour counts twice. Each range is mapped through
    every UTC offset the zone has around that day.
    """
    ranges = cal.week[day.weekday()]
    if day in cal.holidays or not ranges:
        return ()
    local_midnight = (day - _EPOCH_DAY).days * DAY_MS  # the day's 00:00 read as if it were UTC
    out: list[tuple[int, int]] = []
    for seg_start, seg_end, offset in _offsets(cal.zone, local_midnight - 15 * HOUR_MS, local_midnight + 39 * HOUR_MS):
        for start, end in ranges:
            lo = max(seg_start, local_midnight + start * MINUTE_MS - offset)
            hi = min(seg_end, local_midnight + end * MINUTE_MS - offset)
            if hi > lo:
                out.append((lo, hi))
    out.sort()
    merged: list[tuple[int, int]] = []
    for lo, hi in out:  # pieces that meet at a change are one range
        if merged and merged[-1][1] == lo:
            merged[-1] = (merged[-1][0], hi)
        else:
            merged.append((lo, hi))
    return tuple(merged)


def clear_caches() -> None:
    """Forget every day's ranges and every deadline computed (for benchmarks that must start cold)."""
    _open_ranges.cache_clear()
    _reached.cache_clear()
    _INDEXES.clear()


def _offsets(zone_name: str, start_ms: int, end_ms: int) -> list[tuple[int, int, int]]:
    """(from, to, UTC offset in ms) over ``[start_ms, end_ms)``: one piece, or one per change of offset."""
    zone = ZoneInfo(zone_name)

    def offset(at_ms: int) -> int:
        return int(datetime.fromtimestamp(at_ms / 1000, tz=zone).utcoffset().total_seconds() * 1000)  # type: ignore[union-attr]

    out = []
    while True:
        first = offset(start_ms)
        if offset(end_ms - 1) == first:
            out.append((start_ms, end_ms, first))
            return out
        lo, hi = start_ms, end_ms - 1  # the offset is `first` at lo and another at hi: find the change
        while hi - lo > 1:
            mid = (lo + hi) // 2
            lo, hi = (mid, hi) if offset(mid) == first else (lo, mid)
        out.append((start_ms, hi, first))
        start_ms = hi


def local_day(at_ms: int, zone: str) -> date:
    return datetime.fromtimestamp(at_ms / 1000, tz=ZoneInfo(zone)).date()


def _ranges_from(cal: Calendar, at_ms: int) -> Iterator[tuple[int, int]]:
    """Every opening range that ends after ``at_ms``, in order (starting the day before, for ranges that a
    clock change pushes past midnight)."""
    day = local_day(at_ms, cal.zone) - timedelta(days=1)
    for _ in range(MAX_DAYS + 2):
        for start, end in _open_ranges(cal, day):
            if end > at_ms:
                yield start, end
        day += timedelta(days=1)


def is_open(cal: Calendar, at_ms: int) -> bool:
    """Does the calendar count the millisecond at ``at_ms``?"""
    return is_24x7(cal) or elapsed(cal, at_ms, at_ms + 1) == 1


def elapsed(cal: Calendar, start_ms: int, end_ms: int) -> int:
    """Calendar milliseconds in ``[start_ms, end_ms)`` (0 when ``end_ms <= start_ms``)."""
    if end_ms <= start_ms:
        return 0
    if is_24x7(cal):
        return end_ms - start_ms
    index = _index(cal, start_ms, end_ms)
    if index is not None:
        return index.counted(end_ms) - index.counted(start_ms)
    return _elapsed_day_by_day(cal, start_ms, end_ms)


def _elapsed_day_by_day(cal: Calendar, start_ms: int, end_ms: int) -> int:
    total = 0
    day = local_day(start_ms, cal.zone) - timedelta(days=1)
    last = local_day(end_ms, cal.zone) + timedelta(days=1)
    while day <= last:
        for open_ms, close_ms in _open_ranges(cal, day):
            lo, hi = max(open_ms, start_ms), min(close_ms, end_ms)
            if hi > lo:
                total += hi - lo
        day += timedelta(days=1)
    return total


def reached(cal: Calendar, start_ms: int, amount_ms: int) -> int:
    """The first instant at which ``amount_ms`` of calendar time has elapsed since ``start_ms``: ``start_ms``
    itself for 0; for a start outside the hours, counting begins at the next opening; an amount that
    ends exactly at a range's end is due then, not at the next opening."""
    if amount_ms <= 0:
        return start_ms
    if is_24x7(cal):
        return start_ms + amount_ms
    index = _index(cal, start_ms, start_ms)
    if index is not None:
        at = index.reaching(start_ms, amount_ms)
        # the walk looks MAX_DAYS ahead and no further; near that horizon it decides (found, or too few hours)
        if at is not None and at - start_ms <= (MAX_DAYS - 2) * DAY_MS:
            return at
    return _reached(cal, start_ms, amount_ms)


@lru_cache(maxsize=65_536)  # remembered: a ticket's deadline and rungs are asked for on every change
def _reached(cal: Calendar, start_ms: int, amount_ms: int) -> int:
    left = amount_ms
    for open_ms, close_ms in _ranges_from(cal, start_ms):
        lo = max(open_ms, start_ms)
        if close_ms <= lo:
            continue
        if left <= close_ms - lo:
            return lo + left
        left -= close_ms - lo
    raise CalendarError(f"calendars.{cal.name}", f"has too few opening hours: {amount_ms} ms are not reached "
                                                 f"within {MAX_DAYS} days")


def closed_spans(cal: Calendar, start: int, end: int) -> list[tuple[int, int]]:
    """The spans inside ``[start, end)`` that the calendar does not count, in order."""
    if end <= start or is_24x7(cal):
        return []
    out: list[tuple[int, int]] = []
    at = start
    day = local_day(start, cal.zone) - timedelta(days=1)
    last = local_day(end, cal.zone) + timedelta(days=1)
    while day <= last and at < end:
        for open_ms, close_ms in _open_ranges(cal, day):
            if close_ms <= at:
                continue
            if open_ms >= end:
                break
            if open_ms > at:
                out.append((at, open_ms))
            at = max(at, close_ms)
        day += timedelta(days=1)
    if at < end:
        out.append((at, end))
    return out


# --- the same answers by bisection ------------------------------------------------------------------
# A calendar's opening ranges over a span of days, in order, with the open time before each: elapsed() is a
# difference of two look-ups and reached() one more, instead of a walk day by day (a ticket's instants are
# asked for on every change, and every clock of a contract has its own). Built from _open_ranges, the one
# definition of the hours; used only inside the span it covers, else the walk answers.

_INDEX_BEFORE_DAYS, _INDEX_AFTER_DAYS, _INDEX_MAX_DAYS = 400, 800, 4000


@dataclasses.dataclass(slots=True)
class _Index:
    first_day: date
    last_day: date
    safe_from: int  # instants in [safe_from, safe_to] are answered; the margins hold any zone's offset
    safe_to: int
    starts: list[int]
    ends: list[int]
    before: list[int]  # open time before each range
    through: list[int]  # open time to the end of each range

    def counted(self, at_ms: int) -> int:
        """Open time from the span's start to ``at_ms``."""
        i = bisect.bisect_right(self.ends, at_ms)
        if i == len(self.ends):
            return self.through[-1] if self.through else 0
        return self.before[i] + max(0, at_ms - self.starts[i])

    def reaching(self, start_ms: int, amount_ms: int) -> int | None:
        goal = self.counted(start_ms) + amount_ms
        j = bisect.bisect_left(self.through, goal)
        if j == len(self.through):
            return None
        at = self.starts[j] + goal - self.before[j]
        return at if at <= self.safe_to else None


_INDEXES: dict[Calendar, _Index | None] = {}


def _index(cal: Calendar, start_ms: int, end_ms: int) -> _Index | None:
    """The calendar's index covering both instants (built or widened as needed), or None to walk instead."""
    index = _INDEXES.get(cal)
    if index is not None and index.safe_from <= start_ms and end_ms <= index.safe_to:
        return index
    if cal in _INDEXES and index is None:
        return None  # its ranges did not form one ordered list: always walk
    first = local_day(start_ms, cal.zone) - timedelta(days=_INDEX_BEFORE_DAYS)
    last = local_day(end_ms, cal.zone) + timedelta(days=_INDEX_AFTER_DAYS)
    if index is not None:
        first, last = min(first, index.first_day), max(last, index.last_day)
    if (last - first).days > _INDEX_MAX_DAYS:
        return None
    built = _build_index(cal, first, last)
    _INDEXES[cal] = built
    if built is None or not (built.safe_from <= start_ms and end_ms <= built.safe_to):
        return None
    return built


def _build_index(cal: Calendar, first: date, last: date) -> _Index | None:
    starts: list[int] = []
    ends: list[int] = []
    day = first
    while day <= last:
        for lo, hi in _open_ranges(cal, day):
            if ends and lo < ends[-1]:
                return None
            if ends and lo == ends[-1]:
                ends[-1] = hi
            else:
                starts.append(lo)
                ends.append(hi)
        day += timedelta(days=1)
    before, through, total = [], [], 0
    for lo, hi in zip(starts, ends, strict=True):
        before.append(total)
        total += hi - lo
        through.append(total)
    # two days' margin at each end: a day's ranges lie within 15 h before and 39 h after its 00:00 UTC reading
    safe_from = ((first - _EPOCH_DAY).days + 2) * DAY_MS
    safe_to = ((last - _EPOCH_DAY).days - 1) * DAY_MS
    return _Index(first, last, safe_from, safe_to, starts, ends, before, through)


# --- the policy file's [calendars.NAME] tables ------------------------------------------------------

def parse(name: str, doc: Mapping[str, Any]) -> Calendar:
    """A calendar from its policy table; a CalendarError naming the key for anything wrong."""
    key = f"calendars.{name}"
    if not isinstance(doc, Mapping):
        raise CalendarError(key, "must be a table with timezone, hours and holidays")
    unknown = sorted(set(doc) - {"timezone", "hours", "holidays"})
    if unknown:
        raise CalendarError(f"{key}.{unknown[0]}", "is not a calendar setting (timezone, hours, holidays)")
    zone = doc.get("timezone")
    if not isinstance(zone, str):
        raise CalendarError(f"{key}.timezone", "must name an IANA time zone such as Europe/Berlin")
    try:
        ZoneInfo(zone)
    except (ZoneInfoNotFoundError, ValueError):
        raise CalendarError(f"{key}.timezone", f"is not an IANA time zone: {zone!r}") from None
    hours = doc.get("hours", {})
    if not isinstance(hours, Mapping):
        raise CalendarError(f"{key}.hours", "must be a table of days (mon ... sun) to lists of \"HH:MM-HH:MM\"")
    for day_name in hours:
        if day_name not in DAY_NAMES:
            raise CalendarError(f"{key}.hours.{day_name}", f"is not a day; days are {', '.join(DAY_NAMES)}")
    week = tuple(_day_ranges(f"{key}.hours.{d}", hours.get(d, [])) for d in DAY_NAMES)
    holidays = doc.get("holidays", [])
    if not isinstance(holidays, list):
        raise CalendarError(f"{key}.holidays", "must be a list of days such as \"2026-12-24\"")
    days = set()
    for i, raw in enumerate(holidays):
        try:
            days.add(raw if isinstance(raw, date) else date.fromisoformat(str(raw)))
        except ValueError:
            raise CalendarError(f"{key}.holidays[{i}]", f"is not a day such as \"2026-12-24\": {raw!r}") from None
    return Calendar(name, zone, week, frozenset(days))


def _day_ranges(key: str, raw: Any) -> tuple[tuple[int, int], ...]:
    if not isinstance(raw, list):
        raise CalendarError(key, "must be a list of ranges such as [\"08:00-18:00\"]")
    ranges = []
    for i, text in enumerate(raw):
        m = _RANGE.match(text) if isinstance(text, str) else None
        if m is None:
            raise CalendarError(f"{key}[{i}]", f"must be a range such as \"08:00-18:00\", got {text!r}")
        h1, m1, h2, m2 = (int(g) for g in m.groups())
        start, end = h1 * 60 + m1, h2 * 60 + m2
        if h1 > 23 or m1 > 59 or m2 > 59 or end > DAY_MINUTES or (h2 == 24 and m2 != 0):
            raise CalendarError(f"{key}[{i}]", f"is not a time of day: {text!r} (00:00 to 24:00)")
        if end <= start:
            raise CalendarError(f"{key}[{i}]", f"ends before it starts: {text!r}")
        ranges.append((start, end))
    ranges.sort()
    for (_, end), (start, _) in zip(ranges, ranges[1:], strict=False):
        if start < end:
            raise CalendarError(key, "has overlapping ranges")
    return tuple(ranges)
