"""Bad configuration stops start-up with a message that names the key and says why."""

from __future__ import annotations

from pathlib import Path

import pytest

from pipeline.errors import ConfigError
from pipeline.settings import NotifySettings, Settings, unknown_keys


def test_defaults_are_the_contracts() -> None:
    s = Settings.from_env({})
    assert (s.bootstrap_servers, s.app_id, s.clock, s.web_port) == ("127.0.0.1:9092", "sla-pipeline", "wall", 6066)
    assert (s.topic_events, s.topic_dlq, s.topic_outcomes, s.topic_escalations) == (
        "tickets.events", "tickets.events.dlq", "sla.outcomes", "sla.escalations")
    assert s.data_dir == Path("./data") and s.policy_file is None


def test_environment_values_are_read_and_typed(tmp_path: Path) -> None:
    policy = tmp_path / "policy.toml"
    policy.write_text("")
    s = Settings.from_env({
        "KAFKA_BOOTSTRAP_SERVERS": "k1:9092, k2:9093", "SLA_CLOCK": "EVENT", "SLA_WEB_PORT": "7000",
        "SLA_POLICY_FILE": str(policy), "SLA_DATA_DIR": str(tmp_path / "d"), "SLA_ORPHAN_TIMEOUT_SECONDS": "2.5",
        "SLA_TOPIC_EVENTS": "acme.tickets",
    })
    assert s.bootstrap_servers == "k1:9092,k2:9093" and s.kafka_broker_url == "kafka://k1:9092;k2:9093"
    assert (s.clock, s.web_port, s.policy_file, s.orphan_timeout_seconds) == ("event", 7000, policy, 2.5)
    assert s.topic_events == "acme.tickets"


def test_flags_override_the_environment() -> None:
    s = Settings.from_env({"SLA_CLOCK": "wall", "SLA_WEB_PORT": "7000"}, clock="event", web_port=None)
    assert (s.clock, s.web_port) == ("event", 7000)


def test_empty_variables_count_as_unset() -> None:
    assert Settings.from_env({"SLA_WEB_PORT": "  "}).web_port == 6066


@pytest.mark.parametrize(
    ("env", "key", "why"),
    [
        ({"SLA_WEB_PORT": "http"}, "SLA_WEB_PORT", "integer from 1 to 65535"),
        ({"SLA_WEB_PORT": "70000"}, "SLA_WEB_PORT", "integer from 1 to 65535"),
        ({"SLA_CLOCK": "sundial"}, "SLA_CLOCK", "one of wall, event"),
        ({"KAFKA_BOOTSTRAP_SERVERS": "localhost"}, "KAFKA_BOOTSTRAP_SERVERS", "host:port"),
        ({"KAFKA_BOOTSTRAP_SERVERS": "a:1,b:99999"}, "KAFKA_BOOTSTRAP_SERVERS", "host:port"),
        ({"SLA_TOPIC_DLQ": "bad topic!"}, "SLA_TOPIC_DLQ", "Kafka topic name"),
        ({"SLA_APP_ID": "a/b"}, "SLA_APP_ID", "letters, digits"),
        ({"SLA_POLICY_FILE": "/nonexistent/policy.toml"}, "SLA_POLICY_FILE", "readable file"),
        ({"SLA_ORPHAN_TIMEOUT_SECONDS": "-1"}, "SLA_ORPHAN_TIMEOUT_SECONDS", "seconds from 0"),
        ({"SLA_ALLOWED_LATENESS_SECONDS": "nan"}, "SLA_ALLOWED_LATENESS_SECONDS", "seconds from 0"),
        ({"SLA_LOG_LEVEL": "loud"}, "SLA_LOG_LEVEL", "one of debug"),
        ({"SLA_PARTITIONS": "0"}, "SLA_PARTITIONS", "integer from 1"),
    ],
)
def test_a_bad_value_names_its_key_and_the_reason(env: dict, key: str, why: str) -> None:
    with pytest.raises(ConfigError) as caught:
        Settings.from_env(env)
    assert caught.value.key == key
    assert str(caught.value).startswith(f"{key}: ") and why in str(caught.value)


def test_a_file_where_the_data_dir_should_be(tmp_path: Path) -> None:
    blocker = tmp_path / "data"
    blocker.write_text("")
    with pytest.raises(ConfigError, match="SLA_DATA_DIR: must be a directory"):
        Settings.from_env({"SLA_DATA_DIR": str(blocker)})


