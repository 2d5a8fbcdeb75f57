"""The embedded broker's set-up decisions, checked without starting Java."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from pipeline.errors import BrokerError
from pipeline.kafka.embedded import EmbeddedKafka


def test_kafka_3_logs_through_reload4j_and_4_through_log4j2(tmp_path: Path) -> None:
    three = EmbeddedKafka(home=tmp_path / "a", version="3.9.1", cache=tmp_path / "c")._pom()
    four = EmbeddedKafka(home=tmp_path / "b", version="4.1.1", cache=tmp_path / "c")._pom()
    assert "<artifactId>kafka_2.13</artifactId><version>3.9.1</version>" in three and "slf4j-reload4j" in three
    assert "<artifactId>kafka_2.13</artifactId><version>4.1.1</version>" in four and "log4j-slf4j-impl" in four


def test_config_is_single_node_kraft_on_loopback(tmp_path: Path) -> None:
    broker = EmbeddedKafka(home=tmp_path, version="3.9.1", port=19555, cache=tmp_path / "c")
    props = dict(line.split("=", 1) for line in broker._write_config().read_text().splitlines())
    assert props["process.roles"] == "broker,controller"
    assert props["listeners"] == "PLAINTEXT://127.0.0.1:19555,CONTROLLER://127.0.0.1:19556"
    assert props["offsets.topic.replication.factor"] == "1"
    assert int(props["message.max.bytes"]) > 1024 * 1024  # a 1 MiB bad record still reaches the DLQ


def test_a_bad_version_is_refused(tmp_path: Path) -> None:
    with pytest.raises(BrokerError, match="look like 3.9.1"):
        EmbeddedKafka(home=tmp_path, version="latest")


def test_a_stale_or_foreign_pid_file_is_not_mistaken_for_the_broker(tmp_path: Path) -> None:
    broker = EmbeddedKafka(home=tmp_path, version="3.9.1", cache=tmp_path / "c")
    assert broker.stop() is False  # nothing to stop
    other = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    try:
        broker.pid_file.write_text(str(other.pid))
        assert broker._live_pid() is None
        assert broker.stop() is False
        assert other.poll() is None, "stop() must never signal a process that is not our broker"
    finally:
        other.kill()
        other.wait()
    broker.pid_file.write_text(str(2**22 + 7))  # no such process
    assert broker.status().running is False


def test_data_of_another_version_is_not_reused(tmp_path: Path) -> None:
    broker = EmbeddedKafka(home=tmp_path, version="4.1.1", cache=tmp_path / "c")
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "meta.properties").write_text("")
    (tmp_path / "version").write_text("3.9.1")
    with pytest.raises(BrokerError, match="holds data of Kafka 3.9.1"):
        broker._format(tmp_path / "server.properties")
    assert os.path.exists(tmp_path / "data" / "meta.properties")


def test_cluster_ids_never_start_with_a_dash(monkeypatch: pytest.MonkeyPatch) -> None:
    import uuid

    from pipeline.kafka import embedded

    dashing = uuid.UUID(bytes=bytes([0xF8]) + bytes(15))  # base64url of 0xF8... starts with '-'
    ids = iter([dashing, uuid.UUID(int=1)])
    monkeypatch.setattr(embedded.uuid, "uuid4", lambda: next(ids))
    assert not embedded.new_cluster_id().startswith("-")
