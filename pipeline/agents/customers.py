"""The customers agent: folds critical incidents (keyed by customer) into the ``customers`` table, and sends
the month's ``allowance_exceeded`` escalation when a customer goes over its contract's allowance.

The ticket agent publishes an incident for each new critical ticket of a contract with an allowance to an
internal topic keyed by customer id (the repartition), so all of one customer's tickets are counted on one
partition, whichever partitions their tickets live on. The rules are :mod:`pipeline.domain.allowances`.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

import faust

from pipeline.agents import Progress
from pipeline.domain.allowances import CustomerState, Incident
from pipeline.domain.records import Escalation
from pipeline.errors import StorageError
from pipeline.tables.guard import halt, storage

log = logging.getLogger(__name__)


def register(app: faust.App, *, incidents: faust.TopicT, table: faust.Table, escalations: faust.TopicT,
             progress: Progress, notified: Callable[[Escalation], None] = lambda e: None) -> faust.types.AgentT:
    """``notified`` is told of each month's escalation once, when it is first sent (the metrics count it);
    one sent again for a redelivered incident is not told."""

    @app.agent(incidents, name="customers", concurrency=1)
    async def customers(stream: faust.StreamT) -> None:
        async for event in stream.events():
            msg = event.message
            try:
                incident = Incident.from_bytes(msg.value)
            except Exception:  # noqa: BLE001 - our own topic; a bad record is logged, never fatal
                log.exception("unreadable customer incident at %s[%d]@%d", msg.topic, msg.partition, msg.offset)
                progress.records += 1
                continue
            try:
                with storage("customers", "reading"):
                    raw = table.get(msg.key)
                state = (CustomerState(incident.customer_id) if raw is None
                         else CustomerState.from_bytes(incident.customer_id, raw))
                folded = state.apply(incident)
                if folded.changed:  # written before the escalation is sent: a crash between them sends it
                    value = state.to_bytes()  # again when the incident is redelivered (same id)
                    with storage("customers", "writing"):
                        table[msg.key] = value
            except StorageError as exc:  # the store's failure: stop before anything is committed
                halt(exc)
                raise  # halt never returns; if it did, the incident must not count as folded
            if folded.escalation is not None:
                esc = folded.escalation
                await escalations.send(key=esc.ticket_id.encode(), value=esc.encode())
                if folded.changed:
                    log.info("allowance exceeded: %s (ticket %s)", esc.reason, esc.ticket_id)
                    notified(esc)
            progress.records += 1

    return customers
