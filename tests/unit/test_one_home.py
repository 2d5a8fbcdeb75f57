"""Each fact has one home: pages, rung names, texts and targets follow the ladder and the policy everywhere.

Each test here would have caught a copy that drifted: the dashboard's page count, the notifier's "30 min",
the rung names listed twice, the simulator's own targets, the default runbook URL written twice, and
"half the budget" said whatever ``at_risk_fraction`` is; the time units defined in five modules, the IRT
outcome names spelled again by the windows and the metrics, and the outbox's topics listed again by the metrics.
"""

from __future__ import annotations

import ast
import statistics
from pathlib import Path

import orjson
import pytest
import yaml

from pipeline.domain import bizcrit, sla, timefmt, windows, words
from pipeline.domain.policy import Policy
from pipeline.domain.records import DsatReview, Escalation, MalformedRecord, Outcome
from pipeline.domain.timefmt import MINUTE_MS, parse_rfc3339_ms
from pipeline.notify import NotifyConfig
from pipeline.observability import dashboards, generate, rules
from pipeline.processing.outbox import OUTPUT_TOPICS
from pipeline.settings import DEFAULT_RUNBOOK_BASE_URL, GenerateSettings, NotifySettings
from pipeline.simulate.generator import events
from pipeline.simulate.profile import load_profile
from tests.desk import HOUR, MIN, T0, Desk


def _panel(board: str, title: str, policy: Policy | None = None) -> dict:
    doc = orjson.loads(dashboards.render(policy or Policy())[board])
    return next(p for p in doc["panels"] if p.get("title") == title)


def test_the_pages_panel_counts_what_the_ladder_pages_and_nothing_else() -> None:
    desk = Desk()
    desk.create(severity=1)
    desk.clock_to(T0 + 4 * HOUR + 1)  # every rung: at risk 1 (NOC) and 2, breached, tier 3 (NOC), mgmt, exec
    pages = [e for e in desk.escalations if e.paged]
    assert [(e.kind, e.level) for e in pages] == [("irt_at_risk", 2), ("irt_breached", 3),
                                                  ("bizcrit_management", 2), ("bizcrit_executive", 3)]
    counted = sum(desk.metric("sla_escalation_pages_total", kind=kind) for kind in bizcrit.KINDS)
    assert counted == len(pages) == 4
    expr = _panel("bizcrit.json", "Pages in the last 24 h")["targets"][0]["expr"]
    assert expr == "sum(increase(sla_escalation_pages_total[24h]))"


def test_the_rungs_on_the_board_are_the_ladders() -> None:
    desk = Desk()
    desk.create(severity=1)
    desk.clock_to(T0 + 2 * HOUR + 1)
    rungs = {r: desk.metric("sla_bizcrit_open_tickets_by_rung", rung=r) for r in bizcrit.BOARD_RUNGS}
    assert rungs == {"none": 0, "tier3": 0, "management": 1, "executive": 0}
    family = next(f for f in desk.metrics.registry.collect() if f.name == "sla_bizcrit_open_tickets_by_rung")
    ladder = {"none", *(kind.removeprefix("bizcrit_") for kind, _ in bizcrit.BIZCRIT_RUNGS)}
    assert {sample.labels["rung"] for sample in family.samples} == set(bizcrit.BOARD_RUNGS) == ladder


def test_at_risk_texts_follow_the_policy() -> None:
    policy = Policy(at_risk_fraction=0.8, irt_rungs=(0.5, 0.9, 1.0))
    noc = _panel("noc-overview.json", "Tickets at risk now", policy)["description"]
    sev1 = _panel("bizcrit.json", "Sev1 at risk", policy)["description"]
    assert "80% their IRT budget" in noc and "80% their IRT budget" in sev1
    alert = next(a for a in rules.alert_rules(policy, "x") if a["alert"] == "SLABizCritTicketsAtRisk")
    assert "past 80% their IRT budget" in alert["annotations"]["summary"]
    assert "at least 80% of their" in alert["annotations"]["description"]
    assert alert["annotations"]["description"].endswith("pages on-call per ticket at 90 %.")
    default = next(a for a in rules.alert_rules(Policy(), "x") if a["alert"] == "SLABizCritTicketsAtRisk")
    assert "half" in default["annotations"]["summary"] and "80 %" in default["annotations"]["description"]


def test_the_simulator_draws_response_times_from_the_policys_targets() -> None:
    def median_irt(policy: Policy) -> float:
        created: dict[str, int] = {}
        waits = []
        for doc in events(load_profile(), 3, T0, T0 + 24 * HOUR, policy=policy):
            at = doc["occurred_at"]
            if doc["type"] == "ticket.created":
                created[doc["ticket_id"]] = parse_rfc3339_ms(at)
            elif doc["type"] == "ticket.responded" and doc["ticket_id"] in created:
                waits.append(parse_rfc3339_ms(at) - created.pop(doc["ticket_id"]))
        return statistics.median(waits)

    slow = Policy(irt_targets_ms={s: t * 10 for s, t in Policy().irt_targets_ms.items()})
    assert median_irt(slow) > 5 * median_irt(Policy())


