"""What happens to one record: decode, dedupe, hold or apply, decide, fire due timers. No Faust here.

The Faust agent hands each record (an event, or a tick of the internal ticks topic) to
:meth:`Processor.handle` with a :class:`Store` over its tables and publishes the outputs it gets
back. Tests do the same with a dict-backed store.

Crash safety: every published outcome also stays in its ticket's outbox until the record that caused
it is committed. After a restart or rebalance the outbox entries of uncommitted records are published
again (same ``outcome_id``), because the local state may already hold effects whose outputs never
reached Kafka. Consumers drop repeats by ``outcome_id``; nothing is lost.
"""

from __future__ import annotations

import dataclasses
import functools
import logging
import operator
from collections.abc import Callable, Iterable
from typing import Any, Protocol

import orjson

from pipeline.domain import bizcrit, engine, engineers, sla
from pipeline.domain import events as ev
from pipeline.domain.clock import Clock, PartitionClock
from pipeline.domain.due import DueIndex
from pipeline.domain.events import Event, Rejection, decode
from pipeline.domain.policy import Policy
from pipeline.domain.ticket import HELD_LIMIT, HeldEvent, Pending, TicketState, event_digest
from pipeline.domain.timefmt import format_rfc3339_ms
from pipeline.domain.windows import IrtWindows
from pipeline.metrics import Metrics

log = logging.getLogger(__name__)

SOURCE_EVENTS, SOURCE_TICKS = 0, 1


@functools.cache
def _getter(cls: type) -> Callable[[object], tuple]:
    names = [f.name for f in dataclasses.fields(cls)]
    get = operator.attrgetter(*names)
    return get if len(names) > 1 else lambda obj: (get(obj),)


def _fields(obj: object) -> tuple:
    """``dataclasses.astuple`` for the flat result dataclasses, without its deep copy (a tenth of the
    core's time when it was used)."""
    return _getter(type(obj))(obj)


@dataclasses.dataclass(frozen=True, slots=True)
class Record:
    """One Kafka record as received."""

    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes | None
    timestamp_ms: int | None = None


@dataclasses.dataclass(frozen=True, slots=True)
class DeadLetter:
    """A record for the DLQ: the original key and bytes, and where they came from."""

    key: bytes | None
    value: bytes | None
    reason: str
    detail: str
    source_topic: str
    source_partition: int
    source_offset: int
    timestamp_ms: int | None

    @classmethod
    def of(cls, record: Record, rejection: Rejection) -> DeadLetter:
        return cls(record.key, record.value, rejection.reason, rejection.detail,
                   record.topic, record.partition, record.offset, record.timestamp_ms)

    def headers(self) -> list[tuple[str, bytes]]:
        return [
            ("dlq.reason", self.reason.encode()),
            ("dlq.source.partition", str(self.source_partition).encode()),
            ("dlq.source.offset", str(self.source_offset).encode()),
            ("dlq.source.topic", self.source_topic.encode()),
            ("dlq.detail", self.detail.encode()),
        ]


@dataclasses.dataclass(frozen=True, slots=True)
class Emit:
    """A record for one of the output topics ("outcomes" or "escalations"), keyed by ticket_id."""

    topic: str
    key: bytes
    value: bytes


Output = DeadLetter | Emit


class Store(Protocol):
    """The processor's view of its tables. Writes go to the partition of the record being processed."""

    def get(self, ticket_id: str) -> TicketState | None: ...

    def put(self, state: TicketState) -> None: ...

    def delete(self, ticket_id: str) -> None: ...

    def get_clock(self, partition: int) -> int | None: ...

    def put_clock(self, partition: int, now_ms: int) -> None: ...

    def put_window(self, key: bytes, value: bytes | None) -> None: ...

    def all_states(self) -> Iterable[TicketState]:
        """Every ticket of the partitions this worker owns (after recovery)."""

    def all_windows(self) -> Iterable[tuple[bytes, bytes]]: ...


