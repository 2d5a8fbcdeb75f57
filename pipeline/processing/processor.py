"""What happens to one record: decode, dedupe, hold or apply, decide, fire due timers. No Faust here.

The Faust agent hands each record (an event, or a tick of the internal ticks topic) to
:meth:`Processor.handle` with a :class:`~pipeline.processing.io.Store` over its tables and publishes
the outputs it gets back. Tests do the same with a dict-backed store.

The processor only routes: the rules are the domain's (:mod:`pipeline.domain.engine`), outputs go
through the outbox (:mod:`pipeline.processing.outbox`, which keeps them until their source record is
committed), early events through :mod:`pipeline.processing.held`, and the board's counts through
:mod:`pipeline.domain.board`. What a record did is noted in a :class:`~pipeline.processing.counters.Tally`
and counted once, after the record (:meth:`Counters.record`). The partition clock answers the same
questions in both clock modes, so nothing here asks which mode it is.
"""

from __future__ import annotations

import logging
from time import perf_counter

from pipeline.domain import engine, engineers, sla
from pipeline.domain import events as ev
from pipeline.domain.board import OpenTickets
from pipeline.domain.clock import Clock, PartitionClock
from pipeline.domain.contracts import METRICS
from pipeline.domain.due import DueIndex
from pipeline.domain.events import Event, Rejection, decode
from pipeline.domain.policy import Policy
from pipeline.domain.ticket import TicketState, event_digest
from pipeline.domain.timefmt import format_rfc3339_ms
from pipeline.domain.windows import ContractWindows, IrtWindows
from pipeline.domain.words import duration
from pipeline.errors import StorageError
from pipeline.metrics import Metrics
from pipeline.processing import held
from pipeline.processing.counters import Counters, Tally
from pipeline.processing.io import (
    SOURCE_EVENTS,
    SOURCE_TICKS,
    DeadLetter,
    NoPositions,
    Output,
    Positions,
    Record,
    Store,
)
from pipeline.processing.outbox import Outbox

