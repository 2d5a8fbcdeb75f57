"""Reading a TOML document key by key, as the policy file is read: each value checked where it is read, each
mistake a :class:`~pipeline.errors.ConfigError` naming the file and the dotted key, and the keys nobody read
refused as typos. The policy (:mod:`pipeline.domain.policy`, :mod:`pipeline.domain.contracts`) reads through
:class:`Reader`; the ingest mappings share :func:`unread_keys`."""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from pipeline.domain.calendar import Calendar
from pipeline.errors import ConfigError

SEVERITIES = (1, 2, 3, 4)  # the one home of the severities (the policy re-exports them)


class Reader:
    """Reads dotted keys from a TOML document and remembers which it read, to refuse unknown ones."""

    def __init__(self, doc: dict[str, Any], where: str) -> None:
        self.doc = doc
        self.where = where
        self.read: set[str] = set()

    def _get(self, dotted: str) -> Any:
        self.read.add(dotted)
        node: Any = self.doc
        for part in dotted.split("."):
            if not isinstance(node, dict) or part not in node:
                return None
            node = node[part]
        return node

    def table(self, dotted: str) -> dict[str, Any]:
        """A whole table, read as one key (its own parser checks its contents)."""
        value = self._get(dotted)
        if value is None:
            return {}
        if not isinstance(value, dict):
            raise ConfigError(f"{self.where}: {dotted}", "must be a table")
        return value

    def error(self, dotted: str, why: str, value: object = None) -> ConfigError:
        """The error for a key of this file: ``policy.toml: contracts.gold.goal: why, got value``."""
        return ConfigError(f"{self.where}: {dotted}", why, value)

    def number(self, dotted: str, default: float | None, *, low: float | None = None, high: float | None = None,
               low_open: bool = False, integer: bool = False) -> Any:
        value = self._get(dotted)
        if value is None:
            return default
        return self.check(dotted, value, low=low, high=high, low_open=low_open, integer=integer)

    def numbers(self, dotted: str, default: list | tuple, *, count: int | None = None, low: float | None = None,
                high: float | None = None, integers: bool = False) -> list:
        value = self._get(dotted)
        if value is None:
            return list(default)
        if not isinstance(value, list) or (count is not None and len(value) != count):
            want = f"a list of {count} numbers" if count else "a list of numbers"
            raise ConfigError(f"{self.where}: {dotted}", f"must be {want}", value)
        for item in value:
            self.check(dotted, item, low=low, high=high, integer=integers)
        return value

    def check(self, dotted: str, value: Any, *, low: float | None = None, high: float | None = None,
              low_open: bool = False, integer: bool = False) -> Any:
        """``value`` (read from a table the caller walks) if it is a number within the bounds."""
        kind = "an integer" if integer else "a number"
        ok = isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)
        if ok and integer:
            ok = isinstance(value, int)
        if ok and low is not None:
            ok = value > low if low_open else value >= low
        if ok and high is not None:
            ok = value <= high
        if not ok:
            bounds = []
            if low is not None:
                bounds.append(f"greater than {low:g}" if low_open else f"at least {low:g}")
            if high is not None:
                bounds.append(f"at most {high:g}")
            raise self.error(dotted, f"must be {kind} {' and '.join(bounds)}".strip(), value)
        return value

    def calendar(self, dotted: str, name: Any, calendars: Mapping[str, Calendar]) -> Calendar:
        """The calendar ``name`` names: one defined under [calendars], or the built-in 24x7."""
        if not isinstance(name, str):
            raise self.error(dotted, "must name a calendar defined under [calendars] (or \"24x7\")")
        if name not in calendars:
            defined = ", ".join(sorted(calendars))
            raise self.error(dotted, f"names no calendar defined under [calendars] (defined: {defined})", name)
        return calendars[name]

    def severities(self, dotted: str, value: Any) -> frozenset[int] | None:
        """One severity or a list of them (None when left out)."""
        if value is None:
            return None
        listed = value if isinstance(value, list) else [value]
        if not listed or any(type(s) is not int or s not in SEVERITIES for s in listed):
            raise self.error(dotted, "must be a severity from 1 to 4 or a list of them", value)
        return frozenset(listed)

    def names(self, dotted: str, value: Any, what: str) -> frozenset[str] | None:
        """One non-empty string or a list of them, e.g. products or customer ids (None when left out)."""
        if value is None:
            return None
        listed = value if isinstance(value, list) else [value]
        if not listed or any(not isinstance(v, str) or not v for v in listed):
            raise self.error(dotted, f"must be {what} or a list of them", value)
        return frozenset(listed)

    def flag(self, dotted: str, value: Any) -> bool | None:
        if value is not None and not isinstance(value, bool):
            raise self.error(dotted, "must be true or false", value)
        return value

    def refuse_unknown(self) -> None:
        unknown = unread_keys(self.doc, self.read)
        if unknown:
            raise self.error(unknown[0], "is not a policy setting (a typo?); see "
                              "deploy/policy.example.toml for every key")


def unread_keys(doc: dict[str, Any], read: set[str], prefix: str = "") -> list[str]:
    """The dotted keys of a TOML document that nobody read (typos), in document order: a table that was
    read as a whole counts as read. The policy and the ingest mappings refuse them."""
    found = []
    for key, value in doc.items():
        dotted = f"{prefix}{key}"
        if dotted in read:
            continue
        found += unread_keys(value, read, dotted + ".") if isinstance(value, dict) else [dotted]
    return found
