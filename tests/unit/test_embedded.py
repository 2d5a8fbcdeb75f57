"""The embedded broker's set-up decisions, checked without starting Java."""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from pipeline.cli.ports import port_free
from pipeline.errors import BrokerError
from pipeline.kafka.embedded import CONTROLLER_OFFSET, EmbeddedKafka


def test_kafka_3_logs_through_reload4j_and_4_through_log4j2(tmp_path: Path) -> None:
    three = EmbeddedKafka(home=tmp_path / "a", version="3.9.1", cache=tmp_path / "c")._pom()
    four = EmbeddedKafka(home=tmp_path / "b", version="4.1.1", cache=tmp_path / "c")._pom()
    assert "<artifactId>kafka_2.13</artifactId><version>3.9.1</version>" in three and "slf4j-reload4j" in three
    assert "<artifactId>kafka_2.13</artifactId><version>4.1.1</version>" in four and "log4j-slf4j-impl" in four


def test_config_is_single_node_kraft_on_loopback(tmp_path: Path) -> None:
    broker = EmbeddedKafka(home=tmp_path, version="3.9.1", port=19555, cache=tmp_path / "c")
    props = dict(line.split("=", 1) for line in broker._write_config(19655).read_text().splitlines())
    assert props["process.roles"] == "broker,controller"
    assert props["listeners"] == "PLAINTEXT://127.0.0.1:19555,CONTROLLER://127.0.0.1:19655"
    assert props["controller.quorum.voters"] == "1@127.0.0.1:19655"
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


# --- the controller's port -----------------------------------------------------------------------------
@contextlib.contextmanager
def listening(port: int, host: str = "127.0.0.1") -> Iterator[None]:
    """Another program's listener (an Alertmanager, say) on host:port while the block runs."""
    with socket.socket() as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
        sock.listen()
        yield


def base_port(span: int) -> int:
    """A port p with p .. p+span free here (the tests then occupy some of them themselves)."""
    for p in range(21000, 31000, 211):
        if all(port_free(p + i) for i in (0, 1, *range(CONTROLLER_OFFSET, span + 1))):
            return p
    raise AssertionError("no free ports for the test")


def test_the_default_broker_leaves_9093_to_a_local_alertmanager(tmp_path: Path) -> None:
    broker = EmbeddedKafka(home=tmp_path, version="3.9.1", cache=tmp_path / "c")
    assert broker.port == 9092
    with contextlib.ExitStack() as stack:
        if port_free(9093):
            stack.enter_context(listening(9093, "0.0.0.0"))  # Alertmanager listens on every address
        chosen = broker.choose_controller_port()
    assert chosen != 9093 and 9192 <= chosen < 9192 + CONTROLLER_OFFSET


def test_the_controller_takes_the_first_free_port_from_port_plus_100(tmp_path: Path) -> None:
    port = base_port(CONTROLLER_OFFSET + 2)
    broker = EmbeddedKafka(home=tmp_path, version="3.9.1", port=port, cache=tmp_path / "c")
    with listening(port + 1):
        assert broker.choose_controller_port() == port + CONTROLLER_OFFSET
        with listening(port + CONTROLLER_OFFSET):  # taken since the last start: the next one
            assert broker.choose_controller_port() == port + CONTROLLER_OFFSET + 1
    given = EmbeddedKafka(home=tmp_path, version="3.9.1", port=port, controller_port=port + 7, cache=tmp_path)
    assert given.choose_controller_port() == port + 7


def test_a_port_in_use_is_refused_by_number_before_anything_starts(tmp_path: Path) -> None:
    port = base_port(CONTROLLER_OFFSET)
    broker = EmbeddedKafka(home=tmp_path, version="3.9.1", port=port, cache=tmp_path / "c", java="no-such-java")
    with listening(port), pytest.raises(BrokerError, match=f"port {port} on 127.0.0.1 is in use"):
        broker.start()
    given = EmbeddedKafka(home=tmp_path, version="3.9.1", port=port, controller_port=port + 1, cache=tmp_path,
                          java="no-such-java")
    with listening(port + 1), pytest.raises(BrokerError, match=f"port {port + 1} on 127.0.0.1 is in use"):
        given.start()
    with pytest.raises(BrokerError, match="Java"):  # the ports were the only obstacle
        broker.start()
    assert not (tmp_path / "server.properties").exists()
