"""The ingest gateway's HTTP side with a fake sink and a fake adapter: every status code a sender can get,
what reaches Kafka (and the DLQ) for each, and the metrics that count them. No broker, no sleeps: the fake
sink's outage and hold are switches, the clocks are the test's."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import aiohttp
import orjson
import pytest
from aiohttp.test_utils import TestClient, TestServer

from pipeline.domain.timefmt import format_rfc3339_ms, parse_rfc3339_ms
from pipeline.errors import ConfigError
from pipeline.ingest import registry, server
from pipeline.ingest.adapter import Request, Unauthorized, Unmappable, event, event_id, ticket_id
from pipeline.ingest.mapping import Reader
from pipeline.ingest.sink import SEND_TIMEOUT_S, Record, Unavailable
from pipeline.kafka.client import Secret

T0 = 1_772_442_000_000  # 2026-03-02T09:00:00Z
TOKEN = "gateway-token-3c9f"
AUTH = {"Authorization": f"Bearer {TOKEN}"}


class FakeSink:
    """Records what would be on Kafka. ``down``: every send raises Unavailable. ``hold``: publish waits for it."""

    def __init__(self) -> None:
        self.events: list[Record] = []
        self.dlq: list[Record] = []
        self.publishes = 0
        self.down = False
        self.is_ready = True
        self.hold: asyncio.Event | None = None
        self.holding = asyncio.Event()

    async def publish(self, records: list[Record]) -> None:
        self.publishes += 1
        if self.hold is not None:
            self.holding.set()
            await self.hold.wait()
        if self.down:
            raise Unavailable("Kafka took no record for tickets.events within 5 s")
        self.events.extend(records)

    async def dead_letter(self, record: Record) -> None:
        if self.down:
            raise Unavailable("Kafka took no record for tickets.events.dlq within 5 s")
        self.dlq.append(record)

    async def ready(self) -> bool:
        return self.is_ready


class FakeAdapter:
    """A ticket system of the test's own: signed with a header, JSON bodies naming what happened."""

    source = "zendesk"

    def __init__(self) -> None:
        self.seen: list[Request] = []

    def authenticate(self, request: Request) -> None:
        if "x-fake-signature" not in request.headers:
            raise Unauthorized("missing X-Fake-Signature")
        if request.headers["x-fake-signature"] != "good":
            raise Unauthorized("signature mismatch")

    def events(self, request: Request) -> list[dict[str, Any]]:
        self.seen.append(request)
        try:
            doc = orjson.loads(request.body)
        except orjson.JSONDecodeError as exc:
            raise Unmappable("malformed_json", f"the body is not JSON: {exc}") from None
        if doc["what"] == "crash":
            raise KeyError(f"a bug in the adapter, quoting the body: {doc['text']}")
        if doc["what"] == "internal note":
            return []
        if doc["what"] == "unknown":
            raise Unmappable("unknown_event", f"no event kind {doc['what']!r}")
        tid = ticket_id("ZD-", doc["ticket"])
        at = parse_rfc3339_ms(doc["at"])
        created = event("ticket.created", tid, event_id("zendesk", doc["ticket"], doc["audit"], "created"), at,
                        severity=doc.get("severity", 2), product="desktop", customer_id="C-17")
        replied = event("ticket.responded", tid, event_id("zendesk", doc["ticket"], doc["audit"], "responded"),
                        at + 60_000, engineer_id="E-4")
        return [created, replied]


def created(tid: str, minute: int = 0, **fields: Any) -> dict[str, Any]:
    doc = {"event_id": f"{tid}-c", "type": "ticket.created", "ticket_id": tid, "severity": 2, "product": "desktop",
           "customer_id": "C-17", "occurred_at": format_rfc3339_ms(T0 + minute * 60_000)}
    doc.update(fields)
    return {k: v for k, v in doc.items() if v is not None}


class Ticks:
    """A monotonic clock that moves ``step`` seconds each time it is read."""

    def __init__(self, step: float) -> None:
        self.now = 100.0
        self.step = step

    def __call__(self) -> float:
        self.now += self.step
        return self.now - self.step


@pytest.fixture
def sink() -> FakeSink:
    return FakeSink()


@pytest.fixture
def adapter() -> FakeAdapter:
    return FakeAdapter()


