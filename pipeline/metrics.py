"""Every Prometheus metric of the pipeline, declared once (contract section 6).

``Metrics.create(registry)`` builds the bundle on a registry of the caller's choosing, so each test
reads a fresh one. Ticket and customer ids are never labels.
"""

from __future__ import annotations

import dataclasses

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, disable_created_metrics

from pipeline.domain.events import EVENT_TYPES

# Lag from occurred_at to processing: from sub-second (live) to days (a replay).
_LAG_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 900, 3600, 21600, 86400, 604800)


@dataclasses.dataclass(frozen=True)
class Metrics:
    registry: CollectorRegistry
    events: Counter
    events_rejected: Counter
    events_duplicate: Counter
    events_ignored: Counter
    event_lag: Histogram
    events_held: Gauge

    @classmethod
    def create(cls, registry: CollectorRegistry | None = None) -> Metrics:
        disable_created_metrics()  # the *_created series only clutter dashboards
        reg = registry if registry is not None else CollectorRegistry()
        metrics = cls(
            registry=reg,
            events=Counter(
                "sla_events_total", "Valid ticket events received, by type (duplicates included).",
                ["type"], registry=reg,
            ),
            events_rejected=Counter(
                "sla_events_rejected_total", "Records sent to the DLQ, by contract reason.",
                ["reason"], registry=reg,
            ),
            events_duplicate=Counter(
                "sla_events_duplicate_total", "Events whose event_id was already applied to the ticket.",
                registry=reg,
            ),
            events_ignored=Counter(
                "sla_events_ignored_total",
                "Valid events the contract says to ignore (after ticket.closed, a second ticket.created).",
                ["reason"], registry=reg,
            ),
            event_lag=Histogram(
                "sla_event_lag_seconds", "Wall time at processing minus the event's occurred_at.",
                buckets=_LAG_BUCKETS, registry=reg,
            ),
            events_held=Gauge(
                "sla_events_held", "Events held because their ticket.created has not arrived yet.",
                registry=reg,
            ),
        )
        for etype in sorted(EVENT_TYPES):  # so rate() sees a 0 before the first event
            metrics.events.labels(type=etype)
        return metrics
