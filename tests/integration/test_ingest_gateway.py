"""The ingest gateway on a real broker: a 200 means the events are on the topic (keyed by ticket, at their own
time, the bytes the worker will judge); a refused request's body is on the DLQ untouched, with its headers; a
stopped broker is a 503 with Retry-After, and the sender's retry then succeeds; a retried webhook gives the
same event ids (no worker needed to see it). Webhooks go to a fake adapter registered by the test, so this
file does not depend on any ticket system's mapping."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import subprocess
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import aiohttp
import orjson
import pytest

from pipeline.domain.timefmt import format_rfc3339_ms, parse_rfc3339_ms
from pipeline.ingest import server
from pipeline.ingest.adapter import Request, Unauthorized, event, event_id, ticket_id
from pipeline.ingest.sink import KafkaSink
from pipeline.kafka.admin import ensure_topics
from pipeline.kafka.client import Secret
from pipeline.kafka.tail import Tail
from pipeline.settings import DEFAULT_KAFKA_VERSION
from tests.integration.conftest import CLI, ROOT, Broker, Topics, free_port, wait_ready

T0 = 1_772_442_000_000  # 2026-03-02T09:00:00Z
TOKEN = "integration-token-51d2"
AUTH = {"Authorization": f"Bearer {TOKEN}"}


def created(tid: str, minute: int) -> dict[str, Any]:
    return {"event_id": f"{tid}-c", "type": "ticket.created", "ticket_id": tid, "severity": 2, "product": "desktop",
            "customer_id": "C-17", "occurred_at": format_rfc3339_ms(T0 + minute * 60_000)}


class SignedAdapter:
    """A ticket system of the test's own: ``X-Test-Secret`` must be the secret; a call names a ticket and a
    transaction, and means a created ticket and a staff reply."""

    source = "rt"

    def authenticate(self, request: Request) -> None:
        if request.headers.get("x-test-secret") != "s3cret":
            raise Unauthorized("wrong or missing X-Test-Secret")

    def events(self, request: Request) -> list[dict[str, Any]]:
        doc = orjson.loads(request.body)
        tid, at = ticket_id("RT-", doc["ticket"]), parse_rfc3339_ms(doc["at"])
        return [event("ticket.created", tid, event_id("rt", doc["ticket"], doc["txn"], "created"), at, severity=3,
                      product="desktop", customer_id="C-9"),
                event("ticket.responded", tid, event_id("rt", doc["ticket"], doc["txn"], "responded"), at + 60_000,
                      engineer_id="E-2")]


async def read_all(bootstrap: str, topic: str) -> list:
    async with Tail(bootstrap, topic) as tail:
        return await tail.read_to_end(timeout_s=30)


@contextlib.asynccontextmanager
async def gateway_on(bootstrap: str, topics: Topics) -> AsyncIterator[tuple[str, server.Gateway]]:
    """The gateway in this process, its real Kafka sink on ``bootstrap``: (base URL, gateway)."""
    await ensure_topics(bootstrap, {topics.events: 4, topics.dlq: 1})
    sink = KafkaSink(bootstrap, topics.events, topics.dlq)
    await sink.start()
    try:
        gateway = server.Gateway({"rt": SignedAdapter()}, sink, token=Secret(TOKEN))
        async with server.listening(gateway.app(), "127.0.0.1", 0, drain_s=5) as port:
            yield f"http://127.0.0.1:{port}", gateway
    finally:
        await sink.stop()


async def post(url: str, body: bytes, headers: dict[str, str]) -> tuple[int, dict, dict]:
    async with aiohttp.ClientSession() as session, session.post(url, data=body, headers=headers) as resp:
        return resp.status, orjson.loads(await resp.read()), dict(resp.headers)


@pytest.fixture
def gateway_process(broker: Broker, topics: Topics, tmp_path: Path) -> Iterator[tuple[subprocess.Popen, int, Path]]:
    """``sla-pipeline ingest`` as a user runs it: a token file, the test's topics; stopped even on failure."""
    token = tmp_path / "token"
    token.write_text(TOKEN + "\n")
    port = free_port()
    log_path = tmp_path / "ingest.log"
    env = {**os.environ, **topics.env(), "KAFKA_BOOTSTRAP_SERVERS": broker.bootstrap, "SLA_INGEST_PORT": str(port),
           "SLA_INGEST_TOKEN_FILE": str(token)}
    asyncio.run(ensure_topics(broker.bootstrap, {topics.events: 4, topics.dlq: 1}))
    with open(log_path, "wb") as log:
        proc = subprocess.Popen([*CLI, "ingest"], env=env, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT,
                                start_new_session=True)
    try:
        wait_ready(f"http://127.0.0.1:{port}/readyz", timeout=60)
        yield proc, port, log_path
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


