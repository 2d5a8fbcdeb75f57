"""An alert's runbook link, opened in a real browser (headless Chromium), lands on its section."""

from __future__ import annotations

from collections.abc import AsyncIterator
from urllib.parse import urlsplit

import pytest
import yaml
from aiohttp import web
from aiohttp.test_utils import TestServer

from pipeline import resources
from pipeline.worker import runbooks
from tests.integration import browser

# Where the browser is once it has followed the link: the element the fragment names, and what is around it.
WHERE = """(() => {
  const el = document.getElementById(decodeURIComponent(location.hash.slice(1)));
  if (!el) return null;
  const box = el.getBoundingClientRect();
  return {tag: el.tagName, text: el.textContent, targeted: document.querySelector(':target') === el,
          top: box.top, scrolled: window.scrollY, viewport: window.innerHeight,
          next: el.nextElementSibling ? el.nextElementSibling.textContent : ''};
})()"""


@pytest.fixture
async def server() -> AsyncIterator[TestServer]:
    """``render()`` served as the worker serves it, on a port of its own."""

    async def page(request: web.Request) -> web.Response:
        kind, body = runbooks.render(request.headers.get("Accept", ""))
        return web.Response(body=body, headers={"Content-Type": kind})

    app = web.Application()
    app.router.add_get("/runbooks", page)
    served = TestServer(app, host="127.0.0.1")
    await served.start_server()
    try:
        yield served
    finally:
        await served.close()


def runbook_url(alertname: str) -> str:
    doc = yaml.safe_load(resources.read_text(resources.RULES))
    found = [r["annotations"]["runbook_url"] for g in doc["groups"] for r in g["rules"] if r.get("alert") == alertname]
    assert found, f"no shipped rule {alertname}"
    return found[0]


async def test_an_alerts_runbook_link_opens_its_section_in_a_browser(server: TestServer, tmp_path) -> None:
    if browser.chromium() is None:
        pytest.fail("chromium is missing: scripts/bootstrap.sh test installs it")
    link = urlsplit(runbook_url("SLAWorkerDown"))  # http://127.0.0.1:6066/runbooks#worker-down
    url = f"http://127.0.0.1:{server.port}{link.path}#{link.fragment}"
    seen = await browser.view(url, probe=WHERE)
    (tmp_path / "runbooks.png").write_bytes(seen.screenshot)
    assert seen.errors == []
    assert seen.title == "sla-pipeline: Runbooks"
    where = seen.probe
    assert where is not None, f"no element with id {link.fragment!r} on {url}"
    assert (where["tag"], where["text"], where["targeted"]) == ("H3", "worker-down", True)
    assert where["next"].startswith("Prometheus cannot scrape a worker")  # the section's text, not markdown
    # the browser jumped there: the page scrolled and the heading is on screen
    assert where["scrolled"] > 0 and 0 <= where["top"] < where["viewport"], where
