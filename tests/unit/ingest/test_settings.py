"""``sla-pipeline ingest``'s settings: read once from the environment, each mistake naming its variable, secrets
from files and never shown; and the command line that hands them over."""

from __future__ import annotations

import sys
from pathlib import Path
from types import SimpleNamespace

import pytest

from pipeline.cli import main
from pipeline.errors import ConfigError
from pipeline.ingest.adapter import SOURCES
from pipeline.kafka.client import Secret
from pipeline.settings import IngestSettings, secret_variable, unknown_keys


def secret_file(tmp_path: Path, name: str, text: str) -> str:
    path = tmp_path / name
    path.write_text(text)
    return str(path)


def test_defaults() -> None:
    s = IngestSettings.from_env({})
    assert (s.ingest_port, s.web_host, s.topic_events, s.topic_dlq) == (6068, "127.0.0.1", "tickets.events",
                                                                         "tickets.events.dlq")
    assert s.ingest_token is None and s.mapping_dir is None and s.sources == ()
    assert s.bootstrap_servers == "127.0.0.1:9092"  # the Kafka settings every command reads


def test_the_sources_served_are_those_with_a_secret_unless_listed(tmp_path: Path) -> None:
    env = {secret_variable("rt"): secret_file(tmp_path, "rt", "rt-secret\n"),
           secret_variable("zendesk"): secret_file(tmp_path, "zd", "zd-secret")}
    s = IngestSettings.from_env(env)
    assert s.sources == ("zendesk", "rt")  # in the contract's order
    assert (s.secret("rt"), s.secret("zendesk"), s.secret("jira")) == (Secret("rt-secret"), Secret("zd-secret"), None)
    listed = IngestSettings.from_env({**env, "SLA_INGEST_SOURCES": " RT , glpi"})
    assert listed.sources == ("rt", "glpi")


def test_every_source_has_its_secret_variable() -> None:
    assert [secret_variable(s) for s in SOURCES] == [
        "SLA_INGEST_ZENDESK_SECRET_FILE", "SLA_INGEST_JIRA_SECRET_FILE", "SLA_INGEST_FRESHDESK_SECRET_FILE",
        "SLA_INGEST_ZAMMAD_SECRET_FILE", "SLA_INGEST_GLPI_SECRET_FILE", "SLA_INGEST_RT_SECRET_FILE"]
    assert all(v in IngestSettings._ENV for v in map(secret_variable, SOURCES))


def test_values_are_read_and_typed(tmp_path: Path) -> None:
    mappings = tmp_path / "mappings"
    mappings.mkdir()
    s = IngestSettings.from_env({
        "SLA_INGEST_PORT": "7068", "SLA_WEB_HOST": "0.0.0.0", "SLA_TOPIC_EVENTS": "acme.events",
        "SLA_TOPIC_DLQ": "acme.dlq", "SLA_INGEST_MAPPING_DIR": str(mappings),
        "SLA_INGEST_TOKEN_FILE": secret_file(tmp_path, "token", "tok-123\n"),
        "SLA_INGEST_RT_URL": "https://rt.example/", "SLA_INGEST_RT_USER": "sla",
        "SLA_INGEST_RT_PASSWORD_FILE": secret_file(tmp_path, "rtpw", "pw"),
    })
    assert (s.ingest_port, s.web_host, s.topic_events, s.topic_dlq) == (7068, "0.0.0.0", "acme.events", "acme.dlq")
    assert (s.mapping_dir, s.ingest_token, s.rt_url, s.rt_user, s.rt_password) == (
        mappings, Secret("tok-123"), "https://rt.example", "sla", Secret("pw"))


def test_the_port_flag_wins_over_the_environment() -> None:
    assert IngestSettings.from_env({"SLA_INGEST_PORT": "7000"}, ingest_port=7001).ingest_port == 7001


