"""The period a report covers: a day, an ISO week or a month, in the support organisation's time zone.

A period is half-open, ``[start_ms, end_ms)``, from local midnight to local midnight, so a day with a
daylight-saving change is 23 or 25 hours long. Pure: no clock is read here; the caller passes ``now_ms``,
the clock that judges (the wall clock in live mode, the pipeline's event-time clock in event mode), for
the defaults (the last complete day, week or month of that clock: the periods a 9 o'clock review looks
back on) and for the cut: a report never counts time after ``now_ms``, so a period that is not over is
counted to ``now_ms`` (:attr:`Period.cut_ms`) and says so.
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
PARAMS: dict[Kind, str] = {"day": "date", "week": "week", "month": "month"}  # the query parameter (and --flag)
_WEEK = re.compile(r"^(\d{4})-W(\d{2})$")
_MONTH = re.compile(r"^(\d{4})-(\d{2})$")


@dataclasses.dataclass(frozen=True, slots=True)
class Period:
    kind: Kind
    label: str  # 2026-11-28, 2026-W48 or 2026-11
    zone: str
    first_day: date  # local
    days: int
    now_ms: int | None = None  # the judging clock when the report was made; None: counted whole

    @property
    def start_ms(self) -> int:
        return _midnight_ms(self.first_day, self.zone)

    @property
    def end_ms(self) -> int:
        return _midnight_ms(self.first_day + timedelta(days=self.days), self.zone)

    @property
    def cut_ms(self) -> int:
        """Where counting stops: the period's end, or the judging clock if the period is not over (its start
        if it has not begun)."""
        if self.now_ms is None:
            return self.end_ms
        return max(self.start_ms, min(self.end_ms, self.now_ms))

    @property
    def complete(self) -> bool:
        return self.now_ms is None or self.now_ms >= self.end_ms

    @property
    def begun(self) -> bool:
        return self.now_ms is None or self.now_ms >= self.start_ms

    @property
    def last_ms(self) -> int:
        """The last instant counted: the period's last millisecond, or the judging clock inside it."""
        return self.end_ms - 1 if self.now_ms is None else min(self.end_ms - 1, self.now_ms)

    def contains(self, at_ms: int) -> bool:
        """Whether ``at_ms`` falls in the period (what the calendar says, whatever the clock)."""
        return self.start_ms <= at_ms < self.end_ms

    def happened(self, at_ms: int) -> bool:
        """Whether ``at_ms`` is not after the judging clock."""
        return self.now_ms is None or at_ms <= self.now_ms

    def counts(self, at_ms: int) -> bool:
        """Whether a report of the period counts what happened at ``at_ms``: in it, and not after the clock."""
        return self.contains(at_ms) and self.happened(at_ms)

    def at(self, now_ms: int | None) -> Period:
        """The same period, counted to the judging clock ``now_ms``."""
        return dataclasses.replace(self, now_ms=now_ms)

    def each_day(self) -> list[Period]:
        return [day(self.first_day + timedelta(days=i), self.zone).at(self.now_ms) for i in range(self.days)]

    def elapsed_days(self) -> list[Period]:
        """The days that have begun by the judging clock (all of them once the period is over)."""
        return [d for d in self.each_day() if d.begun]

    def previous(self) -> Period:
        if self.kind == "day":
            found = day(self.first_day - timedelta(days=1), self.zone)
        elif self.kind == "week":
            found = week(self.first_day - timedelta(days=7), self.zone)
        else:
            last = self.first_day - timedelta(days=1)
            found = month(last.year, last.month, self.zone)
        return found.at(self.now_ms)


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


def parse(kind: Kind, text: str | None, zone: str, now_ms: int, name: str | None = None) -> Period:
    """The period ``text`` names (``2026-11-28``, ``2026-W48``, ``2026-11``), or the last complete one before
    ``now_ms`` when it is None, counted to ``now_ms`` (the judging clock). A malformed one raises ConfigError
    naming ``name``: the query parameter or flag it came from (default: the command line's ``--date``,
    ``--week`` or ``--month``)."""
    return _named(kind, text, zone, now_ms, name or f"--{PARAMS[kind]}").at(now_ms)


def _named(kind: Kind, text: str | None, zone: str, now_ms: int, name: str) -> Period:
    today = local_date(now_ms, zone)
    if kind == "day":
        if text is None:
            return day(today - timedelta(days=1), zone)
        try:
            return day(date.fromisoformat(text), zone)
        except ValueError:
            raise ConfigError(name, "must be a day such as 2026-11-28", text) from None
    if kind == "week":
        if text is None:
            return week(today - timedelta(days=7), zone)
        m = _WEEK.match(text)
        try:
            if m is None:
                raise ValueError(text)
            return week(date.fromisocalendar(int(m.group(1)), int(m.group(2)), 1), zone)
        except ValueError:
            raise ConfigError(name, "must be an ISO week such as 2026-W48", text) from None
    if text is None:
        last = today.replace(day=1) - timedelta(days=1)
        return month(last.year, last.month, zone)
    m = _MONTH.match(text)
    if m is None or not 1 <= int(m.group(2)) <= 12:
        raise ConfigError(name, "must be a month such as 2026-11", text)
    return month(int(m.group(1)), int(m.group(2)), zone)
