"""Outages on the real broker: a minute without Kafka, and a worker killed while another runs (wall mode).

The measured times are printed (``pytest -s``) and written to ``bench/results/failover.txt`` when
``SLA_RECORD_FAILOVER`` is set; the README quotes them. The tests assert what a user relies on: nothing
lost, breaches with their true ``decided_at``, no crash; not how fast (that is the benchmark's business).
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import orjson
import pytest

from pipeline.domain.timefmt import format_rfc3339_ms
from pipeline.settings import DEFAULT_KAFKA_VERSION
from tests.integration.alerting import Alertmanager, Webhook
from tests.integration.conftest import (
    CLI,
    ROOT,
    Broker,
    Topics,
    Worker,
    eventually,
    free_port,
    produce,
    read_unique,
)

MIN = 60_000


def now_ms() -> int:
    return int(time.time() * 1000)


def ticket(tid: str, severity: int, created_ms: int, *responded_ms: int) -> list[tuple[bytes, bytes]]:
    docs = [{"event_id": f"{tid}-c", "type": "ticket.created", "ticket_id": tid, "severity": severity,
             "product": "automation", "customer_id": "C-17", "occurred_at": format_rfc3339_ms(created_ms)}]
    docs += [{"event_id": f"{tid}-r", "type": "ticket.responded", "ticket_id": tid, "engineer_id": "E-4",
              "occurred_at": format_rfc3339_ms(at)} for at in responded_ms]
    return [(tid.encode(), orjson.dumps(d)) for d in docs]


def readyz(worker: Worker) -> list[int]:
    """The partitions the worker owns; none while it answers 503 (a rebalance or a recovery under way)."""
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{worker.port}/readyz", timeout=5) as resp:
            return json.load(resp)["partitions"]
    except urllib.error.HTTPError as exc:
        if exc.code == 503:
            return []
        raise


def record(line: str) -> None:
    print(line)
    if os.environ.get("SLA_RECORD_FAILOVER"):
        with open(ROOT / "bench" / "results" / "failover.txt", "a") as f:
            f.write(line + "\n")


@pytest.fixture
def own_broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Broker]:
    """A broker of its own (the default version): this test stops and starts it."""
    port = free_port(2)
    broker = Broker(DEFAULT_KAFKA_VERSION, f"127.0.0.1:{port}", port, tmp_path_factory.mktemp("kafka-outage"))
    started = broker.cli("start")
    assert started.returncode == 0, started.stdout + started.stderr
    yield broker
    broker.cli("stop", timeout=60)


async def test_a_minute_without_the_broker_loses_nothing_and_late_breaches_keep_their_instant(
    own_broker: Broker, topics: Topics, tmp_path: Path,
) -> None:
    worker = Worker(own_broker, topics, tmp_path, {})
    hook = Webhook()
    am = Alertmanager(tmp_path / "am", hook).start()
    env = {**os.environ, **topics.env(), "KAFKA_BOOTSTRAP_SERVERS": own_broker.bootstrap}
    log = open(tmp_path / "notifier.log", "ab")  # noqa: SIM115 - handed to the child
    notifier = subprocess.Popen([*CLI, "notify", "--alertmanager-url", am.url, "--metrics-port", "0"], env=env,
                                cwd=ROOT, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    log.close()
    try:
        worker.start()
        start = now_ms()
        breach_at = start + 40_000  # falls due while the broker is down
        sev1 = [f"OUT-S1-{i}" for i in range(6)]
        sev3 = [f"OUT-S3-{i}" for i in range(6)]
        records = [r for t in sev1 for r in ticket(t, 1, breach_at - 15 * MIN)]
        records += [r for t in sev3 for r in ticket(t, 3, start - 10 * MIN, start - 5 * MIN)]
        await produce(own_broker.bootstrap, topics.events, records)
        for t in sev1:  # 80 % of the budget is gone already: on-call is paged before the outage
            await asyncio.to_thread(hook.wait_for, "/oncall", "firing", 60, ticket_id=t, kind="irt_at_risk")
        met = await read_unique(own_broker.bootstrap, topics.outcomes, "outcome_id", want=6, timeout=60)
        assert len(met) == 6

        stopped = own_broker.cli("stop", timeout=60)
        down_at = now_ms()
        assert stopped.returncode == 0 and down_at < breach_at - 5_000, stopped.stdout
        await asyncio.sleep(60)
        assert worker.proc.poll() is None and notifier.poll() is None, worker.log_tail()
        started = own_broker.cli("start")
        up_at = now_ms()
        assert started.returncode == 0, started.stdout + started.stderr

        outcomes = await read_unique(own_broker.bootstrap, topics.outcomes, "outcome_id", want=12, timeout=180)
        breaches = {docs[0][2]["ticket_id"]: docs[0] for docs in outcomes.values()
                    if docs[0][2]["outcome"] == "breached"}
        assert sorted(breaches) == sorted(sev1), worker.log_tail()
        for published, _, doc in breaches.values():
            assert doc["decided_at"] == format_rfc3339_ms(breach_at)  # its true instant, not the recovery's
            assert published >= up_at - 1000  # decided while the broker was away, published once it was back
        assert {docs[0][2]["ticket_id"] for docs in outcomes.values()} == set(sev1) | set(sev3)
        escalations = await read_unique(own_broker.bootstrap, topics.escalations, "escalation_id", want=18, timeout=60)
        assert sorted(escalations) == sorted(f"{t}:{k}:{lvl}:1" for t in sev1 for k, lvl in (
            ("irt_at_risk", 1), ("irt_at_risk", 2), ("irt_breached", 3)))
        for t in sev1:
            await asyncio.to_thread(hook.wait_for, "/oncall", "firing", 120, ticket_id=t, kind="irt_breached")
        await asyncio.sleep(3)
        assert all(len(hook.alerts("/oncall", ticket_id=t, kind="irt_breached")) == 1 for t in sev1)
        assert worker.proc.poll() is None and notifier.poll() is None  # rode it out, no restart
        first = min(published for published, _, _ in breaches.values())
        record(f"broker outage: down {(up_at - down_at) / 1000:.0f} s; breaches due during it published "
               f"{(first - up_at) / 1000:+.1f} s from `kafka start` returning (decided_at = their deadline)")

        late = ticket("OUT-AFTER", 3, now_ms() - 10 * MIN, now_ms() - 5 * MIN)
        await produce(own_broker.bootstrap, topics.events, late)
        after = await read_unique(own_broker.bootstrap, topics.outcomes, "outcome_id", want=13, timeout=60)
        assert any(docs[0][2]["ticket_id"] == "OUT-AFTER" for docs in after.values())
    finally:
        if notifier.poll() is None:
            os.killpg(notifier.pid, signal.SIGTERM)
            notifier.wait(15)
        worker.stop()
        am.stop()
        hook.server.shutdown()


async def test_a_killed_workers_deadlines_fire_on_the_survivor(
    broker: Broker, topics: Topics, worker_factory, tmp_path: Path,
) -> None:
    policy = tmp_path / "policy.toml"
    policy.write_text("[irt]\ntargets_minutes = { 3 = 1 }\n")
    first = worker_factory(SLA_POLICY_FILE=str(policy)).start()
    second = worker_factory(SLA_POLICY_FILE=str(policy)).start()
    owned: dict[str, list[int]] = {}

    def split() -> None:
        owned["first"], owned["second"] = readyz(first), readyz(second)
        assert owned["first"] and owned["second"] and sorted(owned["first"] + owned["second"]) == [0, 1, 2, 3]

    eventually(split, timeout=90)
    deadline = now_ms() + 5_000  # after the kill, well before the session timeout ends
    tickets = [f"FO-{i}" for i in range(40)]
    await produce(broker.bootstrap, topics.events, [r for t in tickets for r in ticket(t, 3, deadline - MIN)])

    def processed() -> None:
        seen = sum(w.metric("sla_events_total", type="ticket.created") for w in (first, second))
        assert seen == len(tickets)

    eventually(processed, timeout=30)
    first.kill()
    killed_at = now_ms()
    assert killed_at < deadline, "the kill must come before the deadlines"

    outcomes = await read_unique(broker.bootstrap, topics.outcomes, "outcome_id", want=len(tickets), timeout=120)
    assert sorted(docs[0][2]["ticket_id"] for docs in outcomes.values()) == sorted(tickets), second.log_tail()
    for docs in outcomes.values():
        assert docs[0][2]["outcome"] == "breached"
        assert docs[0][2]["decided_at"] == format_rfc3339_ms(deadline)
    orphaned = [published for docs in outcomes.values() for published, partition, _ in docs[:1]
                if partition in owned["first"]]
    kept = [published for docs in outcomes.values() for published, partition, _ in docs[:1]
            if partition in owned["second"]]
    assert orphaned and kept
    assert min(orphaned) >= deadline  # nothing fired early
    record(f"failover (wall mode, 2 workers, session timeout 10 s): kill -9 -> first breach published for a "
           f"dead worker's partition {(min(orphaned) - killed_at) / 1000:.1f} s (its deadline was "
           f"{(deadline - killed_at) / 1000:.1f} s after the kill; the survivor's own breaches came "
           f"{(min(kept) - deadline) / 1000:.1f} s after theirs)")
