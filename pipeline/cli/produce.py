"""Publish ticket events from JSON lines: key = ``ticket_id``, record timestamp = ``occurred_at``.

Each line is sent as its exact bytes: validation is the pipeline's job, so a bad line reaches the DLQ
with a reason rather than vanishing here. Lines whose key or timestamp cannot be read are still sent
(without key, or with the broker's time) and are reported with their line numbers.
"""

from __future__ import annotations

import dataclasses
import sys
from collections.abc import Iterable, Iterator
from typing import IO

import orjson
from aiokafka import AIOKafkaProducer

from pipeline.domain.timefmt import TimestampError, parse_rfc3339_ms
from pipeline.kafka import client
from pipeline.kafka.admin import MAX_MESSAGE_BYTES
from pipeline.kafka.client import KafkaClient


@dataclasses.dataclass
class ProduceReport:
    sent: int = 0
    without_key: list[int] = dataclasses.field(default_factory=list)
    without_timestamp: list[int] = dataclasses.field(default_factory=list)

    def summary(self) -> str:
        text = f"sent {self.sent} records"
        if self.without_key:
            text += f"; {len(self.without_key)} without a ticket_id key (lines {_lines(self.without_key)})"
        if self.without_timestamp:
            text += (f"; {len(self.without_timestamp)} without a readable occurred_at, sent with the broker's"
                     f" time (lines {_lines(self.without_timestamp)})")
        return text


def _lines(numbers: list[int], limit: int = 10) -> str:
    shown = ", ".join(map(str, numbers[:limit]))
    return shown + (", ..." if len(numbers) > limit else "")


def key_and_timestamp(line: bytes) -> tuple[bytes | None, int | None]:
    """The record key and timestamp (ms) a JSON line asks for, where it can be read."""
    try:
        doc = orjson.loads(line)
    except orjson.JSONDecodeError:
        return None, None
    if not isinstance(doc, dict):
        return None, None
    ticket_id = doc.get("ticket_id")
    key = ticket_id.encode() if isinstance(ticket_id, str) and ticket_id else None
    try:
        timestamp = parse_rfc3339_ms(doc.get("occurred_at"))  # type: ignore[arg-type]
    except TimestampError:
        timestamp = None
    return key, timestamp


def read_lines(stream: IO[bytes]) -> Iterator[tuple[int, bytes]]:
    for number, line in enumerate(stream, start=1):
        line = line.rstrip(b"\r\n")
        if line.strip():
            yield number, line


async def produce_lines(kafka: KafkaClient | str, topic: str, lines: Iterable[tuple[int, bytes]]) -> ProduceReport:
    report = ProduceReport()
    producer = AIOKafkaProducer(**client.options(kafka), acks="all", linger_ms=5,
                                max_request_size=MAX_MESSAGE_BYTES + 1024, enable_idempotence=True)
    await client.connect(producer, kafka)
    try:
        pending = []
        for number, line in lines:
            key, timestamp = key_and_timestamp(line)
            if key is None:
                report.without_key.append(number)
            if timestamp is None:
                report.without_timestamp.append(number)
            pending.append(await producer.send(topic, value=line, key=key, timestamp_ms=timestamp))
            if len(pending) >= 10_000:
                report.sent += await _acknowledged(pending)
        report.sent += await _acknowledged(pending)
    finally:
        await producer.stop()
    return report


async def _acknowledged(pending: list) -> int:
    """Wait until the broker has every pending record; raises if one failed."""
    for fut in pending:
        await fut
    count = len(pending)
    pending.clear()
    return count


def open_input(path: str) -> IO[bytes]:
    return sys.stdin.buffer if path == "-" else open(path, "rb")  # noqa: SIM115 - caller closes
