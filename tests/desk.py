"""A support desk in a box for unit tests: one processor, one partition, a hand-moved wall clock."""

from __future__ import annotations

import dataclasses

from pipeline.domain.clock import EventPartitionClock, ManualClock, WallPartitionClock
from pipeline.domain.policy import Policy
from pipeline.domain.records import Escalation, Outcome
from pipeline.domain.timefmt import format_rfc3339_ms, parse_rfc3339_ms
from pipeline.metrics import Metrics
from pipeline.processing.io import Emit
from pipeline.processing.processor import Processor
from tests.fakes import TICKS, DictStore, Feed

T0 = parse_rfc3339_ms("2026-03-02T09:00:00Z")
SEC, MIN, HOUR = 1000, 60_000, 3_600_000


class Desk:
    """A support desk in a box: one processor, one partition, a hand-moved wall clock."""

    def __init__(self, *, event_time: bool = False, policy: Policy | None = None, clock_guard: bool = False) -> None:
        self.wall = ManualClock(T0)
        clock = EventPartitionClock(self.wall) if event_time else WallPartitionClock(self.wall)
        self.metrics = Metrics.create()
        policy = policy or Policy()
        if not clock_guard:  # the tests send events dated ahead of the hand-moved wall clock on purpose
            policy = dataclasses.replace(policy, wall_future_ms=365 * 24 * HOUR)
        self.proc = Processor(clock=clock, wall=self.wall, metrics=self.metrics, policy=policy,
                              orphan_timeout_ms=10 * MIN, events_topic="tickets.events", ticks_topic=TICKS)
        self.store = DictStore()
        self.feed = Feed()
        self.outcomes: list[Outcome] = []
        self.escalations: list[Escalation] = []
        self._n = 0

    def send(self, etype: str, tid: str = "T1", at: int = T0, **fields: object) -> list[Outcome]:
        self._n += 1
        doc = {"event_id": f"e{self._n}", "type": etype, "occurred_at": format_rfc3339_ms(at), **fields}
        if etype != "heartbeat":
            doc["ticket_id"] = tid
        return self._collect(self.proc.handle(self.feed.record(doc), self.store))

    def create(self, tid: str = "T1", at: int = T0, severity: int = 1, **fields: object) -> list[Outcome]:
        fields = {"product": "automation", "customer_id": "C1", **fields}
        return self.send("ticket.created", tid, at, severity=severity, **fields)

    def clock_to(self, at: int) -> list[Outcome]:
        """Live mode: move the wall clock and let the timer tick."""
        self.wall.set(at)
        return self._collect(self.proc.handle(self.feed.tick(), self.store))

    def _collect(self, outputs: list) -> list[Outcome]:
        new = [Outcome.decode(o.value) for o in outputs if isinstance(o, Emit) and o.topic == "outcomes"]
        self.outcomes += new
        self.escalations += [Escalation.decode(o.value) for o in outputs
                             if isinstance(o, Emit) and o.topic == "escalations"]
        return new

    def irt(self, tid: str = "T1") -> list[Outcome]:
        return [o for o in self.outcomes if o.ticket_id == tid and o.metric == "irt"]

    def metric(self, name: str, **labels: str) -> float:
        return self.metrics.registry.get_sample_value(name, labels or None) or 0.0

    def ladder(self, tid: str = "T1") -> list[tuple[str, int, str]]:
        """(kind, level, emitted_at) of the ticket's escalations, in order."""
        return [(e.kind, e.level, e.emitted_at) for e in self.escalations if e.ticket_id == tid]
