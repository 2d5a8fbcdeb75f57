"""One customer's SLA statement for a month, as a service provider sends it. Pure.

From the outcomes the pipeline published (``sla.outcomes``, read as every report reads them): for each
contract the customer's tickets were judged under that month (the outcomes' ``contract`` field; one
section each), its targets per metric and severity and its hours (from the policy), compliance per metric
against the contract's goal, the critical-incident allowance used against the allowed when the contract
sets one, and every breach (ticket, severity, metric, target, the time counted or what did not happen by
the deadline, the time paused while waiting on the customer, when it was decided).

The month is a UTC calendar month, as allowances are (contract v3 section 10). Compliance counts the
judged outcomes decided in it, as the monthly report does. The allowance counts the customer's distinct
tickets of the contract's ``critical_severities`` created in the month, read from their IRT outcomes: the
severity is the one the first response was judged at, and the creation instant is the decision less the
wall-clock response time (answered), or the deadline less the target (unanswered: exact round the clock,
else an instant between creation and the deadline). A statement never counts past the judging clock.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from pipeline.domain import calendar, words
from pipeline.domain.calendar import Calendar
from pipeline.domain.contracts import DEFAULT, IRT, NEXT_RESPONSE, RESOLUTION, WORKAROUND
from pipeline.domain.policy import SEVERITIES, Policy
from pipeline.domain.records import Outcome
from pipeline.domain.windows import BREACHED
from pipeline.reports import judged
from pipeline.reports.build import ms, period_doc
from pipeline.reports.period import Period

METRIC_NAMES = {IRT: "initial response", NEXT_RESPONSE: "next response", WORKAROUND: "workaround",
                RESOLUTION: "resolution"}
MISSED = {IRT: "no response by the deadline", NEXT_RESPONSE: "no response by the deadline",
          WORKAROUND: "no workaround by the deadline", RESOLUTION: "not resolved by the deadline"}


def statement(period: Period, customer_id: str, outcomes: Iterable[Outcome], policy: Policy) -> dict[str, Any]:
    """The statement of ``customer_id`` for ``period`` (a month, UTC)."""
    mine = [o for o in {o.outcome_id: o for o in outcomes}.values()
            if o.customer_id == customer_id and judged.is_judged(o) and period.happened(ms(o.decided_at))]
    decided = [o for o in mine if period.contains(ms(o.decided_at))]
    created = [o for o in mine if o.metric == IRT and period.contains(_created_ms(o))]
    names = sorted({judged.contract_of(o) for o in decided + created}, key=_order(policy))
    sections = [_section(name, [o for o in decided if judged.contract_of(o) == name],
                         [o for o in created if judged.contract_of(o) == name], period, policy) for name in names]
    return {
        "report": "statement",
        "customer_id": customer_id,
        "period": period_doc(period),
        "policies": sorted({o.policy for o in decided if o.policy is not None}),
        "summary": {"decided": len(decided), "breaches": sum(1 for o in decided if o.outcome == BREACHED),
                    "contracts": names},
        "contracts": sections,
    }


def _order(policy: Policy) -> Any:
    known = list(policy.contracts)
    return lambda name: (known.index(name) if name in known else len(known), name)


def _created_ms(irt: Outcome) -> int:
    """When the ticket of an IRT outcome was created (see the module doc)."""
    back = irt.value_seconds if irt.value_seconds is not None else irt.target_seconds or 0
    return ms(irt.decided_at) - round(back * 1000)


def _section(name: str, decided: list[Outcome], created: list[Outcome], period: Period,
             policy: Policy) -> dict[str, Any]:
    known = name == DEFAULT or name in policy.contracts
    contract = policy.contract(name)
    metrics = judged.metrics_of(policy, name, decided)
    compliance = []
    for metric in metrics:
        group = [o for o in decided if o.metric == metric]
        goal = judged.goal(policy, name, metric)
        compliance.append({"metric": metric, "name": METRIC_NAMES[metric], **judged.compliance(group, goal),
                           "paused_seconds": sum(o.paused_seconds or 0 for o in group),
                           "by_severity": {str(s): judged.compliance([o for o in group if o.severity == s], goal)
                                           for s in sorted({o.severity for o in group})}})
    breaches = sorted((o for o in decided if o.outcome == BREACHED), key=lambda o: (o.decided_at, o.ticket_id))
    return {
        "contract": name,
        "in_policy": known,
        "requested_contracts": sorted({o.requested_contract for o in decided if o.requested_contract}),
        "terms": _terms(name, policy) if known else None,
        "targets": [_targets(policy, name, m) for m in metrics] if known else [],
        "compliance": compliance,
        "allowance": _allowance(contract, created, period) if known else None,
        "breaches": [_breach(o) for o in breaches],
    }


def _terms(name: str, policy: Policy) -> dict[str, Any]:
    """The contract's hours, pauses and FastLane terms, in words."""
    contract = policy.contract(name)
    if contract.calendar is not None:
        hours = f"counted {_hours(contract.calendar)}"
    elif policy.uses_calendars:
        hours = "counted in the hours of the policy's calendar rules"
    else:
        hours = "counted round the clock"
    if contract.calendar_for_severity:
        hours += " (" + "; ".join(f"Sev{s} {_hours(cal)}"
                                  for s, cal in sorted(contract.calendar_for_severity.items())) + ")"
    multiplier = policy.fastlane_multiplier if contract.fastlane_multiplier is None else contract.fastlane_multiplier
    paused = sorted(contract.pause_while_waiting)
    return {
        "hours": hours,
        "paused_while_waiting": [METRIC_NAMES[m] for m in paused],
        "fastlane_multiplier": multiplier,
        "words": ". ".join(filter(None, [
            hours[0].upper() + hours[1:],
            f"The {' and '.join(METRIC_NAMES[m] for m in paused)} clock{'s' if len(paused) > 1 else ''} "
            f"stop{'' if len(paused) > 1 else 's'} while a ticket waits on you" if paused else "",
            f"FastLane tickets' targets are x{multiplier:g}" if multiplier != 1 else "",
        ])) + ".",
    }