@pytest.fixture
def gateway(sink: FakeSink, adapter: FakeAdapter) -> server.Gateway:
    return server.Gateway({"zendesk": adapter}, sink, token=Secret(TOKEN), wall_ms=lambda: T0 + 5_000,
                          monotonic=Ticks(0.0))


@pytest.fixture
async def client(gateway: server.Gateway) -> AsyncIterator[TestClient]:
    async with TestClient(TestServer(gateway.app())) as c:
        yield c


def count(gateway: server.Gateway, source: str, result: str) -> float:
    value = gateway.metrics.registry.get_sample_value("sla_ingest_requests_total", {"source": source, "result": result})
    return 0.0 if value is None else value


def produced(gateway: server.Gateway, source: str, etype: str) -> float:
    value = gateway.metrics.registry.get_sample_value("sla_ingest_events_total", {"source": source, "type": etype})
    return 0.0 if value is None else value


async def post(client: TestClient, path: str, body: bytes | Any, **headers: str) -> tuple[int, dict, Any]:
    data = body if isinstance(body, bytes) else orjson.dumps(body)
    resp = await client.post(path, data=data, headers=headers)
    return resp.status, orjson.loads(await resp.read()), resp.headers


# --- POST /v1/events -------------------------------------------------------------------------------------
async def test_one_event_is_produced_keyed_by_its_ticket_at_its_own_time(client, sink, gateway) -> None:
    doc = created("T-1", minute=3)
    status, body, _ = await post(client, "/v1/events", doc, **AUTH)
    assert (status, body) == (200, {"events": 1})
    (record,) = sink.events
    assert (record.key, record.timestamp_ms, orjson.loads(record.value)) == (b"T-1", T0 + 180_000, doc)
    assert count(gateway, "events", "accepted") == 1 and produced(gateway, "events", "ticket.created") == 1
    assert sink.dlq == []


async def test_a_batch_is_produced_whole_and_in_order(client, sink, gateway) -> None:
    docs = [created(f"T-{i}", minute=i) for i in range(3)] + [
        {"event_id": "T-0-r", "type": "ticket.responded", "ticket_id": "T-0", "engineer_id": "E-1",
         "occurred_at": "2026-03-02T10:00:00+01:00"}]
    status, body, _ = await post(client, "/v1/events", docs, **AUTH)
    assert (status, body) == (200, {"events": 4})
    assert [(r.key, r.timestamp_ms) for r in sink.events] == [(b"T-0", T0), (b"T-1", T0 + 60_000),
                                                              (b"T-2", T0 + 120_000), (b"T-0", T0)]
    assert [orjson.loads(r.value) for r in sink.events] == docs
    assert produced(gateway, "events", "ticket.created") == 3 and produced(gateway, "events", "ticket.responded") == 1
    assert sink.publishes == 1  # one acknowledged send of the whole batch


@pytest.mark.parametrize("headers", [{}, {"Authorization": "Bearer wrong-token"}, {"Authorization": TOKEN},
                                     {"Authorization": f"Basic {TOKEN}"}])
async def test_without_the_token_nothing_is_stored(client, sink, gateway, headers) -> None:
    status, body, resp_headers = await post(client, "/v1/events", created("T-1"), **headers)
    assert status == 401 and "SLA_INGEST_TOKEN_FILE" in body["error"]
    assert resp_headers["WWW-Authenticate"].startswith("Bearer")
    assert sink.events == [] and sink.dlq == []
    assert count(gateway, "events", "unauthorized") == 1 and count(gateway, "events", "accepted") == 0


async def test_without_a_configured_token_v1_events_is_off_and_says_how_to_turn_it_on(sink, adapter) -> None:
    gateway = server.Gateway({"zendesk": adapter}, sink, token=None)
    async with TestClient(TestServer(gateway.app())) as client:
        status, body, _ = await post(client, "/v1/events", created("T-1"), Authorization="Bearer ")
    assert status == 401 and "off on this gateway" in body["error"] and "SLA_INGEST_TOKEN_FILE" in body["error"]
    assert sink.events == []


