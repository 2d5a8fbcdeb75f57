"""The embedded broker beside a local Alertmanager on its default port, 9093: `make run` starts Kafka on 9092,
whose controller once took 9093 (port+1). Here the Alertmanager listens on the broker's port + 1 (free ports,
as the defaults are shared on a developer's machine); `sla-pipeline kafka start`, `status`, `stop` and a
restart of the same data dir all work, and the Alertmanager keeps answering."""

from __future__ import annotations

import socket
import urllib.request
from pathlib import Path

import pytest

from pipeline.kafka.embedded import CONTROLLER_OFFSET
from tests.integration.alerting import Alertmanager, Webhook
from tests.integration.conftest import VERSIONS, Broker, free_port


def controller_port(home: Path) -> int:
    props = dict(line.split("=", 1) for line in (home / "server.properties").read_text().splitlines())
    return int(props["controller.quorum.voters"].rsplit(":", 1)[1])


def answers(url: str) -> bool:
    with urllib.request.urlopen(url, timeout=5) as resp:
        return resp.status == 200


@pytest.mark.parametrize("version", VERSIONS)
def test_kafka_start_stop_and_restart_beside_an_alertmanager_on_the_next_port(version: str, tmp_path: Path) -> None:
    port = free_port(2)
    webhook = Webhook()
    am = Alertmanager(tmp_path / "alertmanager", webhook)
    am.port, am.url = port + 1, f"http://127.0.0.1:{port + 1}"  # where port+1 would have put the controller
    broker = Broker(version, f"127.0.0.1:{port}", port, tmp_path / "kafka")
    home = broker.kafka_dir / f"broker-{port}"  # where `sla-pipeline kafka` keeps this port's broker
    try:
        am.start()
        started = broker.cli("start")
        assert started.returncode == 0, started.stdout + started.stderr
        assert f"running at 127.0.0.1:{port}" in started.stdout
        assert controller_port(home) == port + CONTROLLER_OFFSET
        assert answers(f"{am.url}/-/ready")
        assert broker.cli("status").returncode == 0
        stopped = broker.cli("stop", timeout=60)
        assert stopped.returncode == 0 and "stopped" in stopped.stdout, stopped.stdout + stopped.stderr
        assert broker.cli("status").returncode == 3

        # The same data dir again, while another program took the controller's port meanwhile
        with socket.create_server(("127.0.0.1", port + CONTROLLER_OFFSET)):
            again = broker.cli("start")
            assert again.returncode == 0, again.stdout + again.stderr
        assert controller_port(home) == port + CONTROLLER_OFFSET + 1
        assert broker.cli("status").returncode == 0
        assert answers(f"{am.url}/-/ready")
    finally:
        final = broker.cli("stop", timeout=60)
        am.stop()
        webhook.server.shutdown()
    assert final.returncode == 0 and "stopped" in final.stdout, final.stdout + final.stderr