class Positions(Protocol):
    def committed(self, source: int, partition: int) -> int | None:
        """The committed offset (next to read) of a source topic's partition, or None if unknown."""


class NoPositions:
    """Nothing known to be committed: every outbox entry counts as pending (tests, first start)."""

    def committed(self, source: int, partition: int) -> int | None:
        return None


class Processor:
    def __init__(
        self,
        *,
        clock: PartitionClock,
        wall: Clock,
        metrics: Metrics,
        policy: Policy,
        orphan_timeout_ms: int,
        events_topic: str,
        ticks_topic: str = "",
        positions: Positions | None = None,
    ) -> None:
        self.clock = clock
        self.wall = wall
        self.metrics = metrics
        self.policy = policy
        self.orphan_timeout_ms = orphan_timeout_ms
        self.events_topic = events_topic
        self.ticks_topic = ticks_topic
        self.positions = positions or NoPositions()
        self.due = DueIndex()
        self.windows = IrtWindows()
        self._unanswered: dict[int, dict[str, tuple[int, int, int]]] = {}  # p -> tid -> (sev, created, deadline)
        self._bizcrit: dict[int, dict[str, tuple[int, int]]] = {}  # p -> tid -> (since, severity)
        self._outbox_tickets: dict[int, list[str]] = {}  # partitions whose outboxes await republishing
        self._index_stale = True
        self._held = 0
        self.next_offsets: dict[int, int] = {}  # events partition -> next offset to process
        self._children: dict[tuple, Any] = {}
        self._clock_saved: dict[int, int] = {}  # partition -> wall time its clock was last persisted
        metrics.observe_state(self)

    def _child(self, metric: Any, **labels: str) -> Any:
        """``metric.labels(**labels)``, cached: prometheus_client's own lookup took a tenth of the core's time."""
        key = (id(metric), *labels.values())
        child = self._children.get(key)
        if child is None:
            child = self._children[key] = metric.labels(**labels)
        return child

    # --- rebalance ----------------------------------------------------------------------------
    def partitions_changed(self) -> None:
        """Partitions were assigned or revoked: forget what this worker held; rebuild on the next record."""
        self._index_stale = True
        self.windows.clear()
        self._unanswered.clear()
        self._bizcrit.clear()

    def _ensure_index(self, store: Store) -> None:
        if not self._index_stale:
            return
        # (windows, unanswered, bizcrit: already emptied by partitions_changed, or never filled yet)
        self.due.clear()
        self.clock.forget()
        self._clock_saved.clear()
        self._outbox_tickets.clear()
        held = 0
        for state in store.all_states():
            self._index(state)
            held += len(state.held)
            # Only outboxes holding an output of an uncommitted record: those of committed records are left for
            # the ticket's next write to prune (rewriting a million states at start-up cost minutes).
            if state.outbox and self._uncommitted(state):
                self._outbox_tickets.setdefault(state.partition, []).append(state.ticket_id)
        self.windows.load(store.all_windows())
        self._held = held
        self.metrics.events_held.set(held)
        self._index_stale = False
        log.info("state rebuilt: %d tickets with a timer, %d unanswered, %d held events, %d outboxes",
                 self.due.count(), sum(len(u) for u in self._unanswered.values()), held,
                 sum(len(t) for t in self._outbox_tickets.values()))

    def _republish(self, partition: int, store: Store) -> list[Output]:
        """Once per partition after a rebuild: publish again what uncommitted records had published."""
        outputs: list[Output] = []
        for ticket_id in self._outbox_tickets.pop(partition, []):
            state = store.get(ticket_id)
            if state is None:
                continue
            before = len(state.outbox)
            self._prune_outbox(state)
            for pending in state.outbox:
                outputs.append(self._emit(state, pending))
                self._child(self.metrics.outputs_republished, topic=pending.topic).inc()
            if len(state.outbox) != before:
                store.put(state)
        if outputs:
            log.warning("partition %d: published %d outputs again whose source records were not committed "
                        "(a restart after a crash, or a rebalance); consumers drop repeats by their id",
                        partition, len(outputs))
        return outputs

    def needs_tick(self, partition: int) -> bool:
        """Should the timer put a tick on this partition: a rebuild is pending, or (live) something is due?"""
        if self._index_stale or partition in self._outbox_tickets:
            return True
        if self.clock.event_time:
            return False
        due = self.due.next_due(partition)
        return due is not None and due < self.wall.now_ms()

    # --- records ------------------------------------------------------------------------------
    def handle(self, record: Record, store: Store) -> list[Output]:
        """One record of either input topic; a failure of ours dead-letters it instead of killing the agent."""
        with self.metrics.processing.time():
            return self._handle(record, store)

    def _handle(self, record: Record, store: Store) -> list[Output]:
        if record.topic != self.ticks_topic:
            self.next_offsets[record.partition] = record.offset + 1
        try:
            self._ensure_index(store)
            outputs = self._republish(record.partition, store) if self._outbox_tickets else []
            if record.topic == self.ticks_topic:
                return outputs + self._fire_due(record.partition, SOURCE_TICKS, record.offset, store)
            return outputs + self.process(record, store)
        except Exception as exc:  # noqa: BLE001 - the agent must survive any record
            log.exception("processing failed for %s[%d]@%d", record.topic, record.partition, record.offset)
            if record.topic == self.ticks_topic:
                return []
            why = Rejection(ev.INTERNAL_ERROR, f"processing failed: {type(exc).__name__}: {exc}")
            return [self._reject(DeadLetter.of(record, why))]

    def process(self, record: Record, store: Store) -> list[Output]:
        verdict = decode(record.value, record.key)
        if isinstance(verdict, Rejection):
            return [self._reject(DeadLetter.of(record, verdict))]
        event = verdict
        self._child(self.metrics.events, type=event.type).inc()
        self.metrics.event_lag.observe(max(0.0, (self.wall.now_ms() - event.occurred_at) / 1000))
        partition = record.partition
        if self.clock.event_time and not self.clock.knows(partition):
            self.clock.restore(partition, store.get_clock(partition))
        if self.clock.observe(partition, event.occurred_at):
            high = self.clock.high_water(partition)  # type: ignore[attr-defined]
            # Persisted at most once per second of wall time (a replay moves event time hours per second):
            # after a restart an older clock only makes a due instant fire at the next record, with the same
            # decided_at, so outcomes are unchanged.
            wall_ms = self.wall.now_ms()
            if wall_ms - self._clock_saved.get(partition, -(2**62)) >= 1000:
                store.put_clock(partition, high)
                self._clock_saved[partition] = wall_ms
        outputs: list[Output] = []
        if event.type != "heartbeat":
            outputs += self._apply(record, event, store)
        outputs += self._fire_due(partition, SOURCE_EVENTS, record.offset, store)
        return outputs

    def _apply(self, record: Record, event: Event, store: Store) -> list[Output]:
        ticket_id = event.ticket_id
        assert ticket_id is not None
        state = store.get(ticket_id) or TicketState(ticket_id, record.partition)
        digest = event_digest(event.event_id)
        if state.has_seen(digest):
            self.metrics.events_duplicate.inc()
            return []
        state.remember(digest)
        outputs: list[Output] = []
        if state.closed_at is not None and event.type not in engineers.FEEDBACK_TYPES:
            self._child(self.metrics.events_ignored, reason="after_closed").inc()
        elif event.type == "ticket.created":
            if state.exists:
                self._child(self.metrics.events_ignored, reason="already_created").inc()
            else:
                outputs += self._publish(state, engine.create(state, event, self.policy), SOURCE_EVENTS,
                                         record.offset, store)
                outputs += self._release_held(state, record.offset, store)
        elif not state.exists:
            outputs += self._hold(state, record, event)
        else:
            outputs += self._decide(state, event, record.offset, store)
        self._save(state, store)
        return outputs

    def _decide(self, state: TicketState, event: Event, offset: int, store: Store) -> list[Output]:
        answered_before = state.first_response_at is not None
        result = engine.apply(state, event, self.policy)
        if not answered_before and state.first_response_at is not None:
            irt_s = (state.first_response_at - state.created_at) / 1000  # type: ignore[operator]
            self._child(self.metrics.irt_seconds, severity=str(state.severity)).observe(
                irt_s, exemplar={"ticket_id": state.ticket_id[:64]})
        return self._publish(state, result, SOURCE_EVENTS, offset, store)

    def _hold(self, state: TicketState, record: Record, event: Event) -> list[Output]:
        if len(state.held) >= HELD_LIMIT:
            why = Rejection(ev.ORPHAN, f"more than {HELD_LIMIT} events held for a ticket never created")
            return [self._reject(DeadLetter.of(record, why))]
        now = self.clock.now(record.partition)
        assert now is not None  # the event just observed set it
        key = None if record.key is None else record.key.decode()
        raw = record.value.decode() if record.value is not None else ""
        state.held.append(HeldEvent(now + self.orphan_timeout_ms, record.partition, record.offset,
                                    key, raw, record.timestamp_ms))
        self._held_changed(+1)
        return []

    def _release_held(self, state: TicketState, offset: int, store: Store) -> list[Output]:
        held, state.held = state.held, []
        self._held_changed(-len(held))
        ready: list[Event] = []
        for item in held:
            again = decode(item.raw.encode(), None if item.key is None else item.key.encode())
            if isinstance(again, Event):  # it passed validation once; the same bytes pass again
                ready.append(again)
        outputs: list[Output] = []
        for event in sorted(ready, key=lambda e: e.occurred_at):
            outputs += self._decide(state, event, offset, store)
        return outputs

    # --- time ---------------------------------------------------------------------------------
    def _fire_due(self, partition: int, source: int, offset: int, store: Store) -> list[Output]:
        now = self.clock.now(partition)
        if now is None:
            return []
        outputs: list[Output] = []
        for ticket_id in self.due.pop_due(partition, now - 1):  # strictly passed
            state = store.get(ticket_id)
            if state is None:
                continue
            outputs += self._expire_orphans(state, now)
            outputs += self._publish(state, engine.advance(state, now, self.policy), source, offset, store)
            self._prune_outbox(state)
            # Retention is days; whatever its outbox still holds was committed long ago.
            if (not state.exists and not state.held) or sla.expired(state, now, self.policy):
                self._forget(state)
                store.delete(ticket_id)
                continue
            self._save(state, store)
        for key, value in self.windows.expire(partition, now):
            store.put_window(key, value)
        return outputs

    def _expire_orphans(self, state: TicketState, now: int) -> list[Output]:
        expired = [h for h in state.held if h.hold_until < now]
        if not expired:
            return []
        state.held = [h for h in state.held if h.hold_until >= now]
        self._held_changed(-len(expired))
        timeout_s = self.orphan_timeout_ms / 1000
        return [
            self._reject(DeadLetter(
                key=None if h.key is None else h.key.encode(),
                value=h.raw.encode(),
                reason=ev.ORPHAN,
                detail=f"no ticket.created for {state.ticket_id!r} within the orphan timeout ({timeout_s:g} s)",
                source_topic=self.events_topic,
                source_partition=h.partition,
                source_offset=h.offset,
                timestamp_ms=h.timestamp_ms,
            ))
            for h in expired
        ]

    # --- outputs ------------------------------------------------------------------------------
    def _publish(self, state: TicketState, result: engine.Step, source: int, offset: int,
                 store: Store) -> list[Output]:
        pending: list[tuple[str, tuple]] = [
            *(("escalations", _fields(e)) for e in result.escalations),
            *(("facts", _fields(f)) for f in result.facts),
            *(("dsat", (s.event_id, s.engineer_id or state.engineer_id, s.rating, s.dsat_reason, s.occurred_at))
              for s in result.dsat),
            *(("outcomes", _fields(d)) for d in result.decisions),
        ]
        outputs: list[Output] = []
        for topic, fields in pending:
            entry = Pending(source, offset, topic, fields)
            state.outbox.append(entry)
            outputs.append(self._emit(state, entry))
        exemplar = {"ticket_id": state.ticket_id[:64]}
        for escalation in result.escalations:
            self._child(self.metrics.escalations, kind=escalation.kind).inc(exemplar=exemplar)
        for survey in result.dsat:
            self._child(self.metrics.dsat_reviews, rating=survey.rating).inc()
        for decision in result.decisions:
            self._count(state, decision)
            if decision.metric == sla.IRT:
                for key, row in self.windows.add(state.partition, decision.severity, decision.outcome,  # type: ignore[arg-type]
                                                 decision.decided_at):
                    store.put_window(key, row)
        return outputs

    def _emit(self, state: TicketState, pending: Pending) -> Emit:
        """The record for an outbox entry: its own fields plus the ticket's fixed ones. The first publication
        and any republication go through here, so they are the same bytes under the same key."""
        ticket = state.ticket_id.encode()
        if pending.topic == "escalations":
            return Emit("escalations", ticket, self._escalation_record(state, bizcrit.Escalation(*pending.value)))
        if pending.topic == "facts":
            fact = engineers.Fact(*pending.value)
            return Emit("facts", fact.engineer_id.encode(), fact.to_bytes())  # re-keyed by engineer
        if pending.topic == "dsat":
            return Emit("dsat", ticket, self._dsat_record(state, tuple(pending.value)))
        return Emit("outcomes", ticket, self._outcome_record(state, sla.Decision(*pending.value)))

    def _dsat_record(self, state: TicketState, fields: tuple) -> bytes:
        """One neutral or dissatisfied survey for the weekly DSAT review (``sla.dsat_reviews``)."""
        event_id, engineer_id, rating, reason, submitted_at = fields
        return orjson.dumps({
            "review_id": f"{state.ticket_id}:{event_id}",
            "ticket_id": state.ticket_id,
            "engineer_id": engineer_id,
            "rating": rating,
            "dsat_reason": reason,
            "severity": state.severity,
            "product": state.product,
            "customer_id": state.customer_id,
            "submitted_at": format_rfc3339_ms(submitted_at),
        })

    def _escalation_record(self, state: TicketState, e: bizcrit.Escalation) -> bytes:
        return orjson.dumps({
            "escalation_id": f"{state.ticket_id}:{e.kind}:{e.level}:{e.cycle}",
            "cycle": e.cycle,
            "ticket_id": state.ticket_id,
            "kind": e.kind,
            "level": e.level,
            "severity": e.severity,
            "product": state.product,
            "customer_id": state.customer_id,
            "fastlane": state.fastlane,
            "engineer_id": e.engineer_id,
            "deadline": None if e.deadline is None else format_rfc3339_ms(e.deadline),
            "budget_used": e.budget_used,
            "reason": e.reason,
            "emitted_at": format_rfc3339_ms(e.at),
        })

    def _outcome_record(self, state: TicketState, d: sla.Decision) -> bytes:
        doc = {
            "outcome_id": f"{state.ticket_id}:{d.metric}:{d.cycle}",
            "ticket_id": state.ticket_id,
            "metric": d.metric,
            "cycle": d.cycle,
            "severity": d.severity,
            "product": state.product,
            "customer_id": state.customer_id,
            "fastlane": state.fastlane,
            "engineer_id": d.engineer_id,
            "target_seconds": None if d.target_ms is None else d.target_ms / 1000,
            "value_seconds": None if d.value_ms is None else d.value_ms / 1000,
            "outcome": d.outcome,
            "decided_at": format_rfc3339_ms(d.decided_at),
        }
        if d.agent_value_ms is not None:
            doc["agent_value_seconds"] = d.agent_value_ms / 1000
        return orjson.dumps(doc)

    def _count(self, state: TicketState, d: sla.Decision) -> None:
        severity = str(d.severity)
        exemplar = {"ticket_id": state.ticket_id[:64]}
        if d.metric == sla.IRT:
            self._child(self.metrics.irt_outcomes, severity=severity, outcome=d.outcome).inc(exemplar=exemplar)
        elif d.metric == sla.TTR:
            self._child(self.metrics.ttr_seconds, severity=severity).observe(d.value_ms / 1000, exemplar=exemplar)  # type: ignore[operator]
        elif d.metric == sla.TTW:
            self._child(self.metrics.ttw_seconds, severity=severity).observe(d.value_ms / 1000, exemplar=exemplar)  # type: ignore[operator]

    # --- bookkeeping --------------------------------------------------------------------------
    def _save(self, state: TicketState, store: Store) -> None:
        self._prune_outbox(state)
        store.put(state)
        self._index(state)

    def _index(self, state: TicketState) -> None:
        self.due.set(state.partition, state.ticket_id, engine.next_due(state, self.policy))
        bizcrit_tickets = self._bizcrit.setdefault(state.partition, {})
        if state.bizcrit_since is None:
            bizcrit_tickets.pop(state.ticket_id, None)
        else:
            bizcrit_tickets[state.ticket_id] = (state.bizcrit_since, state.severity)  # type: ignore[assignment]
        deadline = sla.irt_deadline(state, self.policy)
        unanswered = self._unanswered.setdefault(state.partition, {})
        if deadline is None:
            unanswered.pop(state.ticket_id, None)
        else:
            unanswered[state.ticket_id] = (state.severity, state.created_at, deadline)  # type: ignore[assignment]

    def _forget(self, state: TicketState) -> None:
        self.due.set(state.partition, state.ticket_id, None)
        self._bizcrit.get(state.partition, {}).pop(state.ticket_id, None)
        self._unanswered.get(state.partition, {}).pop(state.ticket_id, None)

    def _prune_outbox(self, state: TicketState) -> None:
        if state.outbox:
            state.outbox = self._uncommitted(state)

    def _uncommitted(self, state: TicketState) -> list[Pending]:
        """The outbox entries whose source record is not known to be committed."""
        committed = {src: self.positions.committed(src, state.partition) for src in (SOURCE_EVENTS, SOURCE_TICKS)}
        return [p for p in state.outbox if committed[p.source] is None or p.offset >= committed[p.source]]

    def _reject(self, letter: DeadLetter) -> DeadLetter:
        self._child(self.metrics.events_rejected, reason=letter.reason).inc()
        return letter

    def _held_changed(self, delta: int) -> None:
        self._held += delta
        self.metrics.events_held.set(self._held)

    # --- read side for metrics (scrape time) ----------------------------------------------------
    def at_risk_counts(self) -> dict[int, int]:
        """Unanswered, not yet breached tickets that used at least the at-risk share of their budget."""
        counts: dict[int, int] = {}
        fraction = self.policy.at_risk_fraction
        for partition, tickets in self._unanswered.items():
            now = self.clock.now(partition)
            if now is None:
                continue
            for severity, created, deadline in tickets.values():
                if created + fraction * (deadline - created) <= now <= deadline:
                    counts[severity] = counts.get(severity, 0) + 1
        return counts

    def window_counts(self) -> dict[tuple[str, int, str], int]:
        return self.windows.totals(self.clock.now)

    def bizcrit_counts(self) -> dict[str, int]:
        """Open BizCrit tickets by the highest BizCrit rung their time in BizCrit has reached."""
        rungs = ["none", "tier3", "management", "executive"]
        counts = dict.fromkeys(rungs, 0)
        for partition, tickets in self._bizcrit.items():
            now = self.clock.now(partition)
            if now is None:
                continue
            for since, _severity in tickets.values():
                reached = sum(1 for after in self.policy.bizcrit_rungs_ms if now - since > after)
                counts[rungs[reached]] += 1
        return counts
