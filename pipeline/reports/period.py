"""The period a report covers: a day, an ISO week or a month, in the support organisation's time zone.

A period is half-open, ``[start_ms, end_ms)``, from local midnight to local midnight, so a day with a
daylight-saving change is 23 or 25 hours long. Pure: no clock is read here; the caller passes ``now_ms``
for the defaults (yesterday, last week, last month: the periods a 9 o'clock review looks back on).
"""

from __future__ import annotations

import dataclasses
import re
from datetime import date, datetime, time, timedelta
from typing import Literal
from zoneinfo import ZoneInfo

from pipeline.domain import calendar
from pipeline.errors import ConfigError

Kind = Literal["day", "week", "month"]
_WEEK = re.compile(r"^(\d{4})-W(\d{2})$")
_MONTH = re.compile(r"^(\d{4})-(\d{2})$")


@dataclasses.dataclass(frozen=True, slots=True)
class Period:
    kind: Kind
    label: str  # 2026-11-28, 2026-W48 or 2026-11
    zone: str
    first_day: date  # local
    days: int

    @property
    def start_ms(self) -> int:
        return _midnight_ms(self.first_day, self.zone)

    @property
    def end_ms(self) -> int:
        return _midnight_ms(self.first_day + timedelta(days=self.days), self.zone)

    def contains(self, at_ms: int) -> bool:
        return self.start_ms <= at_ms < self.end_ms

    def each_day(self) -> list[Period]:
        return [day(self.first_day + timedelta(days=i), self.zone) for i in range(self.days)]

    def previous(self) -> Period:
        if self.kind == "day":
            return day(self.first_day - timedelta(days=1), self.zone)
        if self.kind == "week":
            return week(self.first_day - timedelta(days=7), self.zone)
        last = self.first_day - timedelta(days=1)
        return month(last.year, last.month, self.zone)


def _midnight_ms(d: date, zone: str) -> int:
    return int(datetime.combine(d, time(0), tzinfo=ZoneInfo(zone)).timestamp() * 1000)


local_date = calendar.local_day  # the local day of an instant in an IANA zone


def day(d: date, zone: str) -> Period:
    return Period("day", d.isoformat(), zone, d, 1)


def week(any_day: date, zone: str) -> Period:
    monday = any_day - timedelta(days=any_day.weekday())
    year, number, _ = monday.isocalendar()
    return Period("week", f"{year}-W{number:02d}", zone, monday, 7)


def month(year: int, number: int, zone: str) -> Period:
    first = date(year, number, 1)
    following = date(year + number // 12, number % 12 + 1, 1)
    return Period("month", f"{year}-{number:02d}", zone, first, (following - first).days)


def parse(kind: Kind, text: str | None, zone: str, now_ms: int) -> Period:
    """The period ``text`` names (``2026-11-28``, ``2026-W48``, ``2026-11``), or the last complete one before
    ``now_ms`` when it is None. A malformed one raises ConfigError naming the option."""
    today = local_date(now_ms, zone)
    if kind == "day":
        if text is None:
            return day(today - timedelta(days=1), zone)
        try:
            return day(date.fromisoformat(text), zone)
        except ValueError:
            raise ConfigError("--date", "must be a day such as 2026-11-28", text) from None
    if kind == "week":
        if text is None:
            return week(today - timedelta(days=7), zone)
        m = _WEEK.match(text)
        try:
            if m is None:
                raise ValueError(text)
            return week(date.fromisocalendar(int(m.group(1)), int(m.group(2)), 1), zone)
        except ValueError:
            raise ConfigError("--week", "must be an ISO week such as 2026-W48", text) from None
    if text is None:
        last = today.replace(day=1) - timedelta(days=1)
        return month(last.year, last.month, zone)
    m = _MONTH.match(text)
    if m is None or not 1 <= int(m.group(2)) <= 12:
        raise ConfigError("--month", "must be a month such as 2026-11", text)
    return month(int(m.group(1)), int(m.group(2)), zone)
