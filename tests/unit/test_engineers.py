"""Engineer performance: response samples, VSAT, quality, DSAT and the stack rank, computed by hand."""

from __future__ import annotations

import base64

import orjson
import pytest
from hypothesis import given
from hypothesis import strategies as st

from pipeline.domain.engineers import DAY_MS, EngineerState, Fact, stack_rank
from pipeline.domain.policy import Policy
from pipeline.processing.io import Emit
from tests.desk import HOUR, MIN, T0, Desk

NOW = T0 + 6 * HOUR


def build(engineer: str, samples: list[tuple[int, bool]], ratings: list[str], scores: list[float],
          at: int = T0, reason: str | None = None) -> EngineerState:
    state = EngineerState(engineer)
    n = 0
    for value_s, within in samples:
        n += 1
        state.apply(Fact("sample", f"{engineer}-{at}-{n}", engineer, at, "T", value_ms=value_s * 1000, within=within))
    for rating in ratings:
        n += 1
        state.apply(Fact("survey", f"{engineer}-{at}-{n}", engineer, at, "T", rating=rating, dsat_reason=reason))
    for score in scores:
        n += 1
        state.apply(Fact("review", f"{engineer}-{at}-{n}", engineer, at, "T", score=score))
    return state


@pytest.fixture
def team() -> dict[str, EngineerState]:
    a = build("A", [(600, True)] * 5 + [(600, False)],
              ["very_satisfied"] * 4 + ["satisfied", "neutral"], [90, 100], reason="Workflow: Resolution was delayed")
    for fact in (Fact("survey", "A-old-1", "A", T0 - 10 * DAY_MS, "T", rating="very_dissatisfied"),
                 Fact("survey", "A-old-2", "A", T0 - 10 * DAY_MS, "T", rating="very_dissatisfied",
                      dsat_reason="Reason not clear")):
        a.apply(fact)
    return {
        "A": a,
        "B": build("B", [(300, True)] * 5, ["very_satisfied"] * 5, []),
        "C": build("C", [(60, True)] * 4, ["very_satisfied"] * 10, [100]),
        "D": build("D", [(900, True)] * 3 + [(1200, False)] * 2, ["very_satisfied"] * 2 + ["satisfied"] * 3, [80]),
    }


def test_components_of_one_engineer(team: dict[str, EngineerState]) -> None:
    s = team["A"].summary(NOW, "7d")
    # 6 samples of 10 min, 5 within target; 6 surveys, 4 very satisfied, 1 neutral; reviews 90 and 100
    assert (s.samples, s.art_seconds, s.art_ratio) == (6, 600.0, 0.833333)
    assert (s.surveys, s.vsat_ratio, s.dsat) == (6, 0.666667, 1)
    assert (s.reviews, s.quality_ratio) == (2, 0.95)
    assert s.dsat_reasons == {"Workflow: Resolution was delayed": 1}


def test_the_30_day_view_includes_older_days(team: dict[str, EngineerState]) -> None:
    s = team["A"].summary(NOW, "30d")
    assert (s.surveys, s.vsat_ratio, s.dsat) == (8, 0.5, 3)  # two very dissatisfied surveys 10 days ago
    assert s.dsat_reasons == {"Reason not clear": 1, "Workflow: Resolution was delayed": 1, "unspecified": 1}


def test_stack_rank_by_hand(team: dict[str, EngineerState]) -> None:
    policy = Policy()
    seven = stack_rank([s.summary(NOW, "7d") for s in team.values()], policy)
    # B: no reviews, so VSAT and %ART carry it alone: (0.5 * 1 + 0.25 * 1) / 0.75 = 1.0
    # A: 0.5 * 0.666667 + 0.25 * 0.95 + 0.25 * 0.833333 = 0.779167
    # D: 0.5 * 0.4 + 0.25 * 0.8 + 0.25 * 0.6 = 0.55
    # C: 4 samples, below the minimum of 5: unranked, not ranked on thin data
    assert [(st.rank, st.summary.engineer_id, st.score) for st in seven] == [
        (1, "B", 1.0), (2, "A", 0.779167), (3, "D", 0.55), (None, "C", None)]
    thirty = stack_rank([s.summary(NOW, "30d") for s in team.values()], policy)
    # A over 30 days: VSAT 4/8 = 0.5, so 0.25 + 0.2375 + 0.208333 = 0.695833
    assert [(st.summary.engineer_id, st.score) for st in thirty][:3] == [("B", 1.0), ("A", 0.695833), ("D", 0.55)]


def test_weights_and_minimums_come_from_the_policy(team: dict[str, EngineerState]) -> None:
    policy = Policy(stack_rank_weights=(0.0, 0.0, 1.0), stack_rank_min_samples=4)
    ranked = stack_rank([s.summary(NOW, "7d") for s in team.values()], policy)
    assert [(st.summary.engineer_id, st.score) for st in ranked] == [
        ("B", 1.0), ("C", 1.0), ("A", 0.833333), ("D", 0.6)]


