"""The worker's web pages: ``/metrics`` for Prometheus, ``/stackrank`` and ``/runbooks`` for people."""

from __future__ import annotations

from pathlib import Path

import faust
from prometheus_client.exposition import choose_encoder

from pipeline.metrics import Metrics
from pipeline.tables.engineer_view import EngineerView

RUNBOOKS = Path(__file__).resolve().parents[1] / "docs" / "runbooks.md"


def register(app: faust.App, metrics: Metrics, view: EngineerView) -> None:
    @app.page("/metrics")
    async def metrics_page(web: faust.web.Web, request: faust.web.Request) -> faust.web.Response:
        # OpenMetrics (with ticket ids as exemplars) for scrapers that ask for it, text format otherwise.
        encode, kind = choose_encoder(request.headers.get("Accept", ""))
        return web.bytes(encode(metrics.registry), headers={"Content-Type": kind})

    @app.page("/stackrank")
    async def stackrank_page(web: faust.web.Web, request: faust.web.Request) -> faust.web.Response:
        try:
            report = view.report(request.query.get("window", "30d"))
        except ValueError as exc:
            return web.json({"error": str(exc)}, status=400)
        return web.json(report)

    @app.page("/runbooks")
    async def runbooks_page(web: faust.web.Web, request: faust.web.Request) -> faust.web.Response:
        return web.bytes(RUNBOOKS.read_bytes(), headers={"Content-Type": "text/markdown; charset=utf-8"})
