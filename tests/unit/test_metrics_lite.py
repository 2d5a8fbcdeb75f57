"""The lightweight counters and histograms expose exactly what prometheus-client's would."""

from __future__ import annotations

import re

from prometheus_client import CollectorRegistry, Counter, Histogram, disable_created_metrics, generate_latest
from prometheus_client.openmetrics.exposition import generate_latest as openmetrics

from pipeline.metrics.lite import LiteCounter, LiteHistogram

BUCKETS = (0.5, 1, 2.5, 10)


def fill(counter_cls: type, histogram_cls: type) -> CollectorRegistry:
    reg = CollectorRegistry()
    events = counter_cls("x_events_total", "Events.", ["type"], registry=reg)
    plain = counter_cls("x_plain_total", "Plain.", registry=reg)
    lag = histogram_cls("x_lag_seconds", "Lag.", ["severity"], registry=reg, buckets=BUCKETS)
    events.labels(type="a").inc()
    events.labels(type="a").inc(2)
    events.labels(type="b")
    plain.inc(exemplar={"ticket_id": "T-1"})
    for value in (0.1, 0.5, 0.7, 1, 3, 99):
        lag.labels(severity="1").observe(value, exemplar={"ticket_id": f"T-{value}"})
    lag.labels(severity="2").observe(2.5)
    return reg


def without_exemplar_times(text: str) -> str:
    return re.sub(r"(# \{[^}]*\} \S+) \d+\.\d+", r"\1", text)


def test_text_and_openmetrics_match_prometheus_client() -> None:
    disable_created_metrics()  # as Metrics.create does
    ours, theirs = fill(LiteCounter, LiteHistogram), fill(Counter, Histogram)
    assert generate_latest(ours) == generate_latest(theirs)
    assert without_exemplar_times(openmetrics(ours).decode()) == without_exemplar_times(openmetrics(theirs).decode())
    assert ours.get_sample_value("x_lag_seconds_bucket", {"severity": "1", "le": "1.0"}) == 4
    assert ours.get_sample_value("x_lag_seconds_sum", {"severity": "1"}) == 0.1 + 0.5 + 0.7 + 1 + 3 + 99