async def test_an_invalid_event_refuses_the_batch_names_it_and_keeps_the_raw_body(client, sink, gateway) -> None:
    docs = [created("T-1"), created("T-2", severity=None), created("T-3", occurred_at="2026-03-02T09:00:00")]
    raw = orjson.dumps(docs, option=orjson.OPT_INDENT_2)  # the DLQ keeps the sender's bytes, not a re-encoding
    status, body, _ = await post(client, "/v1/events", raw, **AUTH)
    assert status == 400
    assert (body["index"], body["reason"]) == (1, "missing_field:severity")
    assert [(p["index"], p["reason"]) for p in body["invalid"]] == [(1, "missing_field:severity"),
                                                                     (2, "invalid_field:occurred_at")]
    assert sink.events == []  # nothing of the batch, not even its valid first event
    (dead,) = sink.dlq
    headers = dict(dead.headers)
    assert dead.value == raw and dead.key is None and dead.timestamp_ms == T0 + 5_000
    assert (headers["dlq.reason"], headers["dlq.source"]) == (b"missing_field:severity", b"events")
    assert headers["dlq.detail"].startswith(b"event 1: ")
    assert count(gateway, "events", "bad_request") == 1 and produced(gateway, "events", "ticket.created") == 0


@pytest.mark.parametrize(("raw", "reason"), [
    (b'{"event_id": "e1", "type": "ticket.created"', "malformed_json"),
    (b'"ticket.created"', "not_an_object"),
    (orjson.dumps({**created("T-1"), "type": "ticket.exploded"}), "unknown_type"),
    (orjson.dumps({**created("T-1"), "ticket_id": 17}), "invalid_field:ticket_id"),
])
async def test_what_the_worker_would_refuse_is_refused_here_with_its_reason(client, sink, raw, reason) -> None:
    status, body, _ = await post(client, "/v1/events", raw, **AUTH)
    assert (status, body["reason"]) == (400, reason)
    assert sink.events == [] and [r.value for r in sink.dlq] == [raw]
    assert dict(sink.dlq[0].headers)["dlq.reason"] == reason.encode()


async def test_at_most_500_events_a_request(client, sink, gateway) -> None:
    status, body, _ = await post(client, "/v1/events", [created(f"T-{i}") for i in range(501)], **AUTH)
    assert (status, body["reason"], body["index"]) == (400, "too_many_events", None)
    assert sink.events == [] and len(sink.dlq) == 1
    status, body, _ = await post(client, "/v1/events", [created(f"T-{i}") for i in range(500)], **AUTH)
    assert (status, body) == (200, {"events": 500}) and len(sink.events) == 500


async def test_a_body_of_exactly_1_mib_is_read_and_one_byte_more_is_413(client, sink, gateway) -> None:
    docs = orjson.dumps([created(f"T-{i}") for i in range(100)])
    exact = docs + b" " * (server.MAX_BODY_BYTES - len(docs))  # JSON allows trailing whitespace
    status, body, _ = await post(client, "/v1/events", exact, **AUTH)
    assert (status, body) == (200, {"events": 100})
    status, body, _ = await post(client, "/v1/events", exact + b" ", **AUTH)
    assert status == 413 and "1048576 bytes" in body["error"]
    assert len(sink.events) == 100 and sink.dlq == []  # too large: neither produced nor dead-lettered
    assert count(gateway, "events", "too_large") == 1


async def test_a_chunked_body_is_cut_off_at_1_mib(client, sink, gateway) -> None:
    async def chunks() -> AsyncIterator[bytes]:
        for _ in range(64):  # 4 MiB offered, without a Content-Length
            yield b" " * 65536

    resp = await client.post("/v1/webhooks/zendesk", data=chunks(), headers={"X-Fake-Signature": "good"})
    assert resp.status == 413
    assert count(gateway, "zendesk", "too_large") == 1 and sink.dlq == [] and sink.events == []


async def test_a_declared_length_over_1_mib_is_refused_before_reading(client, gateway, adapter) -> None:
    big = b"x" * (server.MAX_BODY_BYTES + 1)
    status, _, _ = await post(client, "/v1/webhooks/zendesk", big, **{"X-Fake-Signature": "good"})
    assert status == 413 and adapter.seen == []  # never authenticated, never mapped
    assert count(gateway, "zendesk", "too_large") == 1


async def test_no_answer_before_kafka_acknowledged_every_event(client, sink) -> None:
    sink.hold = asyncio.Event()
    answer = asyncio.create_task(post(client, "/v1/events", [created("T-1"), created("T-2")], **AUTH))
    await sink.holding.wait()  # the gateway is waiting for the acknowledgement
    for _ in range(20):
        await asyncio.sleep(0)
    assert not answer.done()
    sink.hold.set()
    status, body, _ = await answer
    assert (status, body) == (200, {"events": 2}) and len(sink.events) == 2


