"""``sla-pipeline replay FILE``: real exports (JSON lines, or CSV with a column mapping) into tickets.events.

Rows are validated with the pipeline's own validator before they are sent: a bad row is not sent, and the
rest go on. Timing: the original gaps between rows divided by ``--speedup``, or as fast as possible. A
progress line (on stderr) shows rate and ETA; once it is done, the summary (on stdout) names every bad row
once, with its line number and reason, never dropped in silence. Ctrl-C stops cleanly and says how far it
got.

Records carry their event's ``occurred_at`` as their Kafka timestamp (the contract), so a broker with time
retention deletes a replayed export older than the topic's ``retention.ms`` at its next retention check,
often before a worker reads it. :func:`check_topic_keeps` refuses such a replay before it sends anything.
"""

from __future__ import annotations

import asyncio
import csv
import dataclasses
import sys
import time
import tomllib
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any, TextIO
from zoneinfo import ZoneInfo

import orjson
from aiokafka import AIOKafkaProducer
from rich.console import Console
from rich.progress import (
    BarColumn,
    Progress,
    ProgressColumn,
    Task,
    TaskProgressColumn,
    TextColumn,
    TimeRemainingColumn,
)
from rich.text import Text

from pipeline.cli.produce import key_and_timestamp
from pipeline.domain.events import Event, decode
from pipeline.domain.timefmt import format_rfc3339_ms
from pipeline.errors import ConfigError, PipelineError
from pipeline.kafka import client
from pipeline.kafka.admin import MAX_MESSAGE_BYTES, NotAuthorized, topic_config
from pipeline.kafka.client import KafkaClient

Row = tuple[int, bytes | None, bytes | None, str | None]  # (line, key, value, problem)


@dataclasses.dataclass
class ReplayReport:
    total: int
    sent: int = 0
    bad: list[tuple[int, str]] = dataclasses.field(default_factory=list)
    last_line: int = 0
    stopped: bool = False

    def summary(self) -> str:
        """The outcome, then each bad row on a line of its own (its only mention: not in the progress line)."""
        verb = f"stopped at line {self.last_line} of {self.total}" if self.stopped else f"replayed {self.total} rows"
        text = f"{verb}: {self.sent} sent, {len(self.bad)} bad"
        return text + "".join(f"\n  line {line}: {why}" for line, why in self.bad)


def jsonl_rows(path: Path) -> Iterator[Row]:
    with open(path, "rb") as f:
        for number, raw in enumerate(f, start=1):
            line = raw.rstrip(b"\r\n")
            if not line.strip():
                continue
            yield _checked(number, line)


def _checked(number: int, value: bytes) -> Row:
    key, _ = key_and_timestamp(value)  # the key `produce` would give it
    verdict = decode(value, key)
    if isinstance(verdict, Event):
        return number, key, value, None
    return number, key, value, f"{verdict.reason}: {verdict.detail}"


@dataclasses.dataclass(frozen=True)
class CsvMapping:
    columns: dict[str, str]  # contract field -> CSV column
    values: dict[str, dict[str, Any]]  # contract field -> {CSV value: contract value}
    time_format: str | None
    timezone: str

    @classmethod
    def load(cls, path: Path) -> CsvMapping:
        try:
            doc = tomllib.loads(path.read_text())
        except (OSError, tomllib.TOMLDecodeError) as exc:
            raise ConfigError(str(path), f"is not a readable TOML mapping ({exc})") from None
        columns = {str(k): str(v) for k, v in doc.get("columns", {}).items()}
        for need in ("ticket_id", "type", "occurred_at"):
            if need not in columns:
                raise ConfigError(f"{path.name}: columns.{need}", "must name the CSV column that holds it")
        timing = doc.get("time", {})
        zone = str(timing.get("timezone", "UTC"))
        try:
            ZoneInfo(zone)
        except Exception:  # noqa: BLE001
            raise ConfigError(f"{path.name}: time.timezone", "must be an IANA time zone such as UTC or "
                              "Europe/Berlin", zone) from None
        return cls(columns, {str(k): dict(v) for k, v in doc.get("values", {}).items()},
                   timing.get("format"), zone)


