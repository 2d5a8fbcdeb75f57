"""Recording rules and burn-rate alerts per contract and judged metric (contract v3 section 10), generated
from the policy beside the IRT ones of :mod:`pipeline.observability.rules`.

Compliance is the share of a contract's judged outcomes of one metric that were met (met / (met +
breached)), over the windows the worker keeps (``sla_window_outcomes``: 1h, 24h, 7d, 30d) and as rates
over the burn-rate windows (``sla_outcomes_total``). Each contract x metric gets the same four
multiwindow burn-rate alerts as IRT (14.4x and 6x page, 3x and 1x warn), against that contract's goal for
that metric, so a gold contract's 99 % next response and a standard contract's 95 % resolution each have
their own threshold. The goals themselves are recorded as ``sla:contract_goal:ratio{contract, metric}``
so boards draw them beside the compliance they judge.
"""

from __future__ import annotations

from pipeline.domain.policy import Policy
from pipeline.metrics import judged_pairs
from pipeline.observability.burnrate import BURN_RATES, MIN_VOLUME, WINDOWS

_BY = "sum by (contract, metric)"
# how alerts and boards name a judged metric to people
METRIC_WORDS = {"irt": "initial response", "next_response": "next response", "workaround": "workaround",
                 "resolution": "resolution"}


def percent(share: float) -> str:
    """``99%``, ``99.5%``: a goal as the contract writes it."""
    return f"{share * 100:g}%"


def recording_rules(policy: Policy) -> list[dict]:
    rules: list[dict] = []
    for w in WINDOWS:
        rules.append({"record": f"sla:contract_error_ratio:rate{w}",
                      "expr": f'{_BY} (rate(sla_outcomes_total{{outcome="breached"}}[{w}])) / '
                              f"{_BY} (rate(sla_outcomes_total[{w}]))"})
        rules.append({"record": f"sla:contract_outcomes:increase{w}",
                      "expr": f"{_BY} (increase(sla_outcomes_total[{w}]))"})
    by_window = "sum by (contract, metric, window)"
    rules.append({"record": "sla:contract_compliance:ratio",
                  "expr": f'{by_window} (sla_window_outcomes{{outcome="met"}}) / {by_window} (sla_window_outcomes)'})
    for contract, metric in judged_pairs(policy):
        rules.append({"record": "sla:contract_goal:ratio", "expr": f"vector({_goal(policy, contract, metric):g})",
                      "labels": {"contract": contract, "metric": metric}})
    return rules


def _goal(policy: Policy, contract: str, metric: str) -> float:
    return policy.contract(contract).goals[metric]


def alert_rules(policy: Policy, runbook_base: str) -> list[dict]:
    alerts: list[dict] = []
    # Without [contracts] the one pair is ("default", "irt"): the IRT alerts already judge it, at the same goal.
    for contract, metric in judged_pairs(policy) if policy.uses_contracts else ():
        goal = _goal(policy, contract, metric)
        budget = round(1 - goal, 6)
        sel = f'{{contract="{contract}",metric="{metric}"}}'
        words = METRIC_WORDS[metric]
        for long, short, factor, severity in BURN_RATES:
            threshold = round(factor * budget, 6)
            alerts.append({
                "alert": f"SLAContractErrorBudgetBurn{long.upper()}",
                "expr": (f"sla:contract_error_ratio:rate{long}{sel} > {threshold}\n"
                         f"and sla:contract_error_ratio:rate{short}{sel} > {threshold}\n"
                         f"and sla:contract_outcomes:increase{long}{sel} >= {MIN_VOLUME}"),
                "for": "2m" if severity == "page" else "15m",
                "labels": {"severity": severity, "contract": contract, "metric": metric},  # one rule per pair
                "annotations": {
                    "summary": f"{contract} contract: {words} error budget burning {factor:g}x too fast",
                    "description": (f"{{{{ $value | humanizePercentage }}}} of the {contract} contract's {words} "
                                    f"outcomes decided in the last {long} breached their target (and over {short} "
                                    f"too); its {percent(goal)} goal allows {budget:.2%}. At this rate the goal is lost "
                                    "well before the month ends."),
                    "runbook_url": f"{runbook_base}#contract-error-budget-burn",
                },
            })
    alerts.append({
        "alert": "SLAContractUnknown",
        "expr": "sum(increase(sla_contract_unknown_total[1h])) > 0",
        "for": "5m",
        "labels": {"severity": "warning"},
        "annotations": {
            "summary": "{{ $value | humanize }} tickets in the last hour named a contract the policy does not define",
            "description": ("Their ticket.created carried a `contract` the policy lacks. They are judged under the "
                            f"[contract_for] rules' or the default contract ({policy.default_contract}), and their "
                            "outcomes carry requested_contract. Add the contract to the policy, or fix the name "
                            "the ticket system sends."),
            "runbook_url": f"{runbook_base}#contract-unknown",
        },
    })
    return alerts
