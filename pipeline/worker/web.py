"""The worker's web pages: ``/metrics`` for Prometheus, ``/healthz`` and ``/readyz`` for orchestrators,
``/stackrank`` and ``/reports/...`` (both optionally behind a bearer token) and ``/runbooks`` for people.

Faust's own ``/table`` and ``/router`` views are switched off in the app factory: they serve table
contents (ticket state) and the cluster's layout to anyone who reaches the port.
"""

from __future__ import annotations

import hmac
from collections.abc import Awaitable, Callable

import faust
from prometheus_client.exposition import choose_encoder

from pipeline import resources
from pipeline.kafka.client import Secret
from pipeline.metrics import Metrics
from pipeline.tables.engineer_view import EngineerView


def authorized(request: faust.web.Request, token: Secret | None) -> bool:
    """With a token configured, the request must carry ``Authorization: Bearer <token>``."""
    if token is None:
        return True
    sent = request.headers.get("Authorization", "")
    return hmac.compare_digest(sent.encode(), f"Bearer {token.reveal()}".encode())


def register(app: faust.App, metrics: Metrics, view: EngineerView, *, ready: Callable[[], str | None],
             partitions: Callable[[], list[int]] = list, stackrank_token: Secret | None = None,
             reports: Callable[[str, dict[str, str]], Awaitable[tuple[int, str, bytes]]] | None = None) -> None:
    @app.page("/healthz")
    async def healthz(web: faust.web.Web, request: faust.web.Request) -> faust.web.Response:
        return web.json({"status": "alive"})

    @app.page("/readyz")
    async def readyz(web: faust.web.Web, request: faust.web.Request) -> faust.web.Response:
        waiting = ready()
        if waiting is not None:
            return web.json({"status": "not ready", "waiting_for": waiting}, status=503)
        return web.json({"status": "ready", "partitions": partitions()})  # of tickets.events, owned here

    @app.page("/metrics")
    async def metrics_page(web: faust.web.Web, request: faust.web.Request) -> faust.web.Response:
        # OpenMetrics (with ticket ids as exemplars) for scrapers that ask for it, text format otherwise.
        encode, kind = choose_encoder(request.headers.get("Accept", ""))
        return web.bytes(encode(metrics.registry), headers={"Content-Type": kind})

    @app.page("/stackrank")
    async def stackrank_page(web: faust.web.Web, request: faust.web.Request) -> faust.web.Response:
        if not authorized(request, stackrank_token):
            return web.json({"error": "a bearer token is required (Authorization: Bearer ...)"}, status=401)
        try:
            report = view.report(request.query.get("window", "30d"))
        except ValueError as exc:
            return web.json({"error": str(exc)}, status=400)
        return web.json(report)

    if reports is not None:
        for kind in ("debrief", "dsat", "monthly"):
            _report_page(app, kind, reports, stackrank_token)

    @app.page("/runbooks")
    async def runbooks_page(web: faust.web.Web, request: faust.web.Request) -> faust.web.Response:
        return web.bytes(resources.read_bytes(resources.RUNBOOKS),
                         headers={"Content-Type": "text/markdown; charset=utf-8"})


def _report_page(app: faust.App, kind: str, make: Callable[[str, dict[str, str]], Awaitable[tuple[int, str, bytes]]],
                 token: Secret | None) -> None:
    @app.page(f"/reports/{kind}")
    async def report_page(web: faust.web.Web, request: faust.web.Request) -> faust.web.Response:
        if not authorized(request, token):
            return web.json({"error": "a bearer token is required (Authorization: Bearer ...)"}, status=401)
        status, content_type, body = await make(kind, dict(request.query))
        return web.bytes(body, status=status, headers={"Content-Type": content_type})
