"""``sla-pipeline policy``: check a policy file and say what it means, in words; given a ticket (customer,
contract, severity, product, FastLane, creation time), which contract it gets and why, and for each metric
that contract judges when it becomes at risk and when it breaches, in UTC and in its calendar's local time.
For a support manager checking a calendar or a contract before it goes live.

The example ticket is made by the pure core itself (a ``ticket.created`` event through
:func:`pipeline.domain.engine.create`), so what this command says cannot disagree with what a worker decides.
"""

from __future__ import annotations

import argparse
import copy
import time
from datetime import datetime
from zoneinfo import ZoneInfo

from pipeline.domain import bizcrit, calendar, engine, judged, sla, words
from pipeline.domain.calendar import Calendar
from pipeline.domain.contracts import DEFAULT, IRT, NEXT_RESPONSE, Contract, ContractRule
from pipeline.domain.events import MAX_CONTRACT_CHARS, Event
from pipeline.domain.policy import SEVERITIES, Policy, load_policy
from pipeline.domain.ticket import TicketState
from pipeline.domain.timefmt import TimestampError, format_rfc3339_ms, parse_rfc3339_ms
from pipeline.errors import ConfigError
from pipeline.settings import PolicySettings

TRAITS = ("--customer", "--contract", "--product", "--fastlane", "--created")  # each needs --severity


def command(args: argparse.Namespace, settings: PolicySettings) -> int:
    if args.severity is None:  # the ticket's other traits mean nothing without its severity: say so, not ignore
        for flag in TRAITS:
            if getattr(args, flag[2:]) not in (None, False):
                raise ConfigError(flag, "needs --severity: it describes the ticket whose deadlines are asked for, "
                                        "e.g. --severity 3 --product desktop")
    if args.contract is not None and not 1 <= len(args.contract) <= MAX_CONTRACT_CHARS:
        raise ConfigError("--contract", f"must be 1-{MAX_CONTRACT_CHARS} characters, as ticket.created's contract",
                          args.contract)
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
        event = Event("example", "ticket.created", "example", created, severity=args.severity, product=args.product,
                      customer_id=args.customer, fastlane=args.fastlane, tier=1, contract=args.contract)
        print()
        print("\n".join(ticket(policy, event)))
    return 0


# --- the policy in words ------------------------------------------------------------------------

def describe(policy: Policy) -> list[str]:
    """The targets, the calendars and the rules that choose them; then the contracts, if any."""
    targets = ", ".join(f"Sev{s} {words.duration(policy.irt_targets_ms[s])}" for s in SEVERITIES)
    lines = [f"IRT targets: {targets}; FastLane x{policy.fastlane_multiplier:g}"]
    seen: dict[str, Calendar] = {}
    for cal in [rule.calendar for rule in policy.calendar_rules] + [
            cal for c in policy.contracts.values() for cal in (c.calendar, *c.calendar_for_severity.values())]:
        if cal is not None and not calendar.is_24x7(cal):
            seen.setdefault(cal.name, cal)
    if not policy.uses_calendars and not seen:
        lines.append("Calendars: none; every ticket is counted round the clock (24x7)")
    else:
        lines.append("Calendars:")
        lines += [f"  {name}: {hours(cal)}" for name, cal in seen.items()]
    if policy.uses_calendars:
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
    if policy.uses_contracts:
        lines += describe_contracts(policy)
    return lines


def describe_contracts(policy: Policy) -> list[str]:
    """Each contract in words, then the rules that choose one, in order."""
    lines = ["Contracts:"]
    names = list(policy.contracts)
    chosen = {policy.default_contract, *(rule.contract for rule in policy.contract_rules)}
    if DEFAULT in chosen and DEFAULT not in policy.contracts:
        names.append(DEFAULT)  # the implicit one, named by the default or a rule: say what it judges
    for name in names:
        lines += describe_contract(policy, policy.contract(name))
    lines.append("Contract rules (a ticket's own contract field, if defined above, first; then the first "
                 "matching rule wins):")
    for i, rule in enumerate(policy.contract_rules, start=1):
        lines.append(f"  {i}. {_rule_words(rule)} -> {rule.contract}")
    lines.append(f"  otherwise {policy.default_contract}")
    return lines


