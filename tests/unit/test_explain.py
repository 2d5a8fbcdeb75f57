"""Explaining a ticket, by hand-worked tickets under the shipped example policy (gold: service providers, 24x7,
resolution paused while waiting; standard: everyone else, Berlin office hours, Urgent 24x7): the deadline a
weekend moved, a pause and a next-response breach, duplicates, events after close and before creation, an
unknown contract, a severity raise, and a late event judged by the partition's clock."""

from __future__ import annotations

from pathlib import Path

import orjson
import pytest
from aiokafka.partitioner import DefaultPartitioner

from pipeline import resources
from pipeline.cli import main
from pipeline.domain.policy import Policy, load_policy
from pipeline.domain.timefmt import DAY_MS, HOUR_MS, MINUTE_MS, format_rfc3339_ms, parse_rfc3339_ms
from pipeline.explain import model
from pipeline.explain.fold import explain
from pipeline.explain.render import as_html, as_json
from pipeline.explain.source import by_ticket, from_file, partition_of
from pipeline.processing.io import Record
from tests.builders import T0, EventFactory

MIN, HOUR = MINUTE_MS, HOUR_MS
FRIDAY_1630_BERLIN = parse_rfc3339_ms("2026-03-06T15:30:00Z")  # Berlin is UTC+1 in early March


@pytest.fixture(scope="module")
def example() -> Policy:
    with resources.as_file(resources.resource(resources.POLICY_EXAMPLE)) as path:
        return load_policy(path)


def records(*docs: dict | bytes, key: str = "T1") -> list[tuple[int, bytes, bytes, None]]:
    return [(i, key.encode(), d if isinstance(d, bytes) else orjson.dumps(d), None) for i, d in enumerate(docs)]


def clock(expl: model.Explanation, metric: str, cycle: int = 1) -> model.ClockLine:
    return next(c for c in expl.clocks if (c.metric, c.cycle) == (metric, cycle))


def test_a_business_hours_deadline_moved_over_the_weekend_shows_the_closed_hours(
    example: Policy, events: EventFactory,
) -> None:
    # Sev3 standard: 4 h in Berlin office hours (Friday until 17:00): 30 min on Friday, 3 h 30 on Monday from 08:00
    docs = [events.created(at=FRIDAY_1630_BERLIN, severity=3)]
    monday_noon = parse_rfc3339_ms("2026-03-09T11:00:00Z")
    expl = explain("T1", records(*docs), example, monday_noon)
    assert (expl.contract, expl.contract_why) == ("standard", "default")
    assert [(c.value, c.why) for c in expl.calendars] == [("emea", "contract calendar")]
    irt = clock(expl, "irt")
    assert irt.deadline == parse_rfc3339_ms("2026-03-09T10:30:00Z")  # Monday 11:30 Berlin
    assert irt.at_risk_at == parse_rfc3339_ms("2026-03-09T08:30:00Z")  # half of the 4 h counted
    assert (irt.outcome, irt.decided_at) == ("breached", irt.deadline)
    # the time it did not count: Friday 17:00 to Monday 08:00 Berlin
    assert [(c.start, c.end) for c in irt.closed_hours][:1] == [
        (parse_rfc3339_ms("2026-03-06T16:00:00Z"), parse_rfc3339_ms("2026-03-09T07:00:00Z"))]
    assert irt.record == expl.outcomes[0] and irt.record["outcome_id"] == "T1:irt:1"
    assert irt.pauses == []