_NUMBERS = {"severity": int, "tier": int, "score": float}


def csv_rows(path: Path, mapping: CsvMapping) -> Iterator[Row]:
    zone = ZoneInfo(mapping.timezone)
    with open(path, newline="", encoding="utf-8-sig") as f:
        reader = csv.DictReader(f)
        missing = [c for c in mapping.columns.values() if c not in (reader.fieldnames or [])]
        if missing:
            raise ConfigError(str(path), f"has no column {missing[0]!r} (the mapping names it)")
        for row in reader:
            number = reader.line_num
            try:
                doc = _map_row(row, mapping, zone, number)
            except ValueError as exc:
                yield number, None, None, f"cannot convert: {exc}"
                continue
            yield _checked(number, orjson.dumps(doc))


def _map_row(row: dict[str, str], mapping: CsvMapping, zone: ZoneInfo, number: int) -> dict[str, Any]:
    doc: dict[str, Any] = {}
    for field, column in mapping.columns.items():
        raw = (row.get(column) or "").strip()
        if raw == "":
            continue
        value: Any = mapping.values.get(field, {}).get(raw, raw)
        if field == "occurred_at":
            value = _timestamp(raw, mapping.time_format, zone)
        elif field in _NUMBERS and isinstance(value, str):
            value = _NUMBERS[field](value)
        elif field == "fastlane" and isinstance(value, str):
            value = value.lower() in ("1", "true", "yes", "y")
        doc[field] = value
    doc.setdefault("event_id", f"{doc.get('ticket_id', 'row')}:{number}")
    return doc


def _timestamp(raw: str, fmt: str | None, zone: ZoneInfo) -> str:
    moment = datetime.strptime(raw, fmt) if fmt else datetime.fromisoformat(raw)  # noqa: DTZ007 - zone added below
    if moment.tzinfo is None:  # exports are often naive: the mapping says where they were written
        moment = moment.replace(tzinfo=zone)
    return format_rfc3339_ms(int(moment.timestamp() * 1000))


def oldest_event(rows: Iterator[Row]) -> tuple[int, int] | None:
    """(line, occurred_at in ms) of the export's oldest good row; None when it has no good row."""
    oldest: tuple[int, int] | None = None
    for number, _key, value, problem in rows:
        if problem is None and value is not None:
            _, at_ms = key_and_timestamp(value)
            if at_ms is not None and (oldest is None or at_ms < oldest[1]):
                oldest = (number, at_ms)
    return oldest


# Room for the replay itself and for the workers to read what it sent, before the broker's retention check.
RETENTION_MARGIN_MS = 3_600_000


def _days(ms: int) -> str:
    return f"{ms / 86_400_000:,.1f} days"


def retention_problem(config: dict[str, str], topic: str, oldest: tuple[int, int], now_ms: int) -> str | None:
    """Why the topic would lose (or refuse) records as old as the export's oldest event, or None when it keeps
    them. ``config`` is the topic's effective configuration."""
    if config.get("message.timestamp.type") == "LogAppendTime":
        return None  # the broker stamps records with its own time: their age starts at the replay
    line, at_ms = oldest
    age = now_ms - at_ms + RETENTION_MARGIN_MS
    when = format_rfc3339_ms(at_ms)
    retention = int(config.get("retention.ms", "-1"))
    if 0 <= retention < age:
        return (f"topic {topic} keeps records for retention.ms={retention} ({_days(retention)}), but the "
                f"export's oldest event (line {line}, {when}) is {_days(now_ms - at_ms)} old: records carry "
                f"their occurred_at as timestamp, so the broker would delete the replayed events at its next "
                f"retention check, likely before a worker reads them. Set retention.ms=-1 on {topic} (or more "
                f"than the export's age plus an hour), e.g. kafka-configs.sh --bootstrap-server ... --alter "
                f"--entity-type topics --entity-name {topic} --add-config retention.ms=-1, then replay again")
    for key in ("message.timestamp.before.max.ms", "message.timestamp.difference.max.ms"):
        limit = int(config.get(key, str(2**63 - 1)))
        if limit < now_ms - at_ms:
            return (f"topic {topic} refuses records whose timestamp is more than {key}={limit} "
                    f"({_days(limit)}) old, and the export's oldest event (line {line}, {when}) is "
                    f"{_days(now_ms - at_ms)} old. Raise {key} on {topic}, then replay again")
    return None


