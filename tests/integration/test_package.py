"""The package as a support organisation installs it: a wheel, in a fresh virtualenv outside the checkout.
Everything it reads at run time must come with it."""

from __future__ import annotations

import os
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from pipeline import resources
from tests.integration.conftest import ROOT, Broker, free_port


def sh(*args: str | Path, cwd: Path, env: dict[str, str] | None = None, timeout: float = 600) -> str:
    done = subprocess.run([str(a) for a in args], cwd=cwd, env=env, capture_output=True, text=True,
                          timeout=timeout, check=False)
    assert done.returncode == 0, f"{args}:\n{done.stdout}\n{done.stderr}"
    return done.stdout


def test_the_wheel_installs_outside_the_checkout_and_runs_a_worker(broker: Broker, tmp_path: Path) -> None:
    dist, venv, elsewhere = tmp_path / "dist", tmp_path / "venv", tmp_path / "elsewhere"
    elsewhere.mkdir()
    sh(sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "-w", dist, ROOT, cwd=tmp_path)
    [wheel] = dist.glob("sla_pipeline-*.whl")
    sh(sys.executable, "-m", "venv", venv, cwd=tmp_path)
    sh(venv / "bin/python", "-m", "pip", "install", "-q", "-c", ROOT / "constraints.txt", wheel, cwd=tmp_path)
    cli = venv / "bin/sla-pipeline"
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    assert sh(cli, "--version", cwd=elsewhere, env=env).strip().startswith("sla-pipeline 0.1.0")
    # the default simulator profile comes from the package
    sh(cli, "simulate", "--out", "events.jsonl", "--duration", "6h", cwd=elsewhere, env=env)
    assert (elsewhere / "events.jsonl").stat().st_size > 0
    # the board generator's SDK is an extra: without it, a clear message
    done = subprocess.run([cli, "generate", "--check"], cwd=elsewhere, env=env, capture_output=True, text=True,
                          check=False)
    assert done.returncode == 1 and "pip install 'sla-pipeline[dashboards]'" in done.stderr, done.stderr
    port = free_port()
    worker_env = {**env, "KAFKA_BOOTSTRAP_SERVERS": broker.bootstrap, "SLA_WEB_PORT": str(port),
                  "SLA_APP_ID": f"pkg-{port}", "SLA_TOPIC_EVENTS": f"pkg-{port}.events",
                  "SLA_DATA_DIR": str(elsewhere / "data")}
    log = open(elsewhere / "worker.log", "wb")  # noqa: SIM115 - the child writes it
    worker = subprocess.Popen([cli, "worker"], cwd=elsewhere, env=worker_env, stdout=log, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 90
        body = b""
        while time.monotonic() < deadline and not body:
            assert worker.poll() is None, (elsewhere / "worker.log").read_text()[-3000:]
            try:
                ask = urllib.request.Request(f"http://127.0.0.1:{port}/runbooks", headers={"Accept": "text/markdown"})
                with urllib.request.urlopen(ask, timeout=2) as resp:
                    body = resp.read()
            except OSError:
                time.sleep(0.5)
        assert body == resources.read_bytes(resources.RUNBOOKS)
    finally:
        worker.terminate()
        worker.wait(30)
        log.close()
    assert str(ROOT) not in (elsewhere / "worker.log").read_text()  # nothing came from the checkout