def test_unknown_sla_variables_are_reported() -> None:
    assert unknown_keys({"SLA_CLOKC": "event", "SLA_CLOCK": "wall", "PATH": "/bin"}) == ["SLA_CLOKC"]


def test_kafka_security_settings_are_read_once_and_secrets_never_show(tmp_path: Path) -> None:
    password = tmp_path / "password"
    password.write_text("hunter2-but-longer\n")
    s = Settings.from_env({"KAFKA_SECURITY_PROTOCOL": "sasl_ssl", "KAFKA_SASL_MECHANISM": "scram-sha-512",
                           "KAFKA_SASL_USERNAME": "sla", "KAFKA_SASL_PASSWORD_FILE": str(password)})
    kafka = s.kafka
    assert (kafka.security_protocol, kafka.sasl_mechanism, kafka.sasl_username) == ("SASL_SSL", "SCRAM-SHA-512", "sla")
    assert kafka.sasl_password is not None and kafka.sasl_password.reveal() == "hunter2-but-longer"
    shown = repr(s) + str(s.describe()) + kafka.where() + repr(kafka)
    assert "hunter2" not in shown and "'***'" in shown
    assert kafka.options()["sasl_plain_password"] == "hunter2-but-longer"  # only the client library sees it


@pytest.mark.parametrize("env, key", [
    ({"KAFKA_SECURITY_PROTOCOL": "SASL_SSL", "KAFKA_SASL_PASSWORD": "x"}, "KAFKA_SASL_USERNAME"),
    ({"KAFKA_SECURITY_PROTOCOL": "SASL_PLAINTEXT", "KAFKA_SASL_USERNAME": "u"}, "KAFKA_SASL_PASSWORD"),
    ({"KAFKA_SECURITY_PROTOCOL": "TLS"}, "KAFKA_SECURITY_PROTOCOL"),
    ({"KAFKA_SASL_MECHANISM": "GSSAPI"}, "KAFKA_SASL_MECHANISM"),
    ({"KAFKA_SSL_CHECK_HOSTNAME": "maybe"}, "KAFKA_SSL_CHECK_HOSTNAME"),
    ({"KAFKA_SASL_PASSWORD_FILE": "/no/such/secret"}, "KAFKA_SASL_PASSWORD_FILE"),
])
def test_bad_kafka_security_settings_name_their_key(env: dict[str, str], key: str) -> None:
    with pytest.raises(ConfigError) as raised:
        Settings.from_env(env)
    assert raised.value.key == key


def test_a_client_certificate_needs_its_key(tmp_path: Path) -> None:
    cert = tmp_path / "client.pem"
    cert.write_text("-----BEGIN CERTIFICATE-----\n")
    with pytest.raises(ConfigError, match="KAFKA_SSL_CERT_FILE: and KAFKA_SSL_KEY_FILE go together"):
        Settings.from_env({"KAFKA_SECURITY_PROTOCOL": "SSL", "KAFKA_SSL_CERT_FILE": str(cert)})


@pytest.mark.parametrize("env, key, why", [
    ({"SLA_ALERTMANAGER_URLS": "http://a:9093,alertmanager-b"}, "SLA_ALERTMANAGER_URLS",
     "must be an http:// or https:// URL"),
    ({"SLA_ALERTMANAGER_URLS": "http://a:9093,http://a:9093"}, "SLA_ALERTMANAGER_URLS", "names the same URL twice"),
    ({"SLA_ALERTMANAGER_URL": "https://sla:hunter2@am:9093"}, "SLA_ALERTMANAGER_URL", "must not carry credentials"),
    ({"SLA_ALERTMANAGER_BASIC_AUTH_USERNAME": "sla"}, "SLA_ALERTMANAGER_BASIC_AUTH_PASSWORD_FILE", "must be set too"),
    ({"SLA_ALERTMANAGER_BASIC_AUTH_PASSWORD_FILE": "{pw}"}, "SLA_ALERTMANAGER_BASIC_AUTH_USERNAME", "must be set too"),
    ({"SLA_ALERTMANAGER_BASIC_AUTH_USERNAME": "sla", "SLA_ALERTMANAGER_BASIC_AUTH_PASSWORD_FILE": "{pw}",
      "SLA_ALERTMANAGER_BEARER_TOKEN_FILE": "{pw}"}, "SLA_ALERTMANAGER_BEARER_TOKEN_FILE", "exclude each other"),
    ({"SLA_ALERTMANAGER_CA_FILE": "{pw}"}, "SLA_ALERTMANAGER_CA_FILE", "is not a PEM bundle of CA certificates"),
])
def test_alertmanager_settings_name_the_key_and_never_show_a_secret(env: dict, key: str, why: str,
                                                                    tmp_path: Path) -> None:
    pw = tmp_path / "password"
    pw.write_text("hunter2\n")
    env = {k: v.format(pw=pw) for k, v in env.items()}
    with pytest.raises(ConfigError) as err:
        NotifySettings.from_env(env)
    assert err.value.key == key and why in str(err.value) and "hunter2" not in str(err.value)


