"""``GET /tickets/<ticket_id>``: a ticket's SLA explained (contract v3 section 12) by the worker that owns it.

The owner is the worker assigned the ticket's partition of ``tickets.events`` (key = ticket id, Kafka's
default partitioner). Every worker knows who that is: Faust's assignor shares each member's advertised URL
(``SLA_WEB_ADVERTISED_URL``, Faust's ``canonical_url``) and its partitions with the whole group
(``app.router.external_topics_metadata()``). Any other worker forwards the request there (the bearer token
and ``?token=`` go along: a redirect would lose an ``Authorization`` header, which clients drop when a
redirect changes host) and relays the answer; a forwarded request is never forwarded again, so two workers
that disagree during a rebalance answer 503 instead of bouncing it.

The owner reads the ticket's records from its partition, from the ticket's creation instant less a margin
(``offsets_for_times``) up to the position the worker has processed, and explains them
(:func:`pipeline.explain.fold.explain`) under the worker's policy with its partition clock as now: the same
fold that decided, at the same instant. Unknown ticket (no state and no record): 404. A ticket whose state
says it was created but whose creation is no longer in the topic (past its retention): 410.
"""

from __future__ import annotations

import dataclasses
import logging
import time
from collections.abc import Callable, Mapping
from typing import Protocol

import aiohttp
import orjson
from aiokafka import AIOKafkaConsumer, TopicPartition

from pipeline.domain.events import Event, decode
from pipeline.domain.policy import Policy
from pipeline.domain.ticket import TicketState
from pipeline.domain.timefmt import DAY_MS, format_rfc3339_ms
from pipeline.errors import PipelineError
from pipeline.explain.fold import explain
from pipeline.explain.render import as_html, as_json
from pipeline.explain.source import partition_of, ticket_records
from pipeline.kafka import client
from pipeline.kafka.admin import topic_config
from pipeline.kafka.client import KafkaClient
from pipeline.processing.io import Record
from pipeline.reports.source import MAX_FETCH

log = logging.getLogger(__name__)

FORWARDED = "X-SLA-Forwarded-By"  # on a forwarded request: the worker that forwarded it
ANSWERED_BY = "X-SLA-Answered-By"  # on every answer: the advertised URL of the worker that explained it
RELAYED = ("Content-Type", "WWW-Authenticate", "Retry-After", ANSWERED_BY)  # the owner's headers passed back
FORWARD_TIMEOUT_S = 60.0
RETRY_AFTER_S = "5"
JSON, HTML = "application/json", "text/html; charset=utf-8"


@dataclasses.dataclass(frozen=True)
class Answer:
    status: int
    content_type: str
    body: bytes
    headers: dict[str, str] = dataclasses.field(default_factory=dict)

    @classmethod
    def error(cls, status: int, message: str, **extra: object) -> Answer:
        headers = {"Retry-After": RETRY_AFTER_S} if status == 503 else {}
        return cls(status, JSON, orjson.dumps({"error": message, **extra}), headers)


@dataclasses.dataclass(frozen=True)
class Scan:
    """What was read of a ticket's partition: its records in offset order, and from where to where."""

    records: list[Record]
    partition: int
    start: int  # the first offset read
    until: int  # the offset the read stopped before
    log_start: int  # the partition's first offset still kept
    # offset of a ticket record -> the partition's clock before it (the highest occurred_at of its events)
    marks: dict[int, int] = dataclasses.field(default_factory=dict)


class TicketRecords(Protocol):
    """Where the owner reads a ticket's records (Kafka in a worker; a list in the agent tests)."""

    async def scan(self, partition: int, ticket_id: str, since_ms: int | None, until: int | None) -> Scan:
        """The ticket's records on ``partition`` from the first stamped at or after ``since_ms`` (None: the
        log start) to offset ``until`` (None: the end), and the partition's clock before each."""

    async def retention(self) -> str | None:
        """The topic's retention.ms, as words for the 410 (None when it cannot be read)."""


