"""Every Prometheus metric of the pipeline, declared once (contract section 6).

``Metrics.create(registry, policy)`` builds the bundle on a registry of the caller's choosing, so each
test reads a fresh one. Gauges derived from tables (IRT windows, tickets at risk) are computed at
scrape time by a collector over the partitions this worker holds, so summing a series over workers
gives the true value. Ticket and customer ids are never labels; ticket ids ride along as exemplars.

The contracts' series (contract v3 section 10) take their ``contract`` and ``metric`` labels from the
policy (:func:`judged_pairs`), never from events, and exist at 0 from the start for every pair.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterator
from typing import Protocol

from prometheus_client import CollectorRegistry, Gauge, disable_created_metrics
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from pipeline.domain.bizcrit import BOARD_RUNGS, KINDS, rungs_that_page
from pipeline.domain.contracts import DEFAULT
from pipeline.domain.events import DSAT_RATINGS, EVENT_TYPES
from pipeline.domain.policy import SEVERITIES, Policy
from pipeline.domain.windows import OUTCOMES, WINDOWS_MS
from pipeline.metrics.lite import LiteCounter, LiteHistogram
from pipeline.processing.outbox import OUTPUT_TOPICS

# Lag from occurred_at to processing: from sub-second (live) to days (a replay).
_LAG_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 900, 3600, 21600, 86400, 604800)
# Resolution and workaround times: minutes to weeks.
_DURATION_BUCKETS = (900, 1800, 3600, 7200, 14400, 28800, 86400, 172800, 345600, 604800, 1209600, 2592000)


def contract_names(policy: Policy) -> tuple[str, ...]:
    """Every contract a ticket can be judged under: the policy's, and the implicit "default" when no rule
    or default names a defined one (always, for a policy without contracts)."""
    names = set(policy.contracts)
    if policy.default_contract not in names:
        names.add(DEFAULT)
    return tuple(sorted(names))


def judged_pairs(policy: Policy) -> tuple[tuple[str, str], ...]:
    """(contract, metric) for every metric each contract judges: the label values of the contracts' series."""
    return tuple((name, metric) for name in contract_names(policy) for metric in policy.contract(name).metrics)


class StateView(Protocol):
    def at_risk_counts(self) -> dict[int, int]: ...

    def paused_counts(self) -> dict[int, int]: ...

    def window_counts(self) -> dict[tuple[str, int, str], int]: ...

    def bizcrit_counts(self) -> dict[str, int]: ...

    def outcome_window_counts(self) -> dict[tuple[str, str, str, int, str], int]:
        """(window, contract, metric, severity, outcome) -> judged outcomes decided in the window."""
        ...

    def at_risk_clock_counts(self) -> dict[tuple[str, str, int], int]:
        """(contract, metric, severity) -> running clocks at risk (paused ones not counted)."""
        ...


