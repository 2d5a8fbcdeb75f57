"""The worker's web pages: ``/metrics`` for Prometheus, ``/healthz`` and ``/readyz`` for orchestrators,
``/runbooks`` for people, and the private pages (``/stackrank``: people's performance; ``/reports/...``:
customers' data, a customer's SLA statement (``/reports/statement``) among them; ``/tickets/<id>``: a
ticket's SLA explained, :mod:`pipeline.worker.tickets_page`), which answer only through :func:`private`.

Faust's own ``/table`` and ``/router`` views are switched off in the app factory: they serve table
contents (ticket state) and the cluster's layout to anyone who reaches the port.
"""

from __future__ import annotations

import dataclasses
import functools
import hmac
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

import faust
from prometheus_client.exposition import choose_encoder

from pipeline.kafka.client import Secret
from pipeline.metrics import Metrics
from pipeline.settings import Settings
from pipeline.tables.engineer_view import EngineerView
from pipeline.worker import runbooks
from pipeline.worker.tickets_page import FORMATS, TicketPages, chosen_format

TOKEN_PARAM = "token"  # ?token=: a link (the demo's board, a bookmark) cannot send an Authorization header
Handler = Callable[..., Awaitable[Any]]  # a page: (view, request, **path params) -> faust.web.Response


@dataclasses.dataclass(frozen=True)
class Access:
    """Who may read the private pages: the holders of ``token``, or anyone when ``open``; by default nobody."""

    token: Secret | None = None
    open: bool = False

    @classmethod
    def of(cls, settings: Settings) -> Access:
        return cls(token=settings.reports_token, open=settings.reports_open)


def refusal(access: Access, headers: Mapping[str, str], query: Mapping[str, str]) -> dict[str, str] | None:
    """None when the request may read a private page, else the JSON body of its 401.

    The token is taken from ``Authorization: Bearer <token>`` or else from ``?token=<token>``, and compared
    in constant time (``hmac.compare_digest``: the time taken says nothing about how much of it was right).
    """
    if access.open:
        return None
    if access.token is None:
        return {"error": "this page shows people's performance or customers' data and is off on this worker: "
                         "give the worker a token with SLA_REPORTS_TOKEN_FILE (a file holding it), or set "
                         "SLA_REPORTS_OPEN=true to serve it to anyone who reaches the port",
                "enable_with": "SLA_REPORTS_TOKEN_FILE or SLA_REPORTS_OPEN"}
    scheme, _, sent = headers.get("Authorization", "").partition(" ")
    if scheme.lower() != "bearer":
        sent = query.get(TOKEN_PARAM, "")
    if hmac.compare_digest(sent.strip().encode(), access.token.reveal().encode()):
        return None
    return {"error": "this page needs the token of SLA_REPORTS_TOKEN_FILE: send it as "
                     "'Authorization: Bearer <token>' or as ?token=<token>"}


def private(access: Access, handler: Handler) -> Handler:
    """``handler`` behind the one guard of the private pages: 401 with :func:`refusal`'s reason, or the page."""

    @functools.wraps(handler)
    async def page(view: faust.web.View, request: faust.web.Request, **params: Any) -> faust.web.Response:
        refused = refusal(access, request.headers, request.query)
        if refused is not None:
            return view.json(refused, status=401, headers={"WWW-Authenticate": 'Bearer realm="sla-pipeline"'})
        return await handler(view, request, **params)

    return page


def register(app: faust.App, metrics: Metrics, view: EngineerView, *, ready: Callable[[], str | None],
             access: Access, partitions: Callable[[], list[int]] = list,
             reports: Callable[[str, dict[str, str]], Awaitable[tuple[int, str, bytes]]] | None = None,
             tickets: TicketPages | None = None) -> None:
    """The pages. ``access`` (``Access.of(settings)``) says who may read the private ones."""

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

    async def stackrank_page(web: faust.web.Web, request: faust.web.Request) -> faust.web.Response:
        try:
            report = view.report(request.query.get("window", "30d"))
        except ValueError as exc:
            return web.json({"error": str(exc)}, status=400)
        return web.json(report)

    app.page("/stackrank")(private(access, stackrank_page))
    if reports is not None:
        for kind in ("debrief", "dsat", "monthly", "statement"):
            _report_page(app, kind, reports, access)
    if tickets is not None:
        _ticket_page(app, tickets, access)

    @app.page("/runbooks")
    async def runbooks_page(web: faust.web.Web, request: faust.web.Request) -> faust.web.Response:
        # HTML for a browser following an alert's runbook_url#anchor; markdown for Accept: text/markdown
        content_type, body = runbooks.render(request.headers.get("Accept", ""))
        return web.bytes(body, headers={"Content-Type": content_type})


def _report_page(app: faust.App, kind: str, make: Callable[[str, dict[str, str]], Awaitable[tuple[int, str, bytes]]],
                 access: Access) -> None:
    async def report_page(web: faust.web.Web, request: faust.web.Request) -> faust.web.Response:
        query = {k: v for k, v in request.query.items() if k != TOKEN_PARAM}
        status, content_type, body = await make(kind, query)
        return web.bytes(body, status=status, headers={"Content-Type": content_type})

    app.page(f"/reports/{kind}", name=f"report_{kind}")(private(access, report_page))


def _ticket_page(app: faust.App, pages: TicketPages, access: Access) -> None:
    async def ticket_page(web: faust.web.Web, request: faust.web.Request, ticket_id: str) -> faust.web.Response:
        fmt = chosen_format(request.query, request.headers.get("Accept", ""))
        if fmt is None:
            return web.json({"error": f"format must be one of {', '.join(FORMATS)}"}, status=400)
        got = await pages.answer(ticket_id, path_qs=str(request.rel_url), headers=request.headers, fmt=fmt)
        return web.bytes(got.body, status=got.status, headers={"Content-Type": got.content_type, **got.headers})

    app.page("/tickets/{ticket_id}", name="ticket")(private(access, ticket_page))