def test_a_redelivered_fact_counts_once_and_old_days_expire() -> None:
    state = EngineerState("E")
    fact = Fact("survey", "T-1:ev-9", "E", T0, "T-1", rating="very_satisfied")
    assert state.apply(fact) is True
    assert state.apply(fact) is False
    assert state.summary(T0, "7d").surveys == 1
    state.apply(Fact("survey", "T-2:ev-1", "E", T0 + 31 * DAY_MS, "T-2", rating="satisfied"))
    assert T0 // DAY_MS not in state.days  # kept 31 days, then dropped
    again = EngineerState.from_bytes("E", state.to_bytes())
    assert again.summary(T0 + 31 * DAY_MS, "30d") == state.summary(T0 + 31 * DAY_MS, "30d")
    assert again.apply(Fact("survey", "T-2:ev-1", "E", T0 + 31 * DAY_MS, "T-2", rating="satisfied")) is False


def facts(outputs: list) -> list[dict]:
    return [orjson.loads(o.value) for o in outputs if isinstance(o, Emit) and o.topic == "facts"]


def test_response_samples_run_from_assignment_or_customer_reply_to_that_engineers_response() -> None:
    desk = Desk()
    desk.create(severity=1)
    desk.send("ticket.assigned", at=T0 + 1 * MIN, engineer_id="E1")
    out = desk.proc.handle(desk.feed.record({"event_id": "r1", "type": "ticket.responded", "ticket_id": "T1",
                                             "occurred_at": _ts(T0 + 11 * MIN), "engineer_id": "E1"}), desk.store)
    (sample,) = facts(out)
    assert (sample["kind"], sample["engineer_id"], sample["value_ms"], sample["within"]) == ("sample", "E1", 600_000,
                                                                                           True)
    desk.send("ticket.customer_replied", at=T0 + 60 * MIN)
    other = desk.proc.handle(desk.feed.record({"event_id": "r2", "type": "ticket.responded", "ticket_id": "T1",
                                               "occurred_at": _ts(T0 + 70 * MIN), "engineer_id": "E2"}), desk.store)
    assert facts(other) == []  # someone else answered: E1's sample stays open
    late = desk.proc.handle(desk.feed.record({"event_id": "r3", "type": "ticket.responded", "ticket_id": "T1",
                                              "occurred_at": _ts(T0 + 80 * MIN), "engineer_id": "E1"}), desk.store)
    assert [(f["value_ms"], f["within"]) for f in facts(late)] == [(20 * MIN, False)]  # 20 min > Sev1's 15


def test_a_survey_after_closing_counts_and_a_dsat_goes_to_the_review_feed() -> None:
    desk = Desk()
    desk.create(severity=2)
    desk.send("ticket.assigned", at=T0 + MIN, engineer_id="E7")
    desk.send("ticket.closed", at=T0 + HOUR)
    out = desk.proc.handle(desk.feed.record({
        "event_id": "s1", "type": "ticket.survey_submitted", "ticket_id": "T1", "occurred_at": _ts(T0 + 2 * HOUR),
        "rating": "dissatisfied", "dsat_reason": "Workflow: Resolution was delayed"}), desk.store)
    (survey,) = facts(out)
    assert (survey["kind"], survey["engineer_id"], survey["rating"]) == ("survey", "E7", "dissatisfied")
    (review,) = [orjson.loads(o.value) for o in out if isinstance(o, Emit) and o.topic == "dsat"]
    assert review == {"review_id": "T1:s1", "ticket_id": "T1", "engineer_id": "E7", "rating": "dissatisfied",
                      "dsat_reason": "Workflow: Resolution was delayed", "severity": 2, "product": "automation",
                      "customer_id": "C1", "submitted_at": _ts(T0 + 2 * HOUR), "fastlane": False,
                      "comment": None}
    happy = desk.proc.handle(desk.feed.record({
        "event_id": "s2", "type": "ticket.survey_submitted", "ticket_id": "T1", "occurred_at": _ts(T0 + 3 * HOUR),
        "rating": "very_satisfied", "engineer_id": "E8"}), desk.store)
    assert [f["engineer_id"] for f in facts(happy)] == ["E8"]
    assert [o for o in happy if isinstance(o, Emit) and o.topic == "dsat"] == []


def _ts(ms: int) -> str:
    from pipeline.domain.timefmt import format_rfc3339_ms

    return format_rfc3339_ms(ms)


