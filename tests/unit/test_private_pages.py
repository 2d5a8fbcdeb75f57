"""People's performance (/stackrank) and customers' data (/reports/..., /tickets/<id>) are private: a worker
serves them only to a request carrying its token (a bearer header, or ?token= for a link), or to anyone when explicitly
opened; by default it refuses and says which setting enables them. The scrapers' and orchestrators' pages
stay open. The real routes, served by aiohttp on the loopback; no broker."""

from __future__ import annotations

import itertools
from collections.abc import AsyncIterator

import faust
import orjson
import pytest
from aiohttp.test_utils import TestClient, TestServer

from pipeline.kafka.client import Secret
from pipeline.metrics import Metrics
from pipeline.settings import Settings
from pipeline.worker import tickets_page, web

TOKEN = "s3cret-token-42"
PRIVATE = ["/stackrank?window=7d", "/reports/debrief?date=2026-03-02", "/reports/dsat", "/reports/monthly",
           "/reports/statement?customer=C1&month=2026-03", "/tickets/T-42?format=json", "/tickets/T-42"]
OPEN = ["/metrics", "/healthz", "/readyz", "/runbooks"]
_ids = itertools.count()


class Ranks:
    def report(self, window: str) -> dict:
        return {"window": window, "engineers": []}


class Reports:
    """Stands in for the report renderer: records the query each report was asked with."""

    def __init__(self) -> None:
        self.asked: list[tuple[str, dict[str, str]]] = []

    async def __call__(self, kind: str, query: dict[str, str]) -> tuple[int, str, bytes]:
        self.asked.append((kind, query))
        return 200, "text/html; charset=utf-8", f"<title>{kind}</title>".encode()


class Tickets:
    """Stands in for the ticket page (:class:`tickets_page.TicketPages`): records the tickets asked for."""

    def __init__(self) -> None:
        self.asked: list[str] = []

    async def answer(self, ticket_id: str, *, path_qs: str, headers: object, fmt: str) -> tickets_page.Answer:
        self.asked.append(ticket_id)
        return tickets_page.Answer(200, "application/json", orjson.dumps({"ticket_id": ticket_id}))


@pytest.fixture
def reports() -> Reports:
    return Reports()


@pytest.fixture
def tickets() -> Tickets:
    return Tickets()


@pytest.fixture
def serve(reports: Reports, tickets: Tickets):
    """``async with serve(access) as client``: a worker's pages behind ``access``."""
    import contextlib

    @contextlib.asynccontextmanager
    async def start(access: web.Access) -> AsyncIterator[TestClient]:
        app = faust.App(f"private-pages-{next(_ids)}", web_enabled=True)
        web.register(app, Metrics.create(), Ranks(), ready=lambda: None, access=access,  # type: ignore[arg-type]
                     reports=reports, tickets=tickets)  # type: ignore[arg-type]
        async with TestClient(TestServer(app.web.web_app)) as client:
            yield client

    return start


async def status_and_body(client: TestClient, path: str, **headers: str) -> tuple[int, dict | str]:
    resp = await client.get(path, headers=headers)
    body = await resp.read()
    return resp.status, orjson.loads(body) if resp.content_type == "application/json" else body.decode()


async def test_by_default_every_private_page_refuses_and_names_the_settings_that_enable_it(serve, reports,
                                                                                          tickets) -> None:
    async with serve(web.Access.of(Settings())) as client:
        for path in PRIVATE:
            resp = await client.get(path)
            body = orjson.loads(await resp.read())
            assert resp.status == 401, path
            assert "SLA_REPORTS_TOKEN_FILE" in body["error"] and "SLA_REPORTS_OPEN" in body["error"], body
            assert resp.headers["WWW-Authenticate"].startswith("Bearer")
        for path in OPEN:  # scrapers and orchestrators need no credentials
            assert (await client.get(path)).status == 200, path
    assert reports.asked == [] and tickets.asked == []  # nothing was rendered for a refused request


async def test_with_a_token_only_the_right_token_opens_them_as_a_header_or_a_query_parameter(serve, reports) -> None:
    async with serve(web.Access(token=Secret(TOKEN))) as client:
        for path in PRIVATE:
            sep = "&" if "?" in path else "?"
            refused = [await status_and_body(client, path),
                       await status_and_body(client, path, Authorization="Bearer wrong-token"),
                       await status_and_body(client, path, Authorization=f"Bearer {TOKEN}x"),
                       await status_and_body(client, path, Authorization=f"Basic {TOKEN}"),
                       await status_and_body(client, f"{path}{sep}token=wrong-token"),
                       await status_and_body(client, f"{path}{sep}token=")]
            for status, body in refused:
                assert status == 401, (path, body)
                assert "SLA_REPORTS_TOKEN_FILE" in body["error"] and TOKEN not in body["error"]  # type: ignore[index]
            assert (await status_and_body(client, path, Authorization=f"Bearer {TOKEN}"))[0] == 200, path
            assert (await status_and_body(client, f"{path}{sep}token={TOKEN}"))[0] == 200, path
        for path in OPEN:
            assert (await client.get(path)).status == 200, path
    # the reports see their own parameters, never the token
    assert ("debrief", {"date": "2026-03-02"}) in reports.asked
    assert all("token" not in query for _, query in reports.asked)


async def test_the_stack_rank_answers_its_window_once_allowed(serve) -> None:
    async with serve(web.Access(token=Secret(TOKEN))) as client:
        status, body = await status_and_body(client, "/stackrank?window=30d", Authorization=f"Bearer {TOKEN}")
    assert (status, body) == (200, {"window": "30d", "engineers": []})


async def test_opened_explicitly_they_answer_anyone(serve) -> None:
    async with serve(web.Access.of(Settings(reports_open=True))) as client:
        for path in PRIVATE + OPEN:
            assert (await client.get(path)).status == 200, path


def test_the_guard_is_one_pure_function_of_the_access_and_the_request() -> None:
    closed, keyed, opened = web.Access(), web.Access(token=Secret(TOKEN)), web.Access(open=True)
    assert web.refusal(closed, {"Authorization": f"Bearer {TOKEN}"}, {"token": TOKEN}) is not None
    assert web.refusal(opened, {}, {}) is None
    assert web.refusal(keyed, {"Authorization": f"bearer {TOKEN}"}, {}) is None  # the scheme is case-insensitive
    assert web.refusal(keyed, {}, {"token": TOKEN}) is None
    assert web.refusal(keyed, {"Authorization": "Bearer wrong"}, {"token": TOKEN}) is not None  # header first


async def test_the_runbooks_are_open_html_for_a_browser_and_markdown_when_asked(serve) -> None:
    async with serve(web.Access()) as client:
        page = await client.get("/runbooks", headers={"Accept": "text/html,application/xhtml+xml,*/*;q=0.8"})
        markdown = await client.get("/runbooks", headers={"Accept": "text/markdown"})
        assert (page.status, page.content_type) == (200, "text/html")
        assert (markdown.status, markdown.content_type) == (200, "text/markdown")
        assert (await markdown.text()).lstrip().startswith("#")
