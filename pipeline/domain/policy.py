"""The SLA policy: targets, FastLane, BizCrit ladder and stack-rank weights (contract sections 3-4),
business-hours calendars (section 9) and SLA contracts (section 10, read by :mod:`pipeline.domain.contracts`).

Built-in defaults are the contract's; a TOML file (``SLA_POLICY_FILE``) overrides any of them. Unknown
keys and bad values are refused with an error naming the key, e.g.
``policy.toml: irt.targets_minutes.1: must be a number greater than 0, got -5``.
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import math
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from pipeline.domain import calendar, contracts
from pipeline.domain.calendar import ROUND_THE_CLOCK, Calendar, CalendarError
from pipeline.domain.contracts import DEFAULT, IRT, Choice, Contract, ContractRule, choose
from pipeline.domain.timefmt import DAY_MS, HOUR_MS, MINUTE_MS
from pipeline.domain.tomlread import SEVERITIES, Reader
from pipeline.errors import ConfigError

SEVERITY_NAMES = {1: "Urgent", 2: "High", 3: "Normal", 4: "Low"}


@dataclasses.dataclass(frozen=True, slots=True)
class CalendarRule:
    """``[calendar_for] rules`` entry: each criterion left out matches anything."""

    calendar: Calendar
    severities: frozenset[int] | None = None
    products: frozenset[str] | None = None
    fastlane: bool | None = None

    def matches(self, severity: int, product: str | None, fastlane: bool) -> bool:
        return ((self.severities is None or severity in self.severities)
                and (self.products is None or product in self.products)
                and (self.fastlane is None or fastlane == self.fastlane))


@dataclasses.dataclass(frozen=True)
class Policy:
    irt_targets_ms: dict[int, int] = dataclasses.field(
        default_factory=lambda: {1: 15 * MINUTE_MS, 2: 60 * MINUTE_MS, 3: 240 * MINUTE_MS, 4: 1440 * MINUTE_MS})
    fastlane_multiplier: float = 0.5
    irt_goal: float = 0.99
    at_risk_fraction: float = 0.5
    # BizCrit: Sev1 always; FastLane customers' tickets of these severities too.
    fastlane_bizcrit_severities: tuple[int, ...] = (2,)
    irt_rungs: tuple[float, ...] = (0.5, 0.8, 1.0)  # irt_at_risk 1, irt_at_risk 2, irt_breached 3
    bizcrit_rungs_ms: tuple[int, ...] = (30 * MINUTE_MS, 120 * MINUTE_MS, 240 * MINUTE_MS)  # tier3, mgmt, exec
    stack_rank_weights: tuple[float, float, float] = (0.5, 0.25, 0.25)  # VSAT %, Quality %, % ART
    stack_rank_min_surveys: int = 5
    stack_rank_min_samples: int = 5
    closed_retention_ms: int = 7 * DAY_MS
    # How far ahead of the clock that judges it an event may be dated (contract v2, `future_timestamp`):
    # live, ahead of the worker's wall clock (upstream clocks drift a little); in event time, ahead of its
    # partition's clock (a replay's quiet nights and weekends must pass).
    wall_future_ms: int = 5 * MINUTE_MS
    input_silent_ms: int = 60 * MINUTE_MS  # no ticket event this long while workers run: alert (SLAInputSilent)
    event_future_ms: int = 7 * DAY_MS
    # Business-hours calendars (contract section 9): the first matching rule chooses a ticket's calendar;
    # without rules every ticket is counted round the clock, and outcomes are as in v1.
    calendar_rules: tuple[CalendarRule, ...] = ()
    # SLA contracts (contract v3 section 10): without them every ticket is judged under the implicit
    # DEFAULT contract (IRT against irt_targets_ms), and outcomes are byte for byte as in v2.
    contracts: Mapping[str, Contract] = dataclasses.field(default_factory=dict)
    contract_rules: tuple[ContractRule, ...] = ()
    default_contract: str = DEFAULT
    digest: str = "builtin"  # the first 12 hex digits of the SHA-256 of the policy file's bytes

    @property
    def uses_contracts(self) -> bool:
        """Whether outcomes name their contract and policy (only when the policy defines contracts)."""
        return bool(self.contracts)

    @functools.cached_property
    def fingerprint(self) -> int:
        """32 bits of every setting's value: instants remembered in a ticket's state under another policy
        (a restart with a changed file, a test's second policy) are found again, never reused. Sets of
        names print in an order that may differ between processes: then a restart only finds them again."""
        return int.from_bytes(hashlib.blake2b(repr(self).encode(), digest_size=4).digest(), "big")

    @functools.cached_property
    def _implicit(self) -> Contract:
        return Contract(DEFAULT, {IRT: self.irt_targets_ms}, {IRT: self.irt_goal})

    def contract(self, name: str | None) -> Contract:
        """The contract of that name; the implicit default for None or a name the policy lacks."""
        found = self.contracts.get(name) if name is not None else None
        return found if found is not None else self._implicit

    def choose_contract(self, requested: str | None, customer_id: str | None, product: str | None,
                        fastlane: bool) -> Choice:
        return choose(self.contracts, self.contract_rules, self.default_contract, requested, customer_id, product,
                      fastlane)

    def target_ms(self, contract: Contract, metric: str, severity: int, fastlane: bool) -> int | None:
        """The target of a metric at a severity under a contract (FastLane applied); None: not judged.
        IRT severities a contract leaves out fall back to [irt] targets_minutes (section 10, rule 2)."""
        target = contract.targets_ms.get(metric, {}).get(severity)
        if target is None:
            if metric != IRT:
                return None
            target = self.irt_targets_ms[severity]
        if not fastlane:
            return target
        multiplier = self.fastlane_multiplier if contract.fastlane_multiplier is None else contract.fastlane_multiplier
        return int(target * multiplier)

    def calendar_under(self, contract: Contract, severity: int, product: str | None, fastlane: bool) -> Calendar:
        """The contract's calendar for the severity, else its calendar, else [calendar_for]'s rules."""
        cal = contract.calendar_for_severity.get(severity) or contract.calendar
        return cal if cal is not None else self.calendar_for(severity, product, fastlane)

    def calendar_choice(self, contract: Contract, severity: int, product: str | None,
                        fastlane: bool) -> tuple[Calendar, str]:
        """:meth:`calendar_under`'s calendar and which setting chose it (for explanations)."""
        cal = contract.calendar_for_severity.get(severity)
        if cal is not None:
            return cal, f"contract calendar_for_severity.{severity}"
        if contract.calendar is not None:
            return contract.calendar, "contract calendar"
        for i, rule in enumerate(self.calendar_rules):
            if rule.matches(severity, product, fastlane):
                return rule.calendar, f"calendar_for rule {i}"
        return ROUND_THE_CLOCK, "24x7"

    def calendar_for(self, severity: int, product: str | None, fastlane: bool) -> Calendar:
        for rule in self.calendar_rules:
            if rule.matches(severity, product, fastlane):
                return rule.calendar
        return ROUND_THE_CLOCK

    @property
    def uses_calendars(self) -> bool:
        """Whether outcomes name their calendar (only when the policy defines calendar rules)."""
        return bool(self.calendar_rules)

    def irt_target_ms(self, severity: int, fastlane: bool) -> int:
        target = self.irt_targets_ms[severity]
        return int(target * self.fastlane_multiplier) if fastlane else target

    def is_bizcrit_severity(self, severity: int, fastlane: bool) -> bool:
        return severity == 1 or (fastlane and severity in self.fastlane_bizcrit_severities)

    def irt_bucket_edges_s(self) -> list[float]:
        """Histogram edges for IRT: one at every target (FastLane ones too), and a few around them."""
        edges = {60.0, 300.0, 1800.0, 7200.0, 28800.0, 43200.0, 172800.0, 604800.0}
        for sev in SEVERITIES:
            for fastlane in (False, True):
                edges.add(self.irt_target_ms(sev, fastlane) / 1000)
        return sorted(edges)


def load_policy(path: Path | None) -> Policy:
    """The built-in policy, overridden by the TOML file at ``path`` if given. Its ``digest`` is the first
    12 hex digits of the SHA-256 of the file's bytes (outcomes name the policy that judged them)."""
    if path is None:
        return Policy()
    try:
        data = path.read_bytes()
        doc = tomllib.loads(data.decode("utf-8"))
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(str(path), f"is not valid TOML ({exc})") from None
    except UnicodeDecodeError:
        raise ConfigError(str(path), "is not valid TOML (not UTF-8 text)") from None
    except OSError as exc:
        raise ConfigError(str(path), f"cannot be read ({exc.strerror})") from None
    return _from_doc(doc, path.name, hashlib.sha256(data).hexdigest()[:12])


def _from_doc(doc: dict[str, Any], where: str, digest: str) -> Policy:
    base = Policy()
    reader = Reader(doc, where)
    targets = dict(base.irt_targets_ms)
    for sev in SEVERITIES:
        minutes = reader.number(f"irt.targets_minutes.{sev}", None, low=0, low_open=True)
        if minutes is not None:
            targets[sev] = int(minutes * MINUTE_MS)
    rungs = reader.numbers("bizcrit.irt_rungs", base.irt_rungs, count=3, low=0, high=1)
    if rungs != sorted(rungs) or rungs[-1] != 1:
        raise ConfigError(f"{where}: bizcrit.irt_rungs", "must rise and end at 1 (the deadline)", rungs)
    bizcrit_minutes = reader.numbers(
        "bizcrit.rungs_minutes", [ms / MINUTE_MS for ms in base.bizcrit_rungs_ms], count=3, low=0)
    if bizcrit_minutes != sorted(bizcrit_minutes):
        raise ConfigError(f"{where}: bizcrit.rungs_minutes", "must rise: tier 3, then management, then executive",
                          bizcrit_minutes)
    weights = (
        reader.number("stack_rank.weights.vsat", base.stack_rank_weights[0], low=0),
        reader.number("stack_rank.weights.quality", base.stack_rank_weights[1], low=0),
        reader.number("stack_rank.weights.art", base.stack_rank_weights[2], low=0),
    )
    if not math.isclose(sum(weights), 1.0, abs_tol=1e-9):
        raise ConfigError(f"{where}: stack_rank.weights", "must add up to 1", weights)
    fastlane_sevs = reader.numbers("bizcrit.fastlane_severities", list(base.fastlane_bizcrit_severities),
                                   low=1, high=4, integers=True)
    irt_goal = reader.number("irt.goal", base.irt_goal, low=0, low_open=True, high=1)
    calendars = _calendars(reader)
    contract_tables = contracts.parse_contracts(reader, calendars, irt_goal)
    contract_rules, default_contract = contracts.parse_contract_for(reader, contract_tables)
    policy = Policy(
        irt_targets_ms=targets,
        fastlane_multiplier=reader.number("irt.fastlane_multiplier", base.fastlane_multiplier, low=0, low_open=True,
                                          high=1),
        irt_goal=irt_goal,
        at_risk_fraction=reader.number("irt.at_risk_fraction", base.at_risk_fraction, low=0, high=1),
        fastlane_bizcrit_severities=tuple(int(s) for s in fastlane_sevs),
        irt_rungs=tuple(rungs),
        bizcrit_rungs_ms=tuple(int(m * MINUTE_MS) for m in bizcrit_minutes),
        stack_rank_weights=weights,
        stack_rank_min_surveys=int(reader.number("stack_rank.min_surveys", base.stack_rank_min_surveys, low=0,
                                                 integer=True)),
        stack_rank_min_samples=int(reader.number("stack_rank.min_samples", base.stack_rank_min_samples, low=0,
                                                 integer=True)),
        closed_retention_ms=int(reader.number("retention.closed_ticket_hours",
                                              base.closed_retention_ms / HOUR_MS, low=0) * HOUR_MS),
        wall_future_ms=int(reader.number("clock.wall_future_minutes", base.wall_future_ms / MINUTE_MS, low=0)
                           * MINUTE_MS),
        event_future_ms=int(reader.number("clock.event_future_hours", base.event_future_ms / HOUR_MS, low=0)
                            * HOUR_MS),
        input_silent_ms=int(reader.number("alerts.input_silent_minutes", base.input_silent_ms / MINUTE_MS, low=1,
                                          integer=True) * MINUTE_MS),
        calendar_rules=_calendar_rules(reader, calendars),
        contracts=contract_tables,
        contract_rules=contract_rules,
        default_contract=default_contract,
        digest=digest,
    )
    reader.refuse_unknown()
    return policy


def _calendars(reader: Reader) -> dict[str, Calendar]:
    """``[calendars.NAME]`` tables (contract section 9) and the built-in 24x7, by name."""
    calendars = {ROUND_THE_CLOCK.name: ROUND_THE_CLOCK}
    for name, table in reader.table("calendars").items():
        if name == ROUND_THE_CLOCK.name:
            raise reader.error(f"calendars.{name}", "is the built-in round-the-clock calendar; choose another name")
        try:
            calendars[name] = calendar.parse(name, table)
        except CalendarError as exc:
            raise reader.error(exc.key, exc.why) from None
    return calendars


def _calendar_rules(reader: Reader, calendars: dict[str, Calendar]) -> tuple[CalendarRule, ...]:
    """``[calendar_for] rules`` (contract section 9); errors name the key."""
    section = reader.table("calendar_for")
    unknown = sorted(set(section) - {"rules"})
    if unknown:
        raise reader.error(f"calendar_for.{unknown[0]}", "is not a setting; [calendar_for] has rules")
    raw_rules = section.get("rules", [])
    if not isinstance(raw_rules, list):
        raise reader.error("calendar_for.rules", "must be a list of rules such as "
                                                 "{ severity = [3, 4], calendar = \"emea\" }")
    return tuple(_rule(reader, f"calendar_for.rules[{i}]", raw, calendars) for i, raw in enumerate(raw_rules))


def _rule(reader: Reader, key: str, raw: Any, calendars: dict[str, Calendar]) -> CalendarRule:
    if not isinstance(raw, dict):
        raise reader.error(key, "must be a table such as { severity = [3, 4], calendar = \"emea\" }")
    unknown = sorted(set(raw) - {"severity", "product", "fastlane", "calendar"})
    if unknown:
        raise reader.error(f"{key}.{unknown[0]}", "is not a rule setting (severity, product, fastlane, calendar)")
    return CalendarRule(reader.calendar(f"{key}.calendar", raw.get("calendar"), calendars),
                        reader.severities(f"{key}.severity", raw.get("severity")),
                        reader.names(f"{key}.product", raw.get("product"), "a product name"),
                        reader.flag(f"{key}.fastlane", raw.get("fastlane")))