def test_the_terminal_table_has_every_column_and_lists_the_unranked_last() -> None:
    from pipeline.cli.stackrank import table
    from pipeline.tables.engineer_view import EngineerView

    view = EngineerView(Policy(), event_time=True)
    view.states = {"B": build("B", [(300, True)] * 5, ["very_satisfied"] * 5, [95]),
                   "C": build("C", [(60, True)] * 4, ["neutral"], [])}
    text = table(view.report("30d")).splitlines()
    assert text[0].split() == ["rank", "engineer", "VSAT", "%", "Quality", "%", "%", "ART", "ART", "score", "samples",
                               "surveys", "DSAT"]
    assert text[2].split() == ["1", "B", "100.0%", "95.0%", "100.0%", "5m00s", "0.988", "5", "5", "0"]
    assert text[3].split() == ["unranked", "C", "0.0%", "-", "100.0%", "1m00s", "-", "4", "1", "1"]
    assert "at least 5 surveys and 5 response samples" in text[-1]


@pytest.fixture
def decodes(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The engineer ids whose state is decoded from bytes, in order, while the test runs."""
    seen: list[str] = []
    real = EngineerState.from_bytes.__func__  # type: ignore[attr-defined]

    def counting(cls, engineer_id, data):  # noqa: ANN001, ANN202
        seen.append(engineer_id)
        return real(cls, engineer_id, data)

    monkeypatch.setattr(EngineerState, "from_bytes", classmethod(counting))
    return seen


def test_the_engineer_agent_decodes_a_state_again_only_when_the_table_holds_other_bytes(decodes: list[str]) -> None:
    from pipeline.agents.engineers import DecodedStates
    from pipeline.domain import engineers as domain

    cache = DecodedStates()
    fact = domain.Fact("survey", "f1", "E1", T0, "T1", rating="very_satisfied")
    state = cache.take(b"E1", "E1", None)  # a first sight: nothing to decode
    assert state.apply(fact)
    written = state.to_bytes()
    cache.keep(b"E1", written, state)
    again = cache.take(b"E1", "E1", bytes(written))  # the table gives back what was written: no decode
    assert again is state and decodes == []
    cache.keep(b"E1", written, again)
    other = domain.EngineerState("E1")  # a recovery or another worker put other bytes there
    assert other.apply(domain.Fact("review", "f2", "E1", T0, "T1", score=80.0))
    fresh = cache.take(b"E1", "E1", other.to_bytes())
    assert decodes == ["E1"] and fresh is not state and fresh.summary(T0, "7d").reviews == 1
    # taken and not kept (the write failed): the next fact decodes the table's bytes again
    cache.take(b"E1", "E1", written)
    assert decodes == ["E1", "E1"]


def test_the_stack_rank_view_decodes_an_engineer_only_when_asked_and_only_after_a_change(decodes: list[str]) -> None:
    from pipeline.domain import engineers as domain
    from pipeline.tables.engineer_view import EngineerView

    view = EngineerView(Policy(), event_time=True)
    state = domain.EngineerState("E1")
    for i in range(3):  # three updates arrive between two looks
        state.apply(domain.Fact("survey", f"f{i}", "E1", T0 + i, "T1", rating="very_satisfied"))
        view.load(b"E1", state.to_bytes())
    view.load(b"E2", domain.EngineerState("E2").to_bytes())
    assert decodes == []
    assert view.states["E1"].summary(T0 + 5, "7d").surveys == 3 and decodes == ["E1", "E2"]
    assert view.report("7d")["as_of"] and decodes == ["E1", "E2"]  # nothing changed: nothing decoded
    view.load(b"E2", None)  # a tombstone
    assert set(view.states) == {"E1"}


FACTS = st.lists(st.tuples(st.sampled_from(["sample", "survey", "review"]), st.integers(0, 45),
                           st.integers(0, 5), st.sampled_from(["very_satisfied", "neutral", "dissatisfied"])),
                 max_size=60)


@given(FACTS)
def test_an_engineer_state_is_written_as_one_orjson_document_and_read_back_whole(facts: list) -> None:
    """to_bytes reuses each unchanged day's bytes; what it writes must be exactly the document orjson would
    write for the whole state (changelogs already hold such records), and must read back to the same state."""
    state = EngineerState("E1")
    for n, (kind, day, i, rating) in enumerate(facts):
        state.apply(Fact(kind, f"f{n % 40}", "E1", T0 + day * DAY_MS + i, "T", value_ms=1000 * i, within=i < 3,
                         rating=rating if kind == "survey" else None, dsat_reason=f"reason {i}",
                         score=50 + i if kind == "review" else None))
        doc = {"d": {str(k): v for k, v in state.days.items()}, "t": state.last_at}
        if state.reasons:
            doc["r"] = {str(k): v for k, v in state.reasons.items()}
        if state.seen:
            doc["s"] = base64.b64encode(state.seen).decode()
        assert state.to_bytes() == orjson.dumps(doc)
        again = EngineerState.from_bytes("E1", state.to_bytes())
        assert (again.days, again.reasons, again.seen, again.last_at) == (
            state.days, state.reasons, state.seen, state.last_at)
