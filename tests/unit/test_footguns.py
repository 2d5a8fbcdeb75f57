"""Small things that hurt at 3 a.m.: a demo that deletes the folder it is given, escape sequences from
upstream reaching the terminal, a hint that names a flag that does not exist."""

from __future__ import annotations

from pathlib import Path

import pytest

from pipeline.cli.demo import MARKER, prepare_workdir
from pipeline.cli.escalations import line, printable
from pipeline.cli.stackrank import table
from pipeline.domain.records import Escalation
from pipeline.errors import PipelineError


def test_the_demo_never_empties_a_folder_it_did_not_make(tmp_path: Path) -> None:
    precious = tmp_path / "checkout"
    precious.mkdir()
    (precious / "README.md").write_text("keep me")
    with pytest.raises(PipelineError, match="was not made by the demo; choose another --dir"):
        prepare_workdir(precious)
    assert (precious / "README.md").read_text() == "keep me"


def test_the_demo_empties_its_own_folder_for_a_fresh_run(tmp_path: Path) -> None:
    work = tmp_path / ".demo"
    prepare_workdir(work)
    (work / "worker.log").write_text("old run")
    prepare_workdir(work)
    assert sorted(p.name for p in work.iterdir()) == [MARKER]
    empty = tmp_path / "empty"
    empty.mkdir()
    prepare_workdir(empty)  # an empty folder is fine
    assert (empty / MARKER).exists()


def test_escape_sequences_from_upstream_are_shown_not_interpreted() -> None:
    evil = "T-1\x1b[2J\x1b]0;pwned\x07"
    esc = Escalation("x", 1, evil, "irt_at_risk", 2, 1, "plesk\r", "C\x1b[31m", False, "E\x00", None, 0.8,
                     "reason\x1b[1A", "2026-03-02T09:12:00.000Z")
    text = line(esc)
    assert "\x1b" not in text and "\x07" not in text and "\r" not in text and "\x00" not in text
    assert "T-1\\x1b[2J\\x1b]0;pwned\\x07" in text
    assert printable("Zoë 日本") == "Zoë 日本"  # printable text is left alone
    report = {"ranked": [{"rank": 1, "engineer": "E\x1b[2J", "vsat_ratio": 1.0, "quality_ratio": None,
                          "art_ratio": 1.0, "art_seconds": 60.0, "score": 1.0, "samples": 5, "surveys": 5,
                          "dsat": 0}], "unranked": [], "minimum": {"surveys": 5, "samples": 5},
              "weights": {"vsat": 0.5, "quality": 0.25, "art": 0.25}, "window": "7d", "as_of": "now"}
    assert "\x1b" not in table(report)
