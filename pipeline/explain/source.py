"""A ticket's records for :func:`pipeline.explain.fold.explain`: from ``tickets.events`` or a JSON-lines file.

From the topic: the partition the ticket's key maps to with Kafka's default partitioner (murmur2, as aiokafka's
``DefaultPartitioner`` and the Java client place keyed records), read from ``from_ms`` (``offsets_for_times``;
its beginning without it) to the end it had when the read began, keeping the ticket's records and the
partition's clock before each of them (:func:`ticket_records`). From a file: the lines whose ``ticket_id`` is the
ticket's, each as a record keyed by that id, its line number as offset; the ticket's own clock judges.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Iterable
from pathlib import Path

import orjson
from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.partitioner import murmur2

from pipeline.domain.events import Event, decode
from pipeline.errors import PipelineError
from pipeline.kafka import client
from pipeline.kafka.admin import NotAuthorized, topic_config, topic_partitions
from pipeline.kafka.client import KafkaClient
from pipeline.processing.io import Record
from pipeline.reports.source import MAX_FETCH

READ_TIMEOUT_S = 300.0


def partition_of(key: bytes, partitions: int) -> int:
    """The partition Kafka's default partitioner gives a keyed record (murmur2 of the key, positive, modulo)."""
    return (murmur2(key) & 0x7FFFFFFF) % partitions


@dataclasses.dataclass
class Found:
    """A ticket's records in topic order, and the partition's clock (highest ``occurred_at`` of its valid
    events so far) before each of them: offset -> instant (see :func:`pipeline.explain.fold.explain`)."""

    records: list[Record]
    marks: dict[int, int]
    missing: str = ""  # the message when there is no record: what was read


def ticket_records(ticket_id: str, records: Iterable[Record]) -> Found:
    """The ticket's records among one partition's ``records`` (in offset order), with the clock marks."""
    return by_ticket(records, {ticket_id}).get(ticket_id) or Found([], {})


def by_ticket(records: Iterable[Record], tickets: set[str] | None = None) -> dict[str, Found]:
    """Every ticket's records (or those of ``tickets``) among one partition's ``records``, in offset order,
    each with the partition's clock before each of its records."""
    found: dict[str, Found] = {}
    high: int | None = None
    for r in records:
        ticket = None if r.key is None else r.key.decode(errors="replace")
        if ticket is not None and (tickets is None or ticket in tickets):
            mine = found.get(ticket)
            if mine is None:
                mine = found[ticket] = Found([], {})
            mine.records.append(r)
            if high is not None:
                mine.marks[r.offset] = high
        got = decode(r.value, r.key)
        if isinstance(got, Event) and (high is None or got.occurred_at > high):
            high = got.occurred_at
    return found


def from_file(path: Path, ticket_id: str, topic: str = "tickets.events") -> Found:
    """The ticket's lines of a JSON-lines file (each line one event, as ``sla-pipeline produce`` sends them)."""
    mine: list[Record] = []
    try:
        with path.open("rb") as f:
            for n, line in enumerate(f, 1):
                line = line.strip()
                if not line or ticket_id.encode() not in line:
                    continue
                try:
                    doc = orjson.loads(line)
                except orjson.JSONDecodeError:
                    continue  # no ticket can be told from it
                if isinstance(doc, dict) and doc.get("ticket_id") == ticket_id:
                    mine.append(Record(topic, 0, n, ticket_id.encode(), line, None))
    except OSError as exc:
        raise PipelineError(f"{path}: cannot be read ({exc.strerror})") from None
    return Found(mine, {}, missing=f"no event of ticket {ticket_id} in {path}")


def latest_instant(found: Found) -> int | None:
    """The latest ``occurred_at`` among the records (the judging clock of ``--events``)."""
    instants = [got.occurred_at for r in found.records if isinstance(got := decode(r.value, r.key), Event)]
    return max(instants, default=None)


async def from_topic(kafka: KafkaClient | str, topic: str, ticket_id: str, *, from_ms: int | None = None,
                     timeout_s: float = READ_TIMEOUT_S) -> Found:
    """The ticket's records on ``topic`` (see the module doc). A topic that does not exist: PipelineError."""
    ids = await topic_partitions(kafka, topic)
    if not ids:
        raise PipelineError(f"topic {topic} does not exist at {client.describe(kafka)}")
    tp = TopicPartition(topic, partition_of(ticket_id.encode(), len(ids)))
    consumer = AIOKafkaConsumer(**client.options(kafka), group_id=None, enable_auto_commit=False,
                                fetch_max_bytes=MAX_FETCH, max_partition_fetch_bytes=MAX_FETCH)
    await client.connect(consumer, kafka)
    try:
        consumer.assign([tp])
        first = (await consumer.beginning_offsets([tp]))[tp]
        end = (await consumer.end_offsets([tp]))[tp]
        start = first
        if from_ms is not None:
            found = (await consumer.offsets_for_times({tp: from_ms}))[tp]
            start = end if found is None else found.offset
        records: list[Record] = []
        if start < end:
            consumer.seek(tp, start)
            records = await _drain(consumer, tp, end, timeout_s)
    finally:
        await consumer.stop()
    result = ticket_records(ticket_id, records)
    if not result.records:
        result.missing = (f"no event of ticket {ticket_id} in {topic} (partitions read: {tp.partition}, from offset "
                          f"{start} to {end}: its events may be past the topic's retention "
                          f"({await _retention(kafka, topic)}))")
    return result


async def _drain(consumer: AIOKafkaConsumer, tp: TopicPartition, end: int, timeout_s: float) -> list[Record]:
    out: list[Record] = []
    deadline = time.monotonic() + timeout_s
    while await consumer.position(tp) < end:
        if time.monotonic() > deadline:
            raise PipelineError(f"{tp.topic}[{tp.partition}]: not read within {timeout_s:g} s")
        batch = await consumer.getmany(tp, timeout_ms=500, max_records=10_000)
        for r in batch.get(tp, []):
            if r.offset < end:
                out.append(Record(tp.topic, tp.partition, r.offset, r.key, r.value, r.timestamp))
    return out


async def _retention(kafka: KafkaClient | str, topic: str) -> str:
    """``retention.ms = 604800000, 7 days``, or why it is not known."""
    try:
        config = await topic_config(kafka, topic)
    except NotAuthorized:
        return "retention.ms not known: not authorized to describe the topic"
    value = (config or {}).get("retention.ms")
    if value is None:
        return "retention.ms not known"
    ms = int(value)
    return f"retention.ms = {ms}" + (", unlimited" if ms < 0 else f", {ms / 86_400_000:g} days")