def describe_contract(policy: Policy, c: Contract) -> list[str]:
    """One contract: its calendar, each metric's targets per severity and goal, pauses, notices, FastLane,
    allowance."""
    implicit = " (implicit: the [irt] targets, first response only)" if c.name not in policy.contracts else ""
    lines = [f"  {c.name}{implicit}: {_calendar_words(policy, c)}"]
    for metric in c.metrics:
        per_severity, fallback, left_out = [], [], []
        for sev in SEVERITIES:
            target = policy.target_ms(c, metric, sev, fastlane=False)
            if target is None:
                left_out.append(f"Sev{sev}")
                continue
            per_severity.append(f"Sev{sev} {words.duration(target)}")
            if metric == IRT and sev not in c.targets_ms.get(IRT, {}) and c.name in policy.contracts:
                fallback.append(f"Sev{sev}")
        text = ", ".join(per_severity)
        if fallback:
            text += f" ({', '.join(fallback)} from [irt])"
        if left_out:
            text += f" ({', '.join(left_out)} not judged)"
        lines.append(f"    {words.metric_name(metric)}: {text}; goal {c.goals.get(metric, policy.irt_goal) * 100:g} %")
    paused = [words.metric_name(m) for m in c.metrics if m in c.pause_while_waiting]
    lines.append("    paused while waiting on the customer: " + (", ".join(paused) or "nothing"))
    notified = [words.metric_name(m) for m in c.metrics if m in c.notify]
    lines.append("    notices (warnings, never pages): "
                 + ("at risk and breached for " + ", ".join(notified) if notified else "none"))
    if c.fastlane_multiplier is None:
        lines.append(f"    FastLane: targets x{policy.fastlane_multiplier:g} (the [irt] multiplier)")
    else:
        lines.append(f"    FastLane: targets x{c.fastlane_multiplier:g}")
    if c.critical_incidents_per_month is None:
        lines.append("    critical incidents: no allowance")
    else:
        sevs = ", ".join(f"Sev{s}" for s in sorted(c.critical_severities))
        lines.append(f"    critical incidents: {c.critical_incidents_per_month} a month per customer ({sevs}); "
                     "the first one over warns the account team")
    return lines


def _calendar_words(policy: Policy, c: Contract) -> str:
    if c.calendar is not None:
        text = f"calendar {c.calendar.name}"
    elif policy.uses_calendars:
        text = "calendar by the calendar rules"
    else:
        text = "calendar 24x7"
    if c.calendar_for_severity:
        text += " (" + ", ".join(f"Sev{s}: {cal.name}" for s, cal in c.calendar_for_severity.items()) + ")"
    return text


def _rule_words(rule: ContractRule) -> str:
    """``customer C-0042, C-0107; FastLane``: what a ticket must have for the rule to match."""
    when = []
    if rule.customers is not None:
        when.append("customer " + ", ".join(sorted(rule.customers)))
    if rule.products is not None:
        when.append("product " + ", ".join(sorted(rule.products)))
    if rule.fastlane is not None:
        when.append("FastLane" if rule.fastlane else "not FastLane")
    return "; ".join(when) or "every ticket"


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


# --- one ticket -----------------------------------------------------------------------------------

def ticket(policy: Policy, event: Event) -> list[str]:
    """What the core makes of such a ticket, created by ``event`` and left unanswered."""
    state = TicketState("example", 0)
    engine.create(state, event, policy)
    cal = sla.calendar_of(state, policy)
    zone = cal.zone if not calendar.is_24x7(cal) else "UTC"
    lane = " FastLane" if state.fastlane else ""
    customer = f" for customer {state.customer_id}" if state.customer_id is not None else ""
    counted = "round the clock" if calendar.is_24x7(cal) else "in its hours only"
    lines = [f"A Sev{state.severity}{lane} ticket ({state.product or 'any product'}){customer} created "
             f"{_both(event.occurred_at, zone)}:"]
    if not policy.uses_contracts:
        if event.contract is not None:
            lines.append(f"  contract {event.contract}: this policy defines no contracts; every ticket is judged "
                         "on its first response against the [irt] targets")
        return lines + _v2_rows(state, policy, cal, counted, zone)
    lines.append("  " + _choice_words(policy, event, state))
    lines.append(f"  calendar {cal.name}: its targets are counted {counted}")
    lines += _metric_rows(state, policy, zone)
    if bizcrit.is_bizcrit(state, policy):
        lines.append("  BizCrit (the first response's rungs in the calendar, the others round the clock):")
        lines += _rows(_rungs(state, policy), zone, indent=4)
    lines.append("  (a clock that ends at its deadline meets it; it breaches when the deadline has passed)")
    return lines


