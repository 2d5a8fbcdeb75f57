"""SLA contracts (contract v3 section 10): which metrics a customer's plan judges, their targets per
severity, the hours each counts in, and which contract a ticket gets.

Pure data, one choice function, and the readers of the policy file's ``[contracts.NAME]`` and
``[contract_for]`` tables (:mod:`pipeline.domain.policy` calls them; every mistake names its full key);
:mod:`pipeline.domain.judged` judges the clocks. A policy without ``[contracts]`` has one implicit
contract, :data:`DEFAULT`, judging IRT against ``[irt] targets_minutes`` as v2 did.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from pipeline.domain.calendar import Calendar
from pipeline.domain.timefmt import MINUTE_MS

if TYPE_CHECKING:
    from pipeline.domain.tomlread import Reader

IRT, NEXT_RESPONSE, WORKAROUND, RESOLUTION = "irt", "next_response", "workaround", "resolution"
METRICS = (IRT, NEXT_RESPONSE, WORKAROUND, RESOLUTION)  # the judged metrics, in the order reports list them
PAUSABLE = frozenset({WORKAROUND, RESOLUTION})  # may be listed in pause_while_waiting
NOTIFIABLE = frozenset({NEXT_RESPONSE, WORKAROUND, RESOLUTION})  # may be listed in notify (IRT has its rungs)
DEFAULT = "default"  # the implicit contract: the v2 [irt] targets, in [calendar_for]'s calendars


@dataclasses.dataclass(frozen=True)
class Contract:
    """One ``[contracts.NAME]`` table. A metric absent from ``targets_ms`` is not judged under it (IRT
    always is: severities it leaves out fall back to ``[irt] targets_minutes``)."""

    name: str
    targets_ms: Mapping[str, Mapping[int, int]]  # metric -> severity -> target in counted milliseconds
    goals: Mapping[str, float]  # metric -> share of outcomes that must be met (every judged metric)
    calendar: Calendar | None = None  # None: the policy's [calendar_for] rules choose
    calendar_for_severity: Mapping[int, Calendar] = dataclasses.field(default_factory=dict)
    pause_while_waiting: frozenset[str] = frozenset()
    notify: frozenset[str] = frozenset()
    fastlane_multiplier: float | None = None  # None: the policy's [irt] fastlane_multiplier
    critical_incidents_per_month: int | None = None  # None: no allowance
    critical_severities: frozenset[int] = frozenset({1})

    @property
    def metrics(self) -> tuple[str, ...]:
        """The metrics this contract judges (it starts clocks for), IRT first."""
        return tuple(m for m in METRICS if m == IRT or m in self.targets_ms)

    def judges(self, metric: str) -> bool:
        return metric == IRT or metric in self.targets_ms


@dataclasses.dataclass(frozen=True)
class ContractRule:
    """``[contract_for] rules`` entry: every criterion given must match; one left out matches anything."""

    contract: str
    customers: frozenset[str] | None = None
    products: frozenset[str] | None = None
    fastlane: bool | None = None

    def matches(self, customer_id: str | None, product: str | None, fastlane: bool) -> bool:
        return ((self.customers is None or customer_id in self.customers)
                and (self.products is None or product in self.products)
                and (self.fastlane is None or fastlane == self.fastlane))


@dataclasses.dataclass(frozen=True, slots=True)
class Choice:
    """The contract a ticket gets, and why (for explanations): ``requested`` is the ticket's own
    ``contract`` field when the policy does not define it (outcomes then carry ``requested_contract``)."""

    contract: str
    requested: str | None
    why: str  # "requested", "rule N" (0-based, as in the file), or "default"


def choose(contracts: Mapping[str, Contract], rules: tuple[ContractRule, ...], default: str,
           requested: str | None, customer_id: str | None, product: str | None, fastlane: bool) -> Choice:
    """The contract for a new ticket: its own ``contract`` if defined, else the first matching rule,
    else the default (contract section 10, precise rule 9)."""
    if requested is not None and requested in contracts:
        return Choice(requested, None, "requested")
    unknown = requested
    for i, rule in enumerate(rules):
        if rule.matches(customer_id, product, fastlane):
            return Choice(rule.contract, unknown, f"rule {i}")
    return Choice(default, unknown, "default")


# --- reading the policy file's [contracts.NAME] and [contract_for] tables ----------------------------

CONTRACT_KEYS = ("targets_minutes", "calendar", "calendar_for_severity", "goal", "goals", "pause_while_waiting",
                 "notify", "fastlane_multiplier", "critical_incidents_per_month", "critical_severities")
RULE_KEYS = ("customer", "product", "fastlane", "contract")
CONTRACT_FOR_KEYS = ("rules", "default")
MAX_NAME_CHARS = 64  # as ticket.created's contract field
_METRIC_NAMES = ", ".join(METRICS)


def parse_contracts(reader: Reader, calendars: Mapping[str, Calendar], default_goal: float) -> dict[str, Contract]:
    """Every ``[contracts.NAME]`` table; ``default_goal`` is ``[irt] goal``, a contract's ``goal`` default."""
    return {name: _contract(reader, name, raw, calendars, default_goal)
            for name, raw in reader.table("contracts").items()}


