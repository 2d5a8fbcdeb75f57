"""``GET /tickets/<id>`` on the worker's real app (``create_app``, its tables, its routes behind the reports
token), served by aiohttp on the loopback, with no broker: the records the owner reads come from a list that
receives every record the test hands the ticket agent, and the group's assignment (which worker owns which
partition, by advertised URL) is set on Faust's assignor as a rebalance would set it."""

from __future__ import annotations

import contextlib
import functools
import socket
from collections.abc import AsyncIterator
from pathlib import Path

import orjson
import pytest
from aiohttp import web as aioweb
from aiohttp.test_utils import TestClient, TestServer

from pipeline.domain.clock import ManualClock
from pipeline.domain.records import Outcome
from pipeline.domain.timefmt import parse_rfc3339_ms
from pipeline.explain import source
from pipeline.explain.source import ticket_records
from pipeline.kafka.client import Secret
from pipeline.processing.io import Record
from pipeline.settings import Settings
from pipeline.worker import app as worker_app
from pipeline.worker import tickets_page
from pipeline.worker.tickets_page import Scan
from tests.agents import harness
from tests.agents.harness import Worker
from tests.builders import T0, EventFactory

TOKEN = "ticket-page-token"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
MIN = 60_000
TOPIC = Settings().topic_events
HERE = Settings().advertised_url  # the in-process worker's advertised URL (127.0.0.1:6066, not listened on)


def partition_of(ticket_id: str) -> int:
    return source.partition_of(ticket_id.encode(), 4)


class Partition:
    """tickets.events as the owner reads it: every record handed to the agent, and a log start that
    retention can move past them."""

    def __init__(self) -> None:
        self.records: list[Record] = []
        self.log_start = 0
        self.scans: list[tuple[int, bytes, int | None, int | None]] = []

    async def scan(self, partition: int, ticket_id: str, since_ms: int | None, until: int | None) -> Scan:
        self.scans.append((partition, ticket_id, since_ms, until))
        on = [r for r in self.records if r.partition == partition and r.offset >= self.log_start]
        stop = until if until is not None else len(on)
        kept = [r for r in on if r.offset < stop and (since_ms is None or r.timestamp_ms >= since_ms)]
        start = kept[0].offset if kept else stop
        mine = ticket_records(ticket_id, kept)
        return Scan(mine.records, partition, start, stop, self.log_start, mine.marks)

    async def retention(self) -> str | None:
        return "604800000"


class Desk:
    """One in-process worker and the records it was handed."""

    def __init__(self, worker: Worker, partition: Partition, events: EventFactory) -> None:
        self.w = worker
        self.partition = partition
        self.events = events
        self.offsets: dict[int, int] = {}

    async def send(self, doc: dict) -> None:
        """A ticket's event, on the partition its key maps to (as a producer puts it)."""
        p = partition_of(doc["ticket_id"]) if "ticket_id" in doc else 0
        offset = self.offsets.get(p, 0)
        self.offsets[p] = offset + 1
        key = doc.get("ticket_id", "").encode() or None
        value = orjson.dumps(doc)
        self.partition.records.append(Record(TOPIC, p, offset, key, value, parse_rfc3339_ms(doc["occurred_at"])))
        await self.w.event(doc, partition=p, key=key)

    def outcomes_of(self, ticket_id: str) -> list[dict]:
        sent = [Outcome.decode(s.value) for s in self.w.sent_to("sla.outcomes")]
        return [orjson.loads(o.encode()) for o in sent if o.ticket_id == ticket_id]

    def owners(self, table: dict[str, list[int]]) -> None:
        """The group's assignment as the leader shares it: advertised URL -> partitions of tickets.events."""
        self.w.app.assignor.external_topic_distribution = {url: {TOPIC: ps} for url, ps in table.items()}


@pytest.fixture
def partition() -> Partition:
    return Partition()


@pytest.fixture
def desk(tmp_path: Path, partition: Partition, events: EventFactory, monkeypatch: pytest.MonkeyPatch):
    """``async with desk(clock=..., wall=...) as (d, client)``: a worker behind TOKEN and a client of its pages."""

    @contextlib.asynccontextmanager
    async def start(**kw: object) -> AsyncIterator[tuple[Desk, TestClient]]:
        def settings(**fields: object) -> Settings:
            return Settings(**{**fields, "reports_token": Secret(TOKEN)})  # type: ignore[arg-type]

        monkeypatch.setattr(harness, "Settings", settings)
        monkeypatch.setattr(harness, "create_app", functools.partial(worker_app.create_app, ticket_records=partition))
        async with Worker(tmp_path, **kw) as w:  # type: ignore[arg-type]
            d = Desk(w, partition, events)
            d.owners({HERE: [0, 1, 2, 3]})
            try:
                async with TestClient(TestServer(w.app.web.web_app)) as client:
                    yield d, client
            finally:
                if w.app._http_client is not None:  # made by the first forwarded request
                    await w.app.http_client.close()

    return start