def test_several_alertmanagers_and_credentials_from_files(tmp_path: Path) -> None:
    pw = tmp_path / "password"
    pw.write_text("hunter2\n")
    s = NotifySettings.from_env({"SLA_ALERTMANAGER_URL": "http://one:9093",
                                 "SLA_ALERTMANAGER_URLS": "https://am-0:9093, https://am-1:9093/",
                                 "SLA_ALERTMANAGER_BASIC_AUTH_USERNAME": "sla",
                                 "SLA_ALERTMANAGER_BASIC_AUTH_PASSWORD_FILE": str(pw)})
    assert s.alertmanager_urls == ("https://am-0:9093", "https://am-1:9093")  # the list form wins
    assert s.alertmanager_password.reveal() == "hunter2" and "hunter2" not in repr(s)
    assert "hunter2" not in str(s.describe())
    assert NotifySettings.from_env({}).alertmanager_urls == ("http://127.0.0.1:9093",)


def test_the_private_pages_are_closed_by_default_and_a_token_file_or_an_explicit_setting_opens_them(
    tmp_path: Path,
) -> None:
    default = Settings.from_env({})
    assert (default.reports_token, default.reports_open) == (None, False)
    token, older = tmp_path / "reports-token", tmp_path / "stackrank-token"
    token.write_text("new-token-1\n")
    older.write_text("old-token-2\n")
    s = Settings.from_env({"SLA_REPORTS_TOKEN_FILE": str(token)})
    assert s.reports_token is not None and s.reports_token.reveal() == "new-token-1" and not s.reports_open
    assert "new-token-1" not in repr(s) + str(s.describe())
    assert Settings.from_env({"SLA_STACKRANK_TOKEN_FILE": str(older)}).reports_token.reveal() == "old-token-2"
    both = Settings.from_env({"SLA_STACKRANK_TOKEN_FILE": str(older), "SLA_REPORTS_TOKEN_FILE": str(token)})
    assert both.reports_token.reveal() == "new-token-1"  # the new name wins over the older one
    assert Settings.from_env({"SLA_REPORTS_OPEN": "true"}).reports_open is True
    assert unknown_keys({"SLA_REPORTS_TOKEN_FILE": "x", "SLA_REPORTS_OPEN": "1", "SLA_STACKRANK_TOKEN_FILE": "y"}) == []


@pytest.mark.parametrize("name", ["SLA_REPORTS_TOKEN_FILE", "SLA_STACKRANK_TOKEN_FILE"])
def test_a_token_and_open_pages_together_is_a_config_error_naming_both_keys(name: str, tmp_path: Path) -> None:
    token = tmp_path / "token"
    token.write_text("tok-1234\n")
    with pytest.raises(ConfigError) as err:
        Settings.from_env({name: str(token), "SLA_REPORTS_OPEN": "yes"})
    assert err.value.key == "SLA_REPORTS_OPEN" and "SLA_REPORTS_TOKEN_FILE" in str(err.value)
    assert "tok-1234" not in str(err.value)
    assert Settings.from_env({name: str(token), "SLA_REPORTS_OPEN": "false"}).reports_token is not None


@pytest.mark.parametrize("content, why", [
    ("", "empty file"), ("\n", "empty file"), ("two words\n", "without spaces"), ("a\nb\n", "without spaces"),
])
def test_a_token_file_must_hold_one_token(content: str, why: str, tmp_path: Path) -> None:
    token = tmp_path / "token"
    token.write_text(content)
    with pytest.raises(ConfigError) as err:
        Settings.from_env({"SLA_REPORTS_TOKEN_FILE": str(token)})
    assert err.value.key == "SLA_REPORTS_TOKEN_FILE" and why in str(err.value)
    with pytest.raises(ConfigError, match="SLA_REPORTS_OPEN: must be true or false"):
        Settings.from_env({"SLA_REPORTS_OPEN": "sometimes"})
    with pytest.raises(ConfigError, match="SLA_REPORTS_TOKEN_FILE: must name a readable file"):
        Settings.from_env({"SLA_REPORTS_TOKEN_FILE": str(tmp_path / "missing")})
