"""The demo is the same at any wall-clock time: it plays a fixed hour of the week, whose first escalation
comes within seconds at the demo's speed-up. It runs under the shipped policy example unless told otherwise,
so it shows contracts. Its board lists escalations in time order, wraps long lines, shows compliance per
contract and metric beside each goal, and links to the private pages with the token the demo gave its
worker."""

from __future__ import annotations

import io
import stat
from pathlib import Path

import orjson
import pytest
import yaml
from rich.console import Console

from pipeline import resources
from pipeline.cli.board import Snapshot, contract_goals, count_judged, render
from pipeline.cli.demo import (
    DemoConfig,
    alertmanager_config,
    board_links,
    demo_policy,
    demo_policy_file,
    demo_start,
    write_token,
)
from pipeline.domain.clock import EventPartitionClock, ManualClock
from pipeline.domain.contracts import DEFAULT, IRT, NEXT_RESPONSE, RESOLUTION, WORKAROUND, ContractRule
from pipeline.domain.policy import Policy, load_policy
from pipeline.domain.records import Escalation, Outcome
from pipeline.domain.timefmt import format_rfc3339_ms, parse_rfc3339_ms
from pipeline.metrics import Metrics
from pipeline.processing.io import Emit, Record
from pipeline.processing.processor import Processor
from pipeline.settings import Settings
from pipeline.simulate.generator import events
from pipeline.simulate.profile import load_profile
from tests.fakes import DictStore


@pytest.mark.parametrize("now", ["2026-11-28T03:10:00Z", "2026-11-29T23:59:59Z", "2026-12-01T09:00:00Z",
                                 "2026-12-01T08:59:59Z", "2026-12-03T14:00:00Z"])
