"""Explain one ticket (contract v3 section 12) by folding its records through the same core that judged it.

:func:`explain` hands the ticket's records, in topic order, to a :class:`~pipeline.processing.processor.Processor`
with an event-time clock and a store over plain dicts (states round-trip through bytes, as in the worker's
table), so every decision, duplicate, hold and rejection is the worker's own; it then moves the clock to the
judging instant, so deadlines passed since the last event are decided. Between records it watches the
ticket's state: when each judged clock started, paused, was re-targeted, ended or was cancelled, and which
records published which outcomes and escalations. Pure: no Kafka, no clock read.

The partition's clock: a worker's clock moves with every event of the partition, not only this ticket's. An
event of this ticket that arrives after the partition's clock has passed one of its deadlines (a late event)
finds that clock already breached. ``marks`` (offset -> the partition's highest ``occurred_at`` before that
record) lets the fold see the same clock; :mod:`pipeline.explain.source` reads them with the records.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Iterable, Iterator, Mapping, Sequence
from typing import Any

import orjson

from pipeline.domain import calendar, judged
from pipeline.domain.clock import EventPartitionClock, ManualClock
from pipeline.domain.contracts import Contract
from pipeline.domain.events import Event, Rejection, decode
from pipeline.domain.judged import JudgedClock
from pipeline.domain.policy import Policy
from pipeline.domain.ticket import TicketState
from pipeline.domain.timefmt import parse_rfc3339_ms
from pipeline.explain import model
from pipeline.explain.model import ClockLine, Explanation, Interval, RecordLine, TargetAt
from pipeline.metrics import Metrics
from pipeline.processing.counters import Tally
from pipeline.processing.io import SOURCE_TICKS, DeadLetter, Emit, Output, Record
from pipeline.processing.memory import MemoryStore
from pipeline.processing.processor import Processor

EVENTS_TOPIC = "tickets.events"
ORPHAN_TIMEOUT_MS = 600_000  # the worker's default (SLA_ORPHAN_TIMEOUT_SECONDS)
CLOSED_HOURS_SHOWN = 40  # closed intervals listed per clock (their total is always given)
WAITING = "waiting on the customer"
CLOSED = "closed hours"

RecordLike = Record | tuple[int, bytes | None, bytes | None, int | None]


def explain(ticket_id: str, records: Iterable[RecordLike], policy: Policy, now_ms: int, *,
            marks: Mapping[int, int] | None = None, lateness_ms: int = 0,
            orphan_timeout_ms: int = ORPHAN_TIMEOUT_MS, metrics: Metrics | None = None) -> Explanation:
    """The explanation of ``ticket_id`` from its records (topic order, invalid ones included: each a
    :class:`Record` or ``(offset, key, value, timestamp_ms)``), judged at ``now_ms``."""
    wall = ManualClock(now_ms)
    fold = _Fold(clock=EventPartitionClock(wall, lateness_ms), wall=wall,
                 metrics=metrics or Metrics.create(), policy=policy, orphan_timeout_ms=orphan_timeout_ms,
                 events_topic=EVENTS_TOPIC)
    store = MemoryStore()
    watch = _Watch(ticket_id, policy)
    partition = 0
    for record in _records(records):
        partition = record.partition
        mark = None if marks is None else marks.get(record.offset)
        if mark is not None:
            watch.step(store, fold.advance(partition, mark + lateness_ms, store), None, mark, None)
        watch.record(record, store, fold.handle(record, store), fold.tally)
    clock_now = fold.clock.now(partition)
    if clock_now is None or clock_now < now_ms:
        watch.step(store, fold.advance(partition, now_ms + lateness_ms, store), None, now_ms, None)
    return watch.explanation(now_ms)


def _records(records: Iterable[RecordLike]) -> Iterator[Record]:
    for r in records:
        if isinstance(r, Record):
            yield r
        else:
            offset, key, value, timestamp = r
            yield Record(EVENTS_TOPIC, 0, offset, key, value, timestamp)


class _Fold(Processor):
    """The worker's processor, telling what the last record did (its tally) and moving time by hand."""

    tally: Tally | None = None

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._index_stale = False  # an empty store: nothing to rebuild (and nothing to log)

    def process(self, record: Record, store: Any, tally: Tally) -> list[Output]:
        self.tally = tally
        return super().process(record, store, tally)

    def handle(self, record: Record, store: Any) -> list[Output]:
        self.tally = None
        return super().handle(record, store)

    def advance(self, partition: int, high_water: int, store: Any) -> list[Output]:
        """The partition's clock reaches ``high_water`` (less the lateness) as other events would move it; what
        fell due fires. Not a heartbeat: the judging instant may be further ahead than an event may be."""
        self.clock.observe(partition, high_water)
        return self._fire_due(partition, SOURCE_TICKS, -1, store, Tally())


