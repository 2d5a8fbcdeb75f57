"""Replay of real exports through the broker, and the one-command demo, run as a user runs them."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import orjson
import yaml

from pipeline import resources
from tests.integration.conftest import CLI, ROOT, VERSIONS, Broker, Topics, consume, free_port


def run_cli(args: list[str], broker: Broker, topics: Topics) -> subprocess.CompletedProcess:
    env = {**os.environ, **topics.env(), "KAFKA_BOOTSTRAP_SERVERS": broker.bootstrap}
    return subprocess.run([*CLI, *args], env=env, cwd=ROOT, capture_output=True, text=True, timeout=120, check=False)


async def test_replay_of_a_jsonl_export_sends_every_good_row_and_names_every_bad_one(
    broker: Broker, topics: Topics, tmp_path: Path,
) -> None:
    good = [{"event_id": f"e{i}", "type": "ticket.closed", "ticket_id": f"T{i}",
             "occurred_at": f"2026-03-02T09:{i:02d}:00Z"} for i in range(20)]
    lines = [orjson.dumps(d).decode() for d in good]
    lines.insert(5, '{"event_id": "x", "type": "ticket.closed"')  # line 6: truncated
    lines.insert(12, '{"event_id":"y","type":"ticket.closed","ticket_id":"T9","occurred_at":"2026-03-02 09:00"}')
    path = tmp_path / "export.jsonl"
    path.write_text("\n".join(lines) + "\n")
    done = run_cli(["replay", str(path), "--speedup", "600"], broker, topics)
    assert done.returncode == 1, done.stdout + done.stderr  # bad rows: not silent, not a success
    assert "20 sent, 2 bad" in done.stdout
    assert "line 6: malformed_json" in done.stdout and "line 13: invalid_field:occurred_at" in done.stdout
    assert "rows/s" in done.stderr  # the progress line
    got = await consume(broker.bootstrap, topics.events, want=20, settle=1)
    assert sorted(r.value for r in got) == sorted(orjson.dumps(d) for d in good)


async def test_replay_refuses_an_export_older_than_the_topic_keeps_and_sends_nothing(
    broker: Broker, topics: Topics, tmp_path: Path,
) -> None:
    from aiokafka.admin import AIOKafkaAdminClient
    from aiokafka.admin.config_resource import ConfigResource, ConfigResourceType

    from pipeline.kafka.admin import ensure_topics

    week = str(7 * 86_400_000)  # the usual broker default, where the embedded broker keeps records by size
    await ensure_topics(broker.bootstrap, {topics.events: 4}, configs={topics.events: {"retention.ms": week}})
    old = [{"event_id": f"o{i}", "type": "ticket.closed", "ticket_id": f"T{i}",
            "occurred_at": f"2026-03-02T09:{i:02d}:00Z"} for i in range(3)]  # older than a week, whenever run
    path = tmp_path / "old.jsonl"
    path.write_text("".join(orjson.dumps(d).decode() + "\n" for d in old))
    refused = run_cli(["replay", str(path), "--fast"], broker, topics)
    assert refused.returncode != 0, refused.stdout + refused.stderr
    assert f"topic {topics.events} keeps records for retention.ms={week}" in refused.stderr, refused.stderr
    assert "line 1, 2026-03-02T09:00:00.000Z" in refused.stderr and "retention.ms=-1" in refused.stderr
    assert await consume(broker.bootstrap, topics.events, want=1, timeout=5, settle=0) == []  # nothing sent

    admin = AIOKafkaAdminClient(bootstrap_servers=broker.bootstrap)
    await admin.start()
    try:  # what the message tells the user to do
        await admin.alter_configs([ConfigResource(ConfigResourceType.TOPIC, topics.events, {"retention.ms": "-1"})])
    finally:
        await admin.close()
    done = run_cli(["replay", str(path), "--fast"], broker, topics)
    assert done.returncode == 0 and "3 sent, 0 bad" in done.stdout, done.stdout + done.stderr
    got = await consume(broker.bootstrap, topics.events, want=3, settle=1)
    assert sorted(r.value for r in got) == sorted(orjson.dumps(d) for d in old)


async def test_replay_of_a_mapped_csv_export(broker: Broker, topics: Topics) -> None:
    done = run_cli(["replay", "deploy/replay/example-export.csv", "--mapping", "deploy/replay/example-mapping.toml",
                    "--fast"], broker, topics)
    assert done.returncode == 1 and "7 sent, 3 bad" in done.stdout, done.stdout + done.stderr
    for line in (9, 10, 11):
        assert f"line {line}:" in done.stdout
    got = await consume(broker.bootstrap, topics.events, want=7, settle=1)
    assert len(got) == 7 and {r.key for r in got} == {b"1306525"}
    from pipeline.domain.timefmt import parse_rfc3339_ms

    assert all(r.timestamp == parse_rfc3339_ms(orjson.loads(r.value)["occurred_at"]) for r in got)


def api(url: str) -> dict:
    """The ``data`` of a Prometheus API answer."""
    with urllib.request.urlopen(url, timeout=10) as resp:
        return orjson.loads(resp.read())["data"]


def http_status(url: str) -> int:
    try:
        with urllib.request.urlopen(url, timeout=30) as resp:
            return resp.status
    except urllib.error.HTTPError as exc:
        return exc.code


def test_the_demo_shows_an_escalation_within_a_minute_and_ctrl_c_leaves_nothing_behind(tmp_path: Path) -> None:
    ports = {flag: free_port() for flag in ("web-port", "notifier-port", "prometheus-port", "alertmanager-port",
                                            "webhook-port")}
    kafka = free_port(2)
    state = tmp_path / "demo"
    args = [sys.executable, "-m", "pipeline.cli", "demo", "--dir", str(state), "--kafka-version", VERSIONS[0],
            "--kafka-port", str(kafka), "--kafka-controller-port", str(kafka + 1)]
    for flag, port in ports.items():
        args += [f"--{flag}", str(port)]
    out = tmp_path / "demo.out"
    with open(out, "wb") as sink:
        proc = subprocess.Popen(args, cwd=ROOT, stdout=sink, stderr=subprocess.STDOUT)
    try:
        started = time.monotonic()
        while "starting the simulator" not in out.read_text(errors="replace"):  # broker, worker, Prometheus ...
            assert proc.poll() is None, out.read_text()[-3000:]
            assert time.monotonic() - started < 180, "the demo did not start within 180 s:\n" + out.read_text()
            time.sleep(0.5)
        simulating = time.monotonic()
        # The demo plays a fixed busy hour of the week (whatever the wall clock says): the first Sev1 is at
        # risk about 10 s in (tests/unit/test_demo.py computes it); the README promises a minute.
        while "irt_at_risk" not in out.read_text(errors="replace"):
            assert proc.poll() is None, out.read_text()[-3000:]
            waited = time.monotonic() - simulating
            assert waited < 60, "no escalation on the board within a minute:\n" + out.read_text()[-3000:]
            time.sleep(0.5)
        # the board says where today's debrief opens, and it does, with the demo's token: a page with the
        # day's Sev1 tickets (the simulated day: the board's clock); without the token the worker refuses
        board = out.read_text(errors="replace")
        debrief = re.findall(r"today's Sev1 debrief: (http://\S+)", board)[-1]
        sim_day = re.findall(r"simulated time (\d{4}-\d\d-\d\d) ", board)[-1]
        token = (state / "reports-token").read_text().strip()
        assert f"date={sim_day}&token={token}" in debrief
        assert (state / "reports-token").stat().st_mode & 0o777 == 0o600
        with urllib.request.urlopen(debrief, timeout=120) as resp:
            page = resp.read().decode()
        assert resp.headers["Content-Type"].startswith("text/html") and "<title>Sev1 debrief" in page
        assert http_status(debrief.replace(f"&token={token}", "")) == 401
        # Prometheus loaded every group of the shipped rules, and the always-firing watchdog fires
        prometheus = f"http://127.0.0.1:{ports['prometheus-port']}"
        shipped = {g["name"] for g in yaml.safe_load(resources.read_text(resources.RULES))["groups"]}
        loaded = {g["name"] for g in api(f"{prometheus}/api/v1/rules")["groups"]}
        assert loaded == shipped, f"Prometheus loaded {sorted(loaded)}, the shipped file has {sorted(shipped)}"
        deadline = time.monotonic() + 60  # a few of the demo's 5 s evaluation intervals
        while not any(a["labels"]["alertname"] == "SLAWatchdog" and a["state"] == "firing"
                      for a in api(f"{prometheus}/api/v1/alerts")["alerts"]):
            assert proc.poll() is None, out.read_text()[-3000:]
            assert time.monotonic() < deadline, f"SLAWatchdog not firing: {api(f'{prometheus}/api/v1/alerts')}"
            time.sleep(1)
        proc.send_signal(signal.SIGINT)  # what Ctrl-C in the terminal does
        assert proc.wait(90) == 0, out.read_text()[-3000:]
    finally:
        if proc.poll() is None:
            proc.kill()
    text = out.read_text()
    assert "stopped: worker, alertmanager, notifier, prometheus, kafka" in text
    assert "IRT compliance, last 24 h" in text and "Open BizCrit tickets" in text
    left = subprocess.run(["pgrep", "-f", str(state)], capture_output=True, text=True, check=False)
    assert left.stdout.strip() == "", f"processes left behind: {left.stdout}"
