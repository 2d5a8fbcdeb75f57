"""The agent tier of allowances: tickets created on the ticket agent, their incidents repartitioned by customer
to the customers agent (as Kafka would hand them over), the month's escalation on sla.escalations."""

from __future__ import annotations

from pathlib import Path

from pipeline.domain.allowances import CustomerState
from pipeline.domain.policy import load_policy
from pipeline.domain.records import Escalation
from tests.agents.harness import Worker
from tests.builders import T0, EventFactory

MIN = 60_000
POLICY = """
[contracts.gold]
critical_incidents_per_month = 2
[contracts.gold.targets_minutes]
irt = { 1 = 10 }

[contract_for]
rules = [ { customer = "C-0042", contract = "gold" } ]
"""


async def deliver_incidents(w: Worker, customers: object) -> int:
    """Hand every incident the ticket agent published to the customers agent (``customers``: its test context),
    as the repartition by customer would."""
    topic = w.pipeline.topics["incidents"].get_topic_name()
    incidents = [s for s in w.sent if s.topic == topic]
    for record in incidents:
        await w._put(customers, w.pipeline.customers_progress, topic, 0, record.key, record.value or b"")
    return len(incidents)


def allowance_notices(w: Worker) -> list[tuple[bytes | None, Escalation]]:
    return [(s.key, Escalation.decode(s.value)) for s in w.sent_to("sla.escalations")
            if Escalation.decode(s.value).kind == "allowance_exceeded"]


async def test_the_ticket_that_goes_over_the_allowance_reaches_the_escalations_topic_once(
        tmp_path: Path, events: EventFactory) -> None:
    path = tmp_path / "policy.toml"
    path.write_text(POLICY)
    async with Worker(tmp_path, policy=load_policy(path)) as w:
        customers = w.pipeline.customers.test_context()
        async with customers:
            await _over_the_allowance(w, customers, events)


async def _over_the_allowance(w: Worker, customers: object, events: EventFactory) -> None:
    assert w.pipeline.topics["incidents"].get_topic_name() == "sla-pipeline-customer-incidents"
    for n, (severity, customer) in enumerate([(1, "C-0042"), (3, "C-0042"), (1, "C-0001"), (1, "C-0042"),
                                              (1, "C-0042"), (1, "C-0042")], start=1):
        await w.event(events.created(f"T{n}", at=T0 + n * MIN, severity=severity, customer_id=customer))
    assert await deliver_incidents(w, customers) == 4  # C-0042's Sev1 tickets: T1, T4, T5, T6
    [(key, esc)] = allowance_notices(w)
    assert key == b"T5"  # keyed and named by the ticket that went over
    assert (esc.escalation_id, esc.ticket_id, esc.level, esc.contract, esc.emitted_at) == (
        "C-0042:allowance_exceeded:2026-03", "T5", 1, "gold", "2026-03-02T09:05:00.000Z")
    assert esc.reason == "customer C-0042 (gold) has opened 3 critical incidents in 2026-03, over its allowance of 2"
    state = CustomerState.from_bytes("C-0042", w.pipeline.customer_table[b"C-0042"])
    assert state.used("2026-03") == 4
    assert w.pipeline.metrics.registry.get_sample_value(
        "sla_escalations_total", {"kind": "allowance_exceeded"}) == 1

    # every incident again (at-least-once): counted once; T5's sends its notice again, the same record (the
    # table may have been written before a crash lost the send), which consumers drop by its id
    await deliver_incidents(w, customers)
    assert [e for _, e in allowance_notices(w)] == [esc, esc]
    assert {k for k, _ in allowance_notices(w)} == {b"T5"}
    assert CustomerState.from_bytes("C-0042", w.pipeline.customer_table[b"C-0042"]).used("2026-03") == 4
    assert w.pipeline.metrics.registry.get_sample_value(
        "sla_escalations_total", {"kind": "allowance_exceeded"}) == 1
