"""Ingestion through a real broker and a real worker: the DLQ holds exactly the bad records, untouched,
with the contract's reasons, and /metrics counts them."""

from __future__ import annotations

import orjson

from pipeline.domain.timefmt import format_rfc3339_ms
from tests.integration.conftest import Broker, Topics, consume, produce

T0 = 1_772_442_000_000  # 2026-03-02T09:00:00Z


def ev(etype: str, tid: str | None, eid: str, minute: int = 0, **fields: object) -> dict:
    doc = {"event_id": eid, "type": etype, "occurred_at": format_rfc3339_ms(T0 + minute * 60_000), **fields}
    if tid is not None:
        doc["ticket_id"] = tid
    return doc


def good(doc: dict) -> tuple[bytes | None, bytes]:
    tid = doc.get("ticket_id")
    return (tid.encode() if tid else None), orjson.dumps(doc)


CREATED = {"severity": 1, "product": "desktop", "customer_id": "C1"}


async def test_the_dlq_holds_exactly_the_invalid_records(broker: Broker, topics: Topics, worker_factory) -> None:
    worker = worker_factory(SLA_ORPHAN_TIMEOUT_SECONDS="3").start()
    valid = [
        good(ev("ticket.created", "T1", "e1", 0, **CREATED)),
        good(ev("ticket.assigned", "T1", "e2", 1, engineer_id="E1")),
        good(ev("ticket.responded", "T1", "e3", 2, engineer_id="E1")),
        good(ev("ticket.created", "T1", "e1", 0, **CREATED)),  # a duplicate: counted, not dead-lettered
        good(ev("ticket.created", "T2", "e4", 0, **CREATED)),
        good(ev("heartbeat", None, "hb-1", 5)),
        # early: arrives before its ticket's creation, is held, then applied (not an orphan)
        good(ev("ticket.assigned", "T3", "e5", 1, engineer_id="E2")),
        good(ev("ticket.created", "T3", "e6", 0, **CREATED)),
    ]
    padding = "x" * (1024 * 1024)
    invalid = {
        "malformed_json": (b"T1", b"\xff\xfe\x00not utf-8 at all"),
        "malformed_json#2": (b"T1", b'{"event_id": "e9", "type": "ticket.closed", "ticket_id": "T1", "occ'),
        "not_an_object": (b"T1", b'[{"event_id": "e10"}]'),
        "too_large": (b"T1", orjson.dumps(ev("ticket.closed", "T1", "e11", 3, padding=padding))),
        "key_mismatch": (b"T-other", orjson.dumps(ev("ticket.created", "T5", "e12", 0, **CREATED))),
        "unknown_type": (b"T1", orjson.dumps(ev("ticket.teleported", "T1", "e13", 3))),
        "invalid_field:occurred_at": (b"T1", orjson.dumps(
            {**ev("ticket.closed", "T1", "e14"), "occurred_at": "2026-03-02T09:03:00"})),
        "missing_field:severity": (b"T6", orjson.dumps(ev("ticket.created", "T6", "e15", 0, product="p",
                                                          customer_id="C"))),
        "orphan": (b"T404", orjson.dumps(ev("ticket.responded", "T404", "e16", 4, engineer_id="E1"))),
    }
    sent = await produce(broker.bootstrap, topics.events, [*valid, *invalid.values()])
    where = {(m.partition, m.offset): name for m, name in zip(sent[len(valid):], invalid, strict=True)}

    dlq = await consume(broker.bootstrap, topics.dlq, want=len(invalid), timeout=90, settle=3)

    assert len(dlq) == len(invalid), [r.value[:80] for r in dlq]
    for record in dlq:
        headers = {k: v.decode() for k, v in record.headers}
        source = (int(headers["dlq.source.partition"]), int(headers["dlq.source.offset"]))
        name = where.pop(source)
        key, value = invalid[name]
        assert headers["dlq.reason"] == name.split("#")[0]
        assert record.value == value, f"{name}: bytes changed on the way to the DLQ"
        assert record.key == key
        assert headers["dlq.source.topic"] == topics.events
    assert where == {}

    assert worker.metric("sla_events_rejected_total", reason="malformed_json") == 2
    for reason in ("not_an_object", "too_large", "key_mismatch", "unknown_type", "invalid_field:occurred_at",
                   "missing_field:severity", "orphan"):
        assert worker.metric("sla_events_rejected_total", reason=reason) == 1, reason
    assert worker.metric("sla_events_duplicate_total") == 1
    assert worker.metric("sla_events_total", type="ticket.created") == 4
    assert worker.metric("sla_events_total", type="heartbeat") == 1
    assert worker.metric("sla_events_held") == 0