def _hours(cal: Calendar) -> str:
    return "round the clock" if calendar.is_24x7(cal) else f"in the {cal.name} calendar's hours"


def _targets(policy: Policy, name: str, metric: str) -> dict[str, Any]:
    contract = policy.contract(name)
    by_severity = {}
    for s in SEVERITIES:
        target = policy.target_ms(contract, metric, s, False)
        by_severity[str(s)] = None if target is None else {"target_seconds": target / 1000,
                                                             "words": words.duration(target)}
    return {"metric": metric, "name": METRIC_NAMES[metric], "goal": judged.goal(policy, name, metric),
            "by_severity": by_severity}


def _allowance(contract: Any, created: list[Outcome], period: Period) -> dict[str, Any] | None:
    allowed = contract.critical_incidents_per_month
    if allowed is None:
        return None
    severities = sorted(contract.critical_severities)
    tickets = sorted({o.ticket_id for o in created if o.severity in contract.critical_severities})
    sevs = ", ".join(f"Sev{s}" for s in severities)
    return {"allowed": allowed, "used": len(tickets), "over": len(tickets) > allowed, "severities": severities,
            "tickets": tickets,
            "counted": f"your {sevs} tickets created in {period.label} ({period.zone}), by their severity when "
                       f"their first response was judged"}


def _breach(o: Outcome) -> dict[str, Any]:
    return {"ticket_id": o.ticket_id, "severity": o.severity, "metric": o.metric, "name": METRIC_NAMES[o.metric],
            "cycle": o.cycle, "fastlane": o.fastlane, "target_seconds": o.target_seconds,
            "counted_seconds": o.counted_seconds, "value_seconds": o.value_seconds,
            "actual": MISSED[o.metric] if o.counted_seconds is None else words.duration(
                round(o.counted_seconds * 1000)),
            "paused_seconds": o.paused_seconds or 0, "started_at": o.started_at, "decided_at": o.decided_at}