def parse_contract_for(reader: Reader, contracts: Mapping[str, Contract]) -> tuple[tuple[ContractRule, ...], str]:
    """``[contract_for]``: its rules, and the default contract's name (:data:`DEFAULT` unless set)."""
    section = reader.table("contract_for")
    _refuse_unknown(reader, "contract_for", section, CONTRACT_FOR_KEYS, "a [contract_for] setting")
    raw_rules = section.get("rules", [])
    if not isinstance(raw_rules, list):
        raise reader.error("contract_for.rules", "must be a list of rules such as "
                                                 "{ product = \"service-provider\", contract = \"gold\" }")
    rules = tuple(_contract_rule(reader, f"contract_for.rules[{i}]", raw, contracts) for i, raw in enumerate(raw_rules))
    return rules, _contract_named(reader, "contract_for.default", section.get("default", DEFAULT), contracts)


def _contract(reader: Reader, name: str, raw: Any, calendars: Mapping[str, Calendar],
              default_goal: float) -> Contract:
    key = f"contracts.{name}"
    if not (1 <= len(name) <= MAX_NAME_CHARS and name.isprintable() and name == name.strip()
            and not set(name) & set("\"\\")):
        raise reader.error(key, f"a contract's name must be 1-{MAX_NAME_CHARS} printable characters, without "
                                "quotes, backslashes or spaces at either end", name)
    if not isinstance(raw, dict):
        raise reader.error(key, f"must be a table: [{key}] with settings such as calendar and targets_minutes")
    _refuse_unknown(reader, key, raw, CONTRACT_KEYS, "a contract setting")
    targets = _targets(reader, f"{key}.targets_minutes", raw.get("targets_minutes"))
    judged = tuple(m for m in METRICS if m == IRT or m in targets)
    goal = default_goal
    if "goal" in raw:
        goal = reader.check(f"{key}.goal", raw["goal"], low=0, low_open=True, high=1)
    goals = dict.fromkeys(judged, goal)
    for metric, value in _table(reader, f"{key}.goals", raw.get("goals")).items():
        _judged_metric(reader, f"{key}.goals.{metric}", metric, judged)
        goals[metric] = reader.check(f"{key}.goals.{metric}", value, low=0, low_open=True, high=1)
    per_severity = {
        _severity(reader, f"{key}.calendar_for_severity.{sev}", sev):
            reader.calendar(f"{key}.calendar_for_severity.{sev}", cal, calendars)
        for sev, cal in _table(reader, f"{key}.calendar_for_severity", raw.get("calendar_for_severity")).items()}
    multiplier = raw.get("fastlane_multiplier")
    if multiplier is not None:
        multiplier = reader.check(f"{key}.fastlane_multiplier", multiplier, low=0, low_open=True, high=1)
    allowance = raw.get("critical_incidents_per_month")
    if allowance is not None:
        allowance = reader.check(f"{key}.critical_incidents_per_month", allowance, low=0, integer=True)
    critical = reader.severities(f"{key}.critical_severities", raw.get("critical_severities"))
    return Contract(
        name=name, targets_ms=targets, goals=goals,
        calendar=None if "calendar" not in raw else reader.calendar(f"{key}.calendar", raw["calendar"], calendars),
        calendar_for_severity=dict(sorted(per_severity.items())),
        pause_while_waiting=_metric_list(reader, f"{key}.pause_while_waiting", raw.get("pause_while_waiting"),
                                         judged, PAUSABLE, "never pauses: only workaround and resolution may"),
        notify=_metric_list(reader, f"{key}.notify", raw.get("notify"), judged, NOTIFIABLE,
                            "has the BizCrit rungs as its notices: only next_response, workaround and resolution may"),
        fastlane_multiplier=multiplier,
        critical_incidents_per_month=allowance,
        critical_severities=frozenset({1}) if critical is None else critical,
    )