@dataclasses.dataclass(frozen=True)
class KafkaTicketRecords:
    """One partition of ``tickets.events``, read by a consumer of no group for each request; the ticket's
    records and the partition's clock before each are picked by :func:`pipeline.explain.source.ticket_records`."""

    kafka: KafkaClient
    topic: str
    timeout_s: float = 60.0

    async def scan(self, partition: int, ticket_id: str, since_ms: int | None, until: int | None) -> Scan:
        consumer = AIOKafkaConsumer(**client.options(self.kafka), group_id=None, enable_auto_commit=False,
                                    fetch_max_bytes=MAX_FETCH, max_partition_fetch_bytes=MAX_FETCH)
        await client.connect(consumer, self.kafka)
        try:
            tp = TopicPartition(self.topic, partition)
            consumer.assign([tp])
            log_start = (await consumer.beginning_offsets([tp]))[tp]
            end = (await consumer.end_offsets([tp]))[tp]
            stop = end if until is None else min(until, end)
            start = log_start
            if since_ms is not None:
                found = (await consumer.offsets_for_times({tp: max(0, since_ms)}))[tp]
                start = stop if found is None else max(found.offset, log_start)
            records = await self._read(consumer, tp, start, stop) if start < stop else []
        finally:
            await consumer.stop()
        mine = ticket_records(ticket_id, records)
        return Scan(mine.records, partition, start, stop, log_start, mine.marks)

    async def _read(self, consumer: AIOKafkaConsumer, tp: TopicPartition, start: int, stop: int) -> list[Record]:
        """Every record of the partition in [start, stop)."""
        consumer.seek(tp, start)
        deadline = time.monotonic() + self.timeout_s
        out: list[Record] = []
        while await consumer.position(tp) < stop:
            if time.monotonic() > deadline:
                raise PipelineError(f"{self.topic}[{tp.partition}]: offsets {start} to {stop} not read within "
                                    f"{self.timeout_s:g} s (is the broker reachable?)")
            batch = await consumer.getmany(tp, timeout_ms=500, max_records=10_000)
            out += [Record(self.topic, tp.partition, r.offset, r.key, r.value, r.timestamp)
                    for r in batch.get(tp, []) if r.offset < stop]
        return out

    async def retention(self) -> str | None:
        try:
            config = await topic_config(self.kafka, self.topic)
        except PipelineError as exc:
            log.warning("cannot read the retention of %s: %s", self.topic, exc)
            return None
        return None if config is None else config.get("retention.ms")


class StateReader(Protocol):
    def get(self, ticket_id: str) -> TicketState | None: ...

    def get_clock(self, partition: int) -> int | None: ...