def test_a_gold_ticket_paused_while_waiting_and_breaching_its_next_response(
    example: Policy, events: EventFactory,
) -> None:
    docs = [events.created(severity=2, product="service-provider"),
            events.event("ticket.responded", T0 + 10 * MIN, engineer_id="E1"),
            events.event("ticket.waiting_on_customer", T0 + HOUR),
            events.event("ticket.customer_replied", T0 + 3 * HOUR),
            events.event("ticket.responded", T0 + 5 * HOUR + 30 * MIN, engineer_id="E1")]
    expl = explain("T1", records(*docs), example, T0 + 6 * HOUR)
    assert (expl.contract, expl.contract_why) == ("gold", "rule 1")  # [contract_for] rules[1]: the product
    assert clock(expl, "irt").outcome == "met"
    nr = clock(expl, "next_response")  # gold: 2 h at Sev2, from the customer's reply
    assert (nr.start, nr.deadline, nr.at_risk_at) == (T0 + 3 * HOUR, T0 + 5 * HOUR, T0 + 4 * HOUR)
    assert (nr.outcome, nr.decided_at, nr.end, nr.ended_by) == ("breached", T0 + 5 * HOUR, T0 + 5 * HOUR + 30 * MIN,
                                                                "ticket.responded")
    resolution = clock(expl, "resolution")  # paused while waiting: its 3-day deadline moved by the 2 h pause
    assert resolution.outcome == model.RUNNING
    assert [(p.start, p.end, p.why) for p in resolution.pauses] == [(T0 + HOUR, T0 + 3 * HOUR,
                                                                     "waiting on the customer")]
    assert resolution.deadline == T0 + 3 * DAY_MS + 2 * HOUR
    assert resolution.counted_ms == 4 * HOUR
    kinds = [(e["kind"], e["emitted_at"]) for e in expl.escalations]
    assert kinds == [("next_response_at_risk", format_rfc3339_ms(T0 + 4 * HOUR)),
                     ("next_response_breached", format_rfc3339_ms(T0 + 5 * HOUR))]
    # nothing else moved the clock: time passed with the response, which published what fell due before it
    assert expl.records[-1].caused == ["T1:next_response_at_risk:1:1", "T1:next_response_breached:3:1",
                                       "T1:next_response:1"]


def test_every_record_says_what_the_worker_did_with_it(example: Policy, events: EventFactory) -> None:
    early = events.assigned(at=T0 + MIN, engineer_id="E1")
    docs = [early,  # before the creation in the topic: held, then applied
            events.created(severity=4, contract="platinum-legacy"),  # a plan the policy does not define
            early,  # the same event again
            events.event("ticket.responded", T0 - 5 * MIN, engineer_id="E1"),  # dated before the creation
            events.created(severity=1),  # a second creation
            b"{not json",
            events.event("ticket.closed", T0 + HOUR),
            events.event("ticket.reopened", T0 + 2 * HOUR)]  # after close
    expl = explain("T1", records(*docs), example, T0 + 3 * HOUR)
    got = [(r.offset, r.status, r.reason, r.applied_at) for r in expl.records]
    assert got == [
        (0, model.HELD_THEN_APPLIED, None, T0 + MIN),
        (1, model.APPLIED, None, T0),
        (2, model.DUPLICATE, None, None),
        (3, model.APPLIED_AT_CREATION, None, T0),
        (4, model.IGNORED_SECOND_CREATION, None, None),
        (5, model.REJECTED, "malformed_json", None),
        (6, model.APPLIED, None, T0 + HOUR),
        (7, model.IGNORED_AFTER_CLOSE, None, None),
    ]
    assert (expl.contract, expl.requested_contract, expl.contract_why) == ("standard", "platinum-legacy", "default")
    assert expl.outcomes[0]["requested_contract"] == "platinum-legacy"
    irt = clock(expl, "irt")  # answered "before" creation: at the creation instant, met with 0 s
    assert (irt.outcome, irt.record["value_seconds"]) == ("met", 0.0)
    assert expl.state == "closed" and expl.severity == 4


def test_a_severity_raise_re_targets_the_clock_and_breaches_it_at_the_change(
    example: Policy, events: EventFactory,
) -> None:
    # Sev3 standard at Monday 10:00 Berlin, unanswered; raised to Sev1 (15 min, round the clock) 2 h later,
    # before its 4 h deadline
    docs = [events.created(severity=3), events.event("ticket.severity_changed", T0 + 2 * HOUR, severity=1)]
    expl = explain("T1", records(*docs), example, T0 + 6 * HOUR)
    assert [(c.at, c.value, c.why) for c in expl.severities] == [
        (T0, "Sev3", "ticket.created"), (T0 + 2 * HOUR, "Sev1", "ticket.severity_changed")]
    assert [(c.value, c.why) for c in expl.calendars] == [("emea", "contract calendar"),
                                                          ("24x7", "contract calendar_for_severity.1")]
    irt = clock(expl, "irt")
    assert [(t.at, t.severity, t.target_ms, t.calendar) for t in irt.targets] == [
        (T0, 3, 4 * HOUR, "emea"), (T0 + 2 * HOUR, 1, 15 * MIN, "24x7")]
    assert (irt.outcome, irt.decided_at) == ("breached", T0 + 2 * HOUR)
    breach = next(e for e in expl.escalations if e["kind"] == "irt_breached")
    assert breach["emitted_at"] == format_rfc3339_ms(T0 + 2 * HOUR) and "was raised to Sev1" in breach["reason"]
    assert [e["kind"] for e in expl.escalations if e["kind"].startswith("irt")] == ["irt_breached"]  # lower skipped