async def test_kafka_down_is_503_with_retry_after_and_counts_nothing_as_produced(client, sink, gateway) -> None:
    sink.down = True
    status, body, headers = await post(client, "/v1/events", [created("T-1"), created("T-2")], **AUTH)
    assert status == 503 and headers["Retry-After"] == str(server.RETRY_AFTER_S)
    assert "retry" in body["error"]
    assert count(gateway, "events", "unavailable") == 1 and produced(gateway, "events", "ticket.created") == 0
    sink.down = False  # the sender's retry, once Kafka is back
    status, body, _ = await post(client, "/v1/events", [created("T-1"), created("T-2")], **AUTH)
    assert (status, body) == (200, {"events": 2}) and count(gateway, "events", "accepted") == 1


async def test_a_refused_batch_is_503_when_the_dlq_cannot_take_it(client, sink, gateway) -> None:
    sink.down = True
    status, _, headers = await post(client, "/v1/events", b"not json", **AUTH)
    assert status == 503 and headers["Retry-After"] == "5"  # not 400: its body is not safe anywhere yet
    assert count(gateway, "events", "unavailable") == 1 and count(gateway, "events", "bad_request") == 0


# --- POST /v1/webhooks/{source} --------------------------------------------------------------------------
CALL = {"what": "created", "ticket": 4711, "audit": 90001, "at": "2026-03-02T09:00:00Z"}
SIGNED = {"X-Fake-Signature": "good", "Content-Type": "application/json"}


async def test_a_webhook_becomes_its_events_keyed_and_timed_by_the_source(client, sink, gateway, adapter) -> None:
    resp = await client.post("/v1/webhooks/zendesk?site=acme", data=orjson.dumps(CALL), headers=SIGNED)
    assert (resp.status, await resp.json()) == (200, {"events": 2})
    assert [(r.key, r.timestamp_ms, orjson.loads(r.value)["type"]) for r in sink.events] == [
        (b"ZD-4711", T0, "ticket.created"), (b"ZD-4711", T0 + 60_000, "ticket.responded")]
    (call,) = adapter.seen  # what the adapter was handed: the raw body, lower-cased headers, arrival, query
    assert call.body == orjson.dumps(CALL) and call.headers["x-fake-signature"] == "good"
    assert (call.received_ms, dict(call.query)) == (T0 + 5_000, {"site": "acme"})
    assert count(gateway, "zendesk", "accepted") == 1
    assert produced(gateway, "zendesk", "ticket.created") == produced(gateway, "zendesk", "ticket.responded") == 1


async def test_a_retried_webhook_gives_the_same_event_ids(client, sink) -> None:
    for _ in range(2):
        status, _, _ = await post(client, "/v1/webhooks/zendesk", CALL, **SIGNED)
        assert status == 200
    ids = [orjson.loads(r.value)["event_id"] for r in sink.events]
    assert len(ids) == 4 and ids[:2] == ids[2:] and len(set(ids)) == 2


@pytest.mark.parametrize(("headers", "reason"), [({}, "missing X-Fake-Signature"),
                                                 ({"X-Fake-Signature": "forged"}, "signature mismatch")])
async def test_a_wrong_or_missing_signature_is_401_and_nothing_is_stored(client, sink, gateway, headers,
                                                                         reason) -> None:
    status, body, _ = await post(client, "/v1/webhooks/zendesk", CALL, **headers)
    assert (status, body) == (401, {"error": "unauthorized", "reason": reason})
    assert sink.events == [] and sink.dlq == []
    assert count(gateway, "zendesk", "unauthorized") == 1


async def test_an_unmappable_call_is_422_and_its_raw_body_is_on_the_dlq(client, sink, gateway) -> None:
    raw = b'{"what": "unknown",  "ticket": 1}'
    status, body, _ = await post(client, "/v1/webhooks/zendesk", raw, **SIGNED)
    assert (status, body) == (422, {"reason": "unknown_event", "detail": "no event kind 'unknown'"})
    (dead,) = sink.dlq
    assert dead.value == raw and sink.events == []
    assert dict(dead.headers) == {"dlq.reason": b"unknown_event", "dlq.source": b"zendesk",
                                  "dlq.detail": b"no event kind 'unknown'"}
    assert count(gateway, "zendesk", "unmappable") == 1


