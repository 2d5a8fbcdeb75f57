"""The worker's web server as an orchestrator and a scraper see it: health, readiness and metrics open, no
table views, and the private pages (stack rank, reports) only for the holder of the worker's token."""

from __future__ import annotations

import urllib.error
import urllib.request
from pathlib import Path

import orjson

from tests.integration.conftest import Topics, eventually


def get(url: str, token: str | None = None) -> tuple[int, bytes]:
    request = urllib.request.Request(url)
    if token is not None:
        request.add_header("Authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(request, timeout=5) as resp:
            return resp.status, resp.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


def test_health_readiness_no_table_views_and_a_token_for_the_private_pages(worker_factory, topics: Topics,
                                                                          tmp_path: Path) -> None:
    token_file = tmp_path / "reports-token"
    token_file.write_text("rank-token-123\n")
    worker = worker_factory(SLA_REPORTS_TOKEN_FILE=str(token_file)).start()
    base = f"http://127.0.0.1:{worker.port}"
    assert get(f"{base}/healthz") == (200, orjson.dumps({"status": "alive"}))

    def ready() -> None:
        status, body = get(f"{base}/readyz")
        assert (status, orjson.loads(body)) == (200, {"status": "ready", "partitions": [0, 1, 2, 3]})  # alone: all

    eventually(ready, timeout=60)
    assert get(f"{base}/table/")[0] == 404 and get(f"{base}/table/tickets/")[0] == 404
    assert get(f"{base}/router/")[0] == 404
    assert get(f"{base}/metrics")[0] == 200  # scrapers need no token
    assert get(f"{base}/stackrank?window=7d")[0] == 401
    assert get(f"{base}/stackrank?window=7d", token="wrong")[0] == 401
    assert get(f"{base}/stackrank?window=7d&token=wrong")[0] == 401
    status, body = get(f"{base}/stackrank?window=7d", token="rank-token-123")
    assert status == 200 and orjson.loads(body)["window"] == "7d"
    assert get(f"{base}/stackrank?window=7d&token=rank-token-123")[0] == 200  # a link can carry it
    status, body = get(f"{base}/reports/debrief?format=json")
    assert status == 401 and "SLA_REPORTS_TOKEN_FILE" in orjson.loads(body)["error"]
    assert b"rank-token-123" not in worker.log_path.read_bytes()
