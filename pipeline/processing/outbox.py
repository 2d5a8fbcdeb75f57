"""The outbox: every output stays in its ticket's state until the record that caused it is committed.

Faust writes RocksDB at once, so after a crash the local state can be ahead of the committed offsets:
a replayed record is then deduped, and its outputs would be lost. So each output is kept as an outbox
entry (its own fields; the ticket's fixed ones come from the state) and, after a restart or rebalance,
the entries of uncommitted records are published again. The first publication and every republication
render through :meth:`Outbox.render`, so they are the same bytes under the same key.
"""

from __future__ import annotations

import dataclasses
import functools
import logging
import operator
from collections.abc import Callable

from pipeline.domain import allowances, bizcrit, engineers, records, sla
from pipeline.domain.engine import Step
from pipeline.domain.ticket import Pending, TicketState
from pipeline.processing.io import SOURCE_EVENTS, SOURCE_TICKS, Emit, Positions, Store

log = logging.getLogger(__name__)

# The outbox's names for the output topics; the one home of this list (the app factory maps each name to
# its Kafka topic, the metrics count republished outputs per name). "facts" are keyed by engineer and
# "incidents" (critical tickets counted against an allowance) by customer: internal topics, each read by an
# agent of its own.
OUTPUT_TOPICS = ("outcomes", "escalations", "facts", "dsat", "incidents")


@functools.cache
def _getter(cls: type) -> Callable[[object], tuple]:
    names = [f.name for f in dataclasses.fields(cls)]
    get = operator.attrgetter(*names)
    return get if len(names) > 1 else lambda obj: (get(obj),)


def _fields(obj: object) -> tuple:
    """``dataclasses.astuple`` for the flat result dataclasses, without its deep copy (a tenth of the
    core's time when it was used)."""
    return _getter(type(obj))(obj)


def render(state: TicketState, pending: Pending) -> Emit:
    """The record for an outbox entry: its own fields plus the ticket's fixed ones."""
    ticket = state.ticket_id.encode()
    if pending.topic == "escalations":
        return Emit("escalations", ticket, records.Escalation.of(state, bizcrit.Escalation(*pending.value)).encode())
    if pending.topic == "facts":
        fact = engineers.Fact(*pending.value)
        return Emit("facts", fact.engineer_id.encode(), fact.to_bytes())  # re-keyed by engineer
    if pending.topic == "incidents":
        incident = allowances.Incident(*pending.value)
        return Emit("incidents", incident.customer_id.encode(), incident.to_bytes())  # re-keyed by customer
    if pending.topic == "dsat":
        return Emit("dsat", ticket, records.DsatReview.of(state, *pending.value).encode())
    return Emit("outcomes", ticket, records.Outcome.of(state, sla.Decision(*pending.value)).encode())


class Outbox:
    def __init__(self, positions: Positions) -> None:
        self.positions = positions
        self._waiting: dict[int, list[str]] = {}  # partition -> tickets whose outboxes await republishing

    def add(self, state: TicketState, step: Step, source: int, offset: int) -> list[Emit]:
        """Keep a step's outputs in the ticket's outbox and return them to publish."""
        entries = [
            *(Pending(source, offset, "escalations", _fields(e)) for e in step.escalations),
            *(Pending(source, offset, "facts", _fields(f)) for f in step.facts),
            *(Pending(source, offset, "incidents", _fields(i)) for i in step.incidents),
            *(Pending(source, offset, "dsat",
                      (s.event_id, s.engineer_id or state.engineer_id, s.rating, s.dsat_reason, s.occurred_at,
                       *((s.comment,) if s.comment is not None else ())))
              for s in step.dsat),
            *(Pending(source, offset, "outcomes", _fields(d)) for d in step.decisions),
        ]
        state.outbox.extend(entries)
        return [render(state, entry) for entry in entries]

    def uncommitted(self, state: TicketState) -> list[Pending]:
        """The outbox entries whose source record is not known to be committed."""
        committed = {src: self.positions.committed(src, state.partition) for src in (SOURCE_EVENTS, SOURCE_TICKS)}
        return [p for p in state.outbox if committed[p.source] is None or p.offset >= committed[p.source]]

    def prune(self, state: TicketState) -> None:
        if state.outbox:
            state.outbox = self.uncommitted(state)

    # --- after a rebuild ------------------------------------------------------------------------
    def forget_waiting(self) -> None:
        self._waiting.clear()

    def note(self, state: TicketState) -> None:
        """During a rebuild: remember the ticket if its outbox holds an output of an uncommitted record.
        Those of committed records are left for the ticket's next write to prune (rewriting a million
        states at start-up cost minutes)."""
        if state.outbox and self.uncommitted(state):
            self._waiting.setdefault(state.partition, []).append(state.ticket_id)

    def waiting(self) -> int:
        return sum(len(t) for t in self._waiting.values())

    def has_waiting(self, partition: int | None = None) -> bool:
        return bool(self._waiting) if partition is None else partition in self._waiting

    def republish(self, partition: int, store: Store) -> list[Emit]:
        """Once per partition after a rebuild: what uncommitted records had published, again."""
        outputs: list[Emit] = []
        for ticket_id in self._waiting.pop(partition, []):
            state = store.get(ticket_id)
            if state is None:
                continue
            before = len(state.outbox)
            self.prune(state)
            outputs += [render(state, pending) for pending in state.outbox]
            if len(state.outbox) != before:
                store.put(state)
        if outputs:
            log.warning("partition %d: published %d outputs again whose source records were not committed "
                        "(a restart after a crash, or a rebalance); consumers drop repeats by their id",
                        partition, len(outputs))
        return outputs