def test_a_late_event_is_judged_by_the_partitions_clock_as_the_worker_judged_it(
    example: Policy, events: EventFactory,
) -> None:
    # Sev1 (15 min): answered after 10 min, but the response reached the partition after other tickets' events
    # had moved its clock 20 min on: the worker had already breached the ticket at its deadline
    docs = [events.created(severity=1), events.event("ticket.responded", T0 + 10 * MIN, engineer_id="E1")]
    late = explain("T1", records(*docs), example, T0 + HOUR, marks={1: T0 + 20 * MIN})
    assert (clock(late, "irt").outcome, clock(late, "irt").decided_at) == ("breached", T0 + 15 * MIN)
    in_time = explain("T1", records(*docs), example, T0 + HOUR)
    assert clock(in_time, "irt").outcome == "met"


def test_a_ticket_never_created_is_said_so(example: Policy, events: EventFactory) -> None:
    expl = explain("T1", records(events.assigned(at=T0)), example, T0 + HOUR)
    assert (expl.exists, expl.state, expl.records[0].reason) == (False, "never created", "orphan")
    assert "never created" in as_html(expl)


def test_the_calendar_choice_is_the_policys(example: Policy) -> None:
    for contract in example.contracts.values():
        for severity in (1, 2, 3, 4):
            for product in ("desktop", "service-provider"):
                for fastlane in (False, True):
                    cal, _ = example.calendar_choice(contract, severity, product, fastlane)
                    assert cal == example.calendar_under(contract, severity, product, fastlane)


def test_json_and_html_carry_the_explanation(example: Policy, events: EventFactory) -> None:
    docs = [events.created(severity=2, product="service-provider"),
            events.event("ticket.waiting_on_customer", T0 + HOUR)]
    expl = explain("T1", records(*docs), example, T0 + 2 * HOUR)
    doc = orjson.loads(as_json(expl))
    irt = next(c for c in doc["clocks"] if c["metric"] == "irt")
    assert (irt["deadline"], irt["target_seconds"], irt["outcome"]) == ("2026-03-02T09:30:00.000Z", 1800.0,
                                                                          "breached")
    assert doc["outcomes"] == expl.outcomes and doc["records"][1]["applied_at"] == "2026-03-02T10:00:00.000Z"
    page = as_html(expl, "Europe/Berlin")
    assert "Contract gold" in page and "still waiting" in page and "Mon 2026-03-02 10:30:00" in page
    assert "<script" not in page and "src=" not in page and "href=" not in page  # self-contained


def test_the_partition_is_kafkas_default_partitioners() -> None:
    for key in (b"T1", b"SIM-1-0000042", "ticket-ü".encode()):
        assert partition_of(key, 12) == DefaultPartitioner()(key, list(range(12)), list(range(12)))


def test_a_partitions_records_give_each_ticket_its_records_and_the_clock_before_them(events: EventFactory) -> None:
    docs = [events.created("A", T0), events.created("B", T0 + HOUR), events.assigned("A", T0 + 30 * MIN)]
    recs = [Record("tickets.events", 0, i, d["ticket_id"].encode(), orjson.dumps(d)) for i, d in enumerate(docs)]
    found = by_ticket(recs)
    assert [r.offset for r in found["A"].records] == [0, 2]
    assert found["A"].marks == {2: T0 + HOUR}  # B's creation had moved the partition's clock


def test_the_command_explains_a_ticket_from_a_file(tmp_path: Path, events: EventFactory,
                                                   capsys: pytest.CaptureFixture[str]) -> None:
    lines = [events.created("T1", severity=1), events.created("T2"),
             events.event("ticket.responded", T0 + 20 * MIN, "T1", engineer_id="E1")]
    path = tmp_path / "events.jsonl"
    path.write_bytes(b"\n".join(orjson.dumps(d) for d in lines) + b"\n")
    assert [r.offset for r in from_file(path, "T1").records] == [1, 3]
    assert main(["explain", "T1", "--events", str(path), "--format", "json"]) == 0
    doc = orjson.loads(capsys.readouterr().out)
    assert doc["outcomes"][0]["outcome"] == "breached" and doc["now"] == "2026-03-02T09:20:00.000Z"
    assert main(["explain", "T9", "--events", str(path)]) == 1
    assert f"no event of ticket T9 in {path}" in capsys.readouterr().err
