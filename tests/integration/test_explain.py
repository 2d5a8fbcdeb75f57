"""``sla-pipeline explain`` against a real broker: it finds a ticket's records on the partition Kafka's default
partitioner put them on (among other tickets', an invalid one and an early one included), explains them as the
pure fold does from the same records, writes an HTML page that opens in headless Chromium without an error,
and says clearly when a ticket has no record. Screenshots go to test-artifacts/explain/."""

from __future__ import annotations

import asyncio
import os
import subprocess
from pathlib import Path

import orjson
import pytest
from aiokafka import AIOKafkaProducer

from pipeline import resources
from pipeline.domain.policy import load_policy
from pipeline.domain.timefmt import DAY_MS, parse_rfc3339_ms
from pipeline.explain.fold import explain
from pipeline.explain.render import as_dict
from pipeline.explain.source import by_ticket, partition_of
from pipeline.kafka.admin import ensure_topics
from pipeline.processing.io import Record
from pipeline.simulate.generator import events
from pipeline.simulate.profile import load_profile
from tests.integration import browser
from tests.integration.conftest import CLI, ROOT, Broker, Topics

START = parse_rfc3339_ms("2026-03-02T00:00:00Z")
PARTITIONS = 4
ARTIFACTS = ROOT / "test-artifacts" / "explain"
POLICY = resources.resource(resources.POLICY_EXAMPLE)


async def produce_keyed(bootstrap: str, topic: str, records: list[tuple[bytes, bytes]]) -> None:
    """As an upstream system does: keyed by ticket, the partition left to the client's default partitioner."""
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all", linger_ms=20)
    await producer.start()
    try:
        await asyncio.gather(*[await producer.send(topic, value, key=key) for key, value in records])
    finally:
        await producer.stop()


async def test_explain_reads_the_tickets_partition_and_explains_as_the_pure_fold(
    broker: Broker, topics: Topics, tmp_path: Path,
) -> None:
    with resources.as_file(POLICY) as policy_file:
        policy = load_policy(policy_file)
        docs = list(events(load_profile(), 5, START, START + DAY_MS, policy=policy))
        created = next(d for d in docs if d["type"] == "ticket.created" and d["severity"] == 1)
        ticket = created["ticket_id"]
        key = ticket.encode()
        early = {"event_id": "early", "type": "ticket.assigned", "ticket_id": ticket, "engineer_id": "E9",
                 "occurred_at": created["occurred_at"]}
        sent = []
        for d in docs:
            if d is created:
                sent.append((key, orjson.dumps(early)))  # just before its creation: held, then applied
            sent.append((d["ticket_id"].encode(), orjson.dumps(d)))
        sent.append((key, b"{not json"))  # invalid: rejected, and shown
        await ensure_topics(broker.bootstrap, {topics.events: PARTITIONS})
        await produce_keyed(broker.bootstrap, topics.events, sent)

        env = {**os.environ, **topics.env(), "KAFKA_BOOTSTRAP_SERVERS": broker.bootstrap,
               "SLA_POLICY_FILE": str(policy_file)}
        out = tmp_path / "explain.json"
        done = subprocess.run([*CLI, "explain", ticket, "--format", "json", "--out", str(out)], env=env, cwd=ROOT,
                              capture_output=True, text=True, timeout=180, check=False)
        assert done.returncode == 0, done.stdout + done.stderr
        got = orjson.loads(out.read_bytes())

        # the same records, placed as Kafka's default partitioner places them, folded without Kafka
        p = partition_of(key, PARTITIONS)
        on_partition = [Record(topics.events, p, 0, k, v) for k, v in sent if partition_of(k, PARTITIONS) == p]
        on_partition = [Record(r.topic, r.partition, i, r.key, r.value) for i, r in enumerate(on_partition)]
        found = by_ticket(on_partition, {ticket})[ticket]
        want = explain(ticket, found.records, policy, parse_rfc3339_ms(got["now"]), marks=found.marks)
        assert got == orjson.loads(orjson.dumps(as_dict(want)))
        statuses = [r["status"] for r in got["records"]]
        assert statuses[0] == "held, then applied" and statuses[-1] == "rejected"
        assert got["records"][-1]["reason"] == "malformed_json"
        assert got["outcomes"] and {o["ticket_id"] for o in got["outcomes"]} == {ticket}
        assert got["escalations"], "a Sev1 ticket escalates"

        page = tmp_path / "explain.html"
        done = subprocess.run([*CLI, "explain", ticket, "--out", str(page), "--timezone", "Europe/Berlin"], env=env,
                              cwd=ROOT, capture_output=True, text=True, timeout=180, check=False)
        assert done.returncode == 0, done.stdout + done.stderr
        missing = subprocess.run([*CLI, "explain", "NO-SUCH-TICKET"], env=env, cwd=ROOT, capture_output=True,
                                 text=True, timeout=180, check=False)
    assert missing.returncode == 1
    assert f"no event of ticket NO-SUCH-TICKET in {topics.events} (partitions read: " in missing.stderr
    assert "past the topic's retention (retention.ms = " in missing.stderr

    if browser.chromium() is None:
        pytest.fail("chromium is missing: scripts/bootstrap.sh test installs it")
    seen = await browser.view(page.as_uri(), probe="document.querySelectorAll('table tr').length")
    assert seen.errors == []
    assert seen.title == f"Ticket {ticket}: its SLA explained"
    assert len(seen.charts) == 1 and seen.charts[0]["width"] > 500, seen.charts  # the clocks' timeline
    assert seen.probe > len(got["records"])  # every record has its row
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    (ARTIFACTS / "explain.png").write_bytes(seen.screenshot)
