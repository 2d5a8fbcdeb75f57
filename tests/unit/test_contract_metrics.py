"""The contracts' series (contract v3 section 10) as a Prometheus scrape shows them, the rules that judge
them against each contract's goals, and the boards that draw them: label values come from the policy only."""

from __future__ import annotations

import dataclasses
import json

import pytest
import yaml

from pipeline.domain.contracts import Contract
from pipeline.domain.engine import Step
from pipeline.domain.policy import Policy
from pipeline.metrics import Metrics
from pipeline.observability import contract_rules, dashboards, rules
from pipeline.processing.counters import Counters, Tally

MIN = 60_000


def contracts_policy() -> Policy:
    """The gold and standard contracts of contract section 10's example; "standard" is the default."""
    gold = Contract("gold", {"irt": {1: 10 * MIN, 2: 30 * MIN, 3: 120 * MIN, 4: 480 * MIN},
                             "next_response": {1: 30 * MIN, 2: 120 * MIN, 3: 480 * MIN},
                             "workaround": {1: 240 * MIN, 2: 1440 * MIN},
                             "resolution": {1: 1440 * MIN, 2: 4320 * MIN, 3: 10080 * MIN}},
                    {"irt": 0.99, "next_response": 0.99, "workaround": 0.99, "resolution": 0.95})
    standard = Contract("standard", {"irt": {1: 15 * MIN, 2: 60 * MIN, 3: 240 * MIN, 4: 1440 * MIN},
                                     "resolution": {2: 7200 * MIN, 3: 14400 * MIN}},
                        {"irt": 0.99, "resolution": 0.99})
    return Policy(contracts={"gold": gold, "standard": standard}, default_contract="standard")


@dataclasses.dataclass(frozen=True)
class _Decision:
    """What the counters read of an ``sla.Decision`` (the lead's engine adds ``contract`` to it)."""

    metric: str
    severity: int
    outcome: str | None
    contract: str
    value_ms: int | None = None


class _View:
    """A StateView as the processor answers it, with the contracts' counts given by the test."""

    def __init__(self, windows: dict, at_risk: dict) -> None:
        self.windows, self.at_risk = windows, at_risk

    def at_risk_counts(self) -> dict:
        return {}

    def paused_counts(self) -> dict:
        return {}

    def window_counts(self) -> dict:
        return {}

    def bizcrit_counts(self) -> dict:
        return {}

    def outcome_window_counts(self) -> dict:
        return self.windows

    def at_risk_clock_counts(self) -> dict:
        return self.at_risk


def samples(metrics: Metrics, name: str) -> dict[tuple, float]:
    """{label values in label order: value} of one family, as scraped."""
    found = {}
    for family in metrics.registry.collect():
        for s in family.samples:
            if s.name == name:
                found[tuple(s.labels.values())] = s.value
    return found


def count(metrics: Metrics, *decisions: _Decision, unknown: int = 0) -> None:
    tally = Tally(contract_unknown=unknown)
    tally.steps.append(("T-1", Step(decisions=list(decisions))))  # type: ignore[arg-type]
    Counters(metrics).record(tally, [], 0.001)


def test_every_contract_metric_severity_and_outcome_exists_at_zero_before_any_outcome() -> None:
    found = samples(Metrics.create(policy=contracts_policy()), "sla_outcomes_total")
    pairs = {(c, m) for c, m, _, _ in found}
    assert pairs == {("gold", "irt"), ("gold", "next_response"), ("gold", "workaround"), ("gold", "resolution"),
                     ("standard", "irt"), ("standard", "resolution")}  # no "default": the policy names one
    assert len(found) == 6 * 4 * 2 and set(found.values()) == {0.0}
    assert samples(Metrics.create(policy=contracts_policy()), "sla_contract_unknown_total") == {(): 0.0}


def test_a_policy_without_contracts_has_the_implicit_default_contract_judging_irt_only() -> None:
    found = samples(Metrics.create(policy=Policy()), "sla_outcomes_total")
    assert {(c, m) for c, m, _, _ in found} == {("default", "irt")}
    unnamed_default = dataclasses.replace(contracts_policy(), default_contract="default")
    names = {c for c, _, _, _ in samples(Metrics.create(policy=unnamed_default), "sla_outcomes_total")}
    assert names == {"default", "gold", "standard"}  # a ticket no rule matches is judged under "default"


def test_judged_outcomes_are_counted_per_contract_and_the_v2_irt_series_is_their_sum() -> None:
    metrics = Metrics.create(policy=contracts_policy())
    count(metrics,
          _Decision("irt", 1, "met", "gold"), _Decision("irt", 1, "breached", "standard"),
          _Decision("irt", 1, "met", "standard"), _Decision("next_response", 2, "breached", "gold"),
          _Decision("resolution", 3, "met", "standard"),
          _Decision("ttr", 3, None, "standard", value_ms=3_600_000))  # a measurement, not judged
    outcomes = samples(metrics, "sla_outcomes_total")
    assert {k: v for k, v in outcomes.items() if v} == {
        ("gold", "irt", "1", "met"): 1, ("standard", "irt", "1", "breached"): 1, ("standard", "irt", "1", "met"): 1,
        ("gold", "next_response", "2", "breached"): 1, ("standard", "resolution", "3", "met"): 1}
    irt = samples(metrics, "sla_irt_outcomes_total")
    for outcome in ("met", "breached"):
        assert irt[("1", outcome)] == sum(v for (c, m, s, o), v in outcomes.items()
                                          if m == "irt" and s == "1" and o == outcome)
    assert samples(metrics, "sla_ttr_seconds_count") == {("3",): 1}


