"""Follow one topic, every partition, without a consumer group: the views' and tools' way to read a topic.

``async with Tail(kafka, topic) as tail`` assigns itself every partition of the topic (no consumer
group) and reads from the beginning or, with ``from_end=True``, only what arrives from now on. The
client's metadata is refreshed every second, so a topic that a worker creates a moment later is found
by waiting (``wait_for_partitions``) without touching the client's internals.
"""

from __future__ import annotations

import asyncio
import time
from types import TracebackType

from aiokafka import AIOKafkaConsumer, ConsumerRecord, TopicPartition

from pipeline.kafka import client
from pipeline.kafka.client import KafkaClient


class Tail:
    def __init__(self, kafka: KafkaClient | str, topic: str, *, from_end: bool = False, metadata_refresh_ms: int = 1000,
                 **consumer_config: object) -> None:
        self.topic = topic
        self._kafka = kafka
        self._from_end = from_end
        self._consumer = AIOKafkaConsumer(
            **client.options(kafka), group_id=None, enable_auto_commit=False,
            auto_offset_reset="latest" if from_end else "earliest", metadata_max_age_ms=metadata_refresh_ms,
            **consumer_config)

    async def __aenter__(self) -> Tail:
        await client.connect(self._consumer, self._kafka)
        return self

    async def __aexit__(self, kind: type[BaseException] | None, exc: BaseException | None,
                        tb: TracebackType | None) -> None:
        await self._consumer.stop()

    def partitions(self) -> list[TopicPartition]:
        return sorted(self._consumer.assignment())

    async def wait_for_partitions(self, timeout_s: float | None = None) -> list[TopicPartition]:
        """Assign every partition of the topic once its metadata is known ([] if ``timeout_s`` passes first)."""
        if self._consumer.assignment():
            return self.partitions()
        deadline = None if timeout_s is None else time.monotonic() + timeout_s
        while not (ids := self._consumer.partitions_for_topic(self.topic)):
            if deadline is not None and time.monotonic() >= deadline:
                return []
            await asyncio.sleep(0.1)
        tps = [TopicPartition(self.topic, p) for p in sorted(ids)]
        self._consumer.assign(tps)
        if self._from_end:
            await self._consumer.seek_to_end(*tps)
        else:
            await self._consumer.seek_to_beginning(*tps)
        return tps

    async def records(self, timeout_ms: int = 500) -> list[ConsumerRecord]:
        """What arrived (up to ``timeout_ms`` of waiting), in partition order."""
        if not await self.wait_for_partitions(timeout_ms / 1000):
            return []
        batch = await self._consumer.getmany(timeout_ms=timeout_ms)
        return [r for tp in sorted(batch) for r in batch[tp]]

    async def end_offsets(self) -> dict[TopicPartition, int]:
        tps = self.partitions()
        return await self._consumer.end_offsets(tps) if tps else {}

    async def reached(self, ends: dict[TopicPartition, int]) -> bool:
        """Has every partition been read up to ``ends``?"""
        for tp, end in ends.items():
            if await self._consumer.position(tp) < end:
                return False
        return True

    async def read_to_end(self, timeout_s: float = 30) -> list[ConsumerRecord]:
        """Everything the topic holds now (waiting up to ``timeout_s`` for it to exist)."""
        await self.wait_for_partitions(timeout_s)
        ends = await self.end_offsets()
        out: list[ConsumerRecord] = []
        deadline = time.monotonic() + timeout_s
        while not await self.reached(ends):
            if time.monotonic() > deadline:
                raise TimeoutError(f"{self.topic} not read to its end within {timeout_s:g} s")
            out += await self.records()
        return out
