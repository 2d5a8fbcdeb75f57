"""Replay input: JSON lines and mapped CSV exports, with bad rows reported by line number."""

from __future__ import annotations

from pathlib import Path

import orjson

from pipeline.cli.replay import CsvMapping, csv_rows, jsonl_rows, oldest_event, retention_problem
from pipeline.domain.timefmt import parse_rfc3339_ms

ROOT = Path(__file__).resolve().parents[2]


def test_a_mapped_csv_export_becomes_contract_events_and_bad_rows_are_named() -> None:
    mapping = CsvMapping.load(ROOT / "deploy" / "replay" / "example-mapping.toml")
    rows = list(csv_rows(ROOT / "deploy" / "replay" / "example-export.csv", mapping))
    good = [orjson.loads(value) for _, _, value, problem in rows if problem is None]
    bad = {line: problem for line, _, _, problem in rows if problem is not None}
    assert len(good) == 7
    created = good[0]
    assert created == {"ticket_id": "1306525", "type": "ticket.created", "occurred_at": "2026-03-02T09:00:00.000Z",
                       "severity": 1, "product": "Plesk", "customer_id": "ACME", "fastlane": True,
                       "event_id": "1306525:2"}  # 10:00 in Berlin is 09:00 UTC
    assert good[-1]["rating"] == "neutral" and good[-1]["dsat_reason"] == "Workflow: Resolution was delayed"
    assert sorted(bad) == [9, 10, 11]
    assert "Critical" in bad[9] and bad[10].startswith("unknown_type") and "not a date" in bad[11]


def test_jsonl_rows_are_validated_with_their_line_numbers(tmp_path: Path) -> None:
    path = tmp_path / "export.jsonl"
    path.write_text(
        '{"event_id":"a","type":"ticket.closed","ticket_id":"T1","occurred_at":"2026-03-02T09:00:00Z"}\n'
        "\n"
        '{"event_id":"b","type":"ticket.closed","ticket_id":"T1","occurred_at":"2026-03-02T09:00:00"}\n'
        "not json at all\n")
    rows = list(jsonl_rows(path))
    assert [(line, problem is None) for line, _, _, problem in rows] == [(1, True), (3, False), (4, False)]
    assert rows[0][1] == b"T1"
    assert rows[1][3].startswith("invalid_field:occurred_at") and rows[2][3].startswith("malformed_json")


DAY = 86_400_000
NOW = parse_rfc3339_ms("2026-11-29T12:00:00Z")


def test_the_oldest_good_row_is_found_and_bad_rows_do_not_count(tmp_path: Path) -> None:
    path = tmp_path / "export.jsonl"
    rows = [{"event_id": "a", "type": "ticket.closed", "ticket_id": "T1", "occurred_at": "2026-03-05T09:00:00Z"},
            {"event_id": "b", "type": "ticket.closed", "ticket_id": "T2", "occurred_at": "2026-03-02T09:00:00Z"},
            {"event_id": "c", "type": "no.such.type", "ticket_id": "T3", "occurred_at": "2025-01-01T00:00:00Z"}]
    path.write_text("".join(orjson.dumps(r).decode() + "\n" for r in rows))
    assert oldest_event(jsonl_rows(path)) == (2, parse_rfc3339_ms("2026-03-02T09:00:00Z"))
    empty = tmp_path / "empty.jsonl"
    empty.write_text("")
    assert oldest_event(jsonl_rows(empty)) is None