def test_tickets_naming_an_unknown_contract_are_counted() -> None:
    metrics = Metrics.create(policy=contracts_policy())
    count(metrics, unknown=2)
    count(metrics)
    assert samples(metrics, "sla_contract_unknown_total") == {(): 2.0}


def test_window_and_at_risk_gauges_come_from_the_view_for_the_policys_pairs_only() -> None:
    metrics = Metrics.create(policy=contracts_policy())
    metrics.observe_state(_View(
        windows={("24h", "gold", "resolution", 2, "breached"): 3, ("30d", "standard", "irt", 4, "met"): 7,
                 ("24h", "platinum", "irt", 1, "met"): 5},  # not the policy's: never a label
        at_risk={("gold", "next_response", 1): 2, ("standard", "workaround", 1): 9}))  # standard judges none
    windows = samples(metrics, "sla_window_outcomes")
    assert {k: v for k, v in windows.items() if v} == {("gold", "resolution", "2", "24h", "breached"): 3,
                                                        ("standard", "irt", "4", "30d", "met"): 7}
    assert len(windows) == 6 * 4 * 4 * 2  # every pair, severity, window and outcome, zeros included
    at_risk = samples(metrics, "sla_at_risk_clocks")
    assert {k: v for k, v in at_risk.items() if v} == {("gold", "next_response", "1"): 2}
    assert len(at_risk) == 6 * 4 and {c for c, _, _ in at_risk} == {"gold", "standard"}


def test_before_the_processor_reports_the_gauges_are_zero() -> None:
    metrics = Metrics.create(policy=contracts_policy())
    assert set(samples(metrics, "sla_at_risk_clocks").values()) == {0.0}


# --- rules ---------------------------------------------------------------------------------------------

def contract_alerts(policy: Policy) -> list[dict]:
    doc = yaml.safe_load(rules.as_yaml(policy, "http://noc.example/runbooks"))
    return [r for group in doc["groups"] if group["name"] == "sla-contract-alerts" for r in group["rules"]]


def test_each_contract_and_metric_has_four_burn_rate_alerts_against_its_own_goal() -> None:
    alerts = [a for a in contract_alerts(contracts_policy()) if a["alert"].startswith("SLAContractErrorBudgetBurn")]
    assert len(alerts) == 6 * 4
    fast = {a["expr"].split("{")[1].split("}")[0]: a for a in alerts if a["alert"] == "SLAContractErrorBudgetBurn1H"}
    # 14.4 x the error budget: 1 - 0.95 for gold's resolution, 1 - 0.99 for the others
    assert fast['contract="gold",metric="resolution"']["expr"].startswith(
        'sla:contract_error_ratio:rate1h{contract="gold",metric="resolution"} > 0.72\n')
    assert '> 0.144\n' in fast['contract="standard",metric="irt"']["expr"]
    assert fast['contract="gold",metric="resolution"']["labels"] == {"severity": "page", "contract": "gold",
                                                                      "metric": "resolution"}
    assert "95% goal allows 5.00%" in fast['contract="gold",metric="resolution"']["annotations"]["description"]
    slow = [a for a in alerts if a["alert"] == "SLAContractErrorBudgetBurn3D"]
    assert {a["labels"]["severity"] for a in slow} == {"warning"}


def test_without_contracts_the_irt_alerts_alone_judge_irt_and_unknown_contracts_still_alert() -> None:
    names = [a["alert"] for a in contract_alerts(Policy())]
    assert names == ["SLAContractUnknown"]  # ("default", "irt") is what SLAIrtErrorBudgetBurn* already judge


def test_the_goals_are_recorded_for_the_boards() -> None:
    goals = {(r["labels"]["contract"], r["labels"]["metric"]): r["expr"]
             for r in contract_rules.recording_rules(contracts_policy()) if r["record"] == "sla:contract_goal:ratio"}
    assert goals[("gold", "resolution")] == "vector(0.95)" and goals[("standard", "irt")] == "vector(0.99)"
    assert len(goals) == 6


# --- boards --------------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def boards() -> dict[str, dict]:
    return {name: json.loads(text) for name, text in dashboards.render(contracts_policy()).items()}


def test_the_noc_board_chooses_contract_and_metric_from_the_policy(boards: dict) -> None:
    variables = {v["name"]: v for v in boards["noc-overview.json"]["templating"]["list"]}
    assert variables["contract"]["query"] == "gold,standard"
    assert variables["metric"]["query"] == "irt,next_response,workaround,resolution"
    assert variables["contract"]["includeAll"] and variables["contract"]["allValue"] == ".*"
    exprs = [t["expr"] for p in boards["noc-overview.json"]["panels"] for t in p.get("targets", [])]
    assert 'sum by (metric) (sla_at_risk_clocks{contract=~"$contract",metric=~"$metric"})' in exprs


def test_the_contracts_board_shows_each_contract_metric_against_its_goal(boards: dict) -> None:
    panels = boards["contracts.json"]["panels"]
    stats = {p["title"]: p for p in panels if p["type"] == "stat"}
    gold_resolution = stats["gold: resolution ($window)"]
    steps = gold_resolution["fieldConfig"]["defaults"]["thresholds"]["steps"]
    assert [(s["value"], s["color"]) for s in steps] == [(None, "red"), (0.95, "green")]
    assert gold_resolution["targets"][0]["expr"] == \
        'sla:contract_compliance:ratio{contract="gold",metric="resolution",window="$window"}'
    assert gold_resolution["description"] == "Goal 95%; targets Sev1 24 h, Sev2 72 h, Sev3 168 h."
    per_metric = [t for t in stats if t.startswith(("gold: ", "standard: "))]
    assert len(per_metric) == 6
    rows = [p["title"] for p in panels if p["type"] == "row"]
    assert rows == ["Contract gold", "Contract standard"]