@dataclasses.dataclass
class TicketPages:
    """The page's logic, away from the web framework: who answers, what the owner reads, what it says."""

    topic: str
    partitions: int  # of tickets.events
    advertised_url: str  # this worker's (Faust's canonical_url)
    owners: Callable[[], Mapping[str, Mapping[str, list[int]]]]  # url -> topic -> partitions (the group's)
    store: StateReader
    records: TicketRecords
    policy: Policy
    now: Callable[[int], int | None]  # the partition clock: partition -> now, or None while it has none
    position: Callable[[int], int | None]  # partition -> next offset this worker processes (None: unknown)
    margin_ms: int = DAY_MS  # read from this long before the creation (early and back-dated events)
    lateness_ms: int = 0  # SLA_ALLOWED_LATENESS_SECONDS: the event-time clock is the high-water mark less this
    orphan_timeout_ms: int = 600_000  # SLA_ORPHAN_TIMEOUT_SECONDS: how long an early event is held
    session: Callable[[], aiohttp.ClientSession] | None = None  # for forwarding (Faust's app.http_client)

    def owner(self, partition: int) -> str | None:
        """The advertised URL of the worker assigned ``partition`` of the topic, None when nobody is."""
        for url, topics in self.owners().items():
            if partition in topics.get(self.topic, ()):
                return str(url).rstrip("/")
        return None

    async def answer(self, ticket_id: str, *, path_qs: str, headers: Mapping[str, str], fmt: str) -> Answer:
        partition = partition_of(ticket_id.encode(), self.partitions)
        owner = self.owner(partition)
        here = self.advertised_url.rstrip("/")
        if owner == here:
            return await self.explained(ticket_id, partition, fmt)
        if owner is None or FORWARDED in headers:
            why = ("no worker is assigned it yet" if owner is None
                   else f"this worker ({here}) was asked by {headers.get(FORWARDED)}, but the group says "
                        f"{owner} owns it")
            return Answer.error(503, f"ticket {ticket_id} is on partition {partition} of {self.topic} and {why}: "
                                     "the partitions are moving between workers; retry in a few seconds",
                                partition=partition)
        return await self.forward(owner, path_qs, headers)

    async def forward(self, owner: str, path_qs: str, headers: Mapping[str, str]) -> Answer:
        if self.session is None:
            return Answer.error(503, f"the ticket's owner is {owner}; this worker cannot forward requests")
        sent = {k: headers[k] for k in ("Authorization", "Accept") if k in headers}
        sent[FORWARDED] = self.advertised_url
        try:
            async with self.session().get(owner + path_qs, headers=sent, allow_redirects=False,
                                          timeout=aiohttp.ClientTimeout(total=FORWARD_TIMEOUT_S)) as resp:
                body = await resp.read()
                relayed = {k: resp.headers[k] for k in RELAYED if k in resp.headers}
                return Answer(resp.status, relayed.pop("Content-Type", JSON), body, relayed)
        except (aiohttp.ClientError, TimeoutError) as exc:
            return Answer.error(502, f"the ticket's owner, the worker at {owner}, did not answer "
                                     f"({type(exc).__name__}: {exc}); each worker must reach the others at "
                                     "their SLA_WEB_ADVERTISED_URL", owner=owner)

    async def explained(self, ticket_id: str, partition: int, fmt: str) -> Answer:
        state = self.store.get(ticket_id)
        created = None if state is None else state.created_at
        since = None if created is None else created - self.margin_ms
        try:
            scan = await self.records.scan(partition, ticket_id, since, self.position(partition))
        except PipelineError as exc:
            return Answer.error(503, f"cannot read ticket {ticket_id}'s records from {self.topic}: {exc}")
        if state is None and not scan.records:
            return Answer.error(404, f"no ticket {ticket_id}: this worker owns its partition ({partition} of "
                                     f"{self.topic}) and holds no state for it, and the partition has no "
                                     f"record of it (offsets {scan.start} to {scan.until})",
                                ticket_id=ticket_id, partition=partition)
        if state is not None and (not scan.records or created is not None and not _creation_in(scan.records)):
            return await self.gone(ticket_id, state, scan)  # its state is here; the events it came from are not
        now = self.judging_now(partition, scan.records)
        expl = explain(ticket_id, scan.records, self.policy, now, marks=scan.marks, lateness_ms=self.lateness_ms,
                       orphan_timeout_ms=self.orphan_timeout_ms)
        headers = {ANSWERED_BY: self.advertised_url}
        if fmt == "json":
            return Answer(200, JSON, as_json(expl), headers)
        return Answer(200, HTML, as_html(expl).encode(), headers)

    async def gone(self, ticket_id: str, state: TicketState, scan: Scan) -> Answer:
        retention = await self.records.retention()
        kept = f"retention.ms = {retention}" if retention is not None else "its retention"
        since = ("" if state.created_at is None
                 else f" (created {format_rfc3339_ms(state.created_at)})")
        return Answer.error(410, f"ticket {ticket_id}{since} exists, but its first records are no longer in "
                                 f"{self.topic}: partition {scan.partition} now starts at offset {scan.log_start} "
                                 f"({kept}), so it cannot be explained from its events",
                            ticket_id=ticket_id, partition=scan.partition, log_start=scan.log_start,
                            retention_ms=retention)

    def judging_now(self, partition: int, records: list[Record]) -> int:
        """The partition clock; after a restart in event time, before any event moved it, the high-water mark
        the store keeps (less the allowed lateness); else the latest record's instant."""
        now = self.now(partition)
        if now is None:
            saved = self.store.get_clock(partition)
            now = None if saved is None else saved - self.lateness_ms
        if now is None:
            now = max((r.timestamp_ms or 0 for r in records), default=0)
        return now


def _creation_in(records: list[Record]) -> bool:
    for r in records:
        got = decode(r.value, r.key)
        if isinstance(got, Event) and got.type == "ticket.created":
            return True
    return False


FORMATS = ("html", "json")


def chosen_format(query: Mapping[str, str], accept: str) -> str | None:
    """``?format=json|html`` if given (None for another value); else JSON for ``Accept: application/json``
    (not for a browser's ``text/html, ...``), HTML otherwise."""
    fmt = query.get("format")
    if fmt is not None:
        return fmt if fmt in FORMATS else None
    return "json" if "application/json" in accept and "text/html" not in accept else "html"
