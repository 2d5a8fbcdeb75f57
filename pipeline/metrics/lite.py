"""Counters and histograms for the per-event path: plain numbers, exported by a collector at scrape time.

prometheus-client takes a lock and walks its buckets on every ``inc()`` and ``observe()``; on the
worker's hot path (a few calls per event) that was a quarter of the core's time. These keep plain
Python numbers instead and build the same families (names, labels, buckets, exemplars) when scraped.
They are not thread-safe: a worker counts and serves ``/metrics`` on one event loop thread.

Only what the pipeline uses is here: ``labels(**values)``, ``inc(amount, exemplar=)``,
``observe(value, exemplar=)``.
"""

from __future__ import annotations

import bisect
import math
import time
from collections.abc import Iterator, Sequence

from prometheus_client import CollectorRegistry
from prometheus_client.metrics_core import Metric
from prometheus_client.samples import Exemplar
from prometheus_client.utils import floatToGoString


class _CounterChild:
    __slots__ = ("value", "exemplar")

    def __init__(self) -> None:
        self.value = 0.0
        self.exemplar: Exemplar | None = None

    def inc(self, amount: float = 1, exemplar: dict[str, str] | None = None) -> None:
        self.value += amount
        if exemplar is not None:
            self.exemplar = Exemplar(exemplar, amount, time.time())


class _HistogramChild:
    __slots__ = ("bounds", "counts", "sum", "exemplars")

    def __init__(self, bounds: list[float]) -> None:
        self.bounds = bounds
        self.counts = [0] * len(bounds)
        self.sum = 0.0
        self.exemplars: list[Exemplar | None] = [None] * len(bounds)

    def observe(self, value: float, exemplar: dict[str, str] | None = None) -> None:
        i = bisect.bisect_left(self.bounds, value)  # the first bucket whose upper bound is >= value
        self.counts[i] += 1
        self.sum += value
        if exemplar is not None:
            self.exemplars[i] = Exemplar(exemplar, value, time.time())


class _Family:
    """Children by label values; a family without labels is its own single child."""

    _type = ""

    def __init__(self, name: str, documentation: str, labelnames: Sequence[str] = (),
                 registry: CollectorRegistry | None = None) -> None:
        self.name = name
        self.documentation = documentation
        self.labelnames = tuple(labelnames)
        self._children: dict[tuple[str, ...], object] = {}
        if registry is not None:
            registry.register(self)

    def _new(self) -> object:
        raise NotImplementedError

    def labels(self, **values: str) -> object:
        key = tuple(str(values[n]) for n in self.labelnames)
        child = self._children.get(key)
        if child is None:
            child = self._children[key] = self._new()
        return child

    def describe(self) -> Iterator[Metric]:
        yield Metric(self.name, self.documentation, self._type)


class LiteCounter(_Family):
    _type = "counter"

    def __init__(self, name: str, documentation: str, labelnames: Sequence[str] = (),
                 registry: CollectorRegistry | None = None) -> None:
        super().__init__(name.removesuffix("_total"), documentation, labelnames, registry)
        if not self.labelnames:
            self._single = self.labels()

    def _new(self) -> _CounterChild:
        return _CounterChild()

    def inc(self, amount: float = 1, exemplar: dict[str, str] | None = None) -> None:
        self._single.inc(amount, exemplar)  # type: ignore[attr-defined]

    def collect(self) -> Iterator[Metric]:
        family = Metric(self.name, self.documentation, "counter")
        for key, child in self._children.items():
            family.add_sample(self.name + "_total", dict(zip(self.labelnames, key, strict=True)), child.value,  # type: ignore[attr-defined]
                              None, child.exemplar)  # type: ignore[attr-defined]
        yield family


class LiteHistogram(_Family):
    _type = "histogram"

    def __init__(self, name: str, documentation: str, labelnames: Sequence[str] = (),
                 registry: CollectorRegistry | None = None, buckets: Sequence[float] = ()) -> None:
        bounds = sorted(float(b) for b in buckets)
        if not bounds or bounds[-1] != math.inf:
            bounds.append(math.inf)
        self._bounds = bounds
        self._le = [floatToGoString(b) for b in bounds]
        super().__init__(name, documentation, labelnames, registry)
        if not self.labelnames:
            self._single = self.labels()

    def _new(self) -> _HistogramChild:
        return _HistogramChild(self._bounds)

    def observe(self, value: float, exemplar: dict[str, str] | None = None) -> None:
        self._single.observe(value, exemplar)  # type: ignore[attr-defined]

    def collect(self) -> Iterator[Metric]:
        family = Metric(self.name, self.documentation, "histogram")
        for key, child in self._children.items():
            labels = dict(zip(self.labelnames, key, strict=True))
            total = 0
            for le, count, exemplar in zip(self._le, child.counts, child.exemplars, strict=True):  # type: ignore[attr-defined]
                total += count
                family.add_sample(self.name + "_bucket", {**labels, "le": le}, total, None, exemplar)
            family.add_sample(self.name + "_count", labels, total)
            family.add_sample(self.name + "_sum", labels, child.sum)  # type: ignore[attr-defined]
        yield family