async def page(client: TestClient, path: str, headers: dict[str, str] | None = None) -> tuple[int, str, bytes]:
    resp = await client.get(path, headers=headers if headers is not None else AUTH)
    return resp.status, resp.headers.get("Content-Type", ""), await resp.read()


async def test_the_owner_explains_a_ticket_as_json_and_html_with_the_outcomes_it_published(desk, events) -> None:
    wall = ManualClock(T0)
    async with desk(clock="wall", wall=wall) as (d, client):
        await d.w.timer_turn([0, 1, 2, 3])  # the first tick after an assignment rebuilds the index
        await d.send(events.created("T1", at=T0, severity=2))
        await d.send(events.created("T2", at=T0 + MIN, severity=1))  # another ticket, not in T1's page
        wall.set(T0 + 40 * MIN)
        await d.send(events.event("ticket.responded", T0 + 40 * MIN, "T1", engineer_id="E1"))
        wall.set(T0 + 2 * 60 * MIN)
        await d.w.timer_turn([0, 1, 2, 3])  # T2's IRT breaches on the worker's clock

        status, kind, body = await page(client, "/tickets/T1", {**AUTH, "Accept": "application/json"})
        assert (status, kind) == (200, "application/json"), body
        doc = orjson.loads(body)
        assert doc["ticket_id"] == "T1"
        published = d.outcomes_of("T1")
        assert published and [o["outcome"] for o in published if o["metric"] == "irt"] == ["met"]
        assert doc["outcomes"] == published  # the page's fold is the core that decided
        assert {r["event_id"] for r in doc["records"]} == {"ticket.created#1", "ticket.responded#3"}

        status, _, body = await page(client, "/tickets/T2?format=json")
        assert status == 200 and orjson.loads(body)["outcomes"] == d.outcomes_of("T2")
        assert [o["outcome"] for o in d.outcomes_of("T2")] == ["breached"]  # decided by the clock, not an event

        status, kind, body = await page(client, "/tickets/T1", {**AUTH, "Accept": "text/html,*/*;q=0.8"})
        assert (status, kind) == (200, "text/html; charset=utf-8")
        assert b"<html" in body.lower() and b"T1" in body
        assert (await page(client, "/tickets/T1?format=html"))[1] == "text/html; charset=utf-8"


async def test_the_owner_reads_from_the_creation_less_a_margin_up_to_what_it_processed(desk, events,
                                                                                     partition) -> None:
    async with desk(clock="event") as (d, client):
        await d.send(events.created("T1", at=T0))
        await d.send(events.event("ticket.responded", T0 + 5 * MIN, "T1", engineer_id="E1"))
        assert (await page(client, "/tickets/T1?format=json"))[0] == 200
        p = partition_of("T1")
        assert partition.scans[-1] == (p, "T1", T0 - 24 * 60 * MIN, 2)  # a day before; offsets 0 and 1 done


async def test_an_unknown_ticket_is_a_404_that_says_so(desk, events) -> None:
    async with desk(clock="event") as (d, client):
        await d.send(events.created("T1", at=T0))
        status, kind, body = await page(client, "/tickets/NOPE-7?format=json")
        assert (status, kind) == (404, "application/json")
        assert "no ticket NOPE-7" in orjson.loads(body)["error"]


async def test_a_ticket_whose_creation_is_past_the_topics_retention_is_gone_410(desk, events, partition) -> None:
    async with desk(clock="event") as (d, client):
        await d.send(events.created("T1", at=T0))
        await d.send(events.event("ticket.assigned", T0 + MIN, "T1", engineer_id="E1"))
        partition.log_start = 1  # the creation was deleted by retention; the state in the table remains
        status, _, body = await page(client, "/tickets/T1")
        error = orjson.loads(body)["error"]
        assert status == 410, error
        assert "no longer in tickets.events" in error and "retention.ms = 604800000" in error


