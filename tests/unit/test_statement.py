"""A customer's SLA statement, built from hand-made outcome records as ``sla.outcomes`` carries them: the
contracts it was judged under, their targets in words, compliance per metric against the goal, the
critical-incident allowance and every breach; the monthly report per contract; the CLI in JSON and CSV."""

from __future__ import annotations

import csv
import io

import orjson
import pytest

from pipeline.domain.contracts import Contract
from pipeline.domain.policy import Policy
from pipeline.domain.records import Outcome
from pipeline.domain.timefmt import MINUTE_MS, parse_rfc3339_ms
from pipeline.reports import build, period, render
from pipeline.reports import statement as statements

LATER = parse_rfc3339_ms("2027-01-01T00:00:00Z")  # the judging clock, long after March 2026
MIN = 60


def gold_policy() -> Policy:
    gold = Contract(
        "gold",
        targets_ms={"irt": {1: 10 * MINUTE_MS, 2: 30 * MINUTE_MS, 3: 120 * MINUTE_MS, 4: 480 * MINUTE_MS},
                    "next_response": {1: 30 * MINUTE_MS, 2: 120 * MINUTE_MS, 3: 480 * MINUTE_MS},
                    "workaround": {1: 240 * MINUTE_MS, 2: 1440 * MINUTE_MS},
                    "resolution": {1: 1440 * MINUTE_MS, 2: 4320 * MINUTE_MS, 3: 10080 * MINUTE_MS}},
        goals={"irt": 0.99, "next_response": 0.99, "workaround": 0.99, "resolution": 0.95},
        pause_while_waiting=frozenset({"resolution"}), notify=frozenset({"resolution", "next_response"}),
        critical_incidents_per_month=2)
    standard = Contract("standard", targets_ms={"irt": {1: 15 * MINUTE_MS, 2: 60 * MINUTE_MS},
                                                "resolution": {2: 7200 * MINUTE_MS, 3: 14400 * MINUTE_MS}},
                        goals={"irt": 0.99, "resolution": 0.9}, fastlane_multiplier=1)
    return Policy(contracts={"gold": gold, "standard": standard}, default_contract="standard", digest="0123456789ab")


def out(tid: str, metric: str, severity: int, outcome: str | None, decided_at: str, target_min: float | None, *,
        value: float | None = None, counted: float | None = None, paused: float | None = None, cycle: int = 1,
        customer: str = "GOLD-1", contract: str | None = "gold", **extra: object) -> Outcome:
    """An outcome record as the pipeline publishes it (optional fields only when they have a value)."""
    doc = {"outcome_id": f"{tid}:{metric}:{cycle}", "ticket_id": tid, "metric": metric, "cycle": cycle,
           "severity": severity, "product": "service-provider", "customer_id": customer, "fastlane": False,
           "engineer_id": "E1", "target_seconds": None if target_min is None else target_min * MIN,
           "value_seconds": value, "outcome": outcome, "decided_at": decided_at}
    optional = {"contract": contract, "policy": "0123456789ab" if contract else None, "counted_seconds": counted,
                "paused_seconds": paused, **extra}
    doc |= {k: v for k, v in optional.items() if v is not None}
    return Outcome.decode(orjson.dumps(doc))


def march() -> list[Outcome]:
    return [
        # G0: Sev1 created 2026-02-28 23:58, never answered: breached in March, created in February
        out("G0", "irt", 1, "breached", "2026-03-01T00:08:00.000Z", 10),
        # G1: Sev1 of 03-03 10:00, answered in 5 min; the customer's reply at 11:30 went unanswered for 30 min;
        # a workaround in time; resolution 24 h, of which 2 h waiting on the customer: breached at 03-04 12:00
        out("G1", "irt", 1, "met", "2026-03-03T10:05:00.000Z", 10, value=300, counted=300),
        out("G1", "next_response", 1, "breached", "2026-03-03T12:00:00.000Z", 30,
            started_at="2026-03-03T11:30:00.000Z"),
        out("G1", "workaround", 1, "met", "2026-03-03T12:30:00.000Z", 240, value=9000, counted=9000),
        out("G1", "resolution", 1, "breached", "2026-03-04T12:00:00.000Z", 1440, paused=7200),
        out("G1", "ttr", 1, None, "2026-03-05T09:00:00.000Z", None, value=169200),  # a measurement
        # G2: Sev1 of 03-10 08:00, unanswered
        out("G2", "irt", 1, "breached", "2026-03-10T08:10:00.000Z", 10),
        out("G2", "irt", 1, "breached", "2026-03-10T08:10:00.000Z", 10),  # published again: counted once
        # G3: Sev1 created 03-31 23:55, answered after midnight: its IRT is April's, its creation March's
        out("G3", "irt", 1, "met", "2026-04-01T00:02:00.000Z", 10, value=420, counted=420),
        # G4: Sev3 resolved in 5 days with an hour waiting on the customer: met
        out("G4", "irt", 3, "met", "2026-03-12T09:30:00.000Z", 120, value=1800, counted=1800),
        out("G4", "resolution", 3, "met", "2026-03-17T09:00:00.000Z", 10080, value=432000, counted=428400,
            paused=3600),
        # S1: the customer's ticket under standard (it asked for a plan the policy lacks), Sev2 answered in time
        out("S1", "irt", 2, "met", "2026-03-20T10:20:00.000Z", 60, value=1200, counted=1200, contract="standard",
            requested_contract="platinum-legacy"),
        # other customers and other months are not in it
        out("X1", "irt", 1, "breached", "2026-03-03T10:10:00.000Z", 10, customer="OTHER"),
        out("G5", "irt", 1, "breached", "2026-04-02T10:10:00.000Z", 10),
    ]


