"""Live against candidate: what the same records' judgements under two policies differ in. Pure.

- Compliance per contract, metric and severity (and over every severity): judged outcomes, met, breached,
  the share met, the contract's goal for the metric, and the at-risk time.
- At-risk time, per clock, is how long it ran in its at-risk zone, in the time it counts (calendar time
  less pauses, the time compared with its target): from the at-risk share of its target
  (``at_risk_fraction``) to its end, or to its breach. A clock met after counting ``c`` of its target
  ``T`` adds ``max(0, c - f T)``; a breached clock adds ``(1 - f) T``. Summed over the outcomes of a row.
- The tickets whose outcome flips: a judged clock (ticket, metric, cycle) met under one policy and
  breached under the other, or judged under one only (its contract has no target then: "none").
- The pages (escalations that page on-call, :func:`pipeline.domain.bizcrit.pages`) the candidate would
  fire that live did not, and those live fired that the candidate would not.

Contracts are named by each policy: a ticket may be judged under another contract by the candidate
(its rules changed), so its outcomes count in the candidate's row of that contract.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any
from urllib.parse import quote

from pipeline.domain import bizcrit, calendar
from pipeline.domain.calendar import Calendar
from pipeline.domain.contracts import DEFAULT, METRICS
from pipeline.domain.judged import BREACHED, MET
from pipeline.domain.policy import Policy
from pipeline.domain.timefmt import parse_rfc3339_ms
from pipeline.whatif.run import Judged

SIDES = ("live", "candidate")
NONE = "none"  # a clock one policy judges and the other does not
ALL = "all"  # the severity of a contract and metric's row over every severity


def explain_link(ticket_id: str) -> dict[str, str]:
    """Where a ticket's explanation is: a worker's page, and the command."""
    return {"url": f"/tickets/{quote(ticket_id, safe='')}", "command": f"sla-pipeline explain {ticket_id}"}


def _calendars(policy: Policy) -> dict[str, Calendar]:
    found: dict[str, Calendar] = {rule.calendar.name: rule.calendar for rule in policy.calendar_rules}
    for contract in policy.contracts.values():
        for cal in (contract.calendar, *contract.calendar_for_severity.values()):
            if cal is not None:
                found[cal.name] = cal
    return found


def at_risk_seconds(outcome: dict[str, Any], policy: Policy, calendars: dict[str, Calendar]) -> float:
    """The clock's time in its at-risk zone, in counted time (see the module doc)."""
    target = outcome["target_seconds"]
    zone_starts = policy.at_risk_fraction * target
    if outcome["outcome"] == BREACHED:
        return target - zone_starts
    counted = outcome.get("counted_seconds")
    if counted is None:  # no contracts (v2 records): no pauses; the span in the ticket's calendar
        counted = outcome["value_seconds"]
        cal = calendars.get(outcome.get("calendar") or "")
        if cal is not None and not calendar.is_24x7(cal):
            end = parse_rfc3339_ms(outcome["decided_at"])
            counted = calendar.elapsed(cal, end - round(counted * 1000), end) / 1000
    return max(0.0, counted - zone_starts)


def _judged(outcomes: Iterable[dict[str, Any]]) -> Iterable[dict[str, Any]]:
    """The outcomes of judged clocks (ttr and ttw records are measurements)."""
    return (o for o in outcomes if o["metric"] in METRICS and o["outcome"] in (MET, BREACHED))


def _row() -> dict[str, Any]:
    return {"outcomes": 0, "met": 0, "breached": 0, "at_risk_seconds": 0.0}


def _tally(judged: Judged, policy: Policy) -> dict[tuple[str, str, str], dict[str, Any]]:
    """(contract, metric, severity or "all") -> counts."""
    calendars = _calendars(policy)
    rows: dict[tuple[str, str, str], dict[str, Any]] = {}
    for o in _judged(judged.outcomes):
        contract = o.get("contract") or DEFAULT
        risk = at_risk_seconds(o, policy, calendars)
        for sev in (ALL, str(o["severity"])):
            row = rows.setdefault((contract, o["metric"], sev), _row())
            row["outcomes"] += 1
            row[o["outcome"]] += 1
            row["at_risk_seconds"] += risk
    return rows


