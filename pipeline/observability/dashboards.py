"""The NOC's Grafana dashboards, built with grafana-foundation-sdk and written to ``grafana/dashboards``.

* NOC overview: IRT compliance per severity against the 99 % line (1h/24h/7d/30d), breaches, at risk now,
  open BizCrit tickets, escalations, error budget left.
* BizCrit: open Sev1s by rung, escalations by kind, time to workaround.
* Engineers: stack rank and its components.
* Pipeline health: throughput, lag, DLQ, rebalances, processing time, workers.
* Contracts: compliance per contract x judged metric against its goal, breaches, clocks at risk.

The NOC board's ``contract`` and ``metric`` variables, and the Contracts board's panels, list the
policy's contracts (:func:`pipeline.metrics.judged_pairs`): regenerate the boards when the policy changes.
"""

from __future__ import annotations

from grafana_foundation_sdk.builders import bargauge, dashboard, prometheus, stat, table, timeseries
from grafana_foundation_sdk.builders.common import GraphThresholdsStyleConfig
from grafana_foundation_sdk.cog.encoder import JSONEncoder
from grafana_foundation_sdk.models.common import GraphThresholdsStyleMode
from grafana_foundation_sdk.models.dashboard import (
    DataSourceRef,
    DataTransformerConfig,
    DynamicConfigValue,
    Threshold,
    ThresholdsMode,
    VariableOption,
)
from grafana_foundation_sdk.models.prometheus import PromQueryFormat

from pipeline.domain.bizcrit import PAGE_LEVEL
from pipeline.domain.contracts import METRICS
from pipeline.domain.policy import SEVERITIES, Policy
from pipeline.domain.words import duration, share_words
from pipeline.metrics import contract_names, judged_pairs
from pipeline.observability.contract_rules import METRIC_WORDS, percent

DS = DataSourceRef(type_val="prometheus", uid="${datasource}")
TAGS = ["sla-pipeline", "generated"]


def q(expr: str, legend: str = "", *, ref: str = "A", instant: bool = False, as_table: bool = False):
    query = prometheus.Dataquery().expr(expr).ref_id(ref).datasource(DS)
    if legend:
        query = query.legend_format(legend)
    if instant:
        query = query.instant()
    if as_table:
        query = query.format(PromQueryFormat.TABLE)
    return query


def _thresholds(*steps: tuple[float | None, str]) -> dashboard.ThresholdsConfig:
    return dashboard.ThresholdsConfig().mode(ThresholdsMode.ABSOLUTE).steps(
        [Threshold(value=v, color=c) for v, c in steps])


def ts(title: str, description: str, unit: str, *queries, span: int = 12, height: int = 8,
       goal: float | None = None) -> timeseries.Panel:
    panel = (timeseries.Panel().title(title).description(description).unit(unit).datasource(DS)
             .span(span).height(height))
    for query in queries:
        panel = panel.with_target(query)
    if goal is not None:  # the goal as a red dashed line
        panel = (panel.thresholds(_thresholds((None, "red"), (goal, "green")))
                 .thresholds_style(GraphThresholdsStyleConfig().mode(GraphThresholdsStyleMode.DASHED)))
    return panel


def single(title: str, description: str, unit: str, query, *steps: tuple[float | None, str],
           span: int = 6, height: int = 5) -> stat.Panel:
    panel = (stat.Panel().title(title).description(description).unit(unit).datasource(DS).span(span)
             .height(height).with_target(query))
    if steps:
        panel = panel.thresholds(_thresholds(*steps))
    return panel


def bars(title: str, description: str, unit: str, query, span: int = 12, height: int = 8) -> bargauge.Panel:
    return (bargauge.Panel().title(title).description(description).unit(unit).datasource(DS).span(span)
            .height(height).with_target(query))


def _datasource_var() -> dashboard.DatasourceVariable:
    return dashboard.DatasourceVariable("datasource").label("Prometheus").type("prometheus")


def _window_var(values: tuple[str, ...], default: str) -> dashboard.CustomVariable:
    return (dashboard.CustomVariable("window").label("Window").values(",".join(values))
            .current(VariableOption(selected=True, text=default, value=default)))


