"""What-if: the period's records judged under live and candidate policies, compared (pure: no Kafka).

Hand-made tickets whose outcomes and pages the test can work out, and a simulated week under the shipped
example policy for what must hold over many tickets: the same policy flips nothing, the split over
processes changes nothing, and the quiet processor the what-if uses decides what the worker's decides.
"""

from __future__ import annotations

import io
from pathlib import Path

import orjson
import pytest

from pipeline import resources
from pipeline.cli import main
from pipeline.domain.clock import EventPartitionClock, ManualClock
from pipeline.domain.policy import Policy, load_policy
from pipeline.domain.timefmt import DAY_MS, HOUR_MS, MINUTE_MS, format_rfc3339_ms, parse_rfc3339_ms
from pipeline.metrics import Metrics
from pipeline.processing.io import Emit
from pipeline.processing.processor import Processor
from pipeline.simulate.generator import events
from pipeline.simulate.profile import load_profile
from pipeline.whatif import ProgressLine, compare, render, run, source, whatif
from pipeline.whatif.source import Window
from tests.builders import T0, EventFactory
from tests.fakes import DictStore

EXAMPLE_TEXT = resources.read_text(resources.POLICY_EXAMPLE)
GOLD_NEXT = "next_response = { 1 = 30, 2 = 120, 3 = 480 }"
GOLD_IRT = "irt           = { 1 = 10, 2 = 30, 3 = 120, 4 = 480 }"
PARTITIONS = 3
WEEK = parse_rfc3339_ms("2026-03-02T00:00:00Z")


def policy_from(tmp: Path, name: str, text: str) -> Policy:
    path = tmp / name
    path.write_text(text)
    return load_policy(path)


@pytest.fixture(scope="module")
def policies(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Policy]:
    """The shipped example (live), and candidates: gold's next response halved; gold's Sev1 IRT halved."""
    tmp = tmp_path_factory.mktemp("policies")
    assert GOLD_NEXT in EXAMPLE_TEXT and GOLD_IRT in EXAMPLE_TEXT  # the lines the candidates change
    return {
        "live": policy_from(tmp, "live.toml", EXAMPLE_TEXT),
        "next": policy_from(tmp, "next.toml", EXAMPLE_TEXT.replace(GOLD_NEXT, "next_response = { 1 = 15, 2 = 60, "
                                                                              "3 = 240 }")),
        "irt": policy_from(tmp, "irt.toml", EXAMPLE_TEXT.replace(GOLD_IRT, "irt = { 1 = 5, 2 = 30, 3 = 120, "
                                                                          "4 = 480 }")),
    }


def lines(docs: list[dict]) -> list[bytes]:
    return [orjson.dumps(d) for d in docs]


def partitions_of(docs: list[dict], window: Window) -> run.Partitions:
    """The records as a ticket system publishes them: in time order (a late event is judged late)."""
    return source.from_lines(lines(sorted(docs, key=lambda d: parse_rfc3339_ms(d["occurred_at"]))), window,
                             PARTITIONS)


DAY = Window(T0 - HOUR_MS, T0 + 23 * HOUR_MS)  # tickets created on 2026-03-02 (from 08:00 UTC)


def gold_ticket(ev: EventFactory, tid: str, next_after_min: int, *, severity: int = 2) -> list[dict]:
    """A gold Sev2 answered at 5 min, the customer replying at 1 h and staff answering ``next_after_min`` later;
    resolved a day later, then closed."""
    reply = T0 + HOUR_MS
    return [ev.created(tid, T0, severity=severity, contract="gold", customer_id=f"C-{tid}"),
            ev.event("ticket.responded", T0 + 5 * MINUTE_MS, tid, engineer_id="E1"),
            ev.event("ticket.customer_replied", reply, tid),
            ev.event("ticket.responded", reply + next_after_min * MINUTE_MS, tid, engineer_id="E1"),
            ev.event("ticket.resolved", T0 + DAY_MS, tid, engineer_id="E1"),
            ev.event("ticket.closed", T0 + DAY_MS + HOUR_MS, tid)]


def report(parts: run.Partitions, live: Policy, candidate: Policy, window: Window = DAY,
           processes: int = 1) -> dict:
    return whatif(parts, window, live, candidate, live_name="live.toml", candidate_name="candidate.toml",
                  source="test", processes=processes)