async def test_without_the_token_the_page_refuses_and_reads_nothing(desk, events, partition) -> None:
    async with desk(clock="event") as (d, client):
        await d.send(events.created("T1", at=T0))
        for headers in ({}, {"Authorization": "Bearer wrong"}):
            status, _, body = await page(client, "/tickets/T1?format=json", headers)
            assert status == 401 and "SLA_REPORTS_TOKEN_FILE" in orjson.loads(body)["error"]
        assert (await page(client, f"/tickets/T1?format=json&token={TOKEN}", {}))[0] == 200  # a link's token
        assert (await page(client, "/tickets/T1?format=csv"))[0] == 400
        assert len(partition.scans) == 1  # only the allowed request read the topic


@contextlib.asynccontextmanager
async def other_worker(answer: bytes = b'{"ticket_id": "T1"}') -> AsyncIterator[tuple[str, list[dict]]]:
    """A stand-in for the worker that owns a partition: records what it was asked, answers ``answer``."""
    asked: list[dict] = []

    async def handler(request: aioweb.Request) -> aioweb.Response:
        asked.append({"path": str(request.rel_url), **request.headers})
        return aioweb.Response(body=answer, content_type="application/json",
                               headers={tickets_page.ANSWERED_BY: "http://the-owner"})

    app = aioweb.Application()
    app.router.add_get("/tickets/{ticket_id}", handler)
    async with TestServer(app) as server:
        yield str(server.make_url("")).rstrip("/"), asked


async def test_a_worker_that_does_not_own_the_ticket_forwards_the_request_to_the_owner(desk, events,
                                                                                     partition) -> None:
    p = partition_of("T1")
    async with desk(clock="event") as (d, client), other_worker() as (owner, asked):
        d.owners({HERE: [q for q in range(4) if q != p], owner: [p]})
        status, kind, body = await page(client, f"/tickets/T1?format=json&token={TOKEN}", {})
        assert (status, kind, body) == (200, "application/json", b'{"ticket_id": "T1"}')
        [got] = asked
        assert got["path"] == f"/tickets/T1?format=json&token={TOKEN}"  # the query (and its token) goes along
        assert got[tickets_page.FORWARDED] == HERE
        await page(client, "/tickets/T1", {**AUTH, "Accept": "application/json"})
        assert asked[1]["Authorization"] == f"Bearer {TOKEN}" and asked[1]["Accept"] == "application/json"
        assert partition.scans == []  # the owner reads, not this worker


async def test_a_forwarded_request_is_never_forwarded_again_and_an_unowned_partition_is_a_503(desk) -> None:
    p = partition_of("T1")
    async with desk(clock="event") as (d, client), other_worker() as (owner, asked):
        d.owners({HERE: [q for q in range(4) if q != p], owner: [p]})
        status, _, body = await page(client, "/tickets/T1", {**AUTH, tickets_page.FORWARDED: "http://w2"})
        assert status == 503 and "retry" in orjson.loads(body)["error"] and asked == []
        d.owners({HERE: [q for q in range(4) if q != p]})  # mid-rebalance: nobody has it
        status, _, body = await page(client, "/tickets/T1")
        assert status == 503 and f"partition {p}" in orjson.loads(body)["error"]


async def test_an_owner_that_does_not_answer_is_a_502_naming_it(desk) -> None:
    p = partition_of("T1")
    with socket.socket() as held:  # a port nothing listens on: bound, never listening
        held.bind(("127.0.0.1", 0))
        gone = f"http://127.0.0.1:{held.getsockname()[1]}"
        async with desk(clock="event") as (d, client):
            d.owners({HERE: [q for q in range(4) if q != p], gone: [p]})
            status, _, body = await page(client, "/tickets/T1")
            assert status == 502 and gone in orjson.loads(body)["error"]


def test_a_worker_advertises_the_url_the_others_forward_to() -> None:
    from pipeline.errors import ConfigError

    assert Settings.from_env({"SLA_WEB_ADVERTISED_URL": "http://w1.sla.svc:6066/"}).advertised_url == \
        "http://w1.sla.svc:6066"
    assert Settings(web_host="10.1.2.3", web_port=7001).advertised_url == "http://10.1.2.3:7001"
    # listening on every interface is no address: the host's name stands in
    assert Settings(web_host="0.0.0.0", web_port=7001).advertised_url == f"http://{socket.gethostname()}:7001"
    with pytest.raises(ConfigError, match="SLA_WEB_ADVERTISED_URL"):
        Settings.from_env({"SLA_WEB_ADVERTISED_URL": "w1:6066"})
