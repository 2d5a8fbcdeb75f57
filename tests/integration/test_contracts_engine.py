"""SLA contracts (contract v3 section 10) through a real broker with the event-time clock: a scenario whose
tickets are judged under a gold and a standard contract (round the clock and business hours, pauses while
waiting on the customer, next responses, notices, an unknown plan) gives exactly the pure core's outcomes
and notices with two workers, and across a kill -9 of one of them."""

from __future__ import annotations

from pipeline.domain.policy import load_policy
from tests import scenario
from tests.business_hours import POLICY, berlin, write_policy
from tests.integration.conftest import Broker, Topics, Worker, collect_unique, eventually
from tests.integration.test_sla_engine import DAY, publish_scenario

N_TICKETS = 1500
CONTRACTS = POLICY + """
[contracts.gold]
calendar = "24x7"
goal = 0.99
goals = { resolution = 0.95 }
pause_while_waiting = ["resolution"]
notify = ["resolution", "next_response"]
[contracts.gold.targets_minutes]
irt = { 1 = 10, 2 = 30, 3 = 120, 4 = 480 }
next_response = { 1 = 30, 2 = 60, 3 = 240, 4 = 480 }
workaround = { 1 = 60, 2 = 240 }
resolution = { 1 = 240, 2 = 480, 3 = 720 }

[contracts.standard]
calendar = "emea"
pause_while_waiting = ["workaround", "resolution"]
notify = ["workaround"]
[contracts.standard.targets_minutes]
irt = { 1 = 15, 2 = 60, 3 = 240, 4 = 1440 }
next_response = { 2 = 240, 3 = 480 }
workaround = { 1 = 120 }
resolution = { 2 = 240, 3 = 480 }

[contract_for]
rules = [ { customer = ["C1", "C2", "C3"], contract = "gold" }, { product = "automation", contract = "gold" } ]
default = "standard"
"""
PLANS = ("gold", "standard", "platinum-legacy")  # the last one the policy lacks


async def _publish_and_expect(broker: Broker, topics: Topics, docs: list[dict], policy, placed=None):
    placed = placed if placed is not None else await publish_scenario(broker, topics, docs, end_days=7)
    escalations: dict = {}
    expected, core_metrics = scenario.expected_outputs(placed, topics.events, policy, escalations=escalations)
    return placed, expected, escalations, core_metrics


async def _assert_same(broker: Broker, topics: Topics, expected: dict, escalations: dict) -> None:
    actual, copies = await collect_unique(broker.bootstrap, topics.outcomes, "outcome_id", want=len(expected))
    assert set(actual) == set(expected), sorted(set(expected) ^ set(actual))[:5]
    differing = [k for k, docs in copies.items() if any(d != expected[k] for d in docs)]
    assert not differing, "; ".join(f"{k}: core {expected[k]}, published {copies[k]}" for k in differing[:3])
    got, esc_copies = await collect_unique(broker.bootstrap, topics.escalations, "escalation_id",
                                           want=len(escalations))
    assert set(got) == set(escalations), sorted(set(escalations) ^ set(got))[:5]
    differing = [k for k, docs in esc_copies.items() if any(d != escalations[k] for d in docs)]
    assert not differing, "; ".join(f"{k}: core {escalations[k]}, published {esc_copies[k]}" for k in differing[:3])


def _contract_series(*workers: Worker) -> dict:
    total: dict = {}
    for worker in workers:
        for key, value in worker.metrics().items():
            if key[0] in ("sla_outcomes_total", "sla_contract_unknown_total"):
                total[key] = total.get(key, 0) + value
    return {k: v for k, v in total.items() if v}


def _core_series(core_metrics) -> dict:
    out = {}
    for family in core_metrics.registry.collect():
        for s in family.samples:
            if s.name in ("sla_outcomes_total", "sla_contract_unknown_total") and s.value:
                out[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return out


def _docs(policy) -> list[dict]:
    # created from Friday morning over three days, Berlin time: the standard contract's weekend pauses nothing
    return scenario.tickets(N_TICKETS, seed=21, span_ms=3 * DAY, start=berlin("2026-03-06T08:00"), policy=policy,
                            plans=PLANS)


async def test_two_workers_judge_every_contract_metric_as_the_pure_core_does(
    broker: Broker, topics: Topics, worker_factory, tmp_path,
) -> None:
    path = write_policy(tmp_path, CONTRACTS)
    policy = load_policy(path)
    first = worker_factory(SLA_CLOCK="event", SLA_POLICY_FILE=str(path)).start()
    second = worker_factory(SLA_CLOCK="event", SLA_POLICY_FILE=str(path)).start()
    _, expected, escalations, core_metrics = await _publish_and_expect(broker, topics, _docs(policy), policy)
    # the scenario does what it is for: every metric judged under both contracts, met and breached, notices
    judged = {(o.get("contract"), o["metric"], o["outcome"]) for o in expected.values() if o["outcome"]}
    for contract in ("gold", "standard"):
        for metric in ("irt", "next_response", "resolution"):
            assert {(contract, metric, "met"), (contract, metric, "breached")} <= judged, (contract, metric)
    assert any(o.get("requested_contract") == "platinum-legacy" for o in expected.values())
    assert any(o.get("paused_seconds") for o in expected.values())
    kinds = {e["kind"] for e in escalations.values()}
    assert {"next_response_at_risk", "next_response_breached", "resolution_breached"} <= kinds
    await _assert_same(broker, topics, expected, escalations)
    want = _core_series(core_metrics)
    eventually(lambda: _equal(_contract_series(first, second), want), timeout=60)


async def test_kill_9_of_one_of_two_workers_repeats_records_only_by_id_and_contradicts_none(
    broker: Broker, topics: Topics, worker_factory, tmp_path,
) -> None:
    path = write_policy(tmp_path, CONTRACTS)
    policy = load_policy(path)
    docs = _docs(policy)
    half = len(docs) // 2
    first = worker_factory(SLA_CLOCK="event", SLA_POLICY_FILE=str(path)).start()
    worker_factory(SLA_CLOCK="event", SLA_POLICY_FILE=str(path)).start()
    placed = await publish_scenario(broker, topics, docs[:half], end_beat=False)
    seen, _ = await collect_unique(broker.bootstrap, topics.outcomes, "outcome_id", want=300, timeout=120)
    assert len(seen) >= 300
    first.kill()
    rest = await publish_scenario(broker, topics, docs[half:], end_days=7)
    for p, rows in rest.items():
        placed.setdefault(p, []).extend(rows)
    first.start()
    _, expected, escalations, _ = await _publish_and_expect(broker, topics, docs, policy, placed)
    await _assert_same(broker, topics, expected, escalations)


def _equal(got: dict, want: dict) -> None:
    diff = {k: (got.get(k), v) for k, v in set(want.items()) ^ set(got.items())}
    assert not diff, f"{len(diff)} series differ (got, want), e.g. {list(diff.items())[:4]}"