# --- hand-made tickets ------------------------------------------------------------------------------

def test_a_tighter_gold_next_response_flips_exactly_the_tickets_answered_between_the_two_targets(
        policies: dict[str, Policy]) -> None:
    ev = EventFactory()
    # gold Sev2 next response: live 120 min, candidate 60 min
    docs = [*gold_ticket(ev, "A", 30), *gold_ticket(ev, "B", 90), *gold_ticket(ev, "C", 61),
            *gold_ticket(ev, "D", 60), *gold_ticket(ev, "E", 150),
            # a standard ticket: no next-response target under either policy, answered late all the same
            ev.created("S", T0, severity=2, contract="standard"),
            ev.event("ticket.responded", T0 + 5 * MINUTE_MS, "S", engineer_id="E1"),
            ev.event("ticket.customer_replied", T0 + HOUR_MS, "S"),
            ev.event("ticket.responded", T0 + 4 * HOUR_MS, "S", engineer_id="E1")]
    got = report(partitions_of(docs, DAY), policies["live"], policies["next"])
    assert [(f["ticket_id"], f["metric"], f["cycle"], f["live"], f["candidate"]) for f in got["flips"]] == [
        ("B", "next_response", 1, "met", "breached"), ("C", "next_response", 1, "met", "breached")]
    b = got["flips"][0]
    assert (b["live_target_seconds"], b["candidate_target_seconds"]) == (7200, 3600)
    assert b["explain"] == {"url": "/tickets/B", "command": "sla-pipeline explain B"}
    row = next(r for r in got["compliance"] if (r["contract"], r["metric"], r["severity"]) == ("gold", "next_response",
                                                                                               "2"))
    assert (row["live"]["met"], row["live"]["breached"]) == (4, 1)  # E (150 min) breached under both
    assert (row["candidate"]["met"], row["candidate"]["breached"]) == (2, 3)  # D at exactly 60 min is met
    assert row["live"]["compliance"] == 0.8 and row["candidate"]["compliance"] == 0.4
    # at-risk time (from half the target to the end or breach), in minutes: live A 0, B 30, C 1, D 0, E 60;
    # candidate A 0, B 30, C 30, D 30, E 30
    assert row["live"]["at_risk_seconds"] == (30 + 1 + 60) * 60
    assert row["candidate"]["at_risk_seconds"] == (30 + 30 + 30 + 30) * 60
    assert got["pages"]["candidate_only"] == [] and got["pages"]["live_only"] == []


def test_the_same_policy_as_candidate_flips_nothing(policies: dict[str, Policy]) -> None:
    ev = EventFactory()
    docs = [*gold_ticket(ev, "A", 30), *gold_ticket(ev, "B", 90), *gold_ticket(ev, "E", 150)]
    got = report(partitions_of(docs, DAY), policies["live"], policies["live"])
    assert got["flips"] == [] and got["pages"]["candidate_only"] == [] == got["pages"]["live_only"]
    assert all(r["live"] == r["candidate"] for r in got["compliance"])
    assert got["compliance"] and got["whatif"]["tickets"] == 3


def test_pages_a_tighter_sev1_irt_target_adds_are_listed(policies: dict[str, Policy]) -> None:
    ev = EventFactory()
    # a gold Sev1 answered at 7 min with a workaround at 20 min: live target 10 min (at risk at 5 and 8 min:
    # only the first rung, which warns the NOC); candidate 5 min: 80 % at 4 min and breached at 5 min both page
    docs = [ev.created("P1", T0, severity=1, contract="gold", customer_id="C-P1"),
            ev.event("ticket.responded", T0 + 7 * MINUTE_MS, "P1", engineer_id="E1"),
            ev.event("ticket.workaround_provided", T0 + 20 * MINUTE_MS, "P1", engineer_id="E1"),
            ev.event("ticket.resolved", T0 + 2 * HOUR_MS, "P1", engineer_id="E1")]
    got = report(partitions_of(docs, DAY), policies["live"], policies["irt"])
    added = got["pages"]["candidate_only"]
    assert [(p["escalation_id"], p["emitted_at"]) for p in added] == [
        ("P1:irt_at_risk:2:1", format_rfc3339_ms(T0 + 4 * MINUTE_MS)),
        ("P1:irt_breached:3:1", format_rfc3339_ms(T0 + 5 * MINUTE_MS))]
    assert all(p["reason"] and p["explain"]["command"] == "sla-pipeline explain P1" for p in added)
    assert got["pages"]["live_only"] == [] and got["pages"]["live"] == 0 and got["pages"]["candidate"] == 2
    assert [(f["ticket_id"], f["metric"], f["live"], f["candidate"]) for f in got["flips"]] == [
        ("P1", "irt", "met", "breached")]