@dataclasses.dataclass(frozen=True)
class Metrics:
    registry: CollectorRegistry
    events: LiteCounter
    events_rejected: LiteCounter
    events_duplicate: LiteCounter
    events_ignored: LiteCounter
    event_lag: LiteHistogram
    events_held: Gauge
    irt_outcomes: LiteCounter
    outcomes: LiteCounter
    contract_unknown: LiteCounter
    irt_seconds: LiteHistogram
    ttr_seconds: LiteHistogram
    ttw_seconds: LiteHistogram
    outputs_republished: LiteCounter
    escalations: LiteCounter
    escalation_pages: LiteCounter
    dsat_reviews: LiteCounter
    rebalances: LiteCounter
    processing: LiteHistogram
    _views: list = dataclasses.field(default_factory=list)
    _engineers: list = dataclasses.field(default_factory=list)
    _lag: list = dataclasses.field(default_factory=list)

    @classmethod
    def create(cls, registry: CollectorRegistry | None = None, policy: Policy | None = None) -> Metrics:
        disable_created_metrics()  # the *_created series only clutter dashboards
        reg = registry if registry is not None else CollectorRegistry()
        policy = policy or Policy()
        sev = ["severity"]
        metrics = cls(
            registry=reg,
            events=LiteCounter("sla_events_total", "Valid ticket events received, by type (duplicates included).",
                           ["type"], registry=reg),
            events_rejected=LiteCounter("sla_events_rejected_total", "Records sent to the DLQ, by contract reason.",
                                    ["reason"], registry=reg),
            events_duplicate=LiteCounter("sla_events_duplicate_total",
                                     "Events whose event_id was already applied to the ticket.", registry=reg),
            events_ignored=LiteCounter(
                "sla_events_ignored_total",
                "Valid events the contract says to ignore (after ticket.closed, a second ticket.created).",
                ["reason"], registry=reg),
            event_lag=LiteHistogram("sla_event_lag_seconds", "Wall time at processing minus the event's occurred_at.",
                                buckets=_LAG_BUCKETS, registry=reg),
            events_held=Gauge("sla_events_held", "Events held because their ticket.created has not arrived yet.",
                              registry=reg),
            irt_outcomes=LiteCounter("sla_irt_outcomes_total", "IRT outcomes decided: one per ticket.",
                                 ["severity", "outcome"], registry=reg),
            outcomes=LiteCounter(
                "sla_outcomes_total", "Judged outcomes decided, by contract and metric: one per clock.",
                ["contract", "metric", "severity", "outcome"], registry=reg),
            contract_unknown=LiteCounter(
                "sla_contract_unknown_total",
                "Tickets created naming a contract the policy does not define (judged under the rules' or default).",
                registry=reg),
            irt_seconds=LiteHistogram("sla_irt_seconds", "Initial response time of answered tickets (late ones too).",
                                  sev, buckets=policy.irt_bucket_edges_s(), registry=reg),
            ttr_seconds=LiteHistogram("sla_ttr_seconds", "Time to resolution per cycle, waiting on customer included.",
                                  sev, buckets=_DURATION_BUCKETS, registry=reg),
            ttw_seconds=LiteHistogram("sla_ttw_seconds", "Time to workaround (or to resolution if first) per cycle.",
                                  sev, buckets=_DURATION_BUCKETS, registry=reg),
            outputs_republished=LiteCounter(
                "sla_outputs_republished_total",
                "Outputs published again after a restart or rebalance (same idempotency key).",
                ["topic"], registry=reg),
            escalations=LiteCounter("sla_escalations_total", "BizCrit escalations emitted, by kind.", ["kind"],
                                registry=reg),
            escalation_pages=LiteCounter("sla_escalation_pages_total",
                                     "Escalations of a rung that pages on-call (level 2 and up), by kind.", ["kind"],
                                     registry=reg),
            dsat_reviews=LiteCounter("sla_dsat_reviews_total",
                                     "Neutral or dissatisfied surveys sent to the DSAT review.", ["rating"],
                                     registry=reg),
            rebalances=LiteCounter("sla_rebalances_total", "Partition assignments this worker received.", registry=reg),
            processing=LiteHistogram("sla_record_processing_seconds", "Time to process one record (event or tick).",
                                 buckets=(0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.05, 0.25, 1),
                                 registry=reg),
        )
        for kind in KINDS:
            metrics.escalations.labels(kind=kind)
        for kind, _level in rungs_that_page():
            metrics.escalation_pages.labels(kind=kind)
        for topic in OUTPUT_TOPICS:
            metrics.outputs_republished.labels(topic=topic)
        for rating in sorted(DSAT_RATINGS):
            metrics.dsat_reviews.labels(rating=rating)
        for etype in sorted(EVENT_TYPES):  # so rate() sees a 0 before the first event
            metrics.events.labels(type=etype)
        for severity in SEVERITIES:
            for outcome in OUTCOMES:
                metrics.irt_outcomes.labels(severity=str(severity), outcome=outcome)
        pairs = judged_pairs(policy)
        for contract, metric in pairs:
            for severity in SEVERITIES:
                for outcome in OUTCOMES:
                    metrics.outcomes.labels(contract=contract, metric=metric, severity=str(severity), outcome=outcome)
        reg.register(_StateCollector(metrics._views))
        reg.register(_ContractCollector(metrics._views, pairs))
        reg.register(_EngineerCollector(metrics._engineers))
        reg.register(_LagCollector(metrics._lag))
        return metrics

    def observe_lag(self, source: Callable[[], dict[int, int]]) -> None:
        """Let ``sla_consumer_lag_records`` read {partition: records behind} for this worker."""
        self._lag[:] = [source]

    def observe_engineers(self, source: Callable[[], dict[str, list]]) -> None:
        """Let the engineer gauges read {window: standings} of the engineers this worker owns."""
        self._engineers[:] = [source]

    def observe_state(self, view: StateView) -> None:
        """Let the scrape-time gauges read this view (the processor of this worker)."""
        self._views[:] = [view]


class _StateCollector(Collector):
    def __init__(self, views: list) -> None:
        self._views = views

    def collect(self) -> Iterator[GaugeMetricFamily]:
        windows = GaugeMetricFamily(
            "sla_irt_window_tickets",
            "Tickets whose IRT outcome was decided in the window, on the partitions this worker owns.",
            labels=["severity", "window", "outcome"])
        at_risk = GaugeMetricFamily(
            "sla_irt_at_risk_tickets",
            "Unanswered tickets, not yet breached, that used at least the at-risk share of their IRT budget.",
            labels=["severity"])
        paused = GaugeMetricFamily(
            "sla_irt_paused_tickets",
            "Unanswered tickets, not yet breached, whose business-hours calendar is closed now (IRT clock paused).",
            labels=["severity"])
        bizcrit = GaugeMetricFamily("sla_bizcrit_open_tickets", "Open BizCrit tickets on this worker's partitions.")
        by_rung = GaugeMetricFamily(
            "sla_bizcrit_open_tickets_by_rung",
            f"Open BizCrit tickets by the highest BizCrit rung reached ({', '.join(BOARD_RUNGS)}).",
            labels=["rung"])
        counts: dict = {}
        risky: dict = {}
        waiting: dict = {}
        rungs: dict = dict.fromkeys(BOARD_RUNGS, 0)
        for view in self._views:
            counts = view.window_counts()
            risky = view.at_risk_counts()
            waiting = view.paused_counts()
            rungs = view.bizcrit_counts()
        bizcrit.add_metric([], sum(rungs.values()))
        for rung, n in rungs.items():
            by_rung.add_metric([rung], n)
        for severity in SEVERITIES:
            for window in WINDOWS_MS:
                for outcome in OUTCOMES:
                    windows.add_metric([str(severity), window, outcome], counts.get((window, severity, outcome), 0))
            at_risk.add_metric([str(severity)], risky.get(severity, 0))
            paused.add_metric([str(severity)], waiting.get(severity, 0))
        yield windows
        yield at_risk
        yield paused
        yield bizcrit
        yield by_rung

    def describe(self) -> Iterator[GaugeMetricFamily]:
        return iter(())


