"""The SLA engine through a real broker, with the event-time clock: a 2,000-ticket scenario gives exactly
the pure core's outcomes, with one worker, with two, across a kill -9, and with a third of the tickets on
a business-hours calendar."""

from __future__ import annotations

import time

import orjson

from pipeline.domain.policy import Policy, load_policy
from pipeline.domain.timefmt import format_rfc3339_ms, parse_rfc3339_ms
from tests import scenario
from tests.business_hours import POLICY, berlin, in_emea_hours, write_policy
from tests.integration.conftest import (
    Broker,
    Topics,
    Worker,
    collect_unique,
    eventually,
    partition_count,
    produce,
)

N_TICKETS = 2000
DAY = 24 * 3_600_000


async def publish_scenario(broker: Broker, topics: Topics, docs: list[dict], *, end_beat: bool = True,
                           end_days: int = 3) -> dict:
    """Produce the scenario's events, then (optionally) a heartbeat on every partition ``end_days`` after the
    last event, so every deadline has passed. Returns the records as the broker placed them."""
    records = [(d["ticket_id"].encode(), orjson.dumps(d)) for d in docs]
    placed = scenario.by_partition(await produce(broker.bootstrap, topics.events, records), records)
    if end_beat:
        placed_beats = await beat_every_partition(broker, topics, scenario.last_instant(docs) + end_days * DAY)
        for p, rows in placed_beats.items():
            placed.setdefault(p, []).extend(rows)
    return placed


async def beat_every_partition(broker: Broker, topics: Topics, at: int) -> dict:
    placed: dict = {}
    for p in range(await partition_count(broker.bootstrap, topics.events)):
        record = (None, orjson.dumps(scenario.heartbeat(at, f"end-{p}")))
        (meta,) = await produce(broker.bootstrap, topics.events, [record], partition=p)
        placed.setdefault(p, []).append((meta.offset, *record))
    return placed


async def assert_outcomes_match_core(broker: Broker, topics: Topics, placed: dict,
                                     policy: Policy | None = None) -> tuple[dict, dict]:
    expected, core_metrics = scenario.expected_outputs(placed, topics.events, policy)
    irt = [o for o in expected.values() if o["metric"] == "irt"]
    assert len(irt) == N_TICKETS, "every ticket's deadline passed: one IRT outcome each"
    actual, copies = await collect_unique(broker.bootstrap, topics.outcomes, "outcome_id", want=len(expected))
    missing = sorted(set(expected) - set(actual))
    assert not missing, f"{len(missing)} outcomes missing, e.g. {missing[:5]}"
    assert set(actual) == set(expected)
    differing = [k for k, docs in copies.items() if any(d != expected[k] for d in docs)]
    assert not differing, "outcomes that differ from the core's answer: " + "; ".join(
        f"{k}: core {expected[k]}, published {copies[k]}" for k in differing[:3])
    return expected, core_metrics


def irt_series(metrics: dict) -> dict:
    keep = ("sla_irt_outcomes_total", "sla_irt_window_tickets")
    return {k: v for k, v in metrics.items() if k[0] in keep}


def summed(*workers: Worker) -> dict:
    total: dict = {}
    for worker in workers:
        for key, value in irt_series(worker.metrics()).items():
            total[key] = total.get(key, 0) + value
    return total


def core_series(core_metrics) -> dict:
    out = {}
    for family in core_metrics.registry.collect():
        for s in family.samples:
            key = (s.name, tuple(sorted(s.labels.items())))
            if key[0] in ("sla_irt_outcomes_total", "sla_irt_window_tickets"):
                out[key] = s.value
    return out


async def test_event_time_outcomes_equal_the_pure_core(broker: Broker, topics: Topics, worker_factory) -> None:
    worker = worker_factory(SLA_CLOCK="event").start()
    placed = await publish_scenario(broker, topics, scenario.tickets(N_TICKETS, seed=11))
    _, core_metrics = await assert_outcomes_match_core(broker, topics, placed)
    want = core_series(core_metrics)
    eventually(lambda: _same(summed(worker), want))
    # the lag gauge covers every partition the worker owns, and reads 0 once it has caught up
    parts = await partition_count(broker.bootstrap, topics.events)
    eventually(lambda: _lag(worker) == {str(p): 0.0 for p in range(parts)})


def _lag(worker: Worker) -> dict[str, float]:
    return {dict(labels)["partition"]: value for (name, labels), value in worker.metrics().items()
            if name == "sla_consumer_lag_records"}


async def test_two_workers_give_the_same_outcomes_and_their_metrics_sum_to_one(
    broker: Broker, topics: Topics, worker_factory,
) -> None:
    first = worker_factory(SLA_CLOCK="event").start()
    second = worker_factory(SLA_CLOCK="event").start()
    placed = await publish_scenario(broker, topics, scenario.tickets(N_TICKETS, seed=12))
    _, core_metrics = await assert_outcomes_match_core(broker, topics, placed)
    want = core_series(core_metrics)
    eventually(lambda: _same(summed(first, second), want), timeout=60)
    # both did part of the work: each owns some partitions
    assert sum(irt_series(first.metrics()).values()) > 0 and sum(irt_series(second.metrics()).values()) > 0


