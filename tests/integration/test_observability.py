"""Observability against the real thing: a real Prometheus (Debian's) scrapes a real worker and notifier fed
with a scenario, evaluates the shipped rules, and answers every query of every shipped dashboard. The worker
runs under the shipped example policy (gold and standard contracts), which the rules and boards are
generated from."""

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

from pipeline import resources
from pipeline.observability import generate
from tests import scenario
from tests.integration.conftest import CLI, ROOT, Broker, Topics, free_port, produce, wait_ready
from tests.integration.test_sla_engine import publish_scenario

DASHBOARDS = ROOT / "grafana" / "dashboards"
RATE_INTERVAL = "5m"  # Grafana's $__rate_interval; every other variable takes its board's default
PLANS = ("gold", "standard", "platinum-legacy")  # the last one the policy lacks: an unknown contract


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
        defaults = {}  # "All" stands for the variable's allValue, as Grafana substitutes it
        for var in board.get("templating", {}).get("list", []):
            if var["type"] == "custom":
                value = var["current"]["value"]
                defaults[var["name"]] = var["allValue"] if value == "$__all" else value
        panels = [p for top in board["panels"] for p in [top, *top.get("panels", [])]]
        for panel in panels:
            for target in panel.get("targets", []):
                expr = target["expr"].replace("$__rate_interval", RATE_INTERVAL)
                for name in sorted(defaults, key=len, reverse=True):
                    expr = expr.replace(f"${name}", defaults[name])
                assert "$" not in expr.replace("$labels", ""), f"unsubstituted variable in {path.name}: {expr}"
                found.append((path.stem, panel["title"], expr))
    return found


def test_the_generated_files_are_the_checked_in_ones() -> None:
    assert generate.stale() == [], "run `sla-pipeline generate` and commit the result"


def test_every_dashboard_has_panels_with_queries() -> None:
    boards = {name for name, _, _ in panel_queries()}
    assert boards == {"noc-overview", "bizcrit", "engineers", "pipeline-health", "contracts"}
    assert len(panel_queries()) >= 45


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
    policy_file = tmp_path / "policy.toml"
    policy_file.write_bytes(resources.read_bytes(resources.POLICY_EXAMPLE))
    worker = worker_factory(SLA_CLOCK="event", SLA_POLICY_FILE=str(policy_file)).start()
    prom = Prometheus(tmp_path, {"sla-pipeline": worker.port, "sla-notifier": notifier})
    try:
        await publish_scenario(broker, topics, scenario.tickets(400, seed=31, policy=generate.example_policy(),
                                                                plans=PLANS))
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

        # both contracts judged outcomes, the v2 IRT series is their sum, and the unknown plan was counted
        def instant(query: str) -> dict[str, float]:
            rows = prom.get("/api/v1/query", query=query)["data"]["result"]
            return {r["metric"].get("contract", ""): float(r["value"][1]) for r in rows}

        judged = instant("sum by (contract) (sla_outcomes_total)")
        assert set(judged) == {"gold", "standard"} and min(judged.values()) > 0, judged
        assert instant('sum(sla_outcomes_total{metric="irt"})') == instant("sum(sla_irt_outcomes_total)")
        assert instant("sum(sla_contract_unknown_total)")[""] > 0
        metrics = {r["metric"]["metric"] for r in prom.get(
            "/api/v1/query", query='sum by (metric) (sla_window_outcomes{contract="gold",window="30d"}) > 0',
        )["data"]["result"]}
        assert {"irt", "next_response", "resolution"} <= metrics, metrics

        # ticket ids travel as exemplars on the IRT histogram (OpenMetrics scrape)
        now = time.time()
        found = prom.get("/api/v1/query_exemplars", query="sla_irt_seconds_bucket", start=str(now - 600), end=str(now))
        ids = {e["labels"].get("ticket_id") for series in found["data"] for e in series["exemplars"]}
        assert any(i and i.startswith("S-31-") for i in ids), found
    finally:
        prom.stop()