def test_a_clock_the_candidate_no_longer_judges_flips_to_none(policies: dict[str, Policy], tmp_path: Path) -> None:
    ev = EventFactory()
    docs = gold_ticket(ev, "B", 90)
    without = policy_from(tmp_path, "none.toml", EXAMPLE_TEXT.replace(GOLD_NEXT, "next_response = { 1 = 30 }"))
    got = report(partitions_of(docs, DAY), policies["live"], without)
    assert [(f["ticket_id"], f["metric"], f["live"], f["candidate"]) for f in got["flips"]] == [
        ("B", "next_response", "met", "none")]


# --- reading the period ----------------------------------------------------------------------------------

def test_the_period_holds_the_tickets_created_in_it_with_their_records_up_to_the_settle_margin() -> None:
    ev = EventFactory()
    window = Window(T0, T0 + DAY_MS, settle_ms=2 * DAY_MS)
    docs = [ev.event("ticket.responded", T0 - 2 * HOUR_MS, "IN", engineer_id="E1"),  # dated before its creation
            ev.created("IN", T0 + HOUR_MS),
            ev.created("BEFORE", T0 - MINUTE_MS),
            ev.created("AFTER", T0 + DAY_MS),  # [from, to): the end is not included
            ev.event("ticket.resolved", T0 + 2 * DAY_MS, "IN", engineer_id="E1"),
            ev.event("ticket.closed", T0 + 3 * DAY_MS + 1, "IN"),  # past to + settle
            ev.heartbeat(T0 + 2 * HOUR_MS)]
    parts = source.from_lines([*lines(docs), b"", b"not json"], window, PARTITIONS)
    kept = [orjson.loads(r.value)["type"] for recs in parts.values() for r in recs]
    assert {r.key for recs in parts.values() for r in recs} == {b"IN"}
    assert kept == ["ticket.responded", "ticket.created", "ticket.resolved"]
    (recs,) = parts.values()
    mine = source.partition_of(b"IN", PARTITIONS)
    lines_there = [d for d in docs
                   if "ticket_id" in d and source.partition_of(d["ticket_id"].encode(), PARTITIONS) == mine]
    assert recs[0].partition == mine  # the offsets the topic would give them: their place among the partition's
    assert [r.offset for r in recs] == [i for i, d in enumerate(lines_there) if d["ticket_id"] == "IN"][:3]


@pytest.mark.parametrize(("start", "end", "why"), [
    ("2026-03-02", "2026-03-02", "must be after --from"),
    ("2026-03-02T10:00:00", "2026-03-03", "RFC 3339"),
    ("2026-02-30", "2026-03-03", "not a date"),
])
def test_a_period_that_is_not_one_is_refused_naming_the_flag(start: str, end: str, why: str) -> None:
    with pytest.raises(Exception, match=why):
        Window.parse(start, end)


def test_dates_are_utc_midnights_and_instants_keep_their_offset() -> None:
    w = Window.parse("2026-03-02", "2026-03-03T01:00:00+01:00")
    assert (w.start_ms, w.end_ms) == (WEEK, WEEK + DAY_MS)
    assert w.until_ms == WEEK + 8 * DAY_MS


# --- a simulated week -------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def week(policies: dict[str, Policy]) -> tuple[list[dict], run.Partitions]:
    docs = list(events(load_profile(), 1, WEEK, WEEK + 7 * DAY_MS, policy=policies["live"]))
    window = Window(WEEK, WEEK + 5 * DAY_MS, settle_ms=2 * DAY_MS)
    return docs, partitions_of(docs, window)


def test_one_or_two_processes_judge_alike(policies: dict[str, Policy], week: tuple) -> None:
    _, parts = week
    one = run.judge_all(parts, [policies["live"], policies["next"]], 1)
    two = run.judge_all(parts, [policies["live"], policies["next"]], 2)
    assert one == two
    assert len(one[0].outcomes) > 1000 and one[0].escalations and one[0].outcomes != one[1].outcomes