async def test_kill_9_mid_stream_loses_no_outcome_and_changes_none(
    broker: Broker, topics: Topics, worker_factory,
) -> None:
    docs = scenario.tickets(N_TICKETS, seed=13)
    half = len(docs) // 2
    worker = worker_factory(SLA_CLOCK="event").start()
    placed = await publish_scenario(broker, topics, docs[:half], end_beat=False)
    # wait until the worker is visibly mid-stream, then pull the plug
    seen, _ = await collect_unique(broker.bootstrap, topics.outcomes, "outcome_id", want=300, timeout=120)
    assert len(seen) >= 300
    worker.kill()
    rest = await publish_scenario(broker, topics, docs[half:])
    for p, rows in rest.items():
        placed.setdefault(p, []).extend(rows)
    worker.start()  # same data dir and port: a restart, not a new worker
    await assert_outcomes_match_core(broker, topics, placed)


# the emea calendar of tests/business_hours.py for every desktop ticket, whatever its severity: a third
THIRD_ON_BUSINESS_HOURS = POLICY.split("[calendar_for]")[0] + '[calendar_for]\nrules = [ { product = "desktop", ' \
                                                             'calendar = "emea" } ]\n'


async def test_with_a_third_of_the_tickets_on_business_hours_outcomes_equal_the_pure_core(
    broker: Broker, topics: Topics, worker_factory, tmp_path,
) -> None:
    path = write_policy(tmp_path, THIRD_ON_BUSINESS_HOURS)
    policy = load_policy(path)
    worker = worker_factory(SLA_CLOCK="event", SLA_POLICY_FILE=str(path)).start()
    # created from Friday morning to Monday morning, Berlin time: evenings, a weekend, two mornings
    docs = scenario.tickets(N_TICKETS, seed=14, span_ms=3 * DAY, start=berlin("2026-03-06T08:00"), policy=policy)
    created = [d for d in docs if d["type"] == "ticket.created"]
    share = sum(d["product"] == "desktop" for d in created) / len(created)
    assert 0.30 < share < 0.37, share
    placed = await publish_scenario(broker, topics, docs, end_days=7)
    expected, core_metrics = await assert_outcomes_match_core(broker, topics, placed, policy)
    eventually(lambda: _same(summed(worker), core_series(core_metrics)))
    # the scenario did what it is for: business-hours deadlines passed over the weekend fire in the hours
    irt = [o for o in expected.values() if o["metric"] == "irt"]
    on_calendar = [o for o in irt if o["calendar"] == "emea"]
    assert {o["calendar"] for o in irt} == {"emea", "24x7"} and len(on_calendar) / len(irt) == share
    breached = [parse_rfc3339_ms(o["decided_at"]) for o in on_calendar if o["outcome"] == "breached"]
    assert len(breached) > 20 and all(in_emea_hours(at) for at in breached)
    assert any(at >= berlin("2026-03-09T08:00") and (at - berlin("2026-03-06T17:00")) < 3 * DAY for at in breached)
    ttr = [o for o in expected.values() if o["metric"] == "ttr" and o["calendar"] == "emea"]
    assert ttr and all(o["calendar_value_seconds"] <= o["value_seconds"] for o in ttr)
    assert any(o["calendar_value_seconds"] < o["value_seconds"] for o in ttr)


def _same(got: dict, want: dict) -> None:
    diff = {k: (got.get(k), v) for k, v in want.items() if got.get(k, 0) != v}
    assert not diff, f"{len(diff)} series differ (got, want), e.g. {list(diff.items())[:4]}"


async def test_live_mode_breaches_at_the_deadline_with_no_further_event(
    broker: Broker, topics: Topics, worker_factory,
) -> None:
    worker = worker_factory().start()  # wall clock
    created = int(time.time() * 1000) - 15 * 60_000 + 4_000  # a Sev1 whose 15 minutes end in 4 s
    doc = {"event_id": "live-1", "type": "ticket.created", "ticket_id": "LIVE-1", "occurred_at":
           format_rfc3339_ms(created), "severity": 1, "product": "automation", "customer_id": "C1"}
    await produce(broker.bootstrap, topics.events, [(b"LIVE-1", orjson.dumps(doc))])
    got, _ = await collect_unique(broker.bootstrap, topics.outcomes, "outcome_id", want=1, timeout=60)
    irt = got["LIVE-1:irt:1"]
    assert irt["outcome"] == "breached" and irt["decided_at"] == format_rfc3339_ms(created + 15 * 60_000)
    assert time.time() * 1000 >= parse_rfc3339_ms(irt["decided_at"])  # not before its time
    assert worker.metric("sla_irt_outcomes_total", severity="1", outcome="breached") == 1
