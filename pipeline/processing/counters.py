"""The processor's counting: what it decided and rejected, as Prometheus counters and histograms.

prometheus-client's ``labels()`` lookup took a tenth of the core's time, so each labelled child is
looked up once and cached here.
"""

from __future__ import annotations

from typing import Any

from pipeline.domain import bizcrit, sla
from pipeline.domain.engine import Step
from pipeline.domain.ticket import TicketState
from pipeline.metrics import Metrics


class Counters:
    def __init__(self, metrics: Metrics) -> None:
        self.metrics = metrics
        self._children: dict[tuple, Any] = {}
        self._held = 0

    def _child(self, metric: Any, **labels: str) -> Any:
        key = (id(metric), *labels.values())
        child = self._children.get(key)
        if child is None:
            child = self._children[key] = metric.labels(**labels)
        return child

    def event(self, event_type: str, lag_s: float) -> None:
        self._child(self.metrics.events, type=event_type).inc()
        self.metrics.event_lag.observe(max(0.0, lag_s))

    def rejected(self, reason: str) -> None:
        self._child(self.metrics.events_rejected, reason=reason).inc()

    def duplicate(self) -> None:
        self.metrics.events_duplicate.inc()

    def ignored(self, reason: str) -> None:
        self._child(self.metrics.events_ignored, reason=reason).inc()

    def republished(self, topic: str, n: int = 1) -> None:
        self._child(self.metrics.outputs_republished, topic=topic).inc(n)

    def held(self, delta: int) -> None:
        self._held += delta
        self.metrics.events_held.set(self._held)

    def held_total(self, total: int) -> None:
        self._held = total
        self.metrics.events_held.set(total)

    def answered(self, state: TicketState) -> None:
        """The ticket's first response: its initial response time."""
        irt_s = (state.first_response_at - state.created_at) / 1000  # type: ignore[operator]
        self._child(self.metrics.irt_seconds, severity=str(state.severity)).observe(
            irt_s, exemplar={"ticket_id": state.ticket_id[:64]})

    def step(self, state: TicketState, step: Step) -> None:
        exemplar = {"ticket_id": state.ticket_id[:64]}
        for e in step.escalations:
            self._child(self.metrics.escalations, kind=e.kind).inc(exemplar=exemplar)
            if bizcrit.pages(e.kind, e.level):
                self._child(self.metrics.escalation_pages, kind=e.kind).inc(exemplar=exemplar)
        for survey in step.dsat:
            self._child(self.metrics.dsat_reviews, rating=survey.rating).inc()  # type: ignore[arg-type]
        for d in step.decisions:
            severity = str(d.severity)
            if d.metric == sla.IRT:
                self._child(self.metrics.irt_outcomes, severity=severity, outcome=d.outcome).inc(exemplar=exemplar)
            elif d.metric == sla.TTR:
                self._child(self.metrics.ttr_seconds, severity=severity).observe(d.value_ms / 1000, exemplar=exemplar)  # type: ignore[operator]
            elif d.metric == sla.TTW:
                self._child(self.metrics.ttw_seconds, severity=severity).observe(d.value_ms / 1000, exemplar=exemplar)  # type: ignore[operator]