def test_the_simulated_start_is_the_latest_tuesday_9_utc(now: str) -> None:
    start = demo_start(parse_rfc3339_ms(now))
    assert start <= parse_rfc3339_ms(now) < start + 7 * 86_400_000
    assert format_rfc3339_ms(start).endswith("T09:00:00.000Z")
    assert (start // 86_400_000 + 3) % 7 == 1  # Tuesday (1970-01-01 was a Thursday; Monday = 0)


@pytest.mark.parametrize("example", [True, False], ids=["the shipped example", "a policy without contracts"])
def test_the_first_sev1_at_risk_comes_within_20_s_of_wall_time_at_any_hour(example: bool) -> None:
    """What the demo's worker will decide, computed by the core over the same simulated events: under its own
    policy (the example, with contracts) and under one without contracts (SLA_POLICY_FILE set to a v2 file),
    whose simulated tickets differ (the simulator draws more under contracts)."""
    speedup = DemoConfig().speedup
    policy = demo_policy(Settings.from_env({})) if example else Policy()
    for now in ("2026-11-28T03:10:00Z", "2026-12-02T20:00:00Z"):  # a Saturday night, a Wednesday evening
        start = demo_start(parse_rfc3339_ms(now))
        wall = ManualClock(start)
        proc = Processor(clock=EventPartitionClock(wall), wall=wall, metrics=Metrics.create(),
                         policy=policy, orphan_timeout_ms=600_000, events_topic="e", ticks_topic="t")
        store, first = DictStore(), None
        minute = start + int(60 * speedup * 1000)  # the tickets of the demo's first wall minute
        for offset, doc in enumerate(events(load_profile(), DemoConfig().seed, start, minute, policy)):
            outs = proc.handle(Record("e", 0, offset, doc.get("ticket_id", "").encode(), orjson.dumps(doc)), store)
            found = [e for o in outs if isinstance(o, Emit) and o.topic == "escalations"
                     for e in (Escalation.decode(o.value),) if e.kind == "irt_at_risk"]
            if found:
                first = found[0]
                break
        assert first is not None
        wall_s = (parse_rfc3339_ms(first.emitted_at) - start) / speedup / 1000
        assert wall_s < 20, f"first Sev1 at risk {wall_s:.1f} s into the demo"


def test_the_demo_routes_the_shipped_alertmanager_config_to_its_own_webhook() -> None:
    shipped = yaml.safe_load(resources.read_text(resources.ALERTMANAGER))
    config = alertmanager_config(shipped, 19095)
    urls = [h["url"] for r in config["receivers"] for h in r["webhook_configs"]]
    assert all(url.startswith("http://127.0.0.1:19095/") for url in urls)  # every receiver: the demo's webhook
    assert {"http://127.0.0.1:19095/deadmansswitch", "http://127.0.0.1:19095/oncall",
            "http://127.0.0.1:19095/noc"} <= set(urls)
    assert config["route"]["group_wait"] == "1s" and config["inhibit_rules"] == shipped["inhibit_rules"]


def _escalation(ticket: str, kind: str, emitted_at: str, reason: str = "a reason") -> Escalation:
    return Escalation(f"{ticket}:{kind}:1:1", 1, ticket, kind, 1, 1, "desktop", "C-17", False, "E1", None, None,
                      reason, emitted_at)


def _board(snap: Snapshot, width: int) -> str:
    out = io.StringIO()
    Console(file=out, width=width, color_system=None).print(render(snap))
    return out.getvalue()


def test_the_board_lists_escalations_in_time_order_whatever_order_they_arrived_in() -> None:
    arrived = [_escalation("T-3", "irt_at_risk", "2026-03-02T09:20:00.000Z"),   # partition 1 first
               _escalation("T-1", "irt_breached", "2026-03-02T09:05:00.000Z"),
               _escalation("T-2", "bizcrit_tier3", "2026-03-02T09:10:00.000Z"),
               _escalation("T-0", "irt_at_risk", "2026-03-02T09:10:00.000Z"),     # same instant: by id
               *(_escalation(f"T-9{i}", "irt_at_risk", f"2026-03-02T08:0{i}:00.000Z") for i in range(6))]
    board = _board(Snapshot(escalations=arrived), 200)
    shown = [line.split()[4] for line in board.splitlines() if line.startswith("  2026-")]
    assert shown == ["T-92", "T-93", "T-94", "T-95", "T-1", "T-0", "T-2", "T-3"]  # the 8 latest, oldest first


def test_a_long_escalation_wraps_on_a_narrow_terminal_and_nothing_of_its_reason_is_cut() -> None:
    reason = ("raised to Sev1 4 h 40 min after creation, still unanswered; customer C-17 (desktop) has "
              "waited past its 15 min IRT target and the on-call engineer was paged at the management rung")
    snap = Snapshot(escalations=[_escalation("SIM-1-0000158", "irt_breached", "2026-03-02T09:05:00.000Z", reason)],
                    urls={"today's Sev1 debrief": "http://127.0.0.1:6066/reports/debrief?date=2026-03-02&token=t"})
    board = _board(snap, 60)
    assert max(len(line.rstrip()) for line in board.splitlines()) <= 60  # nothing runs off the terminal
    assert " ".join(reason.split()) in " ".join(board.split())  # ... and all of it is there, wrapped
    wrapped = [line for line in board.splitlines() if line.startswith("  ")]
    assert len(wrapped) > 2  # it took several lines, each under the escalations' indent


def test_the_board_links_carry_the_token_and_the_debrief_follows_the_simulated_day_across_midnight() -> None:
    at = DemoConfig().addresses()
    before = board_links(at, "tok-1", parse_rfc3339_ms("2026-12-01T23:59:59Z"), "UTC")
    after = board_links(at, "tok-1", parse_rfc3339_ms("2026-12-02T00:00:01Z"), "UTC")
    assert before["today's Sev1 debrief"] == "http://127.0.0.1:6066/reports/debrief?date=2026-12-01&token=tok-1"
    assert after["today's Sev1 debrief"] == "http://127.0.0.1:6066/reports/debrief?date=2026-12-02&token=tok-1"
    assert after["stack rank"] == "http://127.0.0.1:6066/stackrank?window=30d&token=tok-1"
    assert "token" not in after["metrics"] + after["Prometheus"] + after["Alertmanager"]  # open pages: no token
    # the reports' days are local to SLA_REPORT_TIMEZONE: 23:30 UTC is already tomorrow in Berlin
    berlin = board_links(at, "tok-1", parse_rfc3339_ms("2026-12-01T23:30:00Z"), "Europe/Berlin")
    assert "date=2026-12-02&" in berlin["today's Sev1 debrief"]


def test_the_demos_token_is_random_and_readable_by_its_user_only(tmp_path: Path) -> None:
    path, token = write_token(tmp_path)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert path.read_text() == token + "\n" and len(token) >= 32
    settings = Settings.from_env({"SLA_REPORTS_TOKEN_FILE": str(path)})  # what the demo's worker reads
    assert settings.reports_token is not None and settings.reports_token.reveal() == token
    other = tmp_path / "other"
    other.mkdir()
    assert write_token(other)[1] != token


def test_without_a_policy_file_the_demo_runs_under_the_shipped_example_and_its_contracts(tmp_path: Path) -> None:
    path = demo_policy_file(Settings.from_env({}), tmp_path)
    assert path.parent == tmp_path and path.read_bytes() == resources.read_bytes(resources.POLICY_EXAMPLE)
    policy = load_policy(path)  # what the worker reads: the same digest as the board's
    assert policy.uses_contracts and policy.digest == demo_policy(Settings.from_env({})).digest
    own = tmp_path / "mine.toml"
    own.write_text("[irt]\ngoal = 0.95\n")
    settings = Settings.from_env({"SLA_POLICY_FILE": str(own)})
    assert demo_policy_file(settings, tmp_path / "x") == own and demo_policy(settings).irt_goal == 0.95
    assert not (tmp_path / "x").exists()


def test_the_demos_customers_name_plans_and_tickets_get_the_examples_contracts() -> None:
    policy = demo_policy(Settings.from_env({}))
    start = demo_start(parse_rfc3339_ms("2026-12-02T20:00:00Z"))
    created = [d for d in events(load_profile(), DemoConfig().seed, start, start + 6 * 3_600_000, policy)
               if d["type"] == "ticket.created"]
    chosen = {policy.choose_contract(d.get("contract"), d["customer_id"], d["product"], d["fastlane"]).contract
              for d in created}
    assert chosen == set(policy.contracts)  # every contract of the example has tickets within hours
    assert any("contract" in d for d in created) and any("contract" not in d for d in created)


def _judged(outcomes: list[tuple[str | None, str, str | None]]) -> dict[tuple[str, str, str], int]:
    counts: dict[tuple[str, str, str], int] = {}
    for contract, metric, outcome in outcomes:
        count_judged(counts, contract, metric, outcome)
    return counts


def test_the_board_shows_compliance_per_contract_and_metric_beside_its_goal() -> None:
    policy = demo_policy(Settings.from_env({}))
    goals = contract_goals(policy)
    gold = policy.contracts["gold"]
    assert list(goals)[:len(gold.metrics)] == [("gold", m) for m in gold.metrics]  # the policy's order, IRT first
    assert goals["gold", RESOLUTION] == gold.goals[RESOLUTION]
    judged = _judged([*[("gold", IRT, "met")] * 199, ("gold", IRT, "breached"),
                      *[("gold", RESOLUTION, "met")] * 9, ("gold", RESOLUTION, "breached"),
                      ("gold", "ttr", None),          # a measurement: not judged
                      (None, IRT, "breached")])       # a v2 record: names no contract
    assert judged == {("gold", IRT, "met"): 199, ("gold", IRT, "breached"): 1, ("gold", RESOLUTION, "met"): 9,
                      ("gold", RESOLUTION, "breached"): 1}
    text = _board(Snapshot(contract_goals=goals, judged=judged), 200)
    lines = [" ".join(line.split()) for line in text.splitlines()]
    assert "Compliance per contract and metric, outcomes so far:" in lines
    assert f"gold first response 99.50% ok 199 met, 1 breached goal {gold.goals[IRT] * 100:g}%" in lines
    assert f"gold resolution 90.00% BELOW GOAL 9 met, 1 breached goal {gold.goals[RESOLUTION] * 100:g}%" in lines
    assert f"gold next response - no outcome yet goal {gold.goals[NEXT_RESPONSE] * 100:g}%" in lines
    assert any(line.startswith("standard resolution - no outcome yet") for line in lines)
    assert "Compliance per contract" not in _board(Snapshot(), 200)  # a v2 policy: no such section


def test_the_implicit_default_contract_is_a_row_when_the_rules_can_choose_it() -> None:
    base = demo_policy(Settings.from_env({}))
    assert (DEFAULT, IRT) not in contract_goals(base)  # the example's default is "standard"
    with_default = Policy(contracts=base.contracts, contract_rules=(ContractRule("gold", products=frozenset({"x"})),),
                          irt_goal=0.97)
    goals = contract_goals(with_default)
    assert goals[DEFAULT, IRT] == 0.97 and (DEFAULT, WORKAROUND) not in goals
    assert contract_goals(Policy()) == {}


def test_an_outcome_record_read_from_the_topic_counts_under_its_contract() -> None:
    raw = orjson.dumps({"outcome_id": "T-1:next_response:2", "ticket_id": "T-1", "metric": NEXT_RESPONSE,
                        "cycle": 2, "severity": 2, "product": "desktop", "customer_id": "C-1", "fastlane": False,
                        "engineer_id": "E-1", "target_seconds": 7200.0, "value_seconds": None,
                        "outcome": "breached", "decided_at": "2026-03-02T09:00:00.000Z", "contract": "gold",
                        "policy": "0123456789ab"})
    record = Outcome.decode(raw)
    assert _judged([(record.contract, record.metric, record.outcome)]) == {("gold", NEXT_RESPONSE, "breached"): 1}