def test_the_same_policy_flips_nothing_over_a_week_and_a_tighter_one_only_worsens(policies: dict[str, Policy],
                                                                                   week: tuple) -> None:
    _, parts = week
    same = report(parts, policies["live"], policies["live"], processes=2)
    assert same["flips"] == [] and same["pages"]["candidate_only"] == [] == same["pages"]["live_only"]
    tighter = report(parts, policies["live"], policies["next"], processes=2)
    assert tighter["flips"], "a week of gold tickets has next responses between 15 min and 2 h"
    # met in time under live, or cancelled (resolved unanswered) before its live deadline: breached now
    worse = {("next_response", "met", "breached"), ("next_response", "none", "breached")}
    assert {(f["metric"], f["live"], f["candidate"]) for f in tighter["flips"]} <= worse
    assert {f["candidate_contract"] for f in tighter["flips"]} == {"gold"}


def test_the_quiet_processor_decides_what_the_workers_processor_decides(policies: dict[str, Policy],
                                                                         week: tuple) -> None:
    _, parts = week
    policy = policies["live"]
    horizon = run.horizon_of(parts)
    assert horizon is not None
    quiet = run.judge(parts, policy)
    outcomes, escalations = [], []
    for partition, recs in sorted(parts.items()):
        wall = ManualClock(horizon)
        proc = Processor(clock=EventPartitionClock(wall), wall=wall, metrics=Metrics.create(policy=policy),
                         policy=policy, orphan_timeout_ms=run.ORPHAN_TIMEOUT_MS, events_topic="tickets.events")
        store = DictStore()
        ending = [ev for ev in run._heartbeats(partition, max(r.timestamp_ms for r in recs), horizon,
                                                policy.event_future_ms)]
        for record in [*recs, *ending]:
            for out in proc.handle(record, store):
                if isinstance(out, Emit) and out.topic in ("outcomes", "escalations"):
                    (outcomes if out.topic == "outcomes" else escalations).append(orjson.loads(out.value))
    assert sorted(quiet.outcomes, key=lambda o: o["outcome_id"]) == sorted(outcomes, key=lambda o: o["outcome_id"])
    assert sorted(quiet.escalations, key=lambda e: e["escalation_id"]) == sorted(escalations,
                                                                                 key=lambda e: e["escalation_id"])


def test_deadlines_after_a_partitions_last_event_are_decided_at_the_horizon(policies: dict[str, Policy]) -> None:
    ev = EventFactory()
    # a ticket never answered, alone on its partition; another partition's events run a day longer
    quiet = "Q"
    other = next(t for t in (f"O{i}" for i in range(100))
                 if source.partition_of(t.encode(), PARTITIONS) != source.partition_of(quiet.encode(), PARTITIONS))
    docs = [ev.created(quiet, T0, severity=3, contract="standard"),
            ev.created(other, T0, severity=3, contract="standard"),
            ev.event("ticket.responded", T0 + DAY_MS, other, engineer_id="E1")]
    judged = run.judge(partitions_of(docs, DAY), policies["live"])
    irt = {o["ticket_id"]: o["outcome"] for o in judged.outcomes if o["metric"] == "irt"}
    assert irt == {quiet: "breached", other: "breached"}  # 4 business hours: both past by a day later


# --- progress, rendering, the command ---------------------------------------------------------------------

def test_progress_is_reported_every_few_seconds_with_rate_and_time_left() -> None:
    now = [100.0]
    out = io.StringIO()
    line = ProgressLine("events judged", out, every_s=3, clock=lambda: now[0])
    now[0] = 101.0
    line(1_000, 10_000)  # too soon: nothing
    now[0] = 104.0
    line(8_000, 20_000)
    assert out.getvalue() == "whatif: 8,000 of 20,000 (40%) events judged, 2,000/s, about 6 s left\n"


def test_judging_reports_progress_up_to_every_record_under_every_policy(policies: dict[str, Policy],
                                                                         week: tuple) -> None:
    _, parts = week
    seen: list[tuple[int, int]] = []
    run.judge_all(parts, [policies["live"], policies["next"]], 2, lambda done, total: seen.append((done, total)))
    total = 2 * sum(len(r) for r in parts.values())
    assert seen[-1] == (total, total) and len(seen) > 4
    assert [d for d, _ in seen] == sorted(d for d, _ in seen)


