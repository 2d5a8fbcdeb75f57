"""The JSONL producer keys each record by ticket_id and stamps it with occurred_at."""

from __future__ import annotations

import io

from pipeline.cli.produce import ProduceReport, key_and_timestamp, read_lines
from pipeline.domain.timefmt import parse_rfc3339_ms


def test_key_and_timestamp_come_from_the_event() -> None:
    line = b'{"ticket_id": "T-7", "occurred_at": "2026-03-02T09:00:00+01:00", "type": "ticket.closed"}'
    assert key_and_timestamp(line) == (b"T-7", parse_rfc3339_ms("2026-03-02T08:00:00Z"))


def test_unreadable_lines_still_go_out_without_key_or_timestamp() -> None:
    assert key_and_timestamp(b"{not json") == (None, None)
    assert key_and_timestamp(b"[1]") == (None, None)
    assert key_and_timestamp(b'{"ticket_id": 5, "occurred_at": "yesterday"}') == (None, None)


def test_blank_lines_are_skipped_and_numbers_kept() -> None:
    lines = list(read_lines(io.BytesIO(b'{"a":1}\n\n  \n{"b":2}\r\n')))
    assert lines == [(1, b'{"a":1}'), (4, b'{"b":2}')]


def test_report_names_the_lines() -> None:
    report = ProduceReport(sent=3, without_key=[2], without_timestamp=[2, 3])
    assert report.summary() == ("sent 3 records; 1 without a ticket_id key (lines 2); 2 without a readable "
                                "occurred_at, sent with the broker's time (lines 2, 3)")
