"""``sla-pipeline whatif`` against a real broker: the period's events read from ``tickets.events`` by time give
exactly the comparison the same events give from a file (1 process from the file, 2 from the topic), nothing
is written to any topic, progress and a summary go to stderr, and the HTML page opens in headless Chromium
without an error. Screenshots go to test-artifacts/whatif/."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import orjson
import pytest
from aiokafka import AIOKafkaConsumer, TopicPartition

from pipeline import resources
from pipeline.domain.policy import load_policy
from pipeline.domain.timefmt import DAY_MS, parse_rfc3339_ms
from pipeline.kafka.admin import ensure_topics, topic_partitions
from pipeline.simulate.generator import events
from pipeline.simulate.profile import load_profile
from tests.integration import browser
from tests.integration.conftest import CLI, ROOT, Broker, Topics

START = parse_rfc3339_ms("2026-03-02T00:00:00Z")
PARTITIONS = 4
ARTIFACTS = ROOT / "test-artifacts" / "whatif"
GOLD_NEXT = "next_response = { 1 = 30, 2 = 120, 3 = 480 }"


async def end_offsets(bootstrap: str) -> dict[tuple[str, int], int]:
    """Every partition of every topic on the broker, with its end offset."""
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, group_id=None, enable_auto_commit=False)
    await consumer.start()
    try:
        tps = [TopicPartition(t, p) for t in sorted(await consumer.topics())
               for p in await topic_partitions(bootstrap, t)]
        return {(tp.topic, tp.partition): n for tp, n in (await consumer.end_offsets(tps)).items()}
    finally:
        await consumer.stop()


def run_cli(args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess:
    done = subprocess.run([*CLI, *args], env=env, cwd=ROOT, capture_output=True, text=True, timeout=300, check=False)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    return done


async def test_whatif_from_the_topic_equals_the_file_writes_nothing_and_opens_in_a_browser(
    broker: Broker, topics: Topics, tmp_path: Path,
) -> None:
    with resources.as_file(resources.resource(resources.POLICY_EXAMPLE)) as example:
        live_file = tmp_path / "live.toml"
        live_file.write_text(example.read_text())
    candidate = tmp_path / "candidate.toml"
    text = live_file.read_text()
    assert GOLD_NEXT in text
    candidate.write_text(text.replace(GOLD_NEXT, "next_response = { 1 = 15, 2 = 60, 3 = 240 }"))
    docs = list(events(load_profile(), 3, START, START + 3 * DAY_MS, policy=load_policy(live_file)))
    events_file = tmp_path / "events.jsonl"
    events_file.write_bytes(b"".join(orjson.dumps(d) + b"\n" for d in docs))
    await ensure_topics(broker.bootstrap, {topics.events: PARTITIONS, topics.outcomes: 1, topics.escalations: 1,
                                           topics.dlq: 1})
    env = {**os.environ, **topics.env(), "KAFKA_BOOTSTRAP_SERVERS": broker.bootstrap, "SLA_POLICY_FILE": str(live_file),
           "SLA_PARTITIONS": str(PARTITIONS)}
    run_cli(["produce", str(events_file)], env)  # keyed by ticket, stamped with occurred_at, as upstream does
    before = await end_offsets(broker.bootstrap)
    assert before[(topics.events, 0)] > 0

    period = ["--policy", str(candidate), "--from", "2026-03-02", "--to", "2026-03-03T12:00:00Z", "--settle-days", "1"]
    from_file = run_cli(["whatif", *period, "--events", str(events_file), "--processes", "1", "--format", "json",
                         "--out", str(tmp_path / "file.json")], env)
    from_topic = run_cli(["whatif", *period, "--processes", "2", "--format", "json",
                          "--out", str(tmp_path / "topic.json")], env)
    run_cli(["whatif", *period, "--format", "html", "--out", str(tmp_path / "whatif.html")], env)
    run_cli(["whatif", *period, "--format", "csv", "--out", str(tmp_path / "whatif.csv")], env)

    got_file = orjson.loads((tmp_path / "file.json").read_bytes())
    got_topic = orjson.loads((tmp_path / "topic.json").read_bytes())
    assert got_file["whatif"].pop("source") == str(events_file)
    assert got_topic["whatif"].pop("source") == topics.events
    assert got_topic == got_file
    created = {d["ticket_id"] for d in docs if d["type"] == "ticket.created"
               and START <= parse_rfc3339_ms(d["occurred_at"]) < START + DAY_MS + DAY_MS // 2}
    assert got_topic["whatif"]["tickets"] == len(created) > 100
    assert got_topic["flips"] and {f["candidate"] for f in got_topic["flips"]} == {"breached"}
    for run in (from_file, from_topic):
        assert f"{len(created):,} tickets" in run.stderr and "outcomes flip" in run.stderr
    assert await end_offsets(broker.bootstrap) == before, "whatif wrote to a topic"
    assert (tmp_path / "whatif.csv").read_text().count("\nflip,") == len(got_topic["flips"])

    if browser.chromium() is None:
        pytest.fail("chromium is missing: scripts/bootstrap.sh test installs it")
    seen = await browser.view((tmp_path / "whatif.html").as_uri(),
                              probe="[document.querySelectorAll('table').length, "
                                    "document.querySelectorAll('a[href^=\"/tickets/\"]').length, document.title]")
    assert seen.errors == []
    tables, links, title = seen.probe
    assert tables >= 2 and links == min(len(got_topic["flips"]), 500) + len(got_topic["pages"]["candidate_only"]) \
        + len(got_topic["pages"]["live_only"])
    assert title == "What-if: the candidate policy against live"
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    (ARTIFACTS / "whatif.png").write_bytes(seen.screenshot)