async def test_a_mapped_event_the_worker_would_refuse_is_unmappable(client, sink) -> None:
    status, body, _ = await post(client, "/v1/webhooks/zendesk", {**CALL, "severity": 9}, **SIGNED)
    assert (status, body["reason"]) == (422, "invalid_field:severity")
    assert "mapped event 0 (ticket.created)" in body["detail"]
    assert sink.events == [] and dict(sink.dlq[0].headers)["dlq.reason"] == b"invalid_field:severity"


async def test_an_adapter_that_fails_loses_nothing(client, sink, gateway, caplog) -> None:
    raw = orjson.dumps({**CALL, "what": "crash", "text": "the customer's words"})
    with caplog.at_level(logging.ERROR, logger="pipeline.ingest.server"):
        status, body, _ = await post(client, "/v1/webhooks/zendesk", raw, **SIGNED)
    assert (status, body["reason"]) == (422, "internal_error")
    assert [r.value for r in sink.dlq] == [raw]
    assert "KeyError at " in caplog.text and "test_server.py" in caplog.text  # where, for the bug report
    assert "the customer's words" not in caplog.text  # the exception's message quotes the body: not logged


async def test_a_call_about_nothing_the_sla_judges_is_200_with_no_events(client, sink, gateway) -> None:
    status, body, _ = await post(client, "/v1/webhooks/zendesk", {**CALL, "what": "internal note"}, **SIGNED)
    assert (status, body) == (200, {"events": 0})
    assert sink.publishes == 0 and sink.dlq == [] and count(gateway, "zendesk", "accepted") == 1


@pytest.mark.parametrize(("path", "label"), [("/v1/webhooks/rt", "rt"), ("/v1/webhooks/bugzilla", "unknown")])
async def test_a_source_not_served_is_404(client, sink, gateway, adapter, path, label) -> None:
    status, body, _ = await post(client, path, CALL, **SIGNED)
    assert status == 404 and "served: zendesk" in body["error"]
    assert adapter.seen == [] and sink.dlq == []
    assert count(gateway, label, "not_found") == 1  # a made-up name never becomes a label of its own


async def test_an_unmappable_call_is_503_when_the_dlq_cannot_take_it(client, sink, gateway) -> None:
    sink.down = True
    status, _, headers = await post(client, "/v1/webhooks/zendesk", b"{", **SIGNED)
    assert status == 503 and headers["Retry-After"] == "5"
    assert count(gateway, "zendesk", "unavailable") == 1 and count(gateway, "zendesk", "unmappable") == 0


async def test_no_secret_or_body_reaches_the_log(client, sink, caplog) -> None:
    secret_text = "customer wrote: my card is 4111-1111"
    with caplog.at_level(logging.DEBUG):
        await post(client, "/v1/events", created("T-1"), Authorization="Bearer almost-" + TOKEN)
        await post(client, "/v1/webhooks/zendesk", {**CALL, "what": "unknown", "text": secret_text}, **SIGNED)
        sink.down = True
        await post(client, "/v1/events", created("T-1", product=secret_text), **AUTH)
    assert caplog.records  # the refusals were logged ...
    assert TOKEN not in caplog.text and secret_text not in caplog.text  # ... without a token or a body


# --- probes and metrics ---------------------------------------------------------------------------------
async def test_healthz_and_readyz_follow_the_producer(client, sink) -> None:
    assert (await client.get("/healthz")).status == 200
    resp = await client.get("/readyz")
    assert (resp.status, await resp.json()) == (200, {"status": "ready", "sources": ["zendesk"]})
    sink.is_ready = False
    resp = await client.get("/readyz")
    assert (resp.status, (await resp.json())["waiting_for"]) == (503, "Kafka")


async def test_every_request_series_exists_at_zero_from_the_start(client) -> None:
    text = await (await client.get("/metrics")).text()
    for source in ("events", "zendesk"):
        for result in server.RESULTS:
            assert f'sla_ingest_requests_total{{result="{result}",source="{source}"}} 0.0' in text
    assert 'source="rt"' not in text  # not served: no series