def gold_statement(now: int = LATER) -> dict:
    return statements.statement(period.parse("month", "2026-03", "UTC", now), "GOLD-1", march(), gold_policy())


def test_a_statement_holds_each_contract_of_the_month_with_its_targets_compliance_allowance_and_breaches() -> None:
    report = gold_statement()
    assert report["customer_id"] == "GOLD-1" and report["period"]["label"] == "2026-03"
    assert [c["contract"] for c in report["contracts"]] == ["gold", "standard"]  # the policy's order
    assert report["summary"] == {"decided": 9, "breaches": 4, "contracts": ["gold", "standard"]}
    assert report["policies"] == ["0123456789ab"]
    gold, standard = report["contracts"]

    targets = {t["metric"]: t for t in gold["targets"]}
    assert list(targets) == ["irt", "next_response", "workaround", "resolution"]
    assert targets["irt"]["by_severity"]["1"] == {"target_seconds": 600, "words": "10 min"}
    assert targets["resolution"]["by_severity"]["1"]["words"] == "24 h"
    assert targets["next_response"]["by_severity"]["4"] is None  # no target: not judged
    assert targets["resolution"]["goal"] == 0.95
    assert gold["terms"]["words"] == ("Counted round the clock. The resolution clock stops while a ticket waits "
                                      "on you. FastLane tickets' targets are x0.5.")

    got = {c["metric"]: c for c in gold["compliance"]}
    # IRT: G0 (decided in March) breached, G1 met, G2 breached (once), G4 met; G3 was decided in April
    assert {k: got["irt"][k] for k in ("decided", "met", "breached", "ratio", "goal", "meets_goal")} == {
        "decided": 4, "met": 2, "breached": 2, "ratio": 0.5, "goal": 0.99, "meets_goal": False}
    assert (got["next_response"]["decided"], got["next_response"]["breached"]) == (1, 1)
    assert (got["workaround"]["ratio"], got["workaround"]["meets_goal"]) == (1.0, True)
    assert (got["resolution"]["ratio"], got["resolution"]["paused_seconds"]) == (0.5, 7200 + 3600)
    assert got["irt"]["by_severity"]["3"]["ratio"] == 1.0

    # G1, G2 and G3 were Sev1 tickets created in March (G3 answered in April); G0 was created in February
    allowance = gold["allowance"]
    assert {k: allowance[k] for k in ("allowed", "used", "over", "tickets")} == {
        "allowed": 2, "used": 3, "over": True, "tickets": ["G1", "G2", "G3"]}
    assert "Sev1 tickets created in 2026-03 (UTC)" in allowance["counted"]

    assert [(b["ticket_id"], b["metric"]) for b in gold["breaches"]] == [
        ("G0", "irt"), ("G1", "next_response"), ("G1", "resolution"), ("G2", "irt")]
    nr, res = gold["breaches"][1], gold["breaches"][2]
    assert (nr["actual"], nr["target_seconds"], nr["paused_seconds"], nr["started_at"]) == (
        "no response by the deadline", 1800, 0, "2026-03-03T11:30:00.000Z")
    assert (res["actual"], res["target_seconds"], res["paused_seconds"], res["decided_at"]) == (
        "not resolved by the deadline", 86400, 7200, "2026-03-04T12:00:00.000Z")

    assert standard["requested_contracts"] == ["platinum-legacy"]
    assert standard["allowance"] is None and standard["breaches"] == []
    assert [c["metric"] for c in standard["compliance"]] == ["irt", "resolution"]  # what standard judges
    assert standard["terms"]["words"] == "Counted round the clock."  # its FastLane multiplier is 1


