"""The records a what-if judges: the tickets created in a period, with all their records, by partition.

A period is ``[from, to)`` (UTC dates or RFC 3339 instants). Its tickets are those whose first
``ticket.created`` is dated inside it; their records are read up to ``to`` plus a settle margin (default
7 days: time for the period's tickets to be answered, resolved and judged), or to the end of the topic.
Reading starts a day before ``from`` (:data:`LOOKBACK_MS`): an event dated before its ticket's creation
applies at the creation instant, and must not be missed.

Both sources give the same records in the same order for the same events: ``tickets.events`` read by time
(Kafka's ``offsets_for_times`` on each partition, up to its first record stamped after the end), and a
JSON-lines file, whose lines go to the partition Kafka's default partitioner would give their key (murmur2,
as ``sla-pipeline produce`` publishes them), each partition read the same way (from its first record
stamped at or after the start, up to its first record stamped after the end). Records stay as received,
invalid ones included: the processor rejects them under either policy alike. Nothing is written anywhere.
"""

from __future__ import annotations

import dataclasses
import re
import time
from collections.abc import Callable, Iterable
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import orjson
from aiokafka import AIOKafkaConsumer, TopicPartition

from pipeline.cli.produce import key_and_timestamp
from pipeline.domain.timefmt import DAY_MS, TimestampError, format_rfc3339_ms, parse_rfc3339_ms
from pipeline.errors import ConfigError, PipelineError
from pipeline.explain.source import partition_of
from pipeline.kafka import client
from pipeline.kafka.admin import topic_partitions
from pipeline.kafka.client import KafkaClient
from pipeline.processing.io import Record

SETTLE_MS = 7 * DAY_MS
LOOKBACK_MS = DAY_MS
MAX_FETCH = 16 * 1024 * 1024
_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
Partitions = dict[int, list[Record]]


@dataclasses.dataclass(frozen=True)
class Window:
    """Tickets created in ``[start_ms, end_ms)``; their records up to ``until_ms``."""

    start_ms: int
    end_ms: int
    settle_ms: int = SETTLE_MS

    @property
    def read_from_ms(self) -> int:
        return self.start_ms - LOOKBACK_MS

    @property
    def until_ms(self) -> int:
        return self.end_ms + self.settle_ms

    def describe(self) -> str:
        return f"tickets created from {format_rfc3339_ms(self.start_ms)} to {format_rfc3339_ms(self.end_ms)}"

    @classmethod
    def parse(cls, start: str, end: str, settle_ms: int = SETTLE_MS) -> Window:
        window = cls(instant(start, "--from"), instant(end, "--to"), settle_ms)
        if window.end_ms <= window.start_ms:
            raise ConfigError("--to", f"must be after --from ({start} .. {end} is empty)")
        return window


def instant(text: str, flag: str) -> int:
    """A UTC date (its midnight) or an RFC 3339 instant with an offset, as epoch milliseconds."""
    text = text.strip()
    if _DATE.match(text):
        try:
            return int(datetime.combine(date.fromisoformat(text), datetime.min.time(), UTC).timestamp() * 1000)
        except ValueError as exc:
            raise ConfigError(flag, f"{text!r} is not a date: {exc}") from None
    try:
        return parse_rfc3339_ms(text)
    except TimestampError as exc:
        raise ConfigError(flag, f"a UTC date (2026-11-01) or an RFC 3339 instant with an offset, got {text!r} "
                                f"({exc})") from None


def settle(days: float) -> int:
    if days < 0:
        raise ConfigError("--settle-days", "cannot be negative")
    return int(timedelta(days=days).total_seconds() * 1000)


# --- choosing the period's tickets ------------------------------------------------------------------

def created_at(value: bytes | None) -> int | None:
    """When a record creates its ticket: the ``occurred_at`` of a ``ticket.created``, else None."""
    if value is None or b"ticket.created" not in value:
        return None
    try:
        doc = orjson.loads(value)
        if not isinstance(doc, dict) or doc.get("type") != "ticket.created":
            return None
        return parse_rfc3339_ms(doc["occurred_at"])
    except (orjson.JSONDecodeError, KeyError, TypeError, TimestampError):
        return None


