"""Critical-incident allowances (contract v3 section 10, precise rule 8): the ticket side publishes an incident
for each new critical ticket of a contract with an allowance, keyed by customer; the customer side counts
distinct tickets per customer and UTC month and names the first one over the allowance, once a month."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import orjson
from hypothesis import given
from hypothesis import strategies as st

from pipeline.domain import bizcrit
from pipeline.domain.allowances import CustomerState, Incident, month_of
from pipeline.domain.policy import Policy, load_policy
from pipeline.domain.records import Escalation
from pipeline.domain.timefmt import parse_rfc3339_ms
from pipeline.processing.io import Emit
from pipeline.processing.outbox import render
from tests.desk import HOUR, Desk

POLICY = """
[contracts.gold]
critical_incidents_per_month = 10
critical_severities = [1, 2]
[contracts.gold.targets_minutes]
irt = { 1 = 10, 2 = 30 }

[contracts.standard.targets_minutes]
irt = { 1 = 15 }

[contract_for]
rules = [ { customer = "C-0042", contract = "gold" }, { customer = "C-0107", contract = "standard" } ]
"""
DEC = parse_rfc3339_ms("2026-12-01T00:00:00Z")
JAN = parse_rfc3339_ms("2027-01-01T00:00:00Z")


def policy(tmp_path: Path) -> Policy:
    path = tmp_path / "policy.toml"
    path.write_text(POLICY)
    return load_policy(path)


def incident(n: int, at: int = DEC, customer: str = "C-0042", allowance: int = 10, severity: int = 1) -> Incident:
    return Incident(f"T-{n}", customer, at + n * HOUR, severity, "automation", False, "gold", allowance)


# --- the ticket side ------------------------------------------------------------------------------

def incidents_of(desk: Desk, doc: dict) -> list[Emit]:
    out = desk.proc.handle(desk.feed.record(doc), desk.store)
    return [o for o in out if isinstance(o, Emit) and o.topic == "incidents"]


def created(tid: str, severity: int, customer: str) -> dict:
    return {"event_id": f"{tid}-created", "type": "ticket.created", "ticket_id": tid,
            "occurred_at": "2026-12-01T09:00:00.000Z", "severity": severity, "product": "automation",
            "customer_id": customer}


def test_a_critical_ticket_of_a_contract_with_an_allowance_publishes_one_incident_keyed_by_customer(
        tmp_path: Path) -> None:
    desk = Desk(policy=policy(tmp_path))
    [emit] = incidents_of(desk, created("T1", 2, "C-0042"))
    assert emit.key == b"C-0042"
    assert orjson.loads(emit.value) == {
        "ticket_id": "T1", "customer_id": "C-0042", "created_at": parse_rfc3339_ms("2026-12-01T09:00:00Z"),
        "severity": 2, "product": "automation", "fastlane": False, "contract": "gold", "allowance": 10}
    assert incidents_of(desk, created("T1", 2, "C-0042")) == []  # the same ticket.created again: deduped
    # kept in the ticket's outbox until committed: a republication after a crash is the same record
    [pending] = [p for p in desk.store.get("T1").outbox if p.topic == "incidents"]
    assert render(desk.store.get("T1"), pending) == emit


def test_only_critical_severities_at_creation_of_contracts_with_an_allowance_count(tmp_path: Path) -> None:
    desk = Desk(policy=policy(tmp_path))
    assert incidents_of(desk, created("T3", 3, "C-0042")) == []  # Sev3 is not critical under gold
    assert incidents_of(desk, created("T4", 1, "C-0107")) == []  # standard sets no allowance
    assert incidents_of(desk, created("T5", 1, "C-0001")) == []  # the implicit default contract: none
    # a raise to Sev1 after creation changes nothing: severity at creation counts (rule 8)
    raised = {"event_id": "raise", "type": "ticket.severity_changed", "ticket_id": "T3",
              "occurred_at": "2026-12-01T09:05:00.000Z", "severity": 1}
    assert incidents_of(desk, raised) == []


def test_a_policy_without_contracts_publishes_no_incident() -> None:
    desk = Desk()
    assert incidents_of(desk, created("T1", 1, "C-0042")) == []


# --- the customer side: the fold ------------------------------------------------------------------

def test_the_eleventh_distinct_ticket_over_an_allowance_of_ten_notifies_once() -> None:
    state = CustomerState("C-0042")
    folded = [state.apply(incident(n)) for n in range(1, 13)]
    assert all(f.changed for f in folded)
    notices = [f.escalation for f in folded if f.escalation is not None]
    assert [f.escalation is not None for f in folded].index(True) == 10  # the 11th
    [esc] = notices
    assert esc == Escalation(
        escalation_id="C-0042:allowance_exceeded:2026-12", cycle=1, ticket_id="T-11", kind="allowance_exceeded",
        level=1, severity=1, product="automation", customer_id="C-0042", fastlane=False, engineer_id=None,
        deadline=None, budget_used=None,
        reason="customer C-0042 (gold) has opened 11 critical incidents in 2026-12, over its allowance of 10",
        emitted_at="2026-12-01T11:00:00.000Z", contract="gold")
    decoded = Escalation.decode(esc.encode())  # what the notifier reads: a warning, never a page
    assert decoded == esc and not decoded.paged and bizcrit.is_notice(decoded.kind)
    assert state.used("2026-12") == 12


def test_a_redelivered_incident_is_not_counted_twice() -> None:
    state = CustomerState("C-0042")
    for n in range(1, 11):
        state.apply(incident(n))
        assert state.apply(incident(n)).changed is False
    assert state.used("2026-12") == 10
    first = state.apply(incident(11))
    assert first.escalation is not None
    # the ticket that went over, redelivered (the table may be ahead of the send after a crash): the same
    # record again, for consumers to drop by id; any other repeat yields nothing
    again = state.apply(incident(11))
    assert (again.changed, again.escalation) == (False, first.escalation)
    assert again.escalation.encode() == first.escalation.encode()
    assert state.apply(incident(3)).escalation is None
    assert state.used("2026-12") == 11


def test_the_months_notified_survive_a_restart() -> None:
    state = CustomerState("C-0042")
    notices = [state.apply(incident(n)).escalation for n in range(1, 12)]
    restored = CustomerState.from_bytes("C-0042", state.to_bytes())
    assert restored == state
    assert restored.apply(incident(12)).escalation is None  # the month's notice was sent before the restart
    assert restored.apply(incident(11)).escalation == notices[-1]
    assert restored.used("2026-12") == 12


def test_a_new_month_starts_over_and_only_two_months_are_kept() -> None:
    state = CustomerState("C-0042")
    for n in range(1, 11):
        state.apply(incident(n, DEC))
    january = [state.apply(incident(n, JAN)).escalation for n in range(1, 12)]
    assert january[:10] == [None] * 10  # December's ten do not count in January
    assert january[10] is not None and january[10].escalation_id == "C-0042:allowance_exceeded:2027-01"
    assert (state.used("2026-12"), state.used("2027-01")) == (10, 11)
    # a late December ticket still counts: the previous month is kept
    late = state.apply(incident(99, DEC))
    assert late.changed and late.escalation is not None  # the 11th of December
    assert late.escalation.escalation_id == "C-0042:allowance_exceeded:2026-12"
    # February: December is dropped, and a December ticket arriving now is too late to count
    state.apply(incident(1, parse_rfc3339_ms("2027-02-01T00:00:00Z")))
    assert list(state.months) == ["2027-01", "2027-02"]
    assert state.apply(incident(100, DEC)).changed is False and state.used("2026-12") == 0


def test_the_month_is_the_utc_month_of_the_creation() -> None:
    assert month_of(parse_rfc3339_ms("2026-12-31T23:59:59.999Z")) == "2026-12"
    assert month_of(parse_rfc3339_ms("2027-01-01T00:00:00Z")) == "2027-01"
    assert month_of(parse_rfc3339_ms("2026-12-31T23:30:00-01:00")) == "2027-01"


def test_an_allowance_of_zero_notifies_the_first_critical_incident() -> None:
    state = CustomerState("C-9")
    esc = state.apply(dataclasses.replace(incident(1, customer="C-9"), allowance=0)).escalation
    assert esc is not None
    assert esc.reason == "customer C-9 (gold) has opened 1 critical incident in 2026-12, over its allowance of 0"


@given(allowance=st.integers(0, 6), tickets=st.lists(st.tuples(st.integers(0, 12), st.booleans()), max_size=40))
def test_counts_are_distinct_tickets_and_a_month_notifies_at_most_once(
        allowance: int, tickets: list[tuple[int, bool]]) -> None:
    """Any arrival order with any repeats, over two months: the count is the distinct tickets, and the month's
    notice exists exactly when that count is over the allowance, with one id, naming one ticket."""
    state = CustomerState("C-1")
    sent: dict[str, set[tuple[str, str]]] = {}
    for n, january in tickets:
        folded = state.apply(incident(n, JAN if january else DEC, customer="C-1", allowance=allowance))
        if folded.escalation is not None:
            sent.setdefault(folded.escalation.escalation_id, set()).add((folded.escalation.ticket_id,
                                                                         folded.escalation.reason))
    for month, at in (("2026-12", DEC), ("2027-01", JAN)):
        distinct = {n for n, january in tickets if january == (at == JAN)}
        assert state.used(month) == len(distinct)
        ids = sent.get(f"C-1:allowance_exceeded:{month}")
        assert (ids is not None) == (len(distinct) > allowance)
        assert ids is None or len(ids) == 1
