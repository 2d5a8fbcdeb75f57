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
from pipeline.tables.guard import halt, storage

log = logging.getLogger(__name__)


class DecodedStates:
    """The engineer states this agent wrote last, decoded, keyed by engineer: the table is still read for
    every fact, but a state is decoded again only when the table holds other bytes than the ones written
    from it (after a recovery or a rebalance, or on a first sight). A few hundred small objects; decoding
    each fact's state was a growing share of a worker's time as the 31 days of buckets filled."""

    def __init__(self) -> None:
        self._states: dict[bytes, tuple[bytes, EngineerState]] = {}

    def take(self, key: bytes, engineer_id: str, raw: bytes | None) -> EngineerState:
        """The state for ``raw`` (the table's bytes), no longer cached until :meth:`keep` (so a failure
        half-way through applying a fact cannot leave a changed object behind the old bytes)."""
        cached = self._states.pop(key, None)
        if raw is None:
            return EngineerState(engineer_id)
        if cached is not None and cached[0] == raw:
            return cached[1]
        return EngineerState.from_bytes(engineer_id, raw)

    def keep(self, key: bytes, raw: bytes, state: EngineerState) -> None:
        self._states[key] = (raw, state)


def register(app: faust.App, *, facts: faust.TopicT, table: faust.Table, progress: Progress) -> faust.types.AgentT:
    decoded = DecodedStates()

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
                state = decoded.take(msg.key, fact.engineer_id, raw)
                if state.apply(fact):
                    value = state.to_bytes()
                    with storage("engineers", "writing"):
                        table[msg.key] = value
                    decoded.keep(msg.key, value, state)
                elif raw is not None:
                    decoded.keep(msg.key, raw, state)  # a fact seen before: the state is unchanged
            except StorageError as exc:  # the store's failure: stop before anything is committed
                halt(exc)
                raise  # halt never returns; if it did, the fact must not count as folded
            progress.records += 1

    return engineers