def test_a_statement_counts_nothing_past_the_judging_clock() -> None:
    report = gold_statement(parse_rfc3339_ms("2026-03-03T13:00:00Z"))
    (gold,) = report["contracts"]
    assert [(b["ticket_id"], b["metric"]) for b in gold["breaches"]] == [("G0", "irt"), ("G1", "next_response")]
    assert gold["allowance"]["used"] == 1 and not report["period"]["complete"]
    assert "the month is not over" in render.html(report)


def test_the_html_statement_is_readable_printable_and_escapes_what_customers_wrote() -> None:
    page = render.html(gold_statement())
    assert page.startswith("<!DOCTYPE html>") and "<script" not in page and "@media print" in page
    for text in ("SLA statement: GOLD-1, 2026-03", "<h2>Contract gold</h2>", "<h2>Contract standard</h2>",
                 "not resolved by the deadline", "no response by the deadline", "platinum-legacy",
                 '<b class="bad">3 used of 2 allowed</b>, over the allowance', "<td>2 h</td>",
                 "waiting on you (not counted)", "Judged under policy 0123456789ab."):
        assert text in page, text
    odd = statements.statement(period.parse("month", "2026-03", "UTC", LATER), "<b>x</b>",
                               [out("Z", "irt", 1, "met", "2026-03-03T10:05:00.000Z", 10, value=1, counted=1,
                                    customer="<b>x</b>")], gold_policy())
    assert "&lt;b&gt;x&lt;/b&gt;" in render.html(odd) and "<b>x</b>" not in render.html(odd)


def test_the_statement_as_json_and_as_one_csv_table() -> None:
    report = gold_statement()
    assert orjson.loads(render.render(report, "json")["json"]) == report
    (name, text), = render.render(report, "csv").items()
    assert name == "statement.csv"
    rows = list(csv.DictReader(io.StringIO(text)))
    assert {r["customer_id"] for r in rows} == {"GOLD-1"} and {r["month"] for r in rows} == {"2026-03"}
    breaches = [r for r in rows if r["line"] == "breach"]
    assert [(r["ticket_id"], r["metric"], r["paused_seconds"]) for r in breaches] == [
        ("G0", "irt", "0"), ("G1", "next_response", "0"), ("G1", "resolution", "7200"), ("G2", "irt", "0")]
    (allowance,) = [r for r in rows if r["line"] == "allowance"]
    assert (allowance["contract"], allowance["used"], allowance["allowed"]) == ("gold", "3", "2")
    irt = next(r for r in rows if r["line"] == "compliance" and r["metric"] == "irt" and r["severity"] == "all")
    assert (irt["decided"], irt["ratio"], irt["meets_goal"]) == ("4", "0.5", "False")


def test_under_a_policy_without_contracts_the_statement_has_the_implicit_default_contract() -> None:
    outcomes = [out("V1", "irt", 1, "breached", "2026-03-03T10:15:00.000Z", 15, contract=None),
                out("V2", "irt", 2, "met", "2026-03-04T10:15:00.000Z", 60, value=600, contract=None)]
    report = statements.statement(period.parse("month", "2026-03", "UTC", LATER), "GOLD-1", outcomes, Policy())
    (section,) = report["contracts"]
    assert section["contract"] == "default" and section["allowance"] is None
    assert [t["by_severity"]["1"]["words"] for t in section["targets"]] == ["15 min"]
    (irt,) = section["compliance"]
    assert (irt["decided"], irt["ratio"], irt["goal"]) == (2, 0.5, 0.99)
    assert [b["actual"] for b in section["breaches"]] == ["no response by the deadline"]
    empty = statements.statement(period.parse("month", "2026-03", "UTC", LATER), "NOBODY", outcomes, Policy())
    assert empty["contracts"] == [] and "No ticket of this customer was judged in this month." in render.html(empty)


# --- the monthly report per contract ----------------------------------------------------------------