def _finish(row: dict[str, Any], goal: float | None) -> dict[str, Any]:
    compliance = row["met"] / row["outcomes"] if row["outcomes"] else None
    return {**row, "at_risk_seconds": round(row["at_risk_seconds"], 3), "compliance": compliance, "goal": goal,
            "meets_goal": None if compliance is None or goal is None else compliance >= goal}


def _goal(policy: Policy, contract: str, metric: str) -> float | None:
    return policy.contract(contract).goals.get(metric)


def compliance(live: Judged, candidate: Judged, live_policy: Policy, candidate_policy: Policy) -> list[dict[str, Any]]:
    """Rows per contract, metric and severity ("all" first), each with the live and the candidate figures."""
    tallies = {"live": _tally(live, live_policy), "candidate": _tally(candidate, candidate_policy)}
    policies = {"live": live_policy, "candidate": candidate_policy}
    keys = set(tallies["live"]) | set(tallies["candidate"])

    def order(key: tuple[str, str, str]) -> tuple:
        contract, metric, sev = key
        return contract, METRICS.index(metric), (0 if sev == ALL else int(sev))

    return [{"contract": c, "metric": m, "severity": s,
             **{side: _finish(tallies[side].get((c, m, s), _row()), _goal(policies[side], c, m)) for side in SIDES}}
            for c, m, s in sorted(keys, key=order)]


def flips(live: Judged, candidate: Judged) -> list[dict[str, Any]]:
    """The judged clocks whose outcome differs, by ticket, metric and cycle."""
    sides = {name: {(o["ticket_id"], o["metric"], o["cycle"]): o for o in _judged(j.outcomes)}
             for name, j in (("live", live), ("candidate", candidate))}
    out = []
    for key in sorted(set(sides["live"]) | set(sides["candidate"]), key=lambda k: (k[0], METRICS.index(k[1]), k[2])):
        a, b = sides["live"].get(key), sides["candidate"].get(key)
        if a is not None and b is not None and a["outcome"] == b["outcome"]:
            continue
        either = b if b is not None else a
        assert either is not None
        ticket_id, metric, cycle = key
        out.append({"ticket_id": ticket_id, "metric": metric, "cycle": cycle, "severity": either["severity"],
                    "customer_id": either["customer_id"],
                    "live": NONE if a is None else a["outcome"], "candidate": NONE if b is None else b["outcome"],
                    "live_contract": None if a is None else a.get("contract"),
                    "candidate_contract": None if b is None else b.get("contract"),
                    "live_target_seconds": None if a is None else a["target_seconds"],
                    "candidate_target_seconds": None if b is None else b["target_seconds"],
                    "explain": explain_link(ticket_id)})
    return out


def _page(e: dict[str, Any]) -> dict[str, Any]:
    return {k: e[k] for k in ("escalation_id", "ticket_id", "kind", "level", "cycle", "severity", "customer_id",
                              "emitted_at", "reason")} | {"explain": explain_link(e["ticket_id"])}


def pages(live: Judged, candidate: Judged) -> dict[str, Any]:
    """The pages each side fires that the other does not (by escalation id), and how many each fires."""
    fired = {name: {e["escalation_id"]: e for e in j.escalations if bizcrit.pages(e["kind"], e["level"])}
             for name, j in (("live", live), ("candidate", candidate))}
    only = {name: [_page(fired[name][i]) for i in sorted(set(fired[name]) - set(fired[other]))]
            for name, other in (("live", "candidate"), ("candidate", "live"))}
    return {"live": len(fired["live"]), "candidate": len(fired["candidate"]),
            "candidate_only": only["candidate"], "live_only": only["live"]}


def compare(live: Judged, candidate: Judged, live_policy: Policy, candidate_policy: Policy,
            about: dict[str, Any]) -> dict[str, Any]:
    """The whole comparison, as JSON-able data; ``about`` says what was compared (period, policies, source)."""
    return {
        "whatif": {**about, "records": live.records,
                   "rejected": {"live": live.rejected, "candidate": candidate.rejected},
                   "at_risk_fraction": {"live": live_policy.at_risk_fraction,
                                        "candidate": candidate_policy.at_risk_fraction}},
        "compliance": compliance(live, candidate, live_policy, candidate_policy),
        "flips": flips(live, candidate),
        "pages": pages(live, candidate),
    }