log = logging.getLogger(__name__)


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
        self.outbox = Outbox(positions or NoPositions())
        self.count = Counters(metrics)
        self.due = DueIndex()
        self.windows = IrtWindows()
        self.contract_windows = ContractWindows()  # only under a policy with contracts (else IRT's are those)
        self.open = OpenTickets(policy)
        self._index_stale = True
        self.next_offsets: dict[int, int] = {}  # events partition -> next offset to process
        self._clock_saved: dict[int, int] = {}  # partition -> wall time its clock was last persisted
        metrics.observe_state(self)

    # --- rebalance ----------------------------------------------------------------------------
    def partitions_changed(self) -> None:
        """Partitions were assigned or revoked: forget what this worker held; rebuild on the next record."""
        self._index_stale = True
        self.windows.clear()
        self.contract_windows.clear()
        self.open.clear()

    def _ensure_index(self, store: Store, tally: Tally) -> None:
        if not self._index_stale:
            return
        self.due.clear()
        self.clock.forget()
        self._clock_saved.clear()
        self.outbox.forget_waiting()
        n_held = 0
        for state in store.all_states():
            self._index(state)
            n_held += len(state.held)
            self.outbox.note(state)
        rows = list(store.all_windows())
        self.windows.load(rows)
        self.contract_windows.load(rows)
        tally.held_total = n_held
        self._index_stale = False
        log.info("state rebuilt: %d tickets with a timer, %d unanswered, %d held events, %d outboxes",
                 self.due.count(), self.open.unanswered(), n_held, self.outbox.waiting())

    def needs_tick(self, partition: int) -> bool:
        """Should the timer put a tick on this partition: a rebuild is pending, or (live) something is due?"""
        if self._index_stale or self.outbox.has_waiting(partition):
            return True
        now = self.clock.tick_time(partition)
        due = self.due.next_due(partition)
        return now is not None and due is not None and due < now

    # --- records ------------------------------------------------------------------------------
    def handle(self, record: Record, store: Store) -> list[Output]:
        """One record of either input topic; a failure of ours dead-letters it instead of killing the agent."""
        started = perf_counter()
        tally = Tally()
        outputs: list[Output] = []
        try:
            outputs = self._handle(record, store, tally)
            return outputs
        finally:
            self.count.record(tally, outputs, perf_counter() - started)

    def _handle(self, record: Record, store: Store, tally: Tally) -> list[Output]:
        tick = record.topic == self.ticks_topic
        if not tick:
            self.next_offsets[record.partition] = record.offset + 1
        try:
            self._ensure_index(store, tally)
            outputs: list[Output] = []
            if self.outbox.has_waiting():
                tally.republished = self.outbox.republish(record.partition, store)
                outputs += tally.republished
            if tick:
                return outputs + self._fire_due(record.partition, SOURCE_TICKS, record.offset, store, tally)
            return outputs + self.process(record, store, tally)
        except StorageError:
            raise  # the store's failure, not the record's: the agent stops the worker, nothing is dead-lettered
        except Exception as exc:  # noqa: BLE001 - the agent must survive any record
            log.exception("processing failed for %s[%d]@%d", record.topic, record.partition, record.offset)
            if tick:
                return []
            why = Rejection(ev.INTERNAL_ERROR, f"processing failed: {type(exc).__name__}: {exc}")
            return [DeadLetter.of(record, why)]

    def process(self, record: Record, store: Store, tally: Tally) -> list[Output]:
        verdict = decode(record.value, record.key)
        if isinstance(verdict, Rejection):
            return [DeadLetter.of(record, verdict)]
        event = verdict
        partition = record.partition
        if not self.clock.knows(partition):
            self.clock.restore(partition, store.get_clock(partition))
        ahead = self._too_far_ahead(partition, event.occurred_at)
        if ahead is not None:
            return [DeadLetter.of(record, Rejection(ev.FUTURE_TIMESTAMP, ahead))]
        tally.event, tally.lag_s = event.type, (self.wall.now_ms() - event.occurred_at) / 1000
        high_water = self.clock.observe(partition, event.occurred_at)
        if high_water is not None:
            # Persisted at most once per second of wall time (a replay moves event time hours per second):
            # after a restart an older clock only makes a due instant fire at the next record, with the same
            # decided_at, so outcomes are unchanged.
            wall_ms = self.wall.now_ms()
            if wall_ms - self._clock_saved.get(partition, -(2**62)) >= 1000:
                store.put_clock(partition, high_water)
                self._clock_saved[partition] = wall_ms
        outputs: list[Output] = []
        if event.type != "heartbeat":
            outputs += self._apply(record, event, store, tally)
        outputs += self._fire_due(partition, SOURCE_EVENTS, record.offset, store, tally)
        return outputs

    def _too_far_ahead(self, partition: int, occurred_at: int) -> str | None:
        """Why an event is dated too far ahead of the clock that would judge it; None when it is not. Its
        partition's clock must not move there: every open ticket on it would breach at once."""
        ref = self.clock.reference(partition, self.policy)
        if occurred_at - ref.at_ms <= ref.allowance_ms:
            return None
        return (f"occurred_at {format_rfc3339_ms(occurred_at)} is {duration(occurred_at - ref.at_ms)} ahead of "
                f"{ref.judge} ({format_rfc3339_ms(ref.at_ms)}); at most {duration(ref.allowance_ms)} is accepted")

    def _apply(self, record: Record, event: Event, store: Store, tally: Tally) -> list[Output]:
        ticket_id = event.ticket_id
        assert ticket_id is not None
        state = store.get(ticket_id) or TicketState(ticket_id, record.partition)
        digest = event_digest(event.event_id)
        if state.has_seen(digest):
            tally.duplicate = True
            return []
        state.remember(digest)
        outputs: list[Output] = []
        if state.closed_at is not None and event.type not in engineers.FEEDBACK_TYPES:
            tally.ignored = "after_closed"
        elif event.type == "ticket.created":
            if state.exists:
                tally.ignored = "already_created"
            else:
                outputs += self._publish(state, engine.create(state, event, self.policy), SOURCE_EVENTS,
                                         record.offset, store, tally)
                if state.requested_contract is not None:
                    tally.contract_unknown += 1
                n_held, ready = held.release(state)
                tally.held -= n_held
                for early in ready:
                    outputs += self._decide(state, early, record.offset, store, tally)
        elif not state.exists:
            now = self.clock.now(record.partition)
            assert now is not None  # the event just observed set it
            letter = held.hold(state, record, now, self.orphan_timeout_ms)
            if letter is None:
                tally.held += 1
            else:
                outputs.append(letter)
        else:
            outputs += self._decide(state, event, record.offset, store, tally)
        self._save(state, store)
        return outputs

    def _decide(self, state: TicketState, event: Event, offset: int, store: Store, tally: Tally) -> list[Output]:
        answered_before = state.first_response_at is not None
        result = engine.apply(state, event, self.policy)
        if not answered_before and state.first_response_at is not None:
            tally.answer(state)
        return self._publish(state, result, SOURCE_EVENTS, offset, store, tally)

    # --- time ---------------------------------------------------------------------------------
    def _fire_due(self, partition: int, source: int, offset: int, store: Store, tally: Tally) -> list[Output]:
        now = self.clock.now(partition)
        if now is None:
            return []
        outputs: list[Output] = []
        for ticket_id in self.due.pop_due(partition, now - 1):  # strictly passed
            state = store.get(ticket_id)
            if state is None:
                continue
            orphans = held.expire(state, now, self.orphan_timeout_ms, self.events_topic)
            tally.held -= len(orphans)
            outputs += orphans
            outputs += self._publish(state, engine.advance(state, now, self.policy), source, offset, store, tally)
            self.outbox.prune(state)
            # Retention is days; whatever its outbox still holds was committed long ago.
            if (not state.exists and not state.held) or sla.expired(state, now, self.policy):
                self.due.set(state.partition, state.ticket_id, None)
                self.open.forget(state)
                store.delete(ticket_id)
                continue
            self._save(state, store)
        for key, value in self.windows.expire(partition, now):
            store.put_window(key, value)
        for key, value in self.contract_windows.expire(partition, now):
            store.put_window(key, value)
        return outputs

    # --- outputs and bookkeeping --------------------------------------------------------------
    def _publish(self, state: TicketState, step: engine.Step, source: int, offset: int, store: Store,
                 tally: Tally) -> list[Output]:
        outputs: list[Output] = list(self.outbox.add(state, step, source, offset))
        tally.steps.append((state.ticket_id, step))
        for d in step.decisions:
            if d.outcome is None:
                continue
            if d.metric == sla.IRT:
                for key, row in self.windows.add(state.partition, d.severity, d.outcome, d.decided_at):
                    store.put_window(key, row)
            if self.policy.uses_contracts and d.metric in METRICS:
                for key, row in self.contract_windows.add_group(state.partition, (d.contract, d.metric, d.severity),
                                                                d.outcome, d.decided_at):
                    store.put_window(key, row)
        return outputs

    def _save(self, state: TicketState, store: Store) -> None:
        self.outbox.prune(state)
        store.put(state)
        self._index(state)

    def _index(self, state: TicketState) -> None:
        self.due.set(state.partition, state.ticket_id, engine.next_due(state, self.policy))
        self.open.index(state)

    # --- read side for metrics (scrape time) ----------------------------------------------------
    def at_risk_counts(self) -> dict[int, int]:
        return self.open.at_risk_counts(self.clock.now)

    def paused_counts(self) -> dict[int, int]:
        return self.open.paused_counts(self.clock.now)

    def window_counts(self) -> dict[tuple[str, int, str], int]:
        return self.windows.totals(self.clock.now)

    def bizcrit_counts(self) -> dict[str, int]:
        return self.open.bizcrit_counts(self.clock.now)

    def outcome_window_counts(self) -> dict[tuple[str, str, str, int, str], int]:
        """(window, contract, metric, severity, outcome) -> judged outcomes (section 10). Without contracts
        every outcome is the implicit contract's IRT: the IRT windows are those."""
        if not self.policy.uses_contracts:
            contract = self.policy.contract(None).name
            return {(w, contract, sla.IRT, sev, o): n for (w, sev, o), n in self.windows.totals(self.clock.now).items()}
        return self.contract_windows.group_totals(self.clock.now)  # type: ignore[return-value]

    def at_risk_clock_counts(self) -> dict[tuple[str, str, int], int]:
        """(contract, metric, severity) -> running clocks at risk (section 10)."""
        return self.open.at_risk_clock_counts(self.clock.now)
