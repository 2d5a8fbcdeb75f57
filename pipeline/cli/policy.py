"""``sla-pipeline policy``: check a policy file and say what it means, in words; given a ticket (severity,
product, FastLane, creation time), when it becomes at risk and when it breaches, in UTC and in its
calendar's local time. For a support manager checking a calendar before it goes live."""

from __future__ import annotations

import argparse
import time
from datetime import datetime
from zoneinfo import ZoneInfo

from pipeline.domain import bizcrit, calendar, sla, words
from pipeline.domain.calendar import Calendar
from pipeline.domain.policy import SEVERITIES, Policy, load_policy
from pipeline.domain.ticket import TicketState
from pipeline.domain.timefmt import TimestampError, format_rfc3339_ms, parse_rfc3339_ms
from pipeline.errors import ConfigError
from pipeline.settings import PolicySettings


def command(args: argparse.Namespace, settings: PolicySettings) -> int:
    if args.severity is None:  # the ticket's other traits mean nothing without its severity: say so, not ignore
        for flag, given in (("--product", args.product is not None), ("--fastlane", args.fastlane),
                            ("--created", args.created is not None)):
            if given:
                raise ConfigError(flag, "needs --severity: it describes the ticket whose deadlines are asked for, "
                                        "e.g. --severity 3 --product desktop")
    policy = load_policy(settings.policy_file)
    where = settings.policy_file.name if settings.policy_file else "the built-in policy"
    print(f"{where}: valid")
    print("\n".join(describe(policy)))
    if args.severity is not None:
        try:
            created = parse_rfc3339_ms(args.created) if args.created else int(time.time() * 1000)
        except TimestampError:
            raise ConfigError("--created", "must be an RFC 3339 instant with an offset, e.g. "
                                           "2026-03-06T16:30:00+01:00", args.created) from None
        print()
        print("\n".join(ticket(policy, args.severity, args.product, args.fastlane, created)))
    return 0


def describe(policy: Policy) -> list[str]:
    """The targets, the calendars and the rules that choose them."""
    targets = ", ".join(f"Sev{s} {words.duration(policy.irt_targets_ms[s])}" for s in SEVERITIES)
    lines = [f"IRT targets: {targets}; FastLane x{policy.fastlane_multiplier:g}"]
    if not policy.uses_calendars:
        return [*lines, "Calendars: none; every ticket is counted round the clock (24x7)"]
    seen: dict[str, Calendar] = {}
    for rule in policy.calendar_rules:
        if not calendar.is_24x7(rule.calendar):
            seen.setdefault(rule.calendar.name, rule.calendar)
    lines.append("Calendars:")
    lines += [f"  {name}: {hours(cal)}" for name, cal in seen.items()]
    lines.append("Calendar rules (the first match wins):")
    for i, rule in enumerate(policy.calendar_rules, start=1):
        when = []
        if rule.severities is not None:
            when.append("severity " + ", ".join(str(s) for s in sorted(rule.severities)))
        if rule.products is not None:
            when.append("product " + ", ".join(sorted(rule.products)))
        if rule.fastlane is not None:
            when.append("FastLane" if rule.fastlane else "not FastLane")
        lines.append(f"  {i}. {'; '.join(when) or 'every ticket'} -> {rule.calendar.name}")
    lines.append("  otherwise 24x7")
    return lines


def hours(cal: Calendar) -> str:
    """``Europe/Berlin; mon-thu 08:00-18:00, fri 08:00-17:00; holidays 2026-12-24, 2026-12-25``."""
    groups: list[tuple[int, int, tuple]] = []  # runs of consecutive days with the same hours
    for day, ranges in enumerate(cal.week):
        if groups and groups[-1][2] == ranges and groups[-1][1] == day - 1:
            groups[-1] = (groups[-1][0], day, ranges)
        else:
            groups.append((day, day, ranges))
    parts = []
    for first, last, ranges in groups:
        if not ranges:
            continue
        days = calendar.DAY_NAMES[first] + (f"-{calendar.DAY_NAMES[last]}" if last > first else "")
        parts.append(f"{days} " + " ".join(f"{_hhmm(a)}-{_hhmm(b)}" for a, b in ranges))
    text = f"{cal.zone}; {', '.join(parts)}"
    if cal.holidays:
        text += "; holidays " + ", ".join(d.isoformat() for d in sorted(cal.holidays))
    return text


def _hhmm(minute: int) -> str:
    return f"{minute // 60:02d}:{minute % 60:02d}"


def ticket(policy: Policy, severity: int, product: str | None, fastlane: bool, created: int) -> list[str]:
    """When such a ticket, unanswered, becomes at risk, reaches each rung and breaches."""
    state = TicketState("example", 0, created_at=created, severity=severity, product=product, fastlane=fastlane)
    cal = sla.calendar_of(state, policy)
    zone = cal.zone if not calendar.is_24x7(cal) else "UTC"
    target = sla.irt_target(state, policy)
    lane = " FastLane" if fastlane else ""
    counted = "round the clock" if calendar.is_24x7(cal) else "in its hours only"
    lines = [f"A Sev{severity}{lane} ticket ({product or 'any product'}) created {_both(created, zone)}:",
             f"  calendar {cal.name}: its {words.duration(target)} IRT target is counted {counted}"]
    rows = [(f"at risk on the board ({words.share_words(policy.at_risk_fraction)} the budget)",
             sla.at_risk_from(state, policy))]
    if bizcrit.is_bizcrit(state, policy):
        state.bizcrit_since = created
        rows += [(f"escalation {kind} {level}" + (" (pages on-call)" if bizcrit.pages(kind, level) else ""), at)
                 for at, kind, level in bizcrit.rung_instants(state, policy)]
    else:
        rows.append(("IRT deadline", sla.irt_deadline(state, policy)))  # type: ignore[arg-type]
    width = max(len(what) for what, _ in rows)
    lines += [f"  {what:<{width}}  {_both(at, zone)}" for what, at in sorted(rows, key=lambda r: r[1])]
    lines.append("  (a response at the deadline meets it; unanswered, it breaches when the deadline has passed)")
    return lines


def _both(at_ms: int, zone: str) -> str:
    local = datetime.fromtimestamp(at_ms / 1000, tz=ZoneInfo(zone))
    clock = f"{local:%H:%M:%S}" if local.second or local.microsecond else f"{local:%H:%M}"
    return f"{format_rfc3339_ms(at_ms)} ({local:%a %Y-%m-%d} {clock} {zone})"
