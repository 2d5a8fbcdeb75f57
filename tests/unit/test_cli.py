"""The command line refuses bad configuration before touching Kafka, naming the key, and explains itself."""

from __future__ import annotations

import argparse

import pytest

from pipeline.cli import _parser, main


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
    err = capsys.readouterr().err
    assert "cannot connect to Kafka at 127.0.0.1:1 (PLAINTEXT): nothing accepts connections there" in err
    assert len(err.strip().splitlines()) == 1


def test_help_works_whatever_the_environment_holds(monkeypatch: pytest.MonkeyPatch,
                                                    capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("SLA_NOTIFIER_PORT", "not-a-port")
    with pytest.raises(SystemExit) as done:
        main(["notify", "--help"])
    assert done.value.code == 0 and "--alertmanager-url" in capsys.readouterr().out


@pytest.mark.parametrize("command, key, value, why", [
    (["notify"], "SLA_NOTIFIER_PORT", "not-a-port", "must be an integer from 0 to 65535, got 'not-a-port'"),
    (["notify"], "SLA_ALERTMANAGER_URL", "alertmanager:9093", "must be an http:// or https:// URL"),
    (["kafka", "status"], "SLA_KAFKA_VERSION", "latest", "must be an Apache Kafka version such as 3.9.1"),
    (["generate", "--check"], "SLA_RUNBOOK_BASE_URL", "wiki/runbooks", "must be an http:// or https:// URL"),
    (["escalations"], "SLA_TOPIC_ESCALATIONS", "bad topic", "must be a Kafka topic name"),
])
def test_every_command_reads_its_settings_from_the_environment_and_names_a_bad_key(
    command: list[str], key: str, value: str, why: str,
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv(key, value)
    assert main(command) == 2
    assert f"configuration error: {key}: {why}" in capsys.readouterr().err


def test_flags_win_over_the_environment_for_each_command() -> None:
    from pipeline.settings import BrokerSettings, NotifySettings

    flags = NotifySettings.fields_from_flags({"alertmanager_urls": "http://flag:9093", "web_port": 1})
    assert flags == {"alertmanager_urls": "http://flag:9093"}  # web_port is not the notifier's
    notify = NotifySettings.from_env({"SLA_ALERTMANAGER_URL": "http://env:9093"}, **flags)
    assert notify.alertmanager_urls == ("http://flag:9093",)
    broker = BrokerSettings.from_env({"KAFKA_BOOTSTRAP_SERVERS": "127.0.0.1:19092"})
    assert (broker.port, broker.kafka_version) == (19092, "3.9.1")
    assert BrokerSettings.from_env({}, kafka_port=29092).port == 29092


def test_worker_stops_on_a_rule_naming_an_undefined_calendar_before_touching_kafka(
    tmp_path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
) -> None:
    from tests.business_hours import POLICY, write_policy

    path = write_policy(tmp_path, POLICY.replace('severity = [3, 4], calendar = "emea"',
                                                 'severity = [3, 4], calendar = "apac"'))
    monkeypatch.setenv("SLA_POLICY_FILE", str(path))
    monkeypatch.setenv("KAFKA_BOOTSTRAP_SERVERS", "127.0.0.1:1")  # never reached: the policy stops it first
    assert main(["worker"]) == 2
    err = capsys.readouterr().err
    assert ("configuration error: policy.toml: calendar_for.rules[1].calendar: names no calendar defined under "
            "[calendars] (defined: 24x7, emea), got 'apac'") in err


def _commands() -> tuple[argparse.ArgumentParser, argparse._SubParsersAction]:
    parser = _parser()
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    return parser, sub


def test_every_command_has_a_one_line_summary_and_every_option_a_help_text() -> None:
    parser, sub = _commands()
    missing = []
    listed = {action.dest: action.help for action in sub._choices_actions}  # the lines of `sla-pipeline --help`
    for name, command in sub.choices.items():
        summary = listed.get(name) or ""
        if not summary.strip() or "\n" in summary or len(summary) > 60:  # one line of an 80-column terminal
            missing.append(f"{name}: summary {summary!r}")
        if not (command.description or "").strip():
            missing.append(f"{name}: no description on its own --help")
    for name, command in [("sla-pipeline", parser), *sub.choices.items()]:
        for action in command._actions:
            if isinstance(action, argparse._SubParsersAction):
                continue
            if not (action.help or "").strip() or action.help == argparse.SUPPRESS:
                missing.append(f"{name} {'/'.join(action.option_strings) or action.dest}: no help text")
    assert missing == []
    assert len(sub.choices) >= 14  # the walk saw the commands


SECRETS = {"KAFKA_SASL_PASSWORD": "sasl-pw-4f1c", "SLA_ALERTMANAGER_URLS": "http://admin:url-pw-9d2e@am.example:9093"}
SECRET_FILES = {"KAFKA_SASL_PASSWORD_FILE": "sasl-file-pw-71aa", "KAFKA_SSL_KEY_PASSWORD_FILE": "key-pw-0b3f",
                "SLA_REPORTS_TOKEN_FILE": "reports-token-5e6d-long-enough-to-be-accepted",
                "SLA_ALERTMANAGER_BEARER_TOKEN_FILE": "bearer-8c8c",
                "SLA_ALERTMANAGER_BASIC_AUTH_PASSWORD_FILE": "basic-pw-3a3a"}


def test_no_help_text_shows_a_secret_from_the_environment(
    tmp_path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
) -> None:
    for key, value in SECRETS.items():
        monkeypatch.setenv(key, value)
    for key, value in SECRET_FILES.items():
        path = tmp_path / key.lower()
        path.write_text(value + "\n")
        monkeypatch.setenv(key, str(path))
    _, sub = _commands()
    shown = []
    for argv in [["--help"], *([name, "--help"] for name in sub.choices)]:
        with pytest.raises(SystemExit) as done:
            main(argv)
        assert done.value.code == 0, argv
        shown.append(capsys.readouterr().out)
    text = "\n".join(shown)
    assert "--alertmanager-url" in text and "--runbook-base-url" in text  # every page was read
    for secret in [*SECRET_FILES.values(), SECRETS["KAFKA_SASL_PASSWORD"], "url-pw-9d2e"]:
        assert secret not in text


def test_a_bad_flag_value_is_named_by_its_flag_and_a_bad_variable_by_its_name(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.delenv("SLA_REPORT_TIMEZONE", raising=False)
    assert main(["report", "debrief", "--timezone", "Mars/Base"]) == 2
    err = capsys.readouterr().err
    assert "--timezone: must be an IANA time zone" in err and "SLA_REPORT_TIMEZONE" not in err
    monkeypatch.setenv("SLA_REPORT_TIMEZONE", "Mars/Base")
    assert main(["report", "debrief"]) == 2
    assert "SLA_REPORT_TIMEZONE: must be an IANA time zone" in capsys.readouterr().err
    # a flag wins over the variable it overrides, even a bad one: no error about the variable
    assert main(["report", "debrief", "--timezone", "Mars/Base"]) == 2
    assert "--timezone:" in capsys.readouterr().err
