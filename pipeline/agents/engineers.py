"""The engineer agent: folds engineer facts (keyed by engineer) into the ``engineers`` table.

The ticket agent publishes facts to an internal topic keyed by engineer id (the repartition), so all of
one engineer's aggregates live on one partition, whoever handled the tickets.
"""

from __future__ import annotations

import logging

import faust

from pipeline.agents import Progress
from pipeline.domain.engineers import EngineerState, Fact
from pipeline.errors import StorageError
from pipeline.tables.guard import OnStorageFailure, halt, storage

log = logging.getLogger(__name__)


def register(app: faust.App, *, facts: faust.TopicT, table: faust.Table, progress: Progress,
             on_storage_failure: OnStorageFailure = halt) -> faust.types.AgentT:
    @app.agent(facts, name="engineers", concurrency=1)
    async def engineers(stream: faust.StreamT) -> None:
        async for event in stream.events():
            msg = event.message
            try:
                fact = Fact.from_bytes(msg.value)
            except Exception:  # noqa: BLE001 - our own topic; a bad record is logged, never fatal
                log.exception("unreadable engineer fact at %s[%d]@%d", msg.topic, msg.partition, msg.offset)
                progress.records += 1
                continue
            try:
                with storage("engineers", "reading"):
                    raw = table.get(msg.key)
                state = (EngineerState(fact.engineer_id) if raw is None
                         else EngineerState.from_bytes(fact.engineer_id, raw))
                if state.apply(fact):
                    value = state.to_bytes()
                    with storage("engineers", "writing"):
                        table[msg.key] = value
            except StorageError as exc:  # the store's failure: stop before anything is committed
                on_storage_failure(exc)
            progress.records += 1

    return engineers