@pytest.mark.parametrize(("env", "key", "why"), [
    ({"SLA_INGEST_PORT": "0"}, "SLA_INGEST_PORT", "integer from 1 to 65535"),
    ({"SLA_INGEST_SOURCES": "zendesk,bugzilla"}, "SLA_INGEST_SOURCES", "among zendesk, jira"),
    ({"SLA_INGEST_SOURCES": "rt,RT"}, "SLA_INGEST_SOURCES", "twice"),
    ({"SLA_INGEST_SOURCES": ","}, "SLA_INGEST_SOURCES", "must list"),
    ({"SLA_INGEST_MAPPING_DIR": "/nonexistent/mappings"}, "SLA_INGEST_MAPPING_DIR", "existing directory"),
    ({"SLA_INGEST_ZENDESK_SECRET_FILE": "/nonexistent/secret"}, "SLA_INGEST_ZENDESK_SECRET_FILE", "readable file"),
    ({"SLA_INGEST_RT_URL": "rt.example"}, "SLA_INGEST_RT_URL", "http:// or https://"),
    ({"SLA_INGEST_RT_USER": "sla"}, "SLA_INGEST_RT_PASSWORD_FILE", "must be set too"),
    ({"SLA_TOPIC_DLQ": "a dlq"}, "SLA_TOPIC_DLQ", "Kafka topic name"),
])
def test_a_bad_value_names_its_variable(env: dict, key: str, why: str) -> None:
    with pytest.raises(ConfigError) as refused:
        IngestSettings.from_env(env)
    assert refused.value.key == key and why in str(refused.value)


def test_an_empty_secret_file_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as refused:
        IngestSettings.from_env({secret_variable("jira"): secret_file(tmp_path, "empty", "\n")})
    assert refused.value.key == "SLA_INGEST_JIRA_SECRET_FILE" and "empty" in str(refused.value)


def test_a_token_with_a_space_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as refused:
        IngestSettings.from_env({"SLA_INGEST_TOKEN_FILE": secret_file(tmp_path, "token", "two words")})
    assert refused.value.key == "SLA_INGEST_TOKEN_FILE"


def test_secrets_are_never_shown(tmp_path: Path) -> None:
    env = {"SLA_INGEST_TOKEN_FILE": secret_file(tmp_path, "t", "token-77aa"),
           "SLA_INGEST_RT_USER": "sla", "SLA_INGEST_RT_PASSWORD_FILE": secret_file(tmp_path, "p", "rt-pw-88bb"),
           **{secret_variable(s): secret_file(tmp_path, s, f"{s}-secret-99cc") for s in SOURCES}}
    s = IngestSettings.from_env(env)
    shown = repr(s) + str(s.describe())
    for text in ("token-77aa", "rt-pw-88bb", *(f"{source}-secret-99cc" for source in SOURCES)):
        assert text not in shown


def test_the_gateways_variables_are_not_taken_for_typos() -> None:
    env = {v: "x" for v in IngestSettings._ENV if v.startswith("SLA_")}
    assert len(env) >= 14 and unknown_keys({**env, "SLA_INGEST_PROT": "1"}) == ["SLA_INGEST_PROT"]


# --- the command line ------------------------------------------------------------------------------------
def test_ingest_with_nothing_to_serve_stops_naming_what_to_set(monkeypatch, capsys) -> None:
    for key in [k for k in IngestSettings._ENV if k.startswith("SLA_")]:
        monkeypatch.delenv(key, raising=False)
    assert main(["ingest"]) == 2
    assert "configuration error: SLA_INGEST_TOKEN_FILE: nothing to serve" in capsys.readouterr().err


def test_a_bad_flag_is_named_as_written(monkeypatch, capsys) -> None:
    assert main(["ingest", "--sources", "zendesk,nope"]) == 2
    assert "configuration error: --sources: must list ticket systems" in capsys.readouterr().err


def test_catchup_hands_its_arguments_and_the_settings_to_the_catchup_module(monkeypatch) -> None:
    calls = []
    monkeypatch.setitem(sys.modules, "pipeline.ingest.catchup",
                        SimpleNamespace(run=lambda args, settings: calls.append((args, settings)) or 0))
    monkeypatch.setenv("SLA_INGEST_RT_URL", "http://127.0.0.1:8080")
    assert main(["ingest", "catchup", "--source", "rt", "--ticket", "4", "--ticket", "7"]) == 0
    ((args, settings),) = calls
    assert (args.source, args.ticket, args.since) == ("rt", [4, 7], None)
    assert isinstance(settings, IngestSettings) and settings.rt_url == "http://127.0.0.1:8080"


def test_catchup_needs_tickets_or_a_start(capsys) -> None:
    with pytest.raises(SystemExit) as done:
        main(["ingest", "catchup", "--source", "rt"])
    assert done.value.code == 2 and "--ticket" in capsys.readouterr().err