async def test_the_request_time_includes_kafkas_acknowledgement(sink, adapter) -> None:
    gateway = server.Gateway({"zendesk": adapter}, sink, token=Secret(TOKEN), monotonic=Ticks(0.3))
    async with TestClient(TestServer(gateway.app())) as client:
        await post(client, "/v1/events", created("T-1"), **AUTH)

    def bucket(le: str) -> float | None:
        return gateway.metrics.registry.get_sample_value("sla_ingest_request_seconds_bucket",
                                                         {"source": "events", "le": le})

    assert (bucket("0.25"), bucket("0.5")) == (0.0, 1.0)  # started, answered: one read apart, 0.3 s


# --- SIGTERM: stop accepting, finish what is in flight ---------------------------------------------------
async def test_stopping_finishes_the_request_in_flight_and_then_refuses_connections(sink, adapter) -> None:
    sink.hold = asyncio.Event()
    gateway = server.Gateway({"zendesk": adapter}, sink, token=Secret(TOKEN))
    stopping, ports = asyncio.Event(), asyncio.Queue()
    serving = asyncio.create_task(server.serve(gateway, "127.0.0.1", 0, stopping, ports.put_nowait))
    port = await ports.get()
    async with aiohttp.ClientSession() as session:
        url = f"http://127.0.0.1:{port}/v1/events"
        in_flight = asyncio.create_task(session.post(url, data=orjson.dumps(created("T-1")), headers=AUTH))
        await sink.holding.wait()  # the request is waiting for Kafka's acknowledgement
        stopping.set()  # SIGTERM
        for _ in range(20):  # let the server close its listener; the request is still held
            await asyncio.sleep(0)
        assert not serving.done() and not in_flight.done()
        sink.hold.set()  # Kafka acknowledges
        resp = await in_flight
        assert (resp.status, await resp.json()) == (200, {"events": 1})
        await asyncio.wait_for(serving, 10)
        with pytest.raises(aiohttp.ClientConnectionError):
            await session.post(url, data=b"{}", headers=AUTH)
    assert len(sink.events) == 1
    assert server.DRAIN_S > SEND_TIMEOUT_S  # every request in flight waits for Kafka at most that long


async def test_run_refuses_to_start_with_nothing_to_serve() -> None:
    from pipeline.settings import IngestSettings

    with pytest.raises(ConfigError) as refused:
        await server.run(IngestSettings.from_env({}), asyncio.Event(), announce=lambda line: None)
    assert refused.value.key == "SLA_INGEST_TOKEN_FILE" and "nothing to serve" in str(refused.value)


# --- the registry of adapters ----------------------------------------------------------------------------
def fake_module(seen: list) -> SimpleNamespace:
    def build(reader: Reader, secret: Secret | None) -> Any:
        seen.append((reader.get("ticket_prefix"), secret))
        reader.refuse_unknown()
        return SimpleNamespace(source="zendesk")

    return SimpleNamespace(build=build)


def test_the_registry_builds_each_enabled_source_from_its_mapping_and_secret(tmp_path: Path) -> None:
    (tmp_path / "zendesk.toml").write_text('ticket_prefix = "Z-"\n')
    seen: list = []
    imported: list[str] = []

    def importer(name: str) -> Any:
        imported.append(name)
        return fake_module(seen)

    adapters = registry.build(["zendesk"], lambda s: Secret(f"{s}-secret"), tmp_path, importer=importer)
    assert list(adapters) == ["zendesk"] and imported == ["pipeline.ingest.sources.zendesk"]
    assert seen == [("Z-", Secret("zendesk-secret"))]


def test_a_mapping_mistake_stops_start_up_naming_the_file_and_key(tmp_path: Path) -> None:
    (tmp_path / "zendesk.toml").write_text('ticket_prefix = "Z-"\n[severty]\nurgent = 1\n')
    with pytest.raises(ConfigError) as refused:
        registry.build(["zendesk"], lambda s: None, tmp_path, importer=lambda name: fake_module([]))
    assert refused.value.key == f"{tmp_path / 'zendesk.toml'}: severty.urgent"


def test_a_source_without_an_adapter_is_a_configuration_error() -> None:
    def importer(name: str) -> Any:
        raise ModuleNotFoundError(f"No module named {name!r}", name=name)

    with pytest.raises(ConfigError) as refused:
        registry.build(["glpi"], lambda s: None, importer=importer)
    assert refused.value.key == "SLA_INGEST_SOURCES" and "no adapter" in str(refused.value)
    with pytest.raises(ConfigError):
        registry.build(["bugzilla"], lambda s: None, importer=importer)
