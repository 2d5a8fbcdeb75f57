"""Read what a report needs from the topics, by time, so a report works after a restart and on a worker that
did not process the period.

Each partition is read from the first record at or after ``since_ms`` (Kafka's ``offsets_for_times`` on
the record timestamps) up to the end it had when the read began, or, with ``until_ms``, to its first
record after that. Events carry ``occurred_at`` as their timestamp (the contract), so both bounds hold for
them. The pipeline's own records are stamped when they were published, never before the instant they
report, so ``since_ms`` is a safe lower bound for them too; their reader filters by the instant inside.

:func:`judged_until` is the event-time "now" of a report: the latest instant the pipeline published a
judgement for, read from the tails of its own output topics, so ``sla-pipeline report`` (no worker) learns
it as a worker's page does.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from typing import TypeVar

import orjson
from aiokafka import AIOKafkaConsumer, TopicPartition

from pipeline.domain.engineers import Fact
from pipeline.domain.events import Event, decode
from pipeline.domain.records import DsatReview, Escalation, MalformedRecord, Outcome
from pipeline.domain.timefmt import TimestampError, parse_rfc3339_ms
from pipeline.errors import PipelineError
from pipeline.kafka import client
from pipeline.kafka.admin import topic_partitions
from pipeline.kafka.client import KafkaClient

log = logging.getLogger(__name__)
T = TypeVar("T")
MAX_FETCH = 16 * 1024 * 1024
TAIL = 200  # records read from the end of each partition of an output topic for the judged instant


async def read_between(kafka: KafkaClient | str, topic: str, since_ms: int, until_ms: int | None,
                       parse: Callable[[bytes | None, bytes | None], T | None], *,
                       timeout_s: float = 120.0) -> list[T]:
    """The parsed records of ``topic`` from ``since_ms`` (to ``until_ms`` if given; see the module doc).
    ``parse(key, value)`` returns None for a record to leave out. A topic that does not exist gives []."""

    async def starts(consumer: AIOKafkaConsumer, tps: list[TopicPartition]) -> dict[TopicPartition, int | None]:
        found = await consumer.offsets_for_times({tp: since_ms for tp in tps})
        return {tp: None if found.get(tp) is None else found[tp].offset for tp in tps}

    return await _read(kafka, topic, starts, until_ms, parse, timeout_s)


async def read_tail(kafka: KafkaClient | str, topic: str, last: int,
                    parse: Callable[[bytes | None, bytes | None], T | None], *, timeout_s: float = 60.0) -> list[T]:
    """The parsed records among the ``last`` of each partition of ``topic`` ([] if it does not exist)."""

    async def starts(consumer: AIOKafkaConsumer, tps: list[TopicPartition]) -> dict[TopicPartition, int | None]:
        firsts = await consumer.beginning_offsets(tps)
        ends = await consumer.end_offsets(tps)
        return {tp: max(firsts[tp], ends[tp] - last) for tp in tps}

    return await _read(kafka, topic, starts, None, parse, timeout_s)


async def _read(kafka: KafkaClient | str, topic: str,
                starts: Callable[[AIOKafkaConsumer, list[TopicPartition]], Awaitable[dict[TopicPartition, int | None]]],
                until_ms: int | None, parse: Callable[[bytes | None, bytes | None], T | None],
                timeout_s: float) -> list[T]:
    """Each partition of ``topic`` from the offset ``starts`` gives it (None: nothing to read) to its end."""
    ids = await topic_partitions(kafka, topic)
    if not ids:
        return []
    consumer = await _consumer(kafka)
    try:
        tps = [TopicPartition(topic, p) for p in ids]
        consumer.assign(tps)
        first = await starts(consumer, tps)
        ends = await consumer.end_offsets(tps)
        todo: dict[TopicPartition, int] = {}
        for tp in tps:
            offset = first[tp]
            if offset is not None and offset < ends[tp]:
                consumer.seek(tp, offset)
                todo[tp] = ends[tp]
        return await _drain(consumer, todo, until_ms, parse, topic, timeout_s)
    finally:
        await consumer.stop()


async def _consumer(kafka: KafkaClient | str) -> AIOKafkaConsumer:
    consumer = AIOKafkaConsumer(**client.options(kafka), group_id=None, enable_auto_commit=False,
                                fetch_max_bytes=MAX_FETCH, max_partition_fetch_bytes=MAX_FETCH)
    await client.connect(consumer, kafka)
    return consumer


async def _drain(consumer: AIOKafkaConsumer, todo: dict[TopicPartition, int], until_ms: int | None,
                 parse: Callable[[bytes | None, bytes | None], T | None], topic: str, timeout_s: float) -> list[T]:
    """Read each assigned partition from its position to its end offset in ``todo`` (or its first record
    stamped after ``until_ms``)."""
    out: list[T] = []
    deadline = time.monotonic() + timeout_s
    while todo:
        if time.monotonic() > deadline:
            raise PipelineError(f"{topic}: not read within {timeout_s:g} s (is the broker reachable?)")
        batch = await consumer.getmany(*todo, timeout_ms=500, max_records=10_000)
        for tp, records in batch.items():
            for r in records:
                if r.offset >= todo.get(tp, -1) or (until_ms is not None and r.timestamp > until_ms):
                    todo.pop(tp, None)
                    break
                item = parse(r.key, r.value)
                if item is not None:
                    out.append(item)
        for tp in [tp for tp in todo if await consumer.position(tp) >= todo[tp]]:
            todo.pop(tp)
    return out


def events(key: bytes | None, value: bytes | None) -> Event | None:
    """A valid ticket event (the DLQ holds the others)."""
    got = decode(value, key)
    return got if isinstance(got, Event) and got.ticket_id is not None else None


def _record(cls: type[T], topic: str) -> Callable[[bytes | None, bytes | None], T | None]:
    def parse(key: bytes | None, value: bytes | None) -> T | None:
        try:
            return cls.decode(value)  # type: ignore[attr-defined, no-any-return]
        except MalformedRecord as exc:
            log.warning("%s: skipping a record that is not one (%s)", topic, exc)
            return None

    return parse


def facts(key: bytes | None, value: bytes | None) -> Fact | None:
    try:
        return Fact.from_bytes(value or b"")
    except (ValueError, TypeError) as exc:
        log.warning("engineer facts: skipping a record that is not one (%s)", exc)
        return None


async def gather(kafka: KafkaClient | str, reads: dict[str, tuple[str, int, int | None, Callable]]) -> dict[str, list]:
    """Several reads at once: name -> (topic, since_ms, until_ms, parse)."""
    names = list(reads)
    results = await asyncio.gather(*(read_between(kafka, *reads[n]) for n in names))
    return dict(zip(names, results, strict=True))


outcomes = _record(Outcome, "sla.outcomes")
escalations = _record(Escalation, "sla.escalations")
dsat_reviews = _record(DsatReview, "sla.dsat_reviews")


def _instant(field: str) -> Callable[[bytes | None, bytes | None], int | None]:
    """A parser of the instant a published record reports (its ``field``: RFC 3339 text or epoch ms)."""
    def parse(key: bytes | None, value: bytes | None) -> int | None:
        try:
            at = orjson.loads(value or b"")[field]
            return at if isinstance(at, int) else parse_rfc3339_ms(at)
        except (orjson.JSONDecodeError, KeyError, TypeError, TimestampError):
            return None

    return parse


async def judged_until(kafka: KafkaClient | str, topics: dict[str, str], last: int = TAIL) -> int | None:
    """The latest instant the pipeline has judged, as its published records show: the highest
    ``decided_at`` / ``emitted_at`` / fact ``at`` among the last records of each partition of ``topics``
    (topic -> field). Every such instant is one a partition's clock had reached, and a record the pipeline
    rejected (a far-future timestamp) publishes none, so a report counted to it never describes time the
    pipeline has not reached. None when nothing was published yet."""
    found = await asyncio.gather(*(read_tail(kafka, topic, last, _instant(field)) for topic, field in topics.items()))
    return max((at for ats in found for at in ats), default=None)