def select(partitions: Partitions, window: Window) -> Partitions:
    """The records of the tickets first created inside the window, each partition's in its order; offsets kept."""
    chosen: set[bytes] = set()
    seen: set[bytes] = set()
    for recs in partitions.values():
        for r in recs:
            if r.key is None or r.key in seen:
                continue
            at = created_at(r.value)
            if at is not None:
                seen.add(r.key)
                if window.start_ms <= at < window.end_ms:
                    chosen.add(r.key)
    out = {p: [r for r in recs if r.key in chosen] for p, recs in partitions.items()}
    return {p: recs for p, recs in out.items() if recs}


# --- a JSON-lines file ----------------------------------------------------------------------------------

def from_lines(lines: Iterable[bytes], window: Window, partitions: int) -> Partitions:
    """A file's lines as the topic's partitions would hold them, read as :func:`from_topic` reads the topic."""
    out: Partitions = {}
    started: set[int] = set()
    stopped: set[int] = set()
    offsets = [0] * partitions
    for raw in lines:
        line = raw.rstrip(b"\r\n")
        if not line.strip():
            continue
        key, stamp = key_and_timestamp(line)
        if key is None:
            continue  # heartbeats and lines without a ticket: no ticket of the period
        p = partition_of(key, partitions)
        offset = offsets[p]
        offsets[p] += 1
        if p in stopped:
            continue
        if p not in started:
            if stamp is None or stamp < window.read_from_ms:
                continue
            started.add(p)
        if stamp is not None and stamp > window.until_ms:
            stopped.add(p)
            continue
        out.setdefault(p, []).append(Record("tickets.events", p, offset, key, line, stamp))
    return select(out, window)


def from_file(path: Path, window: Window, partitions: int) -> Partitions:
    if not path.is_file():
        raise PipelineError(f"{path}: no such file")
    with path.open("rb") as f:
        return from_lines(f, window, partitions)


# --- tickets.events ---------------------------------------------------------------------------------------

async def from_topic(kafka: KafkaClient | str, topic: str, window: Window, *, timeout_s: float = 600.0,
                     progress: Callable[[int], None] | None = None) -> Partitions:
    """Each partition of ``topic`` from its first record stamped at or after the window's lookback to the
    end it had when the read began, or to its first record stamped after ``window.until_ms``."""
    ids = await topic_partitions(kafka, topic)
    if not ids:
        raise PipelineError(f"{topic}: no such topic (or it has no partitions)")
    consumer = AIOKafkaConsumer(**client.options(kafka), group_id=None, enable_auto_commit=False,
                                fetch_max_bytes=MAX_FETCH, max_partition_fetch_bytes=MAX_FETCH)
    await client.connect(consumer, kafka)
    try:
        tps = [TopicPartition(topic, p) for p in ids]
        consumer.assign(tps)
        found = await consumer.offsets_for_times({tp: window.read_from_ms for tp in tps})
        ends = await consumer.end_offsets(tps)
        todo: dict[TopicPartition, int] = {}
        for tp in tps:
            at = found.get(tp)
            if at is not None and at.offset < ends[tp]:
                consumer.seek(tp, at.offset)
                todo[tp] = ends[tp]
        out: Partitions = {}
        deadline = time.monotonic() + timeout_s
        while todo:
            if time.monotonic() > deadline:
                raise PipelineError(f"{topic}: not read within {timeout_s:g} s (is the broker reachable?)")
            batch = await consumer.getmany(*todo, timeout_ms=500, max_records=20_000)
            n = 0
            for tp, records in batch.items():
                if tp not in todo:
                    continue
                keep = out.setdefault(tp.partition, [])
                for r in records:
                    if r.offset >= todo[tp] or r.timestamp > window.until_ms:
                        todo.pop(tp)
                        break
                    if r.key is not None:
                        keep.append(Record(topic, tp.partition, r.offset, r.key, r.value, r.timestamp))
                n += len(records)
            for tp in [tp for tp in todo if await consumer.position(tp) >= todo[tp]]:
                todo.pop(tp)
            if progress is not None and n:
                progress(n)
        return select(out, window)
    finally:
        await consumer.stop()
