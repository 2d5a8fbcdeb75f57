"""The command line refuses bad configuration before touching Kafka, naming the key."""

from __future__ import annotations

import pytest

from pipeline.cli import main


def test_worker_stops_on_bad_configuration_with_the_key_named(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("SLA_WEB_PORT", "eighty")
    assert main(["worker"]) == 2
    err = capsys.readouterr().err
    assert "configuration error: SLA_WEB_PORT: must be an integer from 1 to 65535, got 'eighty'" in err


def test_produce_stops_on_bad_bootstrap(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("KAFKA_BOOTSTRAP_SERVERS", "no-port-here")
    assert main(["produce", "-"]) == 2
    assert "KAFKA_BOOTSTRAP_SERVERS" in capsys.readouterr().err


def test_worker_says_when_kafka_is_unreachable(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("KAFKA_BOOTSTRAP_SERVERS", "127.0.0.1:1")
    assert main(["worker"]) == 1
    assert "cannot reach Kafka at 127.0.0.1:1" in capsys.readouterr().err