# --- watching the fold -----------------------------------------------------------------------------

@dataclasses.dataclass
class _Track:
    """What the fold has seen of one judged clock."""

    clock: JudgedClock  # its last state seen (a copy)
    severity: int
    targets: list[TargetAt]
    end: int | None = None
    ended_by: str | None = None
    cancelled: bool = False


class _Watch:
    def __init__(self, ticket_id: str, policy: Policy) -> None:
        self.ticket_id = ticket_id
        self.policy = policy
        self.lines: list[RecordLine] = []
        self.by_offset: dict[int, RecordLine] = {}
        self.outcomes: list[dict[str, Any]] = []
        self.escalations: list[dict[str, Any]] = []
        self.tracks: dict[tuple[str, int], _Track] = {}
        self.state: TicketState | None = None  # the last state seen (kept after a retention drop)
        self.created: Event | None = None
        self.severities: list[model.Choice] = []
        self.calendars: list[model.Choice] = []
        self.dropped = False

    # --- one record --------------------------------------------------------------------------------
    def record(self, record: Record, store: MemoryStore, outputs: list[Output], tally: Tally | None) -> None:
        got = decode(record.value, record.key)
        event = got if isinstance(got, Event) else None
        line = RecordLine(record.offset, event.event_id if event else None, event.type if event else None,
                          event.occurred_at if event else None, model.APPLIED, "")
        self.lines.append(line)
        self.by_offset[record.offset] = line
        held_before = {h.offset for h in (self.state.held if self.state is not None else [])}
        own = [o for o in outputs if isinstance(o, DeadLetter) and o.source_offset == record.offset]
        if isinstance(got, Rejection):
            line.status, line.reason, line.detail = model.REJECTED, got.reason, got.detail
        elif own:
            line.status, line.reason, line.detail = model.REJECTED, own[0].reason, own[0].detail
        elif tally is not None and tally.duplicate:
            line.status, line.detail = model.DUPLICATE, "an event with this event_id was already applied"
        elif tally is not None and tally.ignored == "after_closed":
            line.status, line.detail = model.IGNORED_AFTER_CLOSE, "the ticket was closed: ticket.closed is final"
        elif tally is not None and tally.ignored == "already_created":
            line.status, line.detail = model.IGNORED_SECOND_CREATION, "the ticket already existed"
        elif tally is not None and tally.held > 0 and event is not None and event.type != "ticket.created":
            line.status, line.detail = model.HELD, "arrived before the ticket's ticket.created: held until it comes"
        at = event.occurred_at if event is not None else None
        if line.status == model.APPLIED and event is not None:
            state = store.get(self.ticket_id)
            created_at = state.created_at if state is not None and state.created_at is not None else at
            line.applied_at = max(at, created_at)  # type: ignore[type-var]
            if line.applied_at != at:
                line.status = model.APPLIED_AT_CREATION
                line.detail = "dated before the ticket's creation: applied at the creation instant"
            if event.type == "ticket.created":
                self.created = event
                for offset in held_before:  # released by the creation, applied in occurred_at order
                    early = self.by_offset.get(offset)
                    if early is not None and early.status == model.HELD:
                        early.status = model.HELD_THEN_APPLIED
                        early.applied_at = max(early.occurred_at or 0, line.applied_at)  # type: ignore[type-var]
                        early.detail = "arrived before the ticket's ticket.created: held, applied once it came"
        self.step(store, outputs, event, line.applied_at if line.applied_at is not None else at, line)

    # --- one step of the state ---------------------------------------------------------------------
    def step(self, store: MemoryStore, outputs: list[Output], event: Event | None, at: int | None,
             line: RecordLine | None) -> None:
        for out in outputs:
            if not isinstance(out, Emit) or out.topic not in ("outcomes", "escalations"):
                continue
            doc = orjson.loads(out.value)
            if out.topic == "outcomes":
                self.outcomes.append(doc)
                name = doc["outcome_id"]
            else:
                self.escalations.append(doc)
                name = doc["escalation_id"]
            if line is not None:
                line.caused.append(name)
        state = store.get(self.ticket_id)
        for out in outputs:  # orphans: held records dead-lettered when their time ran out
            if (isinstance(out, DeadLetter) and out.source_offset in self.by_offset
                    and (line is None or out.source_offset != line.offset)):
                early = self.by_offset[out.source_offset]
                early.status, early.reason, early.detail = model.REJECTED, out.reason, out.detail
        if state is None:
            if self.state is not None and self.state.exists:
                self.dropped = True
            return
        if at is None:
            self.state = state
            return
        if state.exists:
            self._choices(state, event, at)
            self._clocks(state, event, at)
        self.state = state

    def _choices(self, state: TicketState, event: Event | None, at: int) -> None:
        sev = state.severity
        assert sev is not None
        if not self.severities or self.severities[-1].value != f"Sev{sev}":
            if not self.severities:
                why = "ticket.created"
            elif event is not None and event.type == "ticket.workaround_provided":
                why = "a workaround on a Sev1 makes it a Sev2"
            else:
                why = event.type if event is not None else "time"
            self.severities.append(model.Choice(at, f"Sev{sev}", why))
        contract = judged.contract_of(state, self.policy)
        cal, why = self.policy.calendar_choice(contract, sev, state.product, state.fastlane)
        if not self.calendars or self.calendars[-1].value != cal.name or self.calendars[-1].why != why:
            self.calendars.append(model.Choice(at, cal.name, why))

    def _clocks(self, state: TicketState, event: Event | None, at: int) -> None:
        seen = set()
        for clock in state.clocks:
            key = (clock.metric, clock.cycle)
            seen.add(key)
            track = self.tracks.get(key)
            if track is None:
                track = self.tracks[key] = _Track(clock, state.severity or 0, [])
            track.clock, track.severity = clock, state.severity or 0
            if clock.end is None:
                self._retarget(track, state, at)
            elif track.end is None:
                track.end, track.ended_by = clock.end, event.type if event is not None else None
        for key, track in self.tracks.items():
            if key in seen or track.end is not None:
                continue
            # gone from the state: ended (pruned after the step) or cancelled (section 10's table)
            track.end = at
            track.ended_by = event.type if event is not None else None
            if track.clock.paused_since is not None:
                track.clock.pauses = [*track.clock.pauses, track.clock.paused_since, max(at, track.clock.paused_since)]
                track.clock.paused_since = None
            metric = track.clock.metric
            kind = track.ended_by
            track.cancelled = (kind == "ticket.closed" or (metric == "next_response" and kind == "ticket.resolved"))

    def _retarget(self, track: _Track, state: TicketState, at: int) -> None:
        contract = judged.contract_of(state, self.policy)
        sev = state.severity or 0
        target = self.policy.target_ms(contract, track.clock.metric, sev, state.fastlane)
        cal, _ = self.policy.calendar_choice(contract, sev, state.product, state.fastlane)
        last = track.targets[-1] if track.targets else None
        if last is None or (last.severity, last.target_ms, last.calendar) != (sev, target, cal.name):
            track.targets.append(TargetAt(max(at, track.clock.start), sev, target, cal.name))

    # --- the result ----------------------------------------------------------------------------------
    def explanation(self, now: int) -> Explanation:
        state = self.state
        expl = Explanation(self.ticket_id, now, self.policy.digest, exists=bool(state and state.exists),
                           state=_status(state, bool(self.lines)), records=self.lines, outcomes=self.outcomes,
                           escalations=self.escalations, severities=self.severities, calendars=self.calendars)
        expl.notes.append("judged by the pipeline's own core, re-folding this ticket's records in topic order "
                          "with the event-time clock, then moved to the judging instant")
        if self.dropped:
            expl.notes.append("the ticket's state was dropped after its closed retention: later records of it "
                              "would find no ticket")
        if state is None or not state.exists:
            return expl
        expl.created_at, expl.product, expl.customer_id = state.created_at, state.product, state.customer_id
        expl.fastlane, expl.severity = state.fastlane, state.severity
        if self.policy.uses_contracts:
            expl.contract, expl.requested_contract = judged.contract_name(state, self.policy)
            created = self.created
            choice = self.policy.choose_contract(created.contract if created else None, state.customer_id,
                                                 state.product, state.fastlane)
            expl.contract_why = choice.why
        else:
            expl.contract, expl.contract_why = judged.contract_of(state, self.policy).name, "no contracts"
        contract = judged.contract_of(state, self.policy)
        records = {o["outcome_id"]: o for o in self.outcomes}
        for key in {f"{o['metric']}:{o['cycle']}" for o in self.outcomes if o["metric"] in judged.METRICS}:
            metric, cycle = key.split(":")
            if (metric, int(cycle)) not in self.tracks:  # started and ended within one record (held events)
                o = records[f"{self.ticket_id}:{key}"]
                start = o.get("started_at")
                clock = JudgedClock(metric, int(cycle), state.created_at if start is None else _ms(start))
                self.tracks[(metric, int(cycle))] = _Track(clock, o["severity"], [], _ms(o["decided_at"]))
        for (metric, cycle), track in sorted(self.tracks.items(), key=lambda kv: (kv[1].clock.start, kv[0])):
            expl.clocks.append(self._line(state, contract, track, records.get(f"{self.ticket_id}:{metric}:{cycle}"),
                                          now))
        return expl

    def _line(self, state: TicketState, contract: Contract, track: _Track, record: dict[str, Any] | None,
              now: int) -> ClockLine:
        clock = dataclasses.replace(track.clock, end=None, outcome=None, memo=None)
        end = track.end if track.end is not None else track.clock.end
        severity = record["severity"] if record is not None else track.severity
        target = self.policy.target_ms(contract, clock.metric, severity, state.fastlane)
        cal, _ = self.policy.calendar_choice(contract, severity, state.product, state.fastlane)
        paused_now = end is None and clock.paused_since is not None
        deadline = at_risk = None
        if target is not None and not paused_now:
            deadline = judged.reaching(clock, cal, target, paused=False)
            at_risk = judged.reaching(clock, cal, math.ceil(self.policy.at_risk_fraction * target), paused=False)
        if record is not None:
            outcome, decided_at = record["outcome"], _ms(record["decided_at"])
        elif track.cancelled:
            outcome, decided_at = model.CANCELLED, None
        elif end is not None or target is None:
            outcome, decided_at = model.UNJUDGED, None
        else:
            outcome, decided_at = model.RUNNING, None
        until = end if end is not None else now
        counted = judged.counted(clock, cal, until)
        if record is not None and record.get("counted_seconds") is not None:
            counted = round(record["counted_seconds"] * 1000)
        p = clock.pauses
        pauses = [Interval(p[i], p[i + 1], WAITING) for i in range(0, len(p), 2)]
        if clock.paused_since is not None:
            pauses.append(Interval(clock.paused_since, None if end is None else end, WAITING))
        closed = calendar.closed_spans(cal, clock.start, until)
        return ClockLine(
            metric=clock.metric, cycle=clock.cycle, start=clock.start, end=end, ended_by=track.ended_by,
            outcome=outcome, decided_at=decided_at, target_ms=target, calendar=cal.name, deadline=deadline,
            at_risk_at=at_risk, counted_ms=counted, pauses=pauses,
            closed_hours=[Interval(a, b, CLOSED) for a, b in closed[:CLOSED_HOURS_SHOWN]],
            closed_hours_ms=sum(b - a for a, b in closed), targets=track.targets, record=record)


def _ms(text: str) -> int:
    return parse_rfc3339_ms(text)


def _status(state: TicketState | None, any_record: bool) -> str:
    if not any_record:
        return "no record"
    if state is None or not state.exists:
        return "never created"
    if state.closed_at is not None:
        return "closed"
    if state.resolved_at is not None:
        return "resolved"
    return "open"


__all__: Sequence[str] = ("CLOSED", "WAITING", "explain")