def _targets(reader: Reader, key: str, raw: Any) -> dict[str, dict[int, int]]:
    """``targets_minutes``: metric -> severity -> minutes, as counted milliseconds, in METRICS order."""
    table = _table(reader, key, raw)
    for metric in table:
        if metric not in METRICS:
            raise reader.error(f"{key}.{metric}", f"is not a metric ({_METRIC_NAMES})")
    targets = {}
    for metric in (m for m in METRICS if m in table):
        per_severity = table[metric]
        if not isinstance(per_severity, dict) or not per_severity:
            raise reader.error(f"{key}.{metric}", "must be a table of severity = minutes such as "
                                                  "{ 1 = 30, 2 = 120 }", per_severity)
        minutes = {_severity(reader, f"{key}.{metric}.{sev}", sev):
                   reader.check(f"{key}.{metric}.{sev}", value, low=0, low_open=True)
                   for sev, value in per_severity.items()}
        targets[metric] = {sev: int(minutes[sev] * MINUTE_MS) for sev in sorted(minutes)}
    return targets


def _metric_list(reader: Reader, key: str, raw: Any, judged: tuple[str, ...], allowed: frozenset[str],
                 why_not: str) -> frozenset[str]:
    if raw is None:
        return frozenset()
    if not isinstance(raw, list):
        raise reader.error(key, "must be a list of metrics such as [\"resolution\"]", raw)
    for i, metric in enumerate(raw):
        if not isinstance(metric, str) or metric not in METRICS:
            raise reader.error(f"{key}[{i}]", f"is not a metric ({_METRIC_NAMES})", metric)
        if metric not in allowed:
            raise reader.error(f"{key}[{i}]", f"{metric} {why_not} be listed", metric)
        _judged_metric(reader, f"{key}[{i}]", metric, judged)
    return frozenset(raw)


def _judged_metric(reader: Reader, key: str, metric: str, judged: tuple[str, ...]) -> None:
    """A setting about ``metric`` in a contract that does not judge it is a mistake, not a no-op."""
    if metric not in METRICS:
        raise reader.error(key, f"is not a metric ({_METRIC_NAMES})")
    if metric not in judged:
        raise reader.error(key, f"this contract judges no {metric}: it has no targets_minutes.{metric}")


def _contract_rule(reader: Reader, key: str, raw: Any, contracts: Mapping[str, Contract]) -> ContractRule:
    if not isinstance(raw, dict):
        raise reader.error(key, "must be a table such as { product = \"service-provider\", contract = \"gold\" }",
                           raw)
    _refuse_unknown(reader, key, raw, RULE_KEYS, "a rule setting")
    if "contract" not in raw:
        raise reader.error(f"{key}.contract", "is missing: a rule names the contract its tickets get")
    return ContractRule(_contract_named(reader, f"{key}.contract", raw["contract"], contracts),
                        reader.names(f"{key}.customer", raw.get("customer"), "a customer id"),
                        reader.names(f"{key}.product", raw.get("product"), "a product name"),
                        reader.flag(f"{key}.fastlane", raw.get("fastlane")))


def _contract_named(reader: Reader, key: str, name: Any, contracts: Mapping[str, Contract]) -> str:
    """A contract defined under [contracts], or DEFAULT (the [irt] targets, unless [contracts.default] exists)."""
    if not isinstance(name, str) or (name not in contracts and name != DEFAULT):
        defined = ", ".join(sorted(contracts)) or "none"
        raise reader.error(key, f"names no contract defined under [contracts] (defined: {defined}; "
                                f"\"{DEFAULT}\" is the [irt] targets)", name)
    return name


def _severity(reader: Reader, key: str, raw: str) -> int:
    """A severity written as a table key (``1 = 10``): "1" to "4"."""
    if raw not in ("1", "2", "3", "4"):
        raise reader.error(key, "is not a severity: they are 1 (Urgent) to 4 (Low)")
    return int(raw)


def _table(reader: Reader, key: str, raw: Any) -> dict[str, Any]:
    if raw is None:
        return {}
    if not isinstance(raw, dict):
        raise reader.error(key, "must be a table", raw)
    return raw


def _refuse_unknown(reader: Reader, key: str, raw: Mapping[str, Any], known: tuple[str, ...], what: str) -> None:
    unknown = sorted(set(raw) - set(known))
    if unknown:
        raise reader.error(f"{key}.{unknown[0]}", f"is not {what} (a typo?); the settings are {', '.join(known)}")
