"""One business-hours policy for the tests (the contract's section 9 example): the emea calendar, Monday to
Friday in Berlin with a short Friday and Christmas off, for Sev3 and Sev4 tickets and for desktop Sev1s."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

from pipeline.domain.policy import Policy, load_policy

POLICY = """
[calendars.emea]
timezone = "Europe/Berlin"
holidays = ["2026-12-24", "2026-12-25", "2026-12-26"]
# the contract's example writes hours as one inline table over two lines, which TOML 1.1 allows and
# Python's tomllib (TOML 1.0) refuses; a sub-table says the same
[calendars.emea.hours]
mon = ["08:00-18:00"]
tue = ["08:00-18:00"]
wed = ["08:00-18:00"]
thu = ["08:00-18:00"]
fri = ["08:00-17:00"]

[calendar_for]
rules = [ { severity = [1], product = "desktop", calendar = "emea" },
          { severity = [3, 4], calendar = "emea" } ]
"""


def write_policy(directory: Path, text: str = POLICY) -> Path:
    path = directory / "policy.toml"
    path.write_text(text)
    return path


def business_hours_policy(directory: Path, text: str = POLICY) -> Policy:
    return load_policy(write_policy(directory, text))


def berlin(local: str) -> int:
    """Epoch ms of a Berlin wall-clock time such as ``2026-03-06T16:30``."""
    return int(datetime.fromisoformat(local).replace(tzinfo=ZoneInfo("Europe/Berlin")).timestamp() * 1000)


def in_emea_hours(at_ms: int) -> bool:
    """Inside the emea calendar's hours, its closing instants included (a deadline may fall on one)."""
    local = datetime.fromtimestamp(at_ms / 1000, tz=ZoneInfo("Europe/Berlin"))
    minute = local.hour * 60 + local.minute + local.second / 60 + local.microsecond / 60_000_000
    close = 17 * 60 if local.weekday() == 4 else 18 * 60
    return local.weekday() < 5 and 8 * 60 <= minute <= close and local.date().isoformat()[5:] not in (
        "12-24", "12-25", "12-26")