def test_the_monthly_report_counts_compliance_per_contract_metric_and_severity_against_each_goal() -> None:
    month = period.parse("month", "2026-03", "UTC", LATER)
    report = build.monthly(month, march(), [], [], gold_policy())
    contracts = report["contracts"]
    assert list(contracts) == ["gold", "standard"]  # standard is the default: no implicit one
    irt = contracts["gold"]["irt"]
    assert irt["goal"] == 0.99
    assert irt["overall"] == {"decided": 5, "met": 2, "breached": 3, "ratio": 0.4, "goal": 0.99, "meets_goal": False}
    assert sorted(irt["by_severity"]) == ["1", "2", "3", "4"] and irt["by_severity"]["4"]["decided"] == 0
    assert contracts["gold"]["resolution"]["overall"]["ratio"] == 0.5
    assert list(contracts["standard"]) == ["irt", "resolution"]
    assert sorted(contracts["standard"]["resolution"]["by_severity"]) == ["2", "3"]
    assert report["irt"]["overall"]["tickets"] == 6  # beside what the report showed before, unchanged
    page = render.html(report)
    assert "<h2>Compliance per contract and metric</h2>" in page
    rows = render.render(report, "csv")["contract_compliance.csv"].splitlines()
    assert rows[0] == "contract,metric,severity,decided,met,breached,ratio,goal,meets_goal"
    assert "gold,irt,all,5,2,3,0.4,0.99,False" in rows


def test_under_a_policy_without_contracts_the_monthly_report_is_as_before() -> None:
    report = build.monthly(period.parse("month", "2026-03", "UTC", LATER), march(), [], [], Policy())
    assert "contracts" not in report
    assert "contract_compliance.csv" not in render.render(report, "csv")
    assert "per contract" not in render.html(report)


# --- the command line and the page -----------------------------------------------------------------

@pytest.fixture
def topics_hold_march(monkeypatch: pytest.MonkeyPatch) -> list[tuple]:
    """The outcomes topic holds :func:`march` and the pipeline has judged up to LATER; no broker."""
    from pipeline import reports
    from pipeline.domain import policy as policies
    from pipeline.reports import source

    reads: list[tuple] = []

    async def gather(kafka: object, wanted: dict) -> dict:
        reads.extend(wanted.values())
        return {name: march() for name in wanted}

    async def judged(settings: object, wall_now_ms: int) -> int:
        return LATER

    monkeypatch.setattr(source, "gather", gather)
    monkeypatch.setattr(reports, "judging_now", judged)
    monkeypatch.setattr(policies, "load_policy", lambda path: gold_policy())
    return reads


def test_the_statement_command_writes_json_and_csv(topics_hold_march: list, tmp_path, capsys) -> None:
    from pipeline.cli import main

    target = tmp_path / "out" / "gold.json"
    assert main(["report", "statement", "--customer", "GOLD-1", "--month", "2026-03", "--format", "json",
                 "--out", str(target)]) == 0
    assert orjson.loads(target.read_bytes()) == gold_statement()
    (topic, since, until, _), = topics_hold_march
    assert (topic, since, until) == ("sla.outcomes", parse_rfc3339_ms("2026-03-01T00:00:00Z"), None)
    assert capsys.readouterr().out.strip() == str(target)
    assert main(["report", "statement", "--customer", "GOLD-1", "--month", "2026-03", "--format", "csv"]) == 0
    captured = capsys.readouterr()  # without --out: standard output
    assert captured.out == render.render(gold_statement(), "csv")["statement.csv"]
    assert "statement of GOLD-1 for 2026-03 (UTC): made in" in captured.err


@pytest.mark.parametrize(("argv", "message"), [
    (["report", "statement", "--month", "2026-03"], "--customer: the statement is one customer's"),
    (["report", "statement", "--customer", "C1", "--date", "2026-03-03"], "--date: belongs to the debrief"),
    (["report", "statement", "--customer", "C1", "--month", "2026-13"], "--month: must be a month"),
    (["report", "monthly", "--customer", "C1"], "--customer: belongs to the statement, not the monthly report"),
])
def test_the_statement_command_names_the_flag_at_fault(topics_hold_march: list, capsys, argv: list[str],
                                                       message: str) -> None:
    from pipeline.cli import main

    assert main(argv) == 2
    assert message in capsys.readouterr().err
    assert topics_hold_march == []  # refused before reading anything


async def test_the_statement_page_answers_json_and_names_a_missing_customer(topics_hold_march: list) -> None:
    from pipeline import reports
    from pipeline.settings import Settings

    answer = reports.web_handler(Settings(), gold_policy(), lambda: LATER)
    status, content_type, body = await answer("statement", {"month": "2026-03"})
    assert (status, orjson.loads(body)["error"]) == (400, "customer: must be a customer id (the customer_id of "
                                                          "its tickets)")
    status, content_type, body = await answer("statement", {"customer": "GOLD-1", "month": "2026-03",
                                                            "format": "json"})
    assert (status, content_type) == (200, "application/json")
    assert orjson.loads(body) == gold_statement()
    status, content_type, body = await answer("statement", {"customer": "GOLD-1", "month": "2026-03"})
    assert (status, content_type) == (200, "text/html; charset=utf-8") and b"Contract gold" in body
