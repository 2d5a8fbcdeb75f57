"""Replay input: JSON lines and mapped CSV exports, with bad rows reported by line number."""

from __future__ import annotations

from pathlib import Path

import orjson

from pipeline.cli.replay import CsvMapping, csv_rows, jsonl_rows

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
