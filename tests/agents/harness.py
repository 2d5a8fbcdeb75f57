"""The worker's app, built in-process by ``create_app`` and driven without a broker.

Records go straight into an agent's stream (Faust's ``test_context``), under the topic, partition and
offset a real consumer would give them; everything the worker sends (outputs through the Publisher, the
tick timer's ticks, table changelogs) lands in a :class:`RecordingProducer` instead of Kafka. The tables
use Faust's memory store. A harness waits for an agent to finish each record, never sleeps a fixed time.
"""

from __future__ import annotations

import asyncio
import dataclasses
import time
from pathlib import Path

import orjson
from faust.types import TP, Message, RecordMetadata

from pipeline.agents import Progress
from pipeline.domain.clock import Clock
from pipeline.domain.policy import Policy
from pipeline.metrics import Metrics
from pipeline.settings import Settings
from pipeline.worker.app import Pipeline, create_app


@dataclasses.dataclass(frozen=True)
class Sent:
    topic: str
    key: bytes | None
    value: bytes | None
    partition: int | None
    headers: dict[str, bytes]


class RecordingProducer:
    """Faust's producer as far as the worker uses it: every send is recorded and succeeds at once."""

    def __init__(self) -> None:
        self.sent: list[Sent] = []
        self.changelog: list[Sent] = []

    async def maybe_start(self) -> None:
        return None

    async def send(self, topic: str, key: bytes | None, value: bytes | None, partition: int | None,
                   timestamp: float | None, headers: object, *, transactional_id: str | None = None
                   ) -> asyncio.Future:
        self.sent.append(Sent(topic, key, value, partition, dict(headers or [])))  # type: ignore[call-overload]
        done = asyncio.get_running_loop().create_future()
        done.set_result(RecordMetadata(topic, partition or 0, TP(topic, partition or 0), len(self.sent)))
        return done

    def send_soon(self, fut: object) -> None:
        message = fut.message  # type: ignore[attr-defined]
        self.changelog.append(Sent(message.channel.get_topic_name(), message.key, message.value, message.partition,
                                   {}))

    def key_partition(self, topic: str, key: bytes) -> int:
        return 0


class Worker:
    """One in-process worker: ``await worker.event(doc)``, ``await worker.tick(partition)``, read ``sent``."""

    def __init__(self, tmp: Path, *, clock: str = "event", wall: Clock | None = None, partitions: int = 4,
                 policy: Policy | None = None) -> None:
        self.settings = Settings(data_dir=tmp / "data", clock=clock)  # type: ignore[arg-type]
        self.pipeline: Pipeline = create_app(self.settings, partitions=partitions, wall=wall,
                                             metrics=Metrics.create(), store="memory://", policy=policy)
        self.app = self.pipeline.app
        self.app.finalize()
        self.producer = RecordingProducer()
        self.app.producer = self.producer  # type: ignore[assignment]
        self._offsets: dict[tuple[str, int], int] = {}
        self._tickets = self.pipeline.tickets.agent.test_context()
        self._engineers = self.pipeline.engineers.test_context()

    async def __aenter__(self) -> Worker:
        await self._tickets.__aenter__()
        await self._engineers.__aenter__()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self._engineers.__aexit__(*exc)
        await self._tickets.__aexit__(*exc)

    @property
    def sent(self) -> list[Sent]:
        return self.producer.sent

    def sent_to(self, topic: str) -> list[Sent]:
        return [s for s in self.sent if s.topic == topic]

    async def _put(self, agent: object, progress: Progress, topic: str, partition: int, key: bytes | None,
                   value: bytes) -> None:
        offset = self._offsets.get((topic, partition), 0)
        self._offsets[(topic, partition)] = offset + 1
        message = Message(topic=topic, partition=partition, offset=offset, timestamp=time.time(), timestamp_type=0,
                          headers=None, key=key, value=value, checksum=b"", serialized_key_size=0,
                          serialized_value_size=0, generation_id=self.app.consumer_generation_id)
        channel = agent.stream().channel  # type: ignore[attr-defined]
        want = progress.records + 1
        await channel.put(await channel.decode(message))
        for _ in range(10_000):  # the agent finishes a record within a few loop turns; this bounds a hang
            if progress.records >= want:
                return
            if agent._crash_reason:  # type: ignore[attr-defined]
                raise agent._crash_reason  # type: ignore[attr-defined]
            await asyncio.sleep(0)
        raise AssertionError(f"the agent did not finish {topic}[{partition}]@{offset}")

    async def event(self, doc: dict | bytes, partition: int = 0, key: bytes | None = None) -> None:
        """A record on tickets.events, as an upstream ticket system would publish it."""
        value = doc if isinstance(doc, bytes) else orjson.dumps(doc)
        if key is None and isinstance(doc, dict) and "ticket_id" in doc:
            key = doc["ticket_id"].encode()
        await self._put(self._tickets, self.pipeline.tickets.progress, self.settings.topic_events, partition, key,
                        value)

    async def timer_turn(self, owned: list[int]) -> list[int]:
        """One turn of the tick timer; the ticks it sends are delivered to the ticket agent, as Kafka would."""
        before = len(self.sent)
        sent = await self.pipeline.tickets.tick(owned)
        ticks_topic = self.pipeline.topics["ticks"].get_topic_name()
        for record in [s for s in self.sent[before:] if s.topic == ticks_topic]:
            await self._put(self._tickets, self.pipeline.tickets.progress, ticks_topic, record.partition or 0,
                            None, record.value or b"")
        return sent

    async def deliver_facts(self) -> int:
        """Hand every engineer fact the ticket agent published to the engineer agent (the repartition)."""
        facts_topic = self.pipeline.topics["facts"].get_topic_name()
        facts = [s for s in self.sent if s.topic == facts_topic]
        for fact in facts:
            await self._put(self._engineers, self.pipeline.engineers_progress, facts_topic, 0, fact.key,
                            fact.value or b"")
        return len(facts)