def _v2_rows(state: TicketState, policy: Policy, cal: Calendar, counted: str, zone: str) -> list[str]:
    """As the command said before contracts: the IRT target, the at-risk instant, the rungs or the deadline."""
    lines = [f"  calendar {cal.name}: its {words.duration(sla.irt_target(state, policy))} IRT target is counted "
             f"{counted}"]
    rows = [(f"at risk on the board ({words.share_words(policy.at_risk_fraction)} the budget)",
             sla.at_risk_from(state, policy))]
    if bizcrit.is_bizcrit(state, policy):
        rows += _rungs(state, policy)
    else:
        rows.append(("IRT deadline", sla.irt_deadline(state, policy)))
    lines += _rows(rows, zone)
    lines.append("  (a response at the deadline meets it; unanswered, it breaches when the deadline has passed)")
    return lines


def _choice_words(policy: Policy, event: Event, state: TicketState) -> str:
    """``contract gold: by rule 1 (customer C-0042, C-0107)``: the core's contract, and why."""
    name, requested = judged.contract_name(state, policy)
    why = policy.choose_contract(event.contract, state.customer_id, state.product, state.fastlane).why
    if why == "requested":
        text = f"contract {name}: the ticket's own contract field names it"
    elif why == "default":
        text = f"contract {name}: the default (no rule matches)"
    else:
        index = int(why.split()[1])
        text = f"contract {name}: by rule {index + 1} ({_rule_words(policy.contract_rules[index])})"
    if requested is not None:
        text += (f"; the ticket's contract \"{requested}\" is unknown to this policy (its outcomes carry "
                 "requested_contract, and sla_contract_unknown_total counts it)")
    return text


def _metric_rows(state: TicketState, policy: Policy, zone: str) -> list[str]:
    """For each metric the contract judges at this severity: its target, at-risk instant and deadline."""
    c = judged.contract_of(state, policy)
    lines = []
    for metric in c.metrics:
        target = judged.target_of(state, policy, metric)
        if target is None:
            continue
        clock = judged.find(state, metric) if metric != NEXT_RESPONSE else _next_response_clock(state, policy)
        if clock is None:
            continue
        head = f"  {words.metric_name(metric)}, target {words.duration(target)}"
        if metric == NEXT_RESPONSE:
            head += ", from each customer reply (here: a reply at the creation instant)"
        else:
            head += ", from creation"
        if metric in c.pause_while_waiting:
            head += "; stops while waiting on the customer (the deadline moves by the time paused)"
        if metric in c.notify:
            head += "; at-risk and breach notices"
        lines.append(head + ":")
        share = words.share_words(policy.at_risk_fraction)
        lines += _rows([(f"at risk ({share} the budget)", judged.at_risk_at(state, clock, policy)),
                        ("deadline", judged.deadline(state, clock, policy))], zone, indent=4)
    return lines


def _next_response_clock(state: TicketState, policy: Policy) -> judged.JudgedClock | None:
    """The clock a customer reply at creation would start, made by the core: answered, then a reply."""
    replied = copy.deepcopy(state)
    at = replied.created_at
    assert at is not None
    for kind in ("ticket.responded", "ticket.customer_replied"):
        sla.apply_event(replied, Event(f"example-{kind}", kind, replied.ticket_id, at), at, policy)
    return judged.find(replied, NEXT_RESPONSE)


def _rungs(state: TicketState, policy: Policy) -> list[tuple[str, int | None]]:
    return [(f"escalation {kind} {level}" + (" (pages on-call)" if bizcrit.pages(kind, level) else ""), at)
            for at, kind, level in bizcrit.rung_instants(state, policy)]


def _rows(rows: list[tuple[str, int | None]], zone: str, indent: int = 2) -> list[str]:
    known = sorted(((what, at) for what, at in rows if at is not None), key=lambda r: r[1])
    width = max((len(what) for what, _ in known), default=0)
    return [f"{' ' * indent}{what:<{width}}  {_both(at, zone)}" for what, at in known]


def _both(at_ms: int, zone: str) -> str:
    local = datetime.fromtimestamp(at_ms / 1000, tz=ZoneInfo(zone))
    clock = f"{local:%H:%M:%S}" if local.second or local.microsecond else f"{local:%H:%M}"
    return f"{format_rfc3339_ms(at_ms)} ({local:%a %Y-%m-%d} {clock} {zone})"
