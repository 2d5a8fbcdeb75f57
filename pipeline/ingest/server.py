"""``sla-pipeline ingest``: the HTTP service that turns ticket systems' calls into section 2 events.

Routes (contract v3 section 11):

* ``POST /v1/events``: one event or a JSON array of up to 500, in the contract's shape, with
  ``Authorization: Bearer <SLA_INGEST_TOKEN_FILE's token>``. Each is checked with the worker's own validator
  (:func:`pipeline.domain.events.decode`, its ``ticket_id`` as the key); one invalid event refuses the whole
  request (400 naming its index and reason), nothing is produced, and the raw body goes to the DLQ.
* ``POST /v1/webhooks/{source}``: the adapter authenticates the call (401, nothing stored), maps it
  (:class:`Unmappable`: 422 and the raw body to the DLQ with ``dlq.reason``, ``dlq.source``, ``dlq.detail``).
* ``GET /healthz`` (the process lives), ``/readyz`` (the producer reaches Kafka), ``/metrics``.

Every request is answered 2xx only after Kafka acknowledged every record it produced; when Kafka does not
(down, or slower than the sink's send timeout) the answer is 503 with ``Retry-After``, so the sender retries
and, the event ids being the source's own, a retry is a duplicate downstream, never a second event. Bodies
over 1 MiB are refused with 413 without being read further. On SIGTERM the gateway stops accepting
connections, finishes the requests in flight, flushes the producer and exits 0.

Neither request bodies nor secrets are logged: bodies carry customers' words, and a refusal's log line says
only which source and why.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import logging
import time
import traceback
from collections.abc import AsyncIterator, Callable, Iterable, Mapping
from typing import Any

import orjson
from aiohttp import web
from prometheus_client import CollectorRegistry, Counter, Histogram
from prometheus_client.exposition import choose_encoder

from pipeline.domain.events import Rejection, decode
from pipeline.errors import ConfigError, PipelineError
from pipeline.ingest import registry
from pipeline.ingest.adapter import SOURCES, Adapter, Request, Unauthorized, Unmappable, constant_time_equal
from pipeline.ingest.sink import KafkaSink, Record, Sink, Unavailable
from pipeline.kafka.client import Secret
from pipeline.settings import IngestSettings

log = logging.getLogger(__name__)

MAX_BODY_BYTES = 1024 * 1024  # a larger body is answered 413 and never read further
MAX_BATCH = 500  # events in one POST /v1/events
RETRY_AFTER_S = 5  # what a 503 asks the sender to wait
DRAIN_S = 25.0  # SIGTERM: how long requests in flight may take to finish (Kubernetes allows 30 s by default)
EVENTS = "events"  # the source label of POST /v1/events
UNKNOWN = "unknown"  # the source label of a webhook path naming no ticket system (keeps the labels bounded)
RESULTS = ("accepted", "unauthorized", "unmappable", "too_large", "bad_request", "unavailable", "not_found")
_SHOWN_PROBLEMS = 20  # invalid events listed in a 400
_DETAIL_CHARS = 500  # of dlq.detail
_LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10)


class IngestMetrics:
    """The gateway's metrics, on a registry of the caller's choosing (a fresh one per test)."""

    def __init__(self, registry: CollectorRegistry | None = None, sources: Iterable[str] = ()) -> None:
        reg = registry or CollectorRegistry()
        self.registry = reg
        self.requests = Counter("sla_ingest_requests", "Requests to the ingest gateway by source (a ticket system, "
                                "or 'events' for /v1/events) and result: " + ", ".join(RESULTS) + ".",
                                ["source", "result"], registry=reg)
        self.events = Counter("sla_ingest_events", "Events the gateway produced (and Kafka acknowledged), by source "
                              "and event type.", ["source", "type"], registry=reg)
        self.seconds = Histogram("sla_ingest_request_seconds", "Time from a request's arrival to its answer, Kafka's "
                                 "acknowledgement included.", ["source"], buckets=_LATENCY_BUCKETS, registry=reg)
        for source in sources:  # every series a dashboard or a check reads exists from the start, at 0
            for result in RESULTS:
                self.requests.labels(source, result)
            self.seconds.labels(source)


class Gateway:
    """The routes over a set of adapters and a sink. ``wall_ms`` (a webhook's arrival time, for adapters)
    and ``monotonic`` (request durations) are injectable, so tests decide what time it is."""

    def __init__(self, adapters: Mapping[str, Adapter], sink: Sink, *, token: Secret | None,
                 metrics: IngestMetrics | None = None, wall_ms: Callable[[], int] = lambda: time.time_ns() // 1_000_000,
                 monotonic: Callable[[], float] = time.monotonic) -> None:
        self.adapters = dict(adapters)
        self.sink = sink
        self.token = token
        self.metrics = metrics or IngestMetrics(sources=[EVENTS, *self.adapters])
        self.wall_ms = wall_ms
        self.monotonic = monotonic

    def app(self) -> web.Application:
        app = web.Application(client_max_size=MAX_BODY_BYTES)
        app.router.add_post("/v1/events", self.post_events)
        app.router.add_post("/v1/webhooks/{source}", self.post_webhook)
        app.router.add_get("/healthz", self.healthz)
        app.router.add_get("/readyz", self.readyz)
        app.router.add_get("/metrics", self.metrics_page)
        return app

    # --- the routes ---------------------------------------------------------------------------------------
    async def post_events(self, request: web.Request) -> web.Response:
        started = self.monotonic()
        refused = self._bearer_refusal(request.headers)
        if refused is not None:
            return self._answer(EVENTS, started, "unauthorized", 401, {"error": refused},
                                {"WWW-Authenticate": 'Bearer realm="sla-pipeline ingest"'})
        body = await _body(request)
        if body is None:
            return self._too_large(EVENTS, started)
        received_ms = self.wall_ms()
        try:
            doc = orjson.loads(body)
        except orjson.JSONDecodeError as exc:
            return await self._bad_request(body, received_ms, started, [(None, "malformed_json", f"not JSON: {exc}")])
        items = doc if isinstance(doc, list) else [doc]
        if len(items) > MAX_BATCH:
            problem = (None, "too_many_events", f"{len(items)} events; one request may carry at most {MAX_BATCH}")
            return await self._bad_request(body, received_ms, started, [problem])
        records, types, problems = [], [], []
        for index, item in enumerate(items):
            checked = _checked(item)
            if isinstance(checked, Rejection):
                problems.append((index if isinstance(doc, list) else None, checked.reason, checked.detail))
            else:
                records.append(checked[0])
                types.append(checked[1])
        if problems:
            return await self._bad_request(body, received_ms, started, problems)
        return await self._publish(EVENTS, records, types, started)

    async def post_webhook(self, request: web.Request) -> web.Response:
        started = self.monotonic()
        name = request.match_info["source"]
        adapter = self.adapters.get(name)
        if adapter is None:
            served = ", ".join(sorted(self.adapters)) or "none"
            why = f"{name!r} is not a ticket system this gateway serves (served: {served})"
            return self._answer(name if name in SOURCES else UNKNOWN, started, "not_found", 404, {"error": why})
        body = await _body(request)
        if body is None:
            return self._too_large(name, started)
        call = Request(headers={k.lower(): v for k, v in request.headers.items()}, body=body,
                       received_ms=self.wall_ms(), query=dict(request.query))
        try:
            adapter.authenticate(call)
        except Unauthorized as exc:
            log.warning("ingest: refused a call to /v1/webhooks/%s: %s", name, exc.reason)
            return self._answer(name, started, "unauthorized", 401, {"error": "unauthorized", "reason": exc.reason})
        try:
            events = adapter.events(call)
            checked = [_checked(e) for e in events]
            bad = next(((i, c) for i, c in enumerate(checked) if isinstance(c, Rejection)), None)
            if bad is not None:
                index, rejection = bad
                raise Unmappable(rejection.reason, f"the mapped event {index} ({events[index].get('type')}) is "
                                                   f"invalid: {rejection.detail}")
        except Unmappable as exc:
            return await self._dead_lettered(name, call.body, call.received_ms, started, exc.reason, exc.detail)
        except Exception as exc:  # noqa: BLE001 - an adapter's bug: the body is kept, never lost
            where = traceback.extract_tb(exc.__traceback__)[-1]  # not the message: it may quote the body
            log.error("ingest: the %s adapter failed on a call with %s at %s:%s; its body is on the DLQ as "
                      "internal_error", name, type(exc).__name__, where.filename, where.lineno)
            return await self._dead_lettered(name, call.body, call.received_ms, started, "internal_error",
                                             f"the {name} adapter failed: {type(exc).__name__}")
        return await self._publish(name, [c[0] for c in checked], [c[1] for c in checked], started)

    async def healthz(self, request: web.Request) -> web.Response:
        return _json(200, {"status": "alive"})

    async def readyz(self, request: web.Request) -> web.Response:
        if await self.sink.ready():
            return _json(200, {"status": "ready", "sources": sorted(self.adapters)})
        return _json(503, {"status": "not ready", "waiting_for": "Kafka"})

    async def metrics_page(self, request: web.Request) -> web.Response:
        encode, kind = choose_encoder(request.headers.get("Accept", ""))
        return web.Response(body=encode(self.metrics.registry), headers={"Content-Type": kind})

    # --- the answers --------------------------------------------------------------------------------------
    def _bearer_refusal(self, headers: Mapping[str, str]) -> str | None:
        if self.token is None:
            return ("/v1/events is off on this gateway: give it a token with SLA_INGEST_TOKEN_FILE (a file "
                    "holding it)")
        scheme, _, sent = headers.get("Authorization", "").partition(" ")
        if scheme.lower() == "bearer" and constant_time_equal(sent.strip(), self.token.reveal()):
            return None
        return "/v1/events needs the token of SLA_INGEST_TOKEN_FILE as 'Authorization: Bearer <token>'"

    async def _publish(self, source: str, records: list[Record], types: list[str], started: float) -> web.Response:
        try:
            if records:
                await self.sink.publish(records)
        except Unavailable as exc:
            return self._unavailable(source, started, exc)
        for etype, n in collections.Counter(types).items():  # once per type, not per event
            self.metrics.events.labels(source, etype).inc(n)
        return self._answer(source, started, "accepted", 200, {"events": len(records)})

    async def _bad_request(self, body: bytes, received_ms: int, started: float,
                           problems: list[tuple[int | None, str, str]]) -> web.Response:
        """/v1/events refused: the raw body to the DLQ (reason: the first problem's), 400 listing the problems."""
        index, reason, detail = problems[0]
        where = "" if index is None else f"event {index}: "
        try:
            await self.sink.dead_letter(_dead_letter(body, received_ms, reason, EVENTS, where + detail))
        except Unavailable as exc:
            return self._unavailable(EVENTS, started, exc)
        shown = [{"index": i, "reason": r, "detail": d} for i, r, d in problems[:_SHOWN_PROBLEMS]]
        answer = {"error": f"{where}{reason}: nothing was published; the body is on the DLQ",
                  "index": index, "reason": reason, "detail": detail, "invalid": shown,
                  "invalid_count": len(problems)}
        return self._answer(EVENTS, started, "bad_request", 400, answer)

    async def _dead_lettered(self, source: str, body: bytes, received_ms: int, started: float, reason: str,
                             detail: str) -> web.Response:
        """A webhook that cannot be mapped: the raw body to the DLQ, then 422 with the reason."""
        try:
            await self.sink.dead_letter(_dead_letter(body, received_ms, reason, source, detail))
        except Unavailable as exc:
            return self._unavailable(source, started, exc)
        log.warning("ingest: a call to /v1/webhooks/%s could not be mapped (%s); its body is on the DLQ", source,
                    reason)
        return self._answer(source, started, "unmappable", 422, {"reason": reason, "detail": detail})

    def _too_large(self, source: str, started: float) -> web.Response:
        answer = {"error": f"the body is over {MAX_BODY_BYTES} bytes; split it (at most {MAX_BATCH} events a request)"}
        return self._answer(source, started, "too_large", 413, answer)

    def _unavailable(self, source: str, started: float, exc: Unavailable) -> web.Response:
        log.warning("ingest: answering 503 to a call to %s: %s", source, exc)
        answer = {"error": "Kafka is unavailable; nothing was acknowledged: retry later", "detail": str(exc)}
        return self._answer(source, started, "unavailable", 503, answer, {"Retry-After": str(RETRY_AFTER_S)})

    def _answer(self, source: str, started: float, result: str, status: int, body: dict[str, Any],
                headers: Mapping[str, str] | None = None) -> web.Response:
        self.metrics.requests.labels(source, result).inc()
        self.metrics.seconds.labels(source).observe(max(0.0, self.monotonic() - started))
        return _json(status, body, headers)


def _checked(item: Any) -> tuple[Record, str] | Rejection:
    """One event as the worker will judge it: its record (key = ticket_id, timestamp = occurred_at) and type."""
    value = orjson.dumps(item)
    ticket = item.get("ticket_id") if isinstance(item, dict) else None
    key = ticket.encode() if isinstance(ticket, str) else None
    event = decode(value, key)
    if isinstance(event, Rejection):
        return event
    return Record(key, value, event.occurred_at), event.type


def _dead_letter(body: bytes, received_ms: int, reason: str, source: str, detail: str) -> Record:
    headers = (("dlq.reason", reason.encode()), ("dlq.source", source.encode()),
               ("dlq.detail", detail[:_DETAIL_CHARS].encode()))
    return Record(None, body, received_ms, headers)


async def _body(request: web.Request) -> bytes | None:
    """The raw body, or None when it is over the limit (then not read further than the limit)."""
    if request.content_length is not None and request.content_length > MAX_BODY_BYTES:
        return None
    try:
        return await request.read()
    except web.HTTPRequestEntityTooLarge:
        return None


def _json(status: int, body: dict[str, Any], headers: Mapping[str, str] | None = None) -> web.Response:
    return web.Response(status=status, body=orjson.dumps(body), content_type="application/json",
                        headers=headers)


@contextlib.asynccontextmanager
async def listening(app: web.Application, host: str, port: int, *, drain_s: float = DRAIN_S) -> AsyncIterator[int]:
    """Serve ``app`` on host:port (0: any free port) and yield the port. Leaving the block stops accepting
    connections, lets the requests in flight finish (up to ``drain_s``) and closes idle connections."""
    runner = web.AppRunner(app, access_log=None, shutdown_timeout=drain_s, handle_signals=False)
    await runner.setup()
    try:
        site = web.TCPSite(runner, host, port)
        await site.start()
        yield _bound_port(runner, port)
    finally:
        await runner.cleanup()


def _bound_port(runner: web.AppRunner, asked: int) -> int:
    for address in runner.addresses:
        if isinstance(address, tuple) and len(address) >= 2:
            return int(address[1])
    return asked


async def serve(gateway: Gateway, host: str, port: int, stopping: asyncio.Event,
                on_listening: Callable[[int], None] = lambda port: None) -> None:
    """Until ``stopping`` is set; then drain (see :func:`listening`)."""
    async with listening(gateway.app(), host, port) as bound:
        on_listening(bound)
        await stopping.wait()


async def run(settings: IngestSettings, stopping: asyncio.Event, announce: Callable[[str], None] = print) -> None:
    """``sla-pipeline ingest``: build the enabled adapters (a mistake stops start-up naming its key), connect
    to Kafka, serve until ``stopping`` is set, drain, flush."""
    adapters = registry.build(settings.sources, settings.secret, settings.mapping_dir)
    if not adapters and settings.ingest_token is None:
        raise ConfigError("SLA_INGEST_TOKEN_FILE", "nothing to serve: set it (for /v1/events), or a ticket system's "
                                                   "secret (SLA_INGEST_<SOURCE>_SECRET_FILE) or SLA_INGEST_SOURCES")
    sink = KafkaSink(settings.kafka, settings.topic_events, settings.topic_dlq)
    await sink.start()
    try:
        gateway = Gateway(adapters, sink, token=settings.ingest_token)
        webhooks = ", ".join(f"/v1/webhooks/{s}" for s in adapters) or "no webhooks"
        events = "/v1/events" if settings.ingest_token is not None else "/v1/events off (no SLA_INGEST_TOKEN_FILE)"

        def listening_on(port: int) -> None:
            announce(f"ingest: http://{settings.web_host}:{port}: {events}; {webhooks} -> {settings.topic_events} "
                     f"(refused bodies: {settings.topic_dlq}); Ctrl-C stops")

        try:
            await serve(gateway, settings.web_host, settings.ingest_port, stopping, listening_on)
        except OSError as exc:
            raise PipelineError(f"cannot listen on {settings.web_host}:{settings.ingest_port}: "
                                f"{exc.strerror or exc}") from None
    finally:
        await sink.stop()  # what is still buffered is sent first
