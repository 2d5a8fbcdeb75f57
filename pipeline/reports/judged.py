"""Compliance of the judged metrics (contract v3 section 10) per contract, metric and severity. Pure.

A judged outcome is one of ``irt``, ``next_response``, ``workaround`` or ``resolution`` whose ``outcome``
is met or breached (``ttr`` and ``ttw`` stay measurements). Its contract is the outcome's ``contract``
field; outcomes of a policy without contracts carry none and belong to the implicit ``default`` one.
Compliance is met / (met + breached), against the contract's goal for the metric
(``policy.contract(name).goals[metric]``). :func:`per_contract` is the monthly report's table;
:mod:`.statement` uses the same counting for one customer.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from pipeline.domain.contracts import DEFAULT, METRICS
from pipeline.domain.policy import SEVERITIES, Policy
from pipeline.domain.records import Outcome
from pipeline.domain.windows import BREACHED, MET, OUTCOMES


def is_judged(o: Outcome) -> bool:
    return o.metric in METRICS and o.outcome in OUTCOMES


def contract_of(o: Outcome) -> str:
    """The contract an outcome was judged under (``default`` for a v2 outcome, which names none)."""
    return o.contract or DEFAULT


def goal(policy: Policy, contract: str, metric: str) -> float | None:
    """The contract's goal for the metric; None for a contract the policy no longer defines."""
    if contract != DEFAULT and contract not in policy.contracts:
        return None
    return policy.contract(contract).goals.get(metric)


def compliance(group: list[Outcome], goal: float | None) -> dict[str, Any]:
    met = sum(1 for o in group if o.outcome == MET)
    breached = sum(1 for o in group if o.outcome == BREACHED)
    ratio = round(met / (met + breached), 6) if met + breached else None
    return {"decided": met + breached, "met": met, "breached": breached, "ratio": ratio, "goal": goal,
            "meets_goal": None if ratio is None or goal is None else ratio >= goal}


def contracts_seen(outcomes: Iterable[Outcome], policy: Policy) -> list[str]:
    """The policy's contracts (and ``default`` when tickets may fall to it), then any other name the
    outcomes carry (a contract an earlier policy defined), in that order."""
    names = list(policy.contracts)
    if DEFAULT not in names and (policy.default_contract == DEFAULT
                                 or any(r.contract == DEFAULT for r in policy.contract_rules)):
        names.append(DEFAULT)
    seen = {contract_of(o) for o in outcomes}
    return names + sorted(seen - set(names))


def metrics_of(policy: Policy, contract: str, outcomes: list[Outcome]) -> list[str]:
    """The metrics the contract judges (IRT first), and any other its outcomes carry."""
    judged = set(policy.contract(contract).metrics) if contract == DEFAULT or contract in policy.contracts else set()
    judged |= {o.metric for o in outcomes}
    return [m for m in METRICS if m in judged]


def severities_of(policy: Policy, contract: str, metric: str, outcomes: list[Outcome]) -> list[int]:
    """The severities with a target under the contract (FastLane aside), and any its outcomes carry."""
    known = contract == DEFAULT or contract in policy.contracts
    with_target = {s for s in SEVERITIES
                   if known and policy.target_ms(policy.contract(contract), metric, s, False) is not None}
    return sorted(with_target | {o.severity for o in outcomes})


def per_contract(outcomes: Iterable[Outcome], policy: Policy) -> dict[str, Any]:
    """contract -> metric -> {goal, overall, by_severity}: the judged outcomes given, counted."""
    outs = [o for o in outcomes if is_judged(o)]
    table: dict[str, Any] = {}
    for name in contracts_seen(outs, policy):
        mine = [o for o in outs if contract_of(o) == name]
        table[name] = {}
        for metric in metrics_of(policy, name, mine):
            group = [o for o in mine if o.metric == metric]
            g = goal(policy, name, metric)
            table[name][metric] = {
                "goal": g, "overall": compliance(group, g),
                "by_severity": {str(s): compliance([o for o in group if o.severity == s], g)
                                for s in severities_of(policy, name, metric, group)}}
    return table
