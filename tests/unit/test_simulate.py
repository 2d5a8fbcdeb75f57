"""The simulator: deterministic for a seed, valid against the contract, true to its profile."""

from __future__ import annotations

import io
from collections import Counter
from pathlib import Path

import orjson
import pytest
from rich.console import Console

from pipeline.cli.board import Snapshot, render
from pipeline.domain.events import Event, decode
from pipeline.domain.records import Escalation
from pipeline.domain.timefmt import parse_rfc3339_ms
from pipeline.errors import ConfigError
from pipeline.simulate.generator import DAY, MONTH, events, rhythm
from pipeline.simulate.profile import load_profile

START = 1_772_323_200_000  # 2026-03-01T00:00:00Z, a Sunday


@pytest.fixture(scope="module")
def month() -> list[dict]:
    return list(events(load_profile(), 7, START, START + MONTH))


def test_the_same_seed_gives_the_same_events_and_another_seed_others() -> None:
    profile = load_profile()
    one = list(events(profile, 3, START, START + DAY))
    assert one == list(events(profile, 3, START, START + DAY))
    assert one != list(events(profile, 4, START, START + DAY))


def test_every_event_is_valid_and_in_time_order(month: list[dict]) -> None:
    for doc in month[:20000]:
        assert isinstance(decode(orjson.dumps(doc), doc["ticket_id"].encode()), Event), doc
    stamps = [d["occurred_at"] for d in month]
    assert stamps == sorted(stamps)
    assert len({d["event_id"] for d in month}) == len(month)


def test_monthly_volume_and_severity_mix_match_the_profile_within_5_percent(month: list[dict]) -> None:
    profile = load_profile()
    created = [d for d in month if d["type"] == "ticket.created"]
    for product in profile.products:
        mine = [d for d in created if d["product"] == product.name]
        assert abs(len(mine) / product.tickets_per_month - 1) < 0.05, (product.name, len(mine))
        mix = Counter(d["severity"] for d in mine)
        for sev, share in zip((1, 2, 3, 4), product.severity_mix, strict=True):
            assert abs(mix[sev] / len(mine) - share) < 0.05 * max(share, 0.1), (product.name, sev, mix)


def test_the_rhythm_has_busy_weekday_afternoons_and_quiet_weekend_nights(month: list[dict]) -> None:
    profile = load_profile()
    assert rhythm(profile, START + 3 * DAY + 14 * 3_600_000) > 3 * rhythm(profile, START + 3 * 3_600_000)
    hours = Counter((int(d["occurred_at"][11:13])) for d in month if d["type"] == "ticket.created")
    assert hours[14] > 2.5 * hours[3]


def test_lifecycles_include_what_a_support_desk_sees(month: list[dict]) -> None:
    kinds = Counter(d["type"] for d in month)
    for etype in ("ticket.assigned", "ticket.responded", "ticket.waiting_on_customer", "ticket.customer_replied",
                  "ticket.severity_changed", "ticket.workaround_provided", "ticket.resolved", "ticket.reopened",
                  "ticket.closed", "ticket.survey_submitted", "ticket.quality_reviewed"):
        assert kinds[etype] > 0, etype
    assert any(d.get("fastlane") for d in month if d["type"] == "ticket.created")
    tiers = {d["engineer_id"].split("-")[1] for d in month if d["type"] == "ticket.assigned"}
    assert tiers == {"t1", "t2", "t3"}


def test_a_bad_profile_names_its_key(tmp_path: Path) -> None:
    path = tmp_path / "p.toml"
    path.write_text('[[products]]\nname = "x"\ntickets_per_month = 10\nseverity_mix = [0.5, 0.5, 0.5, 0.5]\n')
    with pytest.raises(ConfigError, match=r"products\[0\].severity_mix"):
        load_profile(path)


def _board(snap: Snapshot) -> str:
    out = io.StringIO()
    Console(file=out, width=200, color_system=None).print(render(snap))
    return out.getvalue()


def test_the_board_shows_compliance_against_the_goal_and_the_latest_escalations() -> None:
    esc = Escalation("T:irt_at_risk:2:1", 1, "SIM-1", "irt_at_risk", 2, 1, "plesk", "C", False, None, None, 0.8,
                     "Sev1 ticket SIM-1 is unanswered", "2026-03-02T09:12:00.000Z")
    text = _board(Snapshot(sim_now_ms=START, speedup=300, events_total=1234, events_per_s=41,
                           met={1: 97, 2: 50}, breached={1: 3}, at_risk={1: 2},
                           bizcrit_by_rung={"none": 1, "tier3": 2, "management": 0, "executive": 0},
                           escalations=[esc], pages_delivered=4, urls={"metrics": "http://x/metrics"}))
    assert "Sev1   97.00%  BELOW GOAL  97 met, 3 breached" in text
    assert "Sev2  100.00%  ok" in text and "Sev4        -" in text
    assert "Open BizCrit tickets: 3" in text and "tier 3 2" in text
    assert "PAGE  irt_at_risk" in text and "Pages delivered to on-call through Alertmanager: 4" in text
    assert "Waiting for business hours" not in text  # a 24x7 desk never shows the line
    weekend = _board(Snapshot(sim_now_ms=START, paused={3: 12, 4: 30}))
    line = "Waiting for business hours (calendar closed, IRT clock paused):  Sev1 0  Sev2 0  Sev3 12  Sev4 30"
    assert line in weekend


def test_business_hours_tickets_are_answered_in_their_calendars_hours(tmp_path: Path) -> None:
    from tests.business_hours import business_hours_policy, in_emea_hours

    policy = business_hours_policy(tmp_path)
    week = list(events(load_profile(), 7, START, START + 7 * DAY, policy=policy))
    created = {d["ticket_id"]: d for d in week if d["type"] == "ticket.created"}
    changed = {d["ticket_id"] for d in week if d["type"] == "ticket.severity_changed"}
    first: dict[str, int] = {}
    for d in week:
        if d["type"] == "ticket.responded":
            first.setdefault(d["ticket_id"], parse_rfc3339_ms(d["occurred_at"]))

    def on_emea(doc: dict) -> bool:
        return policy.calendar_for(doc["severity"], doc["product"], doc["fastlane"]).name == "emea"

    answered = [tid for tid, doc in created.items() if on_emea(doc) and tid in first and tid not in changed]
    assert len(answered) > 1000
    assert all(in_emea_hours(first[tid]) for tid in answered)  # in the hours, never at night or weekends
    round_the_clock = [first[tid] for tid, doc in created.items() if not on_emea(doc) and tid in first]
    assert not all(in_emea_hours(at) for at in round_the_clock)  # 24x7 tickets are answered at any hour
    # a Saturday's business-hours tickets wait for Monday
    saturday = [tid for tid in answered if parse_rfc3339_ms(created[tid]["occurred_at"]) // DAY == START // DAY + 6]
    assert saturday and all(first[tid] >= START + 8 * DAY for tid in saturday)