async def test_a_batch_of_100_is_on_the_topic_when_answered_200_and_sigterm_exits_0(
        broker: Broker, topics: Topics, gateway_process) -> None:
    proc, port, log_path = gateway_process
    docs = [created(f"T-{i:03}", minute=i) for i in range(100)]
    status, body, _ = await post(f"http://127.0.0.1:{port}/v1/events", orjson.dumps(docs), AUTH)
    assert (status, body) == (200, {"events": 100})
    records = await read_all(broker.bootstrap, topics.events)  # the topic's end, as it is right after the 200
    assert len(records) == 100
    by_ticket = {r.key.decode(): r for r in records}
    for doc in docs:
        r = by_ticket[doc["ticket_id"]]
        assert r.timestamp == parse_rfc3339_ms(doc["occurred_at"])
        assert r.value == orjson.dumps(doc)
    os.killpg(proc.pid, signal.SIGTERM)
    assert proc.wait(30) == 0
    assert TOKEN not in log_path.read_text()


async def test_an_invalid_event_is_400_and_its_raw_body_is_on_the_dlq(broker: Broker, topics: Topics) -> None:
    bad = {**created("T-2", 1), "severity": 7}
    raw = b"[\n  " + orjson.dumps(created("T-1", 0)) + b",\n  " + orjson.dumps(bad) + b"\n]\n"
    async with gateway_on(broker.bootstrap, topics) as (base, _):
        status, body, _ = await post(f"{base}/v1/events", raw, AUTH)
    assert (status, body["index"], body["reason"]) == (400, 1, "invalid_field:severity")
    (dead,) = await read_all(broker.bootstrap, topics.dlq)
    assert dead.value == raw and dead.key is None
    headers = {k: v.decode() for k, v in dead.headers}
    assert (headers["dlq.reason"], headers["dlq.source"]) == ("invalid_field:severity", "events")
    assert headers["dlq.detail"].startswith("event 1: ")
    assert await read_all(broker.bootstrap, topics.events) == []  # not even the valid first event


async def test_a_retried_webhook_gives_the_same_event_ids(broker: Broker, topics: Topics) -> None:
    call = orjson.dumps({"ticket": 42, "txn": 1207, "at": "2026-03-02T09:00:00Z"})
    async with gateway_on(broker.bootstrap, topics) as (base, gateway):
        for _ in range(2):  # RT's scrip does not retry, but a person or the catch-up may send it again
            status, body, _ = await post(f"{base}/v1/webhooks/rt", call, {"X-Test-Secret": "s3cret"})
            assert (status, body) == (200, {"events": 2})
        status, _, _ = await post(f"{base}/v1/webhooks/rt", call, {"X-Test-Secret": "guess"})
        assert status == 401
    records = await read_all(broker.bootstrap, topics.events)
    ids = sorted(orjson.loads(r.value)["event_id"] for r in records)
    assert ids == ["rt:42:1207:created", "rt:42:1207:created", "rt:42:1207:responded", "rt:42:1207:responded"]
    assert {r.key for r in records} == {b"RT-42"} and {r.timestamp for r in records} == {T0, T0 + 60_000}
    assert gateway.metrics.registry.get_sample_value("sla_ingest_requests_total",
                                                     {"source": "rt", "result": "unauthorized"}) == 1


@pytest.fixture
def own_broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Broker]:
    """A broker of this test's own: it stops and starts it."""
    port = free_port(2)
    broker = Broker(DEFAULT_KAFKA_VERSION, f"127.0.0.1:{port}", port, tmp_path_factory.mktemp("kafka-ingest-outage"))
    started = broker.cli("start")
    assert started.returncode == 0, started.stdout + started.stderr
    yield broker
    broker.cli("stop", timeout=60)


async def test_a_stopped_broker_is_503_with_retry_after_and_the_retry_lands(own_broker: Broker, topics: Topics) -> None:
    docs = [created(f"T-{i}", minute=i) for i in range(3)]
    async with gateway_on(own_broker.bootstrap, topics) as (base, gateway):
        status, _, _ = await post(f"{base}/v1/events", orjson.dumps(docs[:1]), AUTH)
        assert status == 200
        stopped = await asyncio.to_thread(own_broker.cli, "stop", timeout=60)
        assert stopped.returncode == 0, stopped.stdout + stopped.stderr
        asked = time.monotonic()
        status, body, headers = await post(f"{base}/v1/events", orjson.dumps(docs[1:]), AUTH)
        assert (status, headers.get("Retry-After")) == (503, str(server.RETRY_AFTER_S)), body
        assert time.monotonic() - asked < 15  # a bounded wait, not aiokafka's retries forever
        async with aiohttp.ClientSession() as session, session.get(f"{base}/readyz") as resp:
            assert resp.status == 503
        started = await asyncio.to_thread(own_broker.cli, "start")
        assert started.returncode == 0, started.stdout + started.stderr
        deadline = time.monotonic() + 90
        while status != 200 and time.monotonic() < deadline:  # the sender retries, as Retry-After asks
            await asyncio.sleep(1)
            status, body, _ = await post(f"{base}/v1/events", orjson.dumps(docs[1:]), AUTH)
        assert (status, body) == (200, {"events": 2})
        assert gateway.metrics.registry.get_sample_value("sla_ingest_requests_total",
                                                         {"source": "events", "result": "unavailable"}) >= 1
    ids = {orjson.loads(r.value)["event_id"] for r in await read_all(own_broker.bootstrap, topics.events)}
    assert ids == {d["event_id"] for d in docs}  # every event there; a late copy of the 503'd one is a duplicate
