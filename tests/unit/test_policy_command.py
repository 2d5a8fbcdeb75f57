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


@pytest.mark.parametrize("flags", [["--product", "desktop"], ["--fastlane"], ["--created", "2026-03-06T16:30:00Z"],
                                   ["--customer", "C-0042"], ["--contract", "gold"]])
def test_a_ticket_trait_without_severity_is_refused_by_name(flags: list[str], capsys: pytest.CaptureFixture[str],
                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("SLA_POLICY_FILE", raising=False)
    code, out, err = run(capsys, *flags)
    assert code == 2 and out == ""  # refused before anything is said about the policy
    assert f"configuration error: {flags[0]}: needs --severity" in err


# --- contracts (contract v3 section 10) -------------------------------------------------------------

# Section 10's gold/standard example as it stands in the contract, and section 9's emea calendar with its
# hours as a sub-table (the contract's two-line inline table is TOML 1.1; Python's tomllib reads TOML 1.0).
CONTRACTS = """
[calendars.emea]
timezone = "Europe/Berlin"
holidays = ["2026-12-24", "2026-12-25", "2026-12-26"]
[calendars.emea.hours]
mon = ["08:00-18:00"]
tue = ["08:00-18:00"]
wed = ["08:00-18:00"]
thu = ["08:00-18:00"]
fri = ["08:00-17:00"]

[contracts.gold]
calendar = "24x7"
goal = 0.99
goals = { resolution = 0.95 }
pause_while_waiting = ["resolution"]
notify = ["resolution", "next_response"]
critical_incidents_per_month = 10
[contracts.gold.targets_minutes]
irt           = { 1 = 10, 2 = 30, 3 = 120, 4 = 480 }
next_response = { 1 = 30, 2 = 120, 3 = 480 }
workaround    = { 1 = 240, 2 = 1440 }
resolution    = { 1 = 1440, 2 = 4320, 3 = 10080 }

[contracts.standard]
calendar = "emea"
[contracts.standard.targets_minutes]
irt        = { 1 = 15, 2 = 60, 3 = 240, 4 = 1440 }
resolution = { 2 = 7200, 3 = 14400 }

[contract_for]
rules = [ { customer = ["C-0042", "C-0107"], contract = "gold" },
          { product = "service-provider", contract = "gold" } ]
default = "standard"
"""
FRIDAY = "2026-03-06T16:30:00+01:00"  # a Friday, half an hour before emea closes for the weekend


def ask(tmp_path: Path, capsys: pytest.CaptureFixture[str], *argv: str) -> list[str]:
    code, out, err = run(capsys, "--policy-file", str(write_policy(tmp_path, CONTRACTS)), *argv)
    assert code == 0, err
    return out.splitlines()


def block(lines: list[str], head: str) -> list[str]:
    """The line starting with ``head`` and the more indented lines under it."""
    start = next(i for i, line in enumerate(lines) if line.startswith(head))
    indent = len(head) - len(head.lstrip())
    end = next((j for j in range(start + 1, len(lines))
                if len(lines[j]) - len(lines[j].lstrip()) <= indent), len(lines))
    return lines[start:end]


def test_the_contracts_are_said_in_words_with_their_rules_in_order(
    tmp_path: Path, capsys: pytest.CaptureFixture[str],
) -> None:
    lines = ask(tmp_path, capsys)
    assert "  emea: Europe/Berlin; mon-thu 08:00-18:00, fri 08:00-17:00; holidays 2026-12-24, 2026-12-25, " \
           "2026-12-26" in lines  # a calendar only a contract names is described too
    assert block(lines, "  gold:") == [
        "  gold: calendar 24x7",
        "    first response: Sev1 10 min, Sev2 30 min, Sev3 2 h, Sev4 8 h; goal 99 %",
        "    next response: Sev1 30 min, Sev2 2 h, Sev3 8 h (Sev4 not judged); goal 99 %",
        "    workaround: Sev1 4 h, Sev2 24 h (Sev3, Sev4 not judged); goal 99 %",
        "    resolution: Sev1 24 h, Sev2 72 h, Sev3 168 h (Sev4 not judged); goal 95 %",
        "    paused while waiting on the customer: resolution",
        "    notices (warnings, never pages): at risk and breached for next response, resolution",
        "    FastLane: targets x0.5 (the [irt] multiplier)",
        "    critical incidents: 10 a month per customer (Sev1); the first one over warns the account team",
    ]
    assert block(lines, "  standard:") == [
        "  standard: calendar emea",
        "    first response: Sev1 15 min, Sev2 1 h, Sev3 4 h, Sev4 24 h; goal 99 %",
        "    resolution: Sev2 120 h, Sev3 240 h (Sev1, Sev4 not judged); goal 99 %",
        "    paused while waiting on the customer: nothing",
        "    notices (warnings, never pages): none",
        "    FastLane: targets x0.5 (the [irt] multiplier)",
        "    critical incidents: no allowance",
    ]
    rules = block(lines, "Contract rules")
    assert "the first matching rule wins" in rules[0]
    assert rules[1:] == ["  1. customer C-0042, C-0107 -> gold", "  2. product service-provider -> gold",
                         "  otherwise standard"]


def test_a_standard_sev3_created_on_friday_at_16_30_is_due_on_monday_at_11_30_in_berlin(
    tmp_path: Path, capsys: pytest.CaptureFixture[str],
) -> None:
    lines = ask(tmp_path, capsys, "--severity", "3", "--product", "desktop", "--customer", "C-0001",
                "--created", FRIDAY)
    ticket = lines[lines.index("") + 1:]
    assert ticket[0] == ("A Sev3 ticket (desktop) for customer C-0001 created 2026-03-06T15:30:00.000Z "
                         "(Fri 2026-03-06 16:30 Europe/Berlin):")
    assert ticket[1] == "  contract standard: the default (no rule matches)"
    assert ticket[2] == "  calendar emea: its targets are counted in its hours only"
    # half an hour on Friday, three and a half on Monday from 08:00; at risk at half of 4 h
    assert block(ticket, "  first response") == [
        "  first response, target 4 h, from creation:",
        "    at risk (half the budget)  2026-03-09T08:30:00.000Z (Mon 2026-03-09 09:30 Europe/Berlin)",
        "    deadline                   2026-03-09T10:30:00.000Z (Mon 2026-03-09 11:30 Europe/Berlin)",
    ]
    # 240 h of 49-hour weeks: 0.5 h Friday, four whole weeks, then Mon-Thu and 3.5 h on Friday 10 April
    # (after the change to summer time on 29 March: 09:30 UTC)
    assert block(ticket, "  resolution") == [
        "  resolution, target 240 h, from creation:",
        "    at risk (half the budget)  2026-03-25T08:30:00.000Z (Wed 2026-03-25 09:30 Europe/Berlin)",
        "    deadline                   2026-04-10T09:30:00.000Z (Fri 2026-04-10 11:30 Europe/Berlin)",
    ]
    assert not any(line.startswith(("  next response", "  workaround", "  BizCrit")) for line in ticket)


def test_next_response_counts_from_each_customer_reply_and_notices_are_named(
    tmp_path: Path, capsys: pytest.CaptureFixture[str],
) -> None:
    lines = ask(tmp_path, capsys, "--severity", "3", "--customer", "C-0042", "--created", FRIDAY)
    assert "  contract gold: by rule 1 (customer C-0042, C-0107)" in lines
    assert "  calendar 24x7: its targets are counted round the clock" in lines
    assert block(lines, "  next response") == [
        "  next response, target 8 h, from each customer reply (here: a reply at the creation instant); "
        "at-risk and breach notices:",
        "    at risk (half the budget)  2026-03-06T19:30:00.000Z (Fri 2026-03-06 19:30 UTC)",
        "    deadline                   2026-03-06T23:30:00.000Z (Fri 2026-03-06 23:30 UTC)",
    ]
    assert block(lines, "  resolution")[0] == (
        "  resolution, target 168 h, from creation; stops while waiting on the customer (the deadline moves by "
        "the time paused); at-risk and breach notices:")
    assert not any(line.startswith("  workaround") for line in lines)  # gold judges no Sev3 workaround


@pytest.mark.parametrize(("flags", "said"), [
    (["--product", "service-provider"], "  contract gold: by rule 2 (product service-provider)"),
    (["--customer", "C-0107", "--product", "service-provider"], "  contract gold: by rule 1 (customer C-0042, C-0107)"),
    (["--customer", "C-0042", "--contract", "standard"],
     "  contract standard: the ticket's own contract field names it"),
    (["--product", "desktop", "--contract", "gold"], "  contract gold: the ticket's own contract field names it"),
])
def test_the_ticket_s_own_contract_comes_first_then_the_first_matching_rule(
    flags: list[str], said: str, tmp_path: Path, capsys: pytest.CaptureFixture[str],
) -> None:
    assert said in ask(tmp_path, capsys, "--severity", "2", "--created", FRIDAY, *flags)


def test_an_unknown_contract_is_named_and_the_rules_decide(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    lines = ask(tmp_path, capsys, "--severity", "2", "--product", "desktop", "--contract", "platinum",
                "--created", FRIDAY)
    assert ("  contract standard: the default (no rule matches); the ticket's contract \"platinum\" is unknown to "
            "this policy (its outcomes carry requested_contract, and sla_contract_unknown_total counts it)") in lines
    assert "  first response, target 1 h, from creation:" in lines  # judged under standard's targets
    lines = ask(tmp_path, capsys, "--severity", "2", "--product", "service-provider", "--contract", "platinum",
                "--created", FRIDAY)
    assert any(line.startswith("  contract gold: by rule 2 (product service-provider); the ticket's contract "
                               "\"platinum\" is unknown") for line in lines)


def test_a_bizcrit_ticket_under_a_contract_keeps_its_rungs_and_fastlane_halves_every_target(
    tmp_path: Path, capsys: pytest.CaptureFixture[str],
) -> None:
    lines = ask(tmp_path, capsys, "--severity", "2", "--fastlane", "--customer", "C-0107",
                "--created", "2026-03-06T16:30:00Z")
    assert [line.split(",")[0] for line in lines if line.startswith("  ") and ", target " in line] == [
        "  first response", "  next response", "  workaround", "  resolution"]
    assert "  first response, target 15 min, from creation:" in lines  # gold's 30 min, FastLane x0.5
    assert "  resolution, target 36 h, from creation; stops while waiting on the customer (the deadline moves " \
           "by the time paused); at-risk and breach notices:" in lines
    rungs = [(line.split()[1], line.split()[2], line.split()[-2]) for line in block(lines, "  BizCrit")[1:]]
    assert rungs == [("irt_at_risk", "1", "16:37:30"), ("irt_at_risk", "2", "16:42"), ("irt_breached", "3", "16:45"),
                     ("bizcrit_tier3", "1", "17:00"), ("bizcrit_management", "2", "18:30"),
                     ("bizcrit_executive", "3", "20:30")]


def test_first_response_targets_a_contract_leaves_out_come_from_irt_and_the_implicit_default_is_described(
    tmp_path: Path, capsys: pytest.CaptureFixture[str],
) -> None:
    path = write_policy(tmp_path, "[irt.targets_minutes]\n3 = 300\n"
                                  "[contracts.partner]\nfastlane_multiplier = 1\n"
                                  "[contracts.partner.targets_minutes]\nirt = { 1 = 5, 2 = 20 }\n"
                                  "workaround = { 1 = 60 }\n"
                                  "[contract_for]\nrules = [ { product = \"managed\", contract = \"partner\" } ]\n")
    code, out, err = run(capsys, "--policy-file", str(path))
    assert code == 0, err
    lines = out.splitlines()
    assert block(lines, "  partner:")[1:3] == [
        "    first response: Sev1 5 min, Sev2 20 min, Sev3 5 h, Sev4 24 h (Sev3, Sev4 from [irt]); goal 99 %",
        "    workaround: Sev1 1 h (Sev2, Sev3, Sev4 not judged); goal 99 %"]
    assert "    FastLane: targets x1" in block(lines, "  partner:")
    assert block(lines, "  default (implicit")[:2] == [
        "  default (implicit: the [irt] targets, first response only): calendar 24x7",
        "    first response: Sev1 15 min, Sev2 1 h, Sev3 5 h, Sev4 24 h; goal 99 %"]
    assert block(lines, "Contract rules")[1:] == ["  1. product managed -> partner", "  otherwise default"]


def test_a_contract_flag_is_refused_by_name_when_it_cannot_be_a_contract(capsys: pytest.CaptureFixture[str],
                                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("SLA_POLICY_FILE", raising=False)
    code, out, err = run(capsys, "--severity", "2", "--contract", "x" * 65)
    assert code == 2 and out == ""
    assert "configuration error: --contract: must be 1-64 characters" in err


def test_a_policy_without_contracts_says_so_of_a_requested_contract(capsys: pytest.CaptureFixture[str],
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("SLA_POLICY_FILE", raising=False)
    code, out, _ = run(capsys, "--severity", "2", "--contract", "gold", "--created", "2026-03-07T10:00:00Z")
    assert code == 0 and "Contracts" not in out
    assert ("  contract gold: this policy defines no contracts; every ticket is judged on its first response "
            "against the [irt] targets") in out
    assert "2026-03-07T11:00:00.000Z (Sat 2026-03-07 11:00 UTC)" in out
