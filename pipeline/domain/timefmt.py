"""RFC 3339 timestamps <-> integer epoch milliseconds (the one time unit used inside the core)."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

_RFC3339 = re.compile(
    r"^\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}:\d{2}(?:\.\d{1,9})?(?:[Zz]|[+-]\d{2}:\d{2})$"
)
# The core's units, in epoch milliseconds: the one home of these numbers (every module imports them from here).
SECOND_MS = 1000
MINUTE_MS = 60 * SECOND_MS
HOUR_MS = 60 * MINUTE_MS
DAY_MS = 24 * HOUR_MS

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MS = timedelta(milliseconds=1)


class TimestampError(ValueError):
    """Not an RFC 3339 timestamp with an offset."""


def parse_rfc3339_ms(text: str) -> int:
    """Epoch milliseconds of an RFC 3339 timestamp; naive or malformed ones raise TimestampError."""
    if not isinstance(text, str) or not _RFC3339.match(text):
        raise TimestampError("expected an RFC 3339 timestamp with an offset, e.g. 2026-01-31T09:30:00Z")
    if len(text) == 24 and text[10] == "T" and text[23] == "Z":  # the usual shape, 2026-01-31T09:30:00.000Z
        try:
            return (datetime.fromisoformat(text) - _EPOCH) // _MS
        except ValueError:
            pass  # the general path below says why
    normal = text.upper().replace(" ", "T", 1)
    if "." in normal:  # Python keeps at most 6 fraction digits
        head, _, rest = normal.partition(".")
        digits = re.match(r"\d+", rest).group(0)  # type: ignore[union-attr]
        normal = f"{head}.{digits[:6].ljust(6, '0')}{rest[len(digits):]}"
    try:
        moment = datetime.fromisoformat(normal)
    except ValueError as exc:
        raise TimestampError(f"not a valid date or time ({exc})") from None
    if moment.tzinfo is None:  # the pattern demands an offset, this is belt and braces
        raise TimestampError("naive timestamps are invalid: give an offset such as Z or +02:00")
    return (moment - _EPOCH) // _MS


_DAYS: dict[int, str] = {}  # day number -> "2026-01-31T": strftime once per day, not once per timestamp


def format_rfc3339_ms(ms: int) -> str:
    """``2026-01-31T09:30:00.000Z`` for epoch milliseconds."""
    day, in_day = divmod(ms, DAY_MS)
    date = _DAYS.get(day)
    if date is None:
        if len(_DAYS) > 4096:  # a replay walks forward through days; keep the cache small
            _DAYS.clear()
        date = _DAYS[day] = (_EPOCH + timedelta(days=day)).strftime("%Y-%m-%dT")
    seconds, milli = divmod(in_day, SECOND_MS)
    minutes, second = divmod(seconds, 60)
    hour, minute = divmod(minutes, 60)
    return f"{date}{hour:02d}:{minute:02d}:{second:02d}.{milli:03d}Z"