def test_the_comparison_renders_as_json_csv_and_a_page(policies: dict[str, Policy]) -> None:
    ev = EventFactory()
    docs = [*gold_ticket(ev, "B<1>", 90), *gold_ticket(ev, "A", 30)]
    got = report(partitions_of(docs, DAY), policies["live"], policies["next"])
    assert orjson.loads(render.as_json(got)) == got
    csv = render.as_csv(got).splitlines()
    assert csv[0].startswith("line,contract,metric,severity,live_outcomes,")
    flip = next(r for r in csv if r.startswith("flip,"))
    assert "B<1>" in flip and "/tickets/B%3C1%3E" in flip and "sla-pipeline explain B<1>" in flip
    page = render.as_html(got)
    assert page.startswith("<!DOCTYPE html>") and "<script" not in page and "http" not in page
    assert '<a href="/tickets/B%3C1%3E">B&lt;1&gt;</a>' in page and "B<1>" not in page
    assert "Tickets whose outcome flips (1)" in page


def test_the_command_compares_a_file_and_reports_on_stderr(policies: dict[str, Policy], tmp_path: Path,
                                                           monkeypatch: pytest.MonkeyPatch,
                                                           capsys: pytest.CaptureFixture[str]) -> None:
    ev = EventFactory()
    events_file = tmp_path / "events.jsonl"
    events_file.write_bytes(b"\n".join(lines([*gold_ticket(ev, "B", 90), *gold_ticket(ev, "A", 30)])) + b"\n")
    (tmp_path / "live.toml").write_text(EXAMPLE_TEXT)
    (tmp_path / "cand.toml").write_text(EXAMPLE_TEXT.replace(GOLD_NEXT, "next_response = { 2 = 60 }"))
    monkeypatch.setenv("SLA_POLICY_FILE", str(tmp_path / "live.toml"))
    out = tmp_path / "whatif.json"
    code = main(["whatif", "--policy", str(tmp_path / "cand.toml"), "--from", "2026-03-02", "--to", "2026-03-03",
                 "--events", str(events_file), "--processes", "1", "--format", "json", "--out", str(out)])
    assert code == 0
    got = orjson.loads(out.read_bytes())
    assert [(f["ticket_id"], f["live"], f["candidate"]) for f in got["flips"]] == [("B", "met", "breached")]
    assert got["whatif"]["source"] == str(events_file) and got["whatif"]["tickets"] == 2
    err = capsys.readouterr().err
    assert "whatif: tickets created from 2026-03-02T00:00:00.000Z" in err and "2 tickets, 12 events" in err
    assert "whatif: 1 outcomes flip, the candidate adds 0 pages" in err


def test_the_command_refuses_an_empty_period_and_a_missing_file(tmp_path: Path,
                                                                capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "cand.toml").write_text(EXAMPLE_TEXT)
    args = ["whatif", "--policy", str(tmp_path / "cand.toml"), "--events", str(tmp_path / "nope.jsonl")]
    assert main([*args, "--from", "2026-03-03", "--to", "2026-03-02"]) == 2
    assert "--to" in capsys.readouterr().err
    assert main([*args, "--from", "2026-03-02", "--to", "2026-03-03"]) == 1
    assert "nope.jsonl: no such file" in capsys.readouterr().err


def test_at_risk_time_of_a_met_clock_counts_from_the_at_risk_share(policies: dict[str, Policy]) -> None:
    o = {"target_seconds": 600.0, "outcome": "met", "counted_seconds": 420.0, "value_seconds": 999.0,
         "decided_at": format_rfc3339_ms(T0)}
    assert compare.at_risk_seconds(o, policies["live"], {}) == 120.0  # 7 min counted, at risk from 5
    assert compare.at_risk_seconds({**o, "counted_seconds": 200.0}, policies["live"], {}) == 0.0
    assert compare.at_risk_seconds({**o, "outcome": "breached", "counted_seconds": None}, policies["live"], {}) == 300
    v2 = {k: v for k, v in o.items() if k != "counted_seconds"}  # no contracts: the wall span, round the clock
    assert compare.at_risk_seconds(v2, Policy(), {}) == 999.0 - 300