def test_the_default_runbook_url_is_written_once() -> None:
    assert NotifyConfig().runbook_base_url == NotifySettings().runbook_base_url == DEFAULT_RUNBOOK_BASE_URL
    assert GenerateSettings().runbook_base_url == DEFAULT_RUNBOOK_BASE_URL
    rules_yaml = generate.outputs()[next(p for p in generate.outputs() if p.suffix == ".yml")]
    urls = {r["annotations"]["runbook_url"].split("#")[0] for g in yaml.safe_load(rules_yaml)["groups"]
            for r in g["rules"] if "alert" in r}
    assert urls == {DEFAULT_RUNBOOK_BASE_URL}


def test_every_output_record_decodes_to_what_was_encoded() -> None:
    desk = Desk()
    desk.create(severity=1, engineer_id="E1")
    desk.clock_to(T0 + 40 * MIN)
    desk.send("ticket.resolved", at=T0 + 41 * MIN, engineer_id="E1")
    for record in [*desk.escalations, *desk.outcomes]:
        assert type(record).decode(record.encode()) == record
    review = DsatReview("T1:e9", "T1", "E1", "neutral", "Reason not clear", 1, "automation", "C1",
                        "2026-03-02T09:00:00.000Z")
    assert DsatReview.decode(review.encode()) == review
    assert Outcome.decode(desk.outcomes[0].encode()).outcome_id == "T1:irt:1"


@pytest.mark.parametrize("raw, why", [
    (b"not json", "not JSON"), (b"[1, 2]", "not a JSON object"), (b'{"kind": "irt_at_risk"}', "missing"),
    (Escalation("i", 1, "T", "no_such_kind", 1, 1, None, None, False, None, None, None, "r", "t").encode(),
     "unknown kind"),
])
def test_a_malformed_escalation_record_says_what_is_wrong(raw: bytes, why: str) -> None:
    with pytest.raises(MalformedRecord, match=why):
        Escalation.decode(raw)


def test_bizcrit_rung_titles_take_their_times_from_the_policy() -> None:
    policy = Policy(bizcrit_rungs_ms=(20 * MINUTE_MS, 60 * MINUTE_MS, 180 * MINUTE_MS))
    titles = [words.bizcrit_rung_title(kind, policy) for kind, _ in bizcrit.BIZCRIT_RUNGS]
    assert titles == ["BizCrit 20 min without workaround, engage tier 3",
                      "BizCrit 1 h without workaround, engage senior management",
                      "BizCrit 3 h without workaround, engage an executive"]


def test_the_input_silence_alert_follows_the_policy_and_the_watchdog_always_fires() -> None:
    policy = Policy(input_silent_ms=30 * MINUTE_MS)
    alerts = {a["alert"]: a for a in rules.alert_rules(policy, "x")}
    assert '[30m])) == 0' in alerts["SLAInputSilent"]["expr"]
    assert "for 30 minutes" in alerts["SLAInputSilent"]["annotations"]["summary"]
    assert alerts["SLAWatchdog"]["expr"] == "vector(1)"
    default = {a["alert"]: a for a in rules.alert_rules(Policy(), "x")}
    assert '[60m])) == 0' in default["SLAInputSilent"]["expr"]


def test_the_time_units_are_defined_in_timefmt_alone() -> None:
    units = {"SECOND_MS", "MINUTE_MS", "HOUR_MS", "DAY_MS"}
    package = Path(timefmt.__file__).parents[1]
    homes = sorted(
        f"{path.relative_to(package.parent)}: {target.id}"
        for path in package.rglob("*.py")
        for node in ast.parse(path.read_text()).body if isinstance(node, ast.Assign | ast.AnnAssign)
        for target in (node.targets if isinstance(node, ast.Assign) else [node.target])
        if isinstance(target, ast.Name) and target.id in units)
    assert homes == sorted(f"pipeline/domain/timefmt.py: {unit}" for unit in units)
    assert (timefmt.MINUTE_MS, timefmt.HOUR_MS, timefmt.DAY_MS) == (60_000, 3_600_000, 86_400_000)


def test_the_irt_outcomes_on_the_board_are_the_ones_the_records_carry() -> None:
    desk = Desk()
    desk.create(tid="T1", severity=1)
    desk.create(tid="T2", severity=1)
    desk.send("ticket.responded", tid="T2", at=T0 + 5 * MIN, engineer_id="E1")
    desk.clock_to(T0 + 16 * MIN)
    outcomes = {o.ticket_id: o.outcome for o in desk.outcomes if o.metric == "irt"}
    assert outcomes == {"T1": sla.BREACHED, "T2": sla.MET} and windows.OUTCOMES == (sla.MET, sla.BREACHED)
    for outcome in outcomes.values():  # each record's own spelling finds its count on the board
        assert desk.metric("sla_irt_window_tickets", severity="1", window="1h", outcome=outcome) == 1
        assert desk.metric("sla_irt_outcomes_total", severity="1", outcome=outcome) == 1
    labelled = {s.labels["outcome"] for f in desk.metrics.registry.collect() for s in f.samples
                if f.name in ("sla_irt_window_tickets", "sla_irt_outcomes")}
    assert labelled == set(windows.OUTCOMES)


def test_the_republished_outputs_are_counted_per_outbox_topic() -> None:
    desk = Desk()
    family = next(f for f in desk.metrics.registry.collect() if f.name == "sla_outputs_republished")
    assert [s.labels["topic"] for s in family.samples if s.name.endswith("_total")] == list(OUTPUT_TOPICS)
