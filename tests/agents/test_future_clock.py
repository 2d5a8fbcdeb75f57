"""The worker's app (``create_app``, memory store, a hand-moved wall clock): a far-future record moves no
partition's clock in either clock mode, a storage failure never republishes the previous record's
outputs, and the outputs are wired by the outbox's topic names."""

from __future__ import annotations

from pathlib import Path

import pytest

from pipeline.agents import tickets as tickets_agent
from pipeline.domain.clock import ManualClock
from pipeline.domain.records import Escalation, Outcome
from pipeline.domain.timefmt import format_rfc3339_ms, parse_rfc3339_ms
from pipeline.errors import StorageError
from pipeline.processing.outbox import OUTPUT_TOPICS
from tests.agents.harness import Worker

T0 = parse_rfc3339_ms("2026-03-02T09:00:00Z")
Y2099 = parse_rfc3339_ms("2099-01-01T00:00:00Z")
MIN = 60_000


def created(tid: str, at: int = T0) -> dict:
    return {"event_id": f"{tid}-c", "type": "ticket.created", "ticket_id": tid, "occurred_at": format_rfc3339_ms(at),
            "severity": 1, "product": "automation", "customer_id": "C1"}


def heartbeat(at: int) -> dict:
    return {"event_id": f"hb-{at}", "type": "heartbeat", "occurred_at": format_rfc3339_ms(at)}


def rejected(w: Worker) -> float:
    return w.pipeline.metrics.registry.get_sample_value("sla_events_rejected_total",
                                                         {"reason": "future_timestamp"}) or 0.0


async def test_event_time_a_2099_first_record_of_a_partition_is_dead_lettered_and_starts_no_clock(
        tmp_path: Path) -> None:
    async with Worker(tmp_path, clock="event", wall=ManualClock(T0)) as w:
        await w.event(heartbeat(Y2099), partition=1)
        [letter] = w.sent_to("tickets.events.dlq")
        assert letter.headers["dlq.reason"] == b"future_timestamp"
        assert b"no event-time clock yet" in letter.headers["dlq.detail"]
        assert w.pipeline.processor.clock.now(1) is None
        assert not [s for s in w.producer.changelog if s.topic == "sla-pipeline-clocks-changelog"]
        await w.event(created("T1"), partition=1)
        await w.event(heartbeat(T0 + 14 * MIN), partition=1)
        assert w.sent_to("sla.outcomes") == []  # at 09:14 nothing has breached: the clock is not in 2099
        await w.event(heartbeat(T0 + 16 * MIN), partition=1)
        [irt] = [Outcome.decode(s.value) for s in w.sent_to("sla.outcomes")]
        assert (irt.outcome, irt.decided_at) == ("breached", "2026-03-02T09:15:00.000Z")
        rungs = [(e.level, e.emitted_at) for e in (Escalation.decode(s.value) for s in w.sent_to("sla.escalations"))]
        assert rungs == [(1, "2026-03-02T09:07:30.000Z"), (2, "2026-03-02T09:12:00.000Z"),
                         (3, "2026-03-02T09:15:00.000Z")]  # each rung at its own instant, none in 2099
        assert rejected(w) == 1


async def test_live_a_2099_record_is_dead_lettered_and_a_little_drift_is_applied(tmp_path: Path) -> None:
    async with Worker(tmp_path, clock="wall", wall=ManualClock(T0)) as w:
        await w.event(created("T1", Y2099), partition=2)
        await w.event(created("T2", T0 + 4 * MIN), partition=2)
        [letter] = w.sent_to("tickets.events.dlq")
        assert (letter.key, letter.headers["dlq.reason"]) == (b"T1", b"future_timestamp")
        assert b"ahead of the worker's clock" in letter.headers["dlq.detail"]
        ticket_states = {s.key for s in w.producer.changelog if s.topic == "sla-pipeline-tickets-changelog"}
        assert ticket_states == {b"T2"}
        assert rejected(w) == 1


async def test_a_storage_handler_that_returns_never_publishes_the_previous_records_outputs(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    failures: list[StorageError] = []
    monkeypatch.setattr(tickets_agent, "halt", failures.append)  # the real one stops the process
    async with Worker(tmp_path, wall=ManualClock(T0)) as w:
        await w.event(b"{not json", key=b"T9")  # a record with an output: its DLQ record
        assert len(w.sent_to("tickets.events.dlq")) == 1

        def failing(*args: object) -> list:
            raise StorageError("writing table 'tickets' failed: IO error: No space left on device")

        monkeypatch.setattr(w.pipeline.processor, "handle", failing)
        with pytest.raises(StorageError):
            await w.event(created("T1"))
        assert [str(f) for f in failures] == ["writing table 'tickets' failed: IO error: No space left on device"]
        assert len(w.sent_to("tickets.events.dlq")) == 1  # not published again
        assert w.pipeline.tickets.progress.records == 1  # the failed record is not counted as done


async def test_every_output_topic_of_the_outbox_is_wired_to_a_kafka_topic(tmp_path: Path) -> None:
    async with Worker(tmp_path) as w:
        assert set(w.pipeline.topics) == {*OUTPUT_TOPICS, "dlq", "ticks"}
        names = {name: w.pipeline.topics[name].get_topic_name() for name in OUTPUT_TOPICS}
        assert names == {"outcomes": "sla.outcomes", "escalations": "sla.escalations",
                         "facts": "sla-pipeline-engineer-facts", "dsat": "sla.dsat_reviews",
                         "incidents": "sla-pipeline-customer-incidents"}
