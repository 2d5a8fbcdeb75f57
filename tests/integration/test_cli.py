"""The command line against real brokers: kafka start is idempotent, produce keys and stamps records,
and `run` (the README's first command) starts a broker and a worker and stops both on Ctrl-C."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import time
import urllib.request
from pathlib import Path

import orjson

from pipeline.domain.timefmt import parse_rfc3339_ms
from tests.integration.conftest import CLI, ROOT, VERSIONS, Broker, Topics, consume, free_port


def test_kafka_start_is_idempotent_and_status_reports_the_broker(broker: Broker) -> None:
    before = broker.cli("status")
    assert before.returncode == 0, before.stdout + before.stderr
    pid = re.search(r"pid (\d+)", before.stdout).group(1)
    again = broker.cli("start", timeout=60)
    assert again.returncode == 0, again.stderr
    assert f"pid {pid}" in again.stdout and broker.version in again.stdout
    assert broker.cli("status").returncode == 0


async def test_produce_keys_by_ticket_and_stamps_with_occurred_at(
    broker: Broker, topics: Topics, tmp_path: Path,
) -> None:
    lines = [
        {"event_id": "e1", "type": "ticket.created", "ticket_id": "T-1", "occurred_at": "2026-03-02T09:00:00Z",
         "severity": 2, "product": "p", "customer_id": "c"},
        {"event_id": "e2", "type": "ticket.closed", "ticket_id": "T-2", "occurred_at": "2026-03-02T10:00:00+01:00"},
    ]
    path = tmp_path / "events.jsonl"
    path.write_bytes(b"\n".join(orjson.dumps(x) for x in lines) + b"\n\n{broken line\n")
    env = {**os.environ, "KAFKA_BOOTSTRAP_SERVERS": broker.bootstrap, "SLA_TOPIC_EVENTS": topics.events}
    done = subprocess.run([*CLI, "produce", str(path)], env=env, cwd=ROOT, capture_output=True, text=True,
                          timeout=60, check=False)
    assert done.returncode == 0, done.stderr
    assert "sent 3 records" in done.stdout and "lines 4" in done.stdout  # the broken line is sent, and named

    got = await consume(broker.bootstrap, topics.events, want=3, settle=1)
    by_key = {r.key: r for r in got}
    assert by_key[b"T-1"].timestamp == parse_rfc3339_ms("2026-03-02T09:00:00Z")
    assert by_key[b"T-2"].timestamp == parse_rfc3339_ms("2026-03-02T09:00:00Z")
    assert by_key[b"T-1"].value == orjson.dumps(lines[0])  # the exact bytes of the line
    assert by_key[None].value == b"{broken line"


def test_run_starts_a_broker_and_a_worker_and_ctrl_c_stops_both(tmp_path: Path) -> None:
    port, web = free_port(2), free_port()
    env = {**os.environ, "SLA_WEB_PORT": str(web), "SLA_DATA_DIR": str(tmp_path / "data"),
           "KAFKA_BOOTSTRAP_SERVERS": f"127.0.0.1:{port}"}
    log = tmp_path / "run.log"
    with open(log, "wb") as out:
        proc = subprocess.Popen([*CLI, "run", "--kafka-version", VERSIONS[0], "--kafka-dir", str(tmp_path / "k")],
                                env=env, cwd=ROOT, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        deadline = time.monotonic() + 180
        while b"Worker]: Ready" not in log.read_bytes():
            assert proc.poll() is None, log.read_text()
            assert time.monotonic() < deadline, log.read_text()[-3000:]
            time.sleep(0.5)
        with urllib.request.urlopen(f"http://127.0.0.1:{web}/metrics", timeout=5) as resp:
            assert b"sla_events_total" in resp.read()
        os.killpg(proc.pid, signal.SIGINT)  # what Ctrl-C in the terminal does
        assert proc.wait(60) == 0, log.read_text()[-3000:]
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
    text = log.read_text()
    assert "stopped the embedded Kafka broker" in text
    pid_file = tmp_path / "k" / f"broker-{port}" / "kafka.pid"
    assert not pid_file.exists()
    leftovers = subprocess.run(["pgrep", "-f", str(tmp_path / "k")], capture_output=True, text=True, check=False)
    assert leftovers.stdout.strip() == "", f"processes left behind: {leftovers.stdout}"
