"""The processor's counting: what one record did, as Prometheus counters, gauges and histograms.

The processor notes what it routed into a :class:`Tally` (the steps it published, the event it
accepted, duplicates, ignored and held events) and :meth:`Counters.record` counts the tally and the
record's outputs once, after the record. prometheus-client's ``labels()`` lookup took a tenth of the
core's time, so each labelled child is looked up once and cached here.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from pipeline.domain import bizcrit, sla
from pipeline.domain.contracts import METRICS
from pipeline.domain.engine import Step
from pipeline.domain.ticket import TicketState
from pipeline.metrics import Metrics
from pipeline.processing.io import DeadLetter, Emit, Output


@dataclasses.dataclass(slots=True)
class Tally:
    """What one record did, beyond its outputs: filled in as the processor routes it."""

    event: str | None = None  # the type of the valid event accepted (not rejected as too far ahead)
    lag_s: float = 0.0  # how long after its occurred_at that event arrived
    duplicate: bool = False
    ignored: str | None = None  # why a valid event changed nothing ("after_closed", "already_created")
    held_total: int | None = None  # events held by every ticket, counted again after a rebuild
    held: int = 0  # events held (+) or released and expired (-) by this record
    answered: list[tuple[str, int, float]] = dataclasses.field(default_factory=list)  # (ticket, severity, IRT s)
    steps: list[tuple[str, Step]] = dataclasses.field(default_factory=list)  # (ticket, step) published
    republished: list[Emit] = dataclasses.field(default_factory=list)  # outputs of uncommitted records, again
    contract_unknown: int = 0  # tickets created by this record whose requested contract the policy lacks

    def answer(self, state: TicketState) -> None:
        """The ticket's first response: its initial response time, at the severity it had then."""
        irt_s = (state.first_response_at - state.created_at) / 1000  # type: ignore[operator]
        self.answered.append((state.ticket_id, state.severity, irt_s))


class Counters:
    def __init__(self, metrics: Metrics) -> None:
        self.metrics = metrics
        self._children: dict[tuple, Any] = {}
        self._held = 0

    def _child(self, family: Any, /, **labels: str) -> Any:
        key = (id(family), *labels.values())
        child = self._children.get(key)
        if child is None:
            child = self._children[key] = family.labels(**labels)
        return child

    def record(self, tally: Tally, outputs: list[Output], seconds: float) -> None:
        """Count one record: its tally, the DLQ records among its outputs, and how long it took."""
        m = self.metrics
        m.processing.observe(seconds)
        for emit in tally.republished:
            self._child(m.outputs_republished, topic=emit.topic).inc()
        if tally.held_total is not None:
            self._held = tally.held_total
        if tally.event is not None:
            self._child(m.events, type=tally.event).inc()
            m.event_lag.observe(max(0.0, tally.lag_s))
        if tally.duplicate:
            m.events_duplicate.inc()
        if tally.contract_unknown:
            m.contract_unknown.inc(tally.contract_unknown)
        if tally.ignored is not None:
            self._child(m.events_ignored, reason=tally.ignored).inc()
        if tally.held or tally.held_total is not None:
            self._held += tally.held
            m.events_held.set(self._held)
        for ticket_id, severity, irt_s in tally.answered:
            self._child(m.irt_seconds, severity=str(severity)).observe(irt_s, exemplar={"ticket_id": ticket_id[:64]})
        for ticket_id, step in tally.steps:
            self._step(ticket_id, step)
        for out in outputs:
            if isinstance(out, DeadLetter):
                self._child(m.events_rejected, reason=out.reason).inc()

    def _step(self, ticket_id: str, step: Step) -> None:
        exemplar = {"ticket_id": ticket_id[:64]}
        for e in step.escalations:
            self._child(self.metrics.escalations, kind=e.kind).inc(exemplar=exemplar)
            if bizcrit.pages(e.kind, e.level):
                self._child(self.metrics.escalation_pages, kind=e.kind).inc(exemplar=exemplar)
        for survey in step.dsat:
            self._child(self.metrics.dsat_reviews, rating=survey.rating).inc()  # type: ignore[arg-type]
        for d in step.decisions:
            severity = str(d.severity)
            if d.metric in METRICS and d.outcome is not None:  # judged: met or breached, under its contract
                self._child(self.metrics.outcomes, contract=d.contract, metric=d.metric, severity=severity,
                            outcome=d.outcome).inc(exemplar=exemplar)
            if d.metric == sla.IRT:
                self._child(self.metrics.irt_outcomes, severity=severity, outcome=d.outcome).inc(exemplar=exemplar)
            elif d.metric == sla.TTR:
                self._child(self.metrics.ttr_seconds, severity=severity).observe(d.value_ms / 1000, exemplar=exemplar)  # type: ignore[operator]
            elif d.metric == sla.TTW:
                self._child(self.metrics.ttw_seconds, severity=severity).observe(d.value_ms / 1000, exemplar=exemplar)  # type: ignore[operator]