def _all_var(name: str, label: str, values: list[str]) -> dashboard.CustomVariable:
    """A variable listing ``values`` with an "All" choice (the default) that matches every value."""
    return (dashboard.CustomVariable(name).label(label).values(",".join(values)).include_all(True).all_value(".*")
            .current(VariableOption(selected=True, text="All", value="$__all")))


def _judged_metrics(policy: Policy) -> list[str]:
    judged = {metric for _, metric in judged_pairs(policy)}
    return [m for m in METRICS if m in judged]


CHOSEN = 'contract=~"$contract",metric=~"$metric"'


def noc(policy: Policy) -> dashboard.Dashboard:
    goal = policy.irt_goal
    budget = round(1 - goal, 6)
    return (
        dashboard.Dashboard("SLA: NOC overview").uid("sla-noc").tags(TAGS).refresh("30s").time("now-24h", "now")
        .description(f"IRT compliance against the {goal:.0%} goal (a share of tickets, never an average)")
        .with_variable(_datasource_var()).with_variable(_window_var(("1h", "24h", "7d", "30d"), "24h"))
        .with_variable(_all_var("contract", "Contract", list(contract_names(policy))))
        .with_variable(_all_var("metric", "Metric", _judged_metrics(policy)))
        .with_row(dashboard.Row("Now"))
        .with_panel(single("IRT compliance, all severities ($window)", f"Tickets that met their IRT target; goal {goal:.0%}.",
                           "percentunit", q('sla:irt_compliance:ratio{ticket_severity="all",window="$window"}', instant=True),
                           (None, "red"), (goal, "green")))
        .with_panel(single("Tickets at risk now", f"Unanswered tickets past {share_words(policy.at_risk_fraction)} their IRT budget "
                           "(in their calendar's hours).", "short",
                           q("sum(sla_irt_at_risk_tickets)", instant=True), (None, "green"), (1, "orange"), span=3))
        .with_panel(single("Waiting for business hours", "Unanswered tickets on a business-hours calendar that is closed "
                           "now: their IRT clock is paused until it opens.", "short",
                           q("sum(sla_irt_paused_tickets)", instant=True), (None, "blue"), span=3))
        .with_panel(single("Open BizCrit tickets", "Sev1 (and FastLane Sev2) without workaround.", "short",
                           q("sum(sla_bizcrit_open_tickets)", instant=True), (None, "green"), (1, "red")))
        .with_panel(single("Error budget left (30d)", f"Share of the {budget:.0%} breach allowance still unspent.",
                           "percentunit",
                           q(f'1 - (1 - sla:irt_compliance:ratio{{ticket_severity="all",window="30d"}}) / {budget}',
                             instant=True), (None, "red"), (0.25, "orange"), (0.5, "green")))
        .with_row(dashboard.Row("IRT compliance"))
        .with_panel(ts("IRT compliance by severity ($window)", f"Dashed line: the {goal:.0%} goal.", "percentunit",
                       q('sla:irt_compliance:ratio{window="$window"}', "Sev{{ticket_severity}}"), goal=goal))
        .with_panel(ts("IRT breaches by severity ($window)", "Tickets that breached their IRT target in the window.",
                       "short", q('sum by (severity) (sla_irt_window_tickets{window="$window",outcome="breached"})',
                                  "Sev{{severity}}")))
        .with_panel(ts("IRT error budget burn rate (1h)", "Breach ratio over 1 h divided by the allowance: 14.4 pages.",
                       "short", q(f"sla:irt_error_ratio:rate1h / {budget}", "Sev{{ticket_severity}}")))
        .with_panel(ts("Escalations by kind", "BizCrit escalations emitted.", "short",
                       q("sum by (kind) (increase(sla_escalations_total[$__rate_interval]))", "{{kind}}")))
        .with_row(dashboard.Row("Contracts ($contract, $metric)"))
        .with_panel(bars("Clocks at risk now, by metric",
                         f"Running clocks past {share_words(policy.at_risk_fraction)} their target (paused ones "
                         "not counted).", "short",
                         q(f"sum by (metric) (sla_at_risk_clocks{{{CHOSEN}}})", "{{metric}}", instant=True)))
        .with_panel(ts("Clocks at risk by contract and metric", "Running clocks past "
                       f"{share_words(policy.at_risk_fraction)} their target.", "short",
                       q(f"sum by (contract, metric) (sla_at_risk_clocks{{{CHOSEN}}})", "{{contract}} {{metric}}")))
        .with_panel(ts("Compliance by contract and metric ($window)",
                       "Share of judged outcomes met; each contract's goals are on the Contracts board.",
                       "percentunit",
                       q(f'sla:contract_compliance:ratio{{{CHOSEN},window="$window"}}', "{{contract}} {{metric}}")))
        .with_panel(ts("Breaches by contract and metric ($window)", "Judged outcomes breached in the window.",
                       "short",
                       q(f'sum by (contract, metric) (sla_window_outcomes{{{CHOSEN},window="$window",outcome="breached"}})',
                         "{{contract}} {{metric}}")))
    )


