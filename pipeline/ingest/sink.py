"""The gateway's Kafka side: events to ``tickets.events``, refused bodies to ``tickets.events.dlq``.

One producer for both, built from the project's one client configuration (:mod:`pipeline.kafka.client`),
with ``acks="all"`` and ``enable_idempotence=True``: a send is done only when every in-sync replica has the
record, and the producer's own retries never write a record twice. :meth:`KafkaSink.publish` returns only
once Kafka has acknowledged every record it was given; if that does not happen within ``send_timeout_s``
(a broker down, no leader, a full buffer) it raises :class:`Unavailable` and the request is answered 503.
Records of a request answered 503 may still arrive later: the sender's retry then gives the same event ids,
so they are duplicates downstream, never second events.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
from collections.abc import Sequence
from typing import Any, Protocol

from aiokafka import AIOKafkaProducer
from aiokafka.errors import KafkaError

from pipeline.kafka import client
from pipeline.kafka.admin import MAX_MESSAGE_BYTES
from pipeline.kafka.client import KafkaClient

log = logging.getLogger(__name__)

SEND_TIMEOUT_S = 5.0  # how long a request waits for Kafka's acknowledgement before it is answered 503
REQUEST_TIMEOUT_MS = 10_000  # aiokafka's own bound on a metadata wait or a batch that finds no leader
READY_PROBE_S = 2.0


class Unavailable(Exception):  # noqa: N818 - what Kafka did, not a programming error
    """Kafka did not acknowledge every record in time, or refused one: nothing may be answered 2xx."""


@dataclasses.dataclass(frozen=True, slots=True)
class Record:
    """One Kafka record: key, value bytes, record timestamp (ms; None: the broker's) and headers."""

    key: bytes | None
    value: bytes
    timestamp_ms: int | None
    headers: tuple[tuple[str, bytes], ...] = ()


class Sink(Protocol):
    async def publish(self, records: Sequence[Record]) -> None:
        """Return once Kafka acknowledged every record on the events topic; else raise :class:`Unavailable`."""

    async def dead_letter(self, record: Record) -> None:
        """Return once Kafka acknowledged the record on the DLQ; else raise :class:`Unavailable`."""

    async def ready(self) -> bool:
        """Can the producer reach the cluster now?"""


class KafkaSink:
    """:class:`Sink` on a real cluster. :meth:`start` connects (a clear error if it cannot), :meth:`stop`
    flushes what is still buffered and closes."""

    def __init__(self, kafka: KafkaClient | str, topic_events: str, topic_dlq: str, *,
                 send_timeout_s: float = SEND_TIMEOUT_S, **producer_config: Any) -> None:
        self.kafka = kafka
        self.topic_events = topic_events
        self.topic_dlq = topic_dlq
        self.send_timeout_s = send_timeout_s
        config = {"linger_ms": 0, "request_timeout_ms": REQUEST_TIMEOUT_MS,
                  "max_request_size": MAX_MESSAGE_BYTES + 1024,  # a whole 1 MiB body fits on the DLQ
                  **producer_config}
        self._producer_config = {**client.options(kafka), **config, "acks": "all", "enable_idempotence": True}
        self._producer: AIOKafkaProducer | None = None

    async def start(self) -> None:
        producer = AIOKafkaProducer(**self._producer_config)
        await client.connect(producer, self.kafka)
        self._producer = producer

    async def stop(self) -> None:
        producer, self._producer = self._producer, None
        if producer is not None:
            await producer.stop()  # sends what is buffered first

    async def publish(self, records: Sequence[Record]) -> None:
        await self._send(self.topic_events, records)

    async def dead_letter(self, record: Record) -> None:
        await self._send(self.topic_dlq, [record])

    async def ready(self) -> bool:
        if self._producer is None:
            return False
        try:
            return bool(await asyncio.wait_for(self._producer.client.force_metadata_update(), READY_PROBE_S))
        except (TimeoutError, KafkaError):
            return False

    async def _send(self, topic: str, records: Sequence[Record]) -> None:
        producer = self._producer
        if producer is None:
            raise Unavailable("the producer is not running")
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.send_timeout_s
        acks: list[asyncio.Future] = []
        try:
            # send() waits while it has no metadata for the topic or its buffer is full: one bound for all
            await asyncio.wait_for(_enqueue(producer, topic, records, acks), self.send_timeout_s)
            if acks:
                _, pending = await asyncio.wait(acks, timeout=max(0.0, deadline - loop.time()))
                if pending:  # left to aiokafka: it delivers them later or lets them expire
                    raise Unavailable(f"Kafka did not acknowledge {len(pending)} of {len(records)} records on "
                                      f"{topic} within {self.send_timeout_s:g} s")
                for ack in acks:
                    ack.result()  # raises the first refusal
        except TimeoutError:
            raise Unavailable(f"Kafka took no record for {topic} within {self.send_timeout_s:g} s") from None
        except KafkaError as exc:
            raise Unavailable(f"Kafka refused a record for {topic}: {type(exc).__name__}: {exc}") from None


async def _enqueue(producer: AIOKafkaProducer, topic: str, records: Sequence[Record],
                   acks: list[asyncio.Future]) -> None:
    for r in records:
        ack = await producer.send(topic, value=r.value, key=r.key, timestamp_ms=r.timestamp_ms,
                                  headers=list(r.headers) or None)
        ack.add_done_callback(_retrieved)  # a late refusal of a record already answered for is not logged
        acks.append(ack)


def _retrieved(ack: asyncio.Future) -> None:
    if not ack.cancelled():
        ack.exception()
