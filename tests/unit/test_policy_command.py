"""``sla-pipeline policy``: a support manager checks a policy file and asks when a ticket would be due."""

from __future__ import annotations

from pathlib import Path

import pytest

from pipeline.cli import main
from tests.business_hours import write_policy


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(["policy", *argv])
    out, err = capsys.readouterr()
    return code, out, err


def test_the_friday_example_is_due_on_monday_at_11_30_in_berlin_and_at_risk_at_09_30(
    tmp_path: Path, capsys: pytest.CaptureFixture[str],
) -> None:
    path = write_policy(tmp_path)
    code, out, _ = run(capsys, "--policy-file", str(path), "--severity", "3", "--product", "desktop",
                       "--created", "2026-03-06T16:30:00+01:00")
    assert code == 0
    assert "policy.toml: valid" in out
    assert ("  emea: Europe/Berlin; mon-thu 08:00-18:00, fri 08:00-17:00; holidays 2026-12-24, 2026-12-25, "
            "2026-12-26") in out
    assert "  1. severity 1; product desktop -> emea\n  2. severity 3, 4 -> emea\n  otherwise 24x7" in out
    assert "calendar emea: its 4 h IRT target is counted in its hours only" in out
    lines = out.splitlines()
    assert any(line.startswith("  at risk on the board (half the budget)") and line.endswith(
        "2026-03-09T08:30:00.000Z (Mon 2026-03-09 09:30 Europe/Berlin)") for line in lines)
    assert any(line.startswith("  IRT deadline") and line.endswith(
        "2026-03-09T10:30:00.000Z (Mon 2026-03-09 11:30 Europe/Berlin)") for line in lines)


def test_a_bizcrit_ticket_lists_its_rungs_with_bizcrit_ones_round_the_clock(
    tmp_path: Path, capsys: pytest.CaptureFixture[str],
) -> None:
    path = write_policy(tmp_path)
    _, out, _ = run(capsys, "--policy-file", str(path), "--severity", "1", "--product", "desktop",
                    "--created", "2026-03-06T16:55:00+01:00")
    rungs = [line.split()[1:3] + [line.rsplit("(", 1)[1]] for line in out.splitlines()
             if line.startswith("  escalation ")]
    assert rungs == [["bizcrit_tier3", "1", "Fri 2026-03-06 17:25 Europe/Berlin)"],
                     ["bizcrit_management", "2", "Fri 2026-03-06 18:55 Europe/Berlin)"],
                     ["bizcrit_executive", "3", "Fri 2026-03-06 20:55 Europe/Berlin)"],
                     ["irt_at_risk", "1", "Mon 2026-03-09 08:02:30 Europe/Berlin)"],
                     ["irt_at_risk", "2", "Mon 2026-03-09 08:07 Europe/Berlin)"],
                     ["irt_breached", "3", "Mon 2026-03-09 08:10 Europe/Berlin)"]]


def test_without_calendars_every_ticket_is_round_the_clock(capsys: pytest.CaptureFixture[str],
                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("SLA_POLICY_FILE", raising=False)
    code, out, _ = run(capsys, "--severity", "2", "--created", "2026-03-07T10:00:00Z")
    assert code == 0 and "the built-in policy: valid" in out
    assert "Calendars: none; every ticket is counted round the clock (24x7)" in out
    assert "calendar 24x7: its 1 h IRT target is counted round the clock" in out
    assert "2026-03-07T11:00:00.000Z (Sat 2026-03-07 11:00 UTC)" in out


def test_mistakes_name_their_key(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bad = write_policy(tmp_path, '[calendars.emea]\ntimezone = "Europe/Berlinn"\nhours = { mon = ["08:00-18:00"] }\n')
    code, _, err = run(capsys, "--policy-file", str(bad))
    assert code == 2 and "configuration error: policy.toml: calendars.emea.timezone: is not an IANA time zone" in err
    code, _, err = run(capsys, "--severity", "3", "--created", "Friday 16:30")
    assert code == 2 and "configuration error: --created: must be an RFC 3339 instant" in err


@pytest.mark.parametrize("flags", [["--product", "desktop"], ["--fastlane"], ["--created", "2026-03-06T16:30:00Z"]])
def test_a_ticket_trait_without_severity_is_refused_by_name(flags: list[str], capsys: pytest.CaptureFixture[str],
                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("SLA_POLICY_FILE", raising=False)
    code, out, err = run(capsys, *flags)
    assert code == 2 and out == ""  # refused before anything is said about the policy
    assert f"configuration error: {flags[0]}: needs --severity" in err