def _targets_words(policy: Policy, contract: str, metric: str) -> str:
    """``Sev1 30 min, Sev2 2 h``: the contract's targets for the metric (FastLane aside)."""
    terms = policy.contract(contract)
    found = [(sev, policy.target_ms(terms, metric, sev, False)) for sev in SEVERITIES]
    return ", ".join(f"Sev{sev} {duration(ms)}" for sev, ms in found if ms is not None)


def contracts(policy: Policy) -> dashboard.Dashboard:
    """Compliance per contract x judged metric against the contract's goal for it."""
    overview = (table.Panel().title("Compliance against the goal ($window)").datasource(DS).span(24).height(8)
                .description("Per contract and judged metric: the share of outcomes met in the window, the goal, "
                             "and the share of the 30-day error budget left.")
                .with_transformation(DataTransformerConfig(id_val="merge", options={}))
                .with_transformation(DataTransformerConfig(id_val="organize", options={
                    "excludeByName": {"Time": True, "window": True},
                    "renameByName": {"Value #A": "compliance", "Value #B": "goal", "Value #C": "budget left (30d)"}}))
                .with_target(q('sla:contract_compliance:ratio{window="$window"}', ref="A", instant=True,
                               as_table=True))
                .with_target(q("sla:contract_goal:ratio", ref="B", instant=True, as_table=True))
                .with_target(q('1 - (1 - sla:contract_compliance:ratio{window="30d"}) / on (contract, metric) '
                               "(1 - sla:contract_goal:ratio)", ref="C", instant=True, as_table=True)))
    board = (
        dashboard.Dashboard("SLA: Contracts").uid("sla-contracts").tags(TAGS).refresh("1m").time("now-7d", "now")
        .description("Each contract's judged metrics against its goals (a share of outcomes, never an average)")
        .with_variable(_datasource_var()).with_variable(_window_var(("1h", "24h", "7d", "30d"), "30d"))
        .with_panel(overview)
        .with_panel(ts("Breaches by contract and metric ($window)", "Judged outcomes breached in the window.",
                       "short", q('sum by (contract, metric) (sla_window_outcomes{window="$window",outcome="breached"})',
                                  "{{contract}} {{metric}}"), span=10))
        .with_panel(ts("Clocks at risk by contract and metric", "Running clocks past "
                       f"{share_words(policy.at_risk_fraction)} their target (paused ones not counted).", "short",
                       q("sum by (contract, metric) (sla_at_risk_clocks)", "{{contract}} {{metric}}"), span=10))
        .with_panel(single("Unknown contracts (24 h)", "Tickets whose ticket.created named a contract the policy "
                           "lacks: judged under the rules' or default contract.", "short",
                           q("sum(increase(sla_contract_unknown_total[24h]))", instant=True),
                           (None, "green"), (1, "orange"), span=4, height=8))
    )
    for name in contract_names(policy):
        metrics = policy.contract(name).metrics
        board = board.with_row(dashboard.Row(f"Contract {name}"))
        for metric in metrics:
            goal = policy.contract(name).goals[metric]
            board = board.with_panel(single(
                f"{name}: {METRIC_WORDS[metric]} ($window)",
                f"Goal {percent(goal)}; targets {_targets_words(policy, name, metric)}.", "percentunit",
                q(f'sla:contract_compliance:ratio{{contract="{name}",metric="{metric}",window="$window"}}',
                  instant=True), (None, "red"), (goal, "green"), span=24 // len(metrics)))
        board = board.with_panel(ts(
            f"{name}: compliance by metric ($window)", "Solid: compliance; dashed: the goal of each metric.",
            "percentunit",
            q(f'sla:contract_compliance:ratio{{contract="{name}",window="$window"}}', "{{metric}}"),
            q(f'sla:contract_goal:ratio{{contract="{name}"}}', "goal {{metric}}", ref="B"), span=24)
            .override_by_regexp("goal .*", [DynamicConfigValue(id_val="custom.lineStyle",
                                                               value={"fill": "dash", "dash": [10, 10]})]))
    return board


def bizcrit(policy: Policy) -> dashboard.Dashboard:
    return (
        dashboard.Dashboard("SLA: BizCrit").uid("sla-bizcrit").tags(TAGS).refresh("30s").time("now-24h", "now")
        .description("Severity 1 (and FastLane Sev2) tickets until a workaround exists")
        .with_variable(_datasource_var())
        .with_panel(single("Open BizCrit tickets", "", "short", q("sum(sla_bizcrit_open_tickets)", instant=True),
                           (None, "green"), (1, "red"), span=8))
        .with_panel(single("Sev1 at risk", f"Unanswered Sev1 tickets past {share_words(policy.at_risk_fraction)} their IRT budget.", "short",
                           q('sum(sla_irt_at_risk_tickets{severity="1"})', instant=True), (None, "green"), (1, "orange"),
                           span=8))
        .with_panel(single("Pages in the last 24 h", f"Escalations of level {PAGE_LEVEL} and up sent to on-call.", "short",
                           q("sum(increase(sla_escalation_pages_total[24h]))", instant=True), span=8))
        .with_panel(bars("Open BizCrit tickets by rung", "Highest BizCrit rung each open ticket has reached.", "short",
                         q("sum by (rung) (sla_bizcrit_open_tickets_by_rung)", "{{rung}}", instant=True)))
        .with_panel(ts("Escalations by kind", "", "short",
                       q("sum by (kind) (increase(sla_escalations_total[$__rate_interval]))", "{{kind}}")))
        .with_panel(ts("Time to workaround, Sev1 (p50, p90)", "From creation (or reopen) to the workaround.", "s",
                       q('histogram_quantile(0.5, sum by (le) (rate(sla_ttw_seconds_bucket{severity="1"}[$__rate_interval])))',
                         "p50"),
                       q('histogram_quantile(0.9, sum by (le) (rate(sla_ttw_seconds_bucket{severity="1"}[$__rate_interval])))',
                         "p90", ref="B"), span=24))
    )


def engineers(policy: Policy) -> dashboard.Dashboard:
    w = policy.stack_rank_weights
    columns = [("sla_engineer_stack_rank", "A"), ("sla_engineer_stack_rank_score", "B"),
               ("sla_engineer_vsat_ratio", "C"), ("sla_engineer_quality_ratio", "D"), ("sla_engineer_art_ratio", "E"),
               ("sla_engineer_art_seconds", "F"), ("sla_engineer_response_samples", "G")]
    rank_table = (table.Panel().title("Stack rank ($window)").datasource(DS).span(24).height(12)
                  .description(f"score = {w[0]} x VSAT % + {w[1]} x Quality % + {w[2]} x % ART; ranked with at least "
                               f"{policy.stack_rank_min_surveys} surveys and {policy.stack_rank_min_samples} samples")
                  .with_transformation(DataTransformerConfig(id_val="merge", options={}))
                  .with_transformation(DataTransformerConfig(id_val="organize", options={
                      "excludeByName": {"Time": True, "window": True, "instance": True, "job": True},
                      "renameByName": {f"Value #{ref}": name.replace("sla_engineer_", "") for name, ref in columns}})))
    for name, ref in columns:
        rank_table = rank_table.with_target(q(f'sum by (engineer) ({name}{{window="$window"}})', ref=ref, instant=True,
                                              as_table=True))
    return (
        dashboard.Dashboard("SLA: Engineers").uid("sla-engineers").tags(TAGS).refresh("5m").time("now-7d", "now")
        .description("Engineer performance by id: VSAT, quality, response time, stack rank")
        .with_variable(_datasource_var()).with_variable(_window_var(("7d", "30d"), "30d"))
        .with_panel(rank_table)
        .with_panel(bars("Top 10 by score ($window)", "", "percentunit",
                         q('topk(10, sum by (engineer) (sla_engineer_stack_rank_score{window="$window"}))', "{{engineer}}",
                           instant=True)))
        .with_panel(bars("VSAT % ($window)", "Share of surveys rated very satisfied.", "percentunit",
                         q('sum by (engineer) (sla_engineer_vsat_ratio{window="$window"})', "{{engineer}}", instant=True)))
        .with_panel(ts("DSAT surveys to review", "Neutral and dissatisfied surveys published to sla.dsat_reviews.",
                       "short", q("sum by (rating) (increase(sla_dsat_reviews_total[$__rate_interval]))", "{{rating}}"),
                       span=24))
    )


def pipeline_health(policy: Policy) -> dashboard.Dashboard:
    return (
        dashboard.Dashboard("SLA: Pipeline health").uid("sla-pipeline-health").tags(TAGS).refresh("30s")
        .time("now-6h", "now").description("Is the monitor itself healthy?")
        .with_variable(_datasource_var())
        .with_panel(single("Workers up", "", "short", q('sum(up{job="sla-pipeline"})', instant=True),
                           (None, "red"), (1, "green"), span=8))
        .with_panel(single("Notifier up", "", "short", q('sum(up{job="sla-notifier"})', instant=True),
                           (None, "red"), (1, "green"), span=8))
        .with_panel(single("Events held for their ticket", "Waiting for ticket.created (orphans after the timeout).",
                           "short", q("sum(sla_events_held)", instant=True), span=8))
        .with_panel(ts("Events per second by type", "", "ops",
                       q("sum by (type) (rate(sla_events_total[$__rate_interval]))", "{{type}}")))
        .with_panel(ts("Consumer lag (records)", "tickets.events not yet processed, per worker and partition.",
                       "short", q("sum by (instance, partition) (sla_consumer_lag_records)", "{{instance}} p{{partition}}")))
        .with_panel(ts("Dead-lettered per second by reason", "", "ops",
                       q("sum by (reason) (rate(sla_events_rejected_total[$__rate_interval]))", "{{reason}}")))
        .with_panel(ts("Duplicates and republished outputs", "", "ops",
                       q("sum(rate(sla_events_duplicate_total[$__rate_interval]))", "duplicate events"),
                       q("sum by (topic) (rate(sla_outputs_republished_total[$__rate_interval]))", "republished {{topic}}",
                         ref="B")))
        .with_panel(ts("Processing time per record (p99)", "", "s",
                       q("histogram_quantile(0.99, sum by (le) (rate(sla_record_processing_seconds_bucket[$__rate_interval])))",
                         "p99")))
        .with_panel(ts("Event lag (p99)", "Wall time at processing minus occurred_at.", "s",
                       q("histogram_quantile(0.99, sum by (le) (rate(sla_event_lag_seconds_bucket[$__rate_interval])))",
                         "p99")))
        .with_panel(ts("Rebalances", "Partition assignments received, per worker.", "short",
                       q("sum by (instance) (increase(sla_rebalances_total[1h]))", "{{instance}}")))
        .with_panel(ts("Posts to Alertmanager", "Per Alertmanager: accepted, failed (retried with everything "
                       "firing) and rejected (4xx, not retried).", "short",
                       q("sum by (alertmanager, result) (increase(sla_notifier_posts_total[$__rate_interval]))",
                         "{{alertmanager}} {{result}}")))
    )


BOARDS = {"noc-overview": noc, "bizcrit": bizcrit, "engineers": engineers, "pipeline-health": pipeline_health,
          "contracts": contracts}


def render(policy: Policy) -> dict[str, str]:
    """File name -> dashboard JSON, exactly as checked in."""
    encoder = JSONEncoder(sort_keys=True, indent=2)
    return {f"{name}.json": encoder.encode(build(policy).build()) + "\n" for name, build in BOARDS.items()}