def test_a_topic_that_would_delete_or_refuse_the_oldest_event_is_named_with_its_key() -> None:
    ten_days_old = (7, NOW - 10 * DAY)
    week = {"retention.ms": str(7 * DAY), "message.timestamp.type": "CreateTime"}
    why = retention_problem(week, "tickets.events", ten_days_old, NOW)
    assert why is not None
    assert "topic tickets.events keeps records for retention.ms=604800000 (7.0 days)" in why
    assert "line 7, 2026-11-19T12:00:00.000Z" in why and "10.0 days old" in why and "retention.ms=-1" in why
    # kept: no time retention, retention longer than the age plus the margin, or broker-stamped timestamps
    assert retention_problem({"retention.ms": "-1"}, "tickets.events", ten_days_old, NOW) is None
    assert retention_problem({"retention.ms": str(11 * DAY)}, "tickets.events", ten_days_old, NOW) is None
    assert retention_problem({**week, "message.timestamp.type": "LogAppendTime"}, "tickets.events",
                             ten_days_old, NOW) is None
    # within the margin (an hour for the replay and the workers to read) is not enough
    assert retention_problem({"retention.ms": str(10 * DAY + 1000)}, "tickets.events", ten_days_old, NOW) is not None
    refused = retention_problem({"retention.ms": "-1", "message.timestamp.before.max.ms": str(DAY)},
                                "tickets.events", ten_days_old, NOW)
    assert refused is not None and "message.timestamp.before.max.ms=86400000 (1.0 days)" in refused


async def test_a_topic_whose_configuration_the_acls_hide_is_replayed_with_a_warning(monkeypatch) -> None:
    import io

    from pipeline.cli import replay
    from pipeline.kafka.admin import NotAuthorized

    async def hidden(kafka, topic):  # noqa: ANN001, ANN202
        raise NotAuthorized(f"not authorized to describe the configuration of topic {topic}")

    monkeypatch.setattr(replay, "topic_config", hidden)
    warn = io.StringIO()
    await replay.check_topic_keeps("127.0.0.1:1", "tickets.events", (1, NOW - 10 * DAY), NOW, warn=warn)
    assert "cannot check how long tickets.events keeps records: not authorized" in warn.getvalue()
    assert "(10.0 days)" in warn.getvalue()


class _Producer:
    """Stands in for aiokafka's producer: keeps what was sent."""

    sent: list[tuple[str, bytes, bytes | None]] = []

    def __init__(self, **options: object) -> None:
        pass

    async def start(self) -> None:
        pass

    async def send(self, topic: str, value: bytes, *, key: bytes | None, timestamp_ms: int) -> None:
        self.sent.append((topic, value, key))

    async def flush(self) -> None:
        pass

    async def stop(self) -> None:
        pass


def test_replay_names_each_bad_row_of_the_example_export_once_after_the_progress_line(
    monkeypatch, capsys,  # noqa: ANN001
) -> None:
    from pipeline.cli import main, replay

    async def no_config(kafka, topic):  # noqa: ANN001, ANN202 - a topic that does not exist yet
        return None

    monkeypatch.setattr(replay, "AIOKafkaProducer", _Producer)
    monkeypatch.setattr(replay, "topic_config", no_config)
    monkeypatch.setattr(_Producer, "sent", [])
    monkeypatch.setenv("KAFKA_BOOTSTRAP_SERVERS", "127.0.0.1:1")  # never reached: the producer is a stand-in
    monkeypatch.delenv("SLA_TOPIC_EVENTS", raising=False)
    code = main(["replay", str(ROOT / "deploy" / "replay" / "example-export.csv"),
                 "--mapping", str(ROOT / "deploy" / "replay" / "example-mapping.toml"), "--fast"])
    out, err = capsys.readouterr()
    assert code == 1  # bad rows: not a success
    assert len(_Producer.sent) == 7 and {topic for topic, _, _ in _Producer.sent} == {"tickets.events"}
    assert out.splitlines()[0] == "replayed 10 rows: 7 sent, 3 bad"
    for line in (9, 10, 11):  # the example's three bad rows, on purpose: each named once, on stdout only
        assert (out + err).count(f"line {line}:") == 1, out + err
        assert f"  line {line}: " in out
    assert "rows/s" in err  # the progress line


def test_the_summary_names_every_bad_row_however_many() -> None:
    from pipeline.cli.replay import ReplayReport

    report = ReplayReport(total=300, sent=100, bad=[(n, "malformed_json: x") for n in range(101, 301)])
    lines = report.summary().splitlines()
    assert lines[0] == "replayed 300 rows: 100 sent, 200 bad"
    assert lines[1:] == [f"  line {n}: malformed_json: x" for n in range(101, 301)]
