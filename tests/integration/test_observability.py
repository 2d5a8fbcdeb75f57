"""Observability against the real thing: a real Prometheus (Debian's) scrapes a real worker and notifier fed
with a scenario, evaluates the shipped rules, and answers every query of every shipped dashboard."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
import urllib.parse
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from pipeline.observability import generate
from tests import scenario
from tests.integration.conftest import CLI, ROOT, Broker, Topics, free_port, produce, wait_ready
from tests.integration.test_sla_engine import publish_scenario

DASHBOARDS = ROOT / "grafana" / "dashboards"
VARIABLES = {"$window": None, "$__rate_interval": "5m"}  # window: per dashboard, its default


class Prometheus:
    def __init__(self, workdir: Path, targets: dict[str, int]) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        config = {
            "global": {"scrape_interval": "1s", "evaluation_interval": "1s"},
            "rule_files": [str(ROOT / "deploy" / "prometheus" / "rules" / "sla.rules.yml")],
            "scrape_configs": [{"job_name": job, "static_configs": [{"targets": [f"127.0.0.1:{port}"]}]}
                               for job, port in targets.items()],
        }
        path = workdir / "prometheus.yml"
        path.write_text(json.dumps(config))  # JSON is YAML
        log = open(workdir / "prometheus.log", "ab")  # noqa: SIM115 - handed to the child
        self.proc = subprocess.Popen(
            ["prometheus", f"--config.file={path}", f"--storage.tsdb.path={workdir / 'tsdb'}",
             f"--web.listen-address=127.0.0.1:{self.port}", "--enable-feature=exemplar-storage"],
            stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        log.close()
        wait_ready(f"{self.url}/-/ready")

    def get(self, path: str, **params: str) -> dict:
        url = f"{self.url}{path}?{urllib.parse.urlencode(params)}"
        with urllib.request.urlopen(url, timeout=10) as resp:
            return json.loads(resp.read())

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait(15)


def panel_queries() -> list[tuple[str, str, str]]:
    """(dashboard, panel title, expr with Grafana's variables substituted) for every panel target."""
    found = []
    for path in sorted(DASHBOARDS.glob("*.json")):
        board = json.loads(path.read_text())
        window = next((v["current"]["value"] for v in board.get("templating", {}).get("list", [])
                       if v["name"] == "window"), None)
        panels = [p for top in board["panels"] for p in [top, *top.get("panels", [])]]
        for panel in panels:
            for target in panel.get("targets", []):
                expr = target["expr"].replace("$__rate_interval", VARIABLES["$__rate_interval"])
                if window:
                    expr = expr.replace("$window", window)
                assert "$" not in expr.replace("$labels", ""), f"unsubstituted variable in {path.name}: {expr}"
                found.append((path.stem, panel["title"], expr))
    return found


def test_the_generated_files_are_the_checked_in_ones() -> None:
    assert generate.stale() == [], "run `sla-pipeline generate` and commit the result"


def test_every_dashboard_has_panels_with_queries() -> None:
    boards = {name for name, _, _ in panel_queries()}
    assert boards == {"noc-overview", "bizcrit", "engineers", "pipeline-health"}
    assert len(panel_queries()) >= 30


@pytest.fixture
def notifier(broker: Broker, topics: Topics, tmp_path: Path) -> Iterator[int]:
    port = free_port()
    env = {**os.environ, **topics.env(), "KAFKA_BOOTSTRAP_SERVERS": broker.bootstrap}
    log = open(tmp_path / "notifier.log", "ab")  # noqa: SIM115
    proc = subprocess.Popen([*CLI, "notify", "--alertmanager-url", "http://127.0.0.1:9", "--metrics-port", str(port)],
                            env=env, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    log.close()
    yield port
    os.killpg(proc.pid, signal.SIGTERM)
    proc.wait(15)


async def test_every_panel_query_answers_on_a_real_prometheus(
    broker: Broker, topics: Topics, worker_factory, notifier: int, tmp_path: Path,
) -> None:
    worker = worker_factory(SLA_CLOCK="event").start()
    prom = Prometheus(tmp_path, {"sla-pipeline": worker.port, "sla-notifier": notifier})
    try:
        await publish_scenario(broker, topics, scenario.tickets(400, seed=31))
        await produce(broker.bootstrap, topics.events, [(b"T-x", b"{not json"), (b"T-y", b"[1]")])

        # the worker's exposition is valid for Prometheus' own linter
        with urllib.request.urlopen(f"http://127.0.0.1:{worker.port}/metrics", timeout=5) as resp:
            exposition = resp.read()
        lint = subprocess.run(["promtool", "check", "metrics"], input=exposition, capture_output=True, check=False)
        assert lint.returncode == 0, lint.stdout.decode() + lint.stderr.decode()

        queries = panel_queries()
        deadline = time.monotonic() + 120
        while True:
            answers = {(b, t, e): prom.get("/api/v1/query", query=e) for b, t, e in queries}
            empty = [k for k, a in answers.items() if a["status"] != "success" or not a["data"]["result"]]
            if not empty or time.monotonic() > deadline:
                break
            time.sleep(2)
        assert all(a["status"] == "success" for a in answers.values())
        assert not empty, f"{len(empty)} panel queries without data, e.g. {empty[:3]}"

        # ticket ids travel as exemplars on the IRT histogram (OpenMetrics scrape)
        now = time.time()
        found = prom.get("/api/v1/query_exemplars", query="sla_irt_seconds_bucket", start=str(now - 600), end=str(now))
        ids = {e["labels"].get("ticket_id") for series in found["data"] for e in series["exemplars"]}
        assert any(i and i.startswith("S-31-") for i in ids), found
    finally:
        prom.stop()