async def check_topic_keeps(kafka: KafkaClient | str, topic: str, oldest: tuple[int, int] | None,
                            now_ms: int, *, warn: TextIO = sys.stderr) -> None:
    """Raise PipelineError, before anything is sent, when the topic would delete or refuse the export's
    oldest event (see :func:`retention_problem`). A topic that does not exist yet is not checked; one whose
    configuration the ACLs hide is not either, with a warning on ``warn``."""
    if oldest is None:
        return
    try:
        config = await topic_config(kafka, topic)
    except NotAuthorized as exc:
        print(f"warning: cannot check how long {topic} keeps records: {exc}. If its retention.ms is shorter "
              f"than the export's age ({_days(now_ms - oldest[1])}), the broker deletes the replayed events.",
              file=warn)
        return
    if config is None:
        return
    problem = retention_problem(config, topic, oldest, now_ms)
    if problem is not None:
        raise PipelineError(problem)


def count_rows(path: Path) -> int:
    with open(path, "rb") as f:
        return sum(1 for line in f if line.strip())


async def replay(rows: Iterator[Row], total: int, kafka: KafkaClient | str, topic: str, *, speedup: float | None,
                 progress: TextIO | None = None, stopping: asyncio.Event | None = None) -> ReplayReport:
    """Send the good rows; the bad ones are kept in the report, for :meth:`ReplayReport.summary` to name."""
    stopping = stopping or asyncio.Event()
    progress = progress or sys.stderr  # the stream of the moment (not the one at import)
    report = ReplayReport(total=total)
    producer = AIOKafkaProducer(**client.options(kafka), acks="all", linger_ms=5,
                                max_request_size=MAX_MESSAGE_BYTES + 1024)
    await client.connect(producer, kafka)
    first: tuple[int, float] | None = None  # (occurred_at of the first good row, wall time it was sent)
    bar = Progress(TextColumn("{task.completed}/{task.total} rows"), BarColumn(), TaskProgressColumn(),
                   _RateColumn(), TextColumn("ETA"), TimeRemainingColumn(),
                   console=Console(file=progress, stderr=progress is sys.stderr), refresh_per_second=2)
    task = bar.add_task("replay", total=total)
    bar.start()
    try:
        for number, key, value, problem in rows:
            if stopping.is_set():
                report.stopped = True
                break
            report.last_line = number
            if problem is not None:
                report.bad.append((number, problem))
                bar.advance(task)
                continue
            _, at_ms = key_and_timestamp(value)  # type: ignore[arg-type] - a valid event has both
            if speedup:
                if first is None:
                    first = (at_ms, time.monotonic())
                wait = first[1] + (at_ms - first[0]) / 1000 / speedup - time.monotonic()
                if wait > 0:
                    try:
                        await asyncio.wait_for(stopping.wait(), wait)
                        report.stopped = True
                        break
                    except TimeoutError:
                        pass
            await producer.send(topic, value, key=key, timestamp_ms=at_ms)
            report.sent += 1
            bar.advance(task)
        await producer.flush()
    finally:
        bar.stop()
        await producer.stop()
    return report


class _RateColumn(ProgressColumn):
    """Rows per second, as rich measures it."""

    def render(self, task: Task) -> Text:
        return Text(f"{task.speed or 0:,.0f} rows/s")