class _ContractCollector(Collector):
    """``sla_window_outcomes`` and ``sla_at_risk_clocks`` for every (contract, metric) pair of the policy."""

    def __init__(self, views: list, pairs: tuple[tuple[str, str], ...]) -> None:
        self._views = views
        self._pairs = pairs

    def collect(self) -> Iterator[GaugeMetricFamily]:
        windows = GaugeMetricFamily(
            "sla_window_outcomes",
            "Judged outcomes decided in the window, by contract and metric, on the partitions this worker owns.",
            labels=["contract", "metric", "severity", "window", "outcome"])
        at_risk = GaugeMetricFamily(
            "sla_at_risk_clocks",
            "Running clocks, not paused nor yet breached, that used at least the at-risk share of their target.",
            labels=["contract", "metric", "severity"])
        counts: dict = {}
        risky: dict = {}
        for view in self._views:
            counts = view.outcome_window_counts()
            risky = view.at_risk_clock_counts()
        for contract, metric in self._pairs:
            for severity in SEVERITIES:
                sev = str(severity)
                for window in WINDOWS_MS:
                    for outcome in OUTCOMES:
                        windows.add_metric([contract, metric, sev, window, outcome],
                                           counts.get((window, contract, metric, severity, outcome), 0))
                at_risk.add_metric([contract, metric, sev], risky.get((contract, metric, severity), 0))
        yield windows
        yield at_risk

    def describe(self) -> Iterator[GaugeMetricFamily]:
        return iter(())


class _LagCollector(Collector):
    def __init__(self, sources: list) -> None:
        self._sources = sources

    def collect(self) -> Iterator[GaugeMetricFamily]:
        lag = GaugeMetricFamily("sla_consumer_lag_records",
                                "Records of tickets.events not yet processed, per partition this worker owns.",
                                labels=["partition"])
        for source in self._sources:
            for partition, behind in sorted(source().items()):
                lag.add_metric([str(partition)], behind)
        yield lag

    def describe(self) -> Iterator[GaugeMetricFamily]:
        return iter(())


class _EngineerCollector(Collector):
    """``sla_engineer_*{engineer, window}``: engineer ids only, never names; only engineers owned here."""

    _FAMILIES = (
        ("sla_engineer_art_seconds", "Mean engineer response time (ART) in the window.", "art_seconds"),
        ("sla_engineer_art_ratio", "Share of response samples within the IRT target (% ART).", "art_ratio"),
        ("sla_engineer_vsat_ratio", "Share of surveys rated very satisfied (VSAT %).", "vsat_ratio"),
        ("sla_engineer_quality_ratio", "Mean quality review score / 100 (Quality %).", "quality_ratio"),
        ("sla_engineer_response_samples", "Response samples in the window.", "samples"),
        ("sla_engineer_surveys", "Surveys in the window.", "surveys"),
        ("sla_engineer_dsat_surveys", "Neutral or dissatisfied surveys in the window.", "dsat"),
    )

    def __init__(self, sources: list) -> None:
        self._sources = sources

    def collect(self) -> Iterator[GaugeMetricFamily]:
        families = {name: GaugeMetricFamily(name, text, labels=["engineer", "window"])
                    for name, text, _ in self._FAMILIES}
        score = GaugeMetricFamily("sla_engineer_stack_rank_score",
                                  "Stack rank score (weighted VSAT %, Quality %, % ART); ranked engineers only.",
                                  labels=["engineer", "window"])
        rank = GaugeMetricFamily("sla_engineer_stack_rank", "Position in the stack rank (1 = best).",
                                 labels=["engineer", "window"])
        for source in self._sources:
            for window, standings in source().items():
                for st in standings:
                    labels = [st.summary.engineer_id, window]
                    for name, _, field in self._FAMILIES:
                        value = getattr(st.summary, field)
                        if value is not None:
                            families[name].add_metric(labels, value)
                    if st.rank is not None:
                        score.add_metric(labels, st.score)
                        rank.add_metric(labels, st.rank)
        yield from families.values()
        yield score
        yield rank

    def describe(self) -> Iterator[GaugeMetricFamily]:
        return iter(())
