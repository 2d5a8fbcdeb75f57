"""``GET /tickets/<id>`` across two real workers sharing ``tickets.events``: asked on the worker that does not own
the ticket's partition, the request (its bearer token with it) is forwarded to the owner at its advertised URL
(``SLA_WEB_ADVERTISED_URL``), which explains the ticket from the topic; the explanation's outcomes are exactly
the records the pipeline published on ``sla.outcomes`` for it, met and breached alike."""

from __future__ import annotations

import time
import urllib.error
import urllib.request
from pathlib import Path

import orjson
from aiokafka import AIOKafkaProducer

from pipeline.domain.timefmt import format_rfc3339_ms
from pipeline.explain.source import partition_of
from pipeline.worker.tickets_page import ANSWERED_BY
from tests.integration.conftest import Broker, Topics, eventually, read_unique

TOKEN = "ticket-page-integration-token"
MIN = 60_000
TICKETS = [f"IT-{i}" for i in range(8)]


def get(url: str, **headers: str) -> tuple[int, dict[str, str], bytes]:
    request = urllib.request.Request(url, headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=30) as resp:
            return resp.status, dict(resp.headers), resp.read()
    except urllib.error.HTTPError as exc:
        return exc.code, dict(exc.headers), exc.read()


def owned(port: int) -> list[int]:
    status, _, body = get(f"http://127.0.0.1:{port}/readyz")
    assert status == 200, body
    return orjson.loads(body)["partitions"]


async def publish(bootstrap: str, topic: str, docs: list[dict]) -> None:
    """As a ticket system does: keyed by ticket (Kafka's default partitioner places them), stamped with
    occurred_at; a heartbeat on every partition moves each partition's clock."""
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all")
    await producer.start()
    try:
        for doc in docs:
            at = int(doc.pop("_at"))
            targets = [None] if "ticket_id" in doc else range(4)
            for p in targets:
                await producer.send_and_wait(topic, orjson.dumps(doc), key=doc.get("ticket_id", "").encode() or None,
                                             partition=p, timestamp_ms=at)
    finally:
        await producer.stop()


def event(etype: str, at: int, n: int, **fields: object) -> dict:
    return {"event_id": f"{etype}#{n}", "type": etype, "occurred_at": format_rfc3339_ms(at), "_at": at, **fields}


async def test_a_ticket_asked_on_the_other_worker_is_explained_by_its_owner_with_the_published_outcomes(
        broker: Broker, topics: Topics, worker_factory, tmp_path: Path) -> None:
    token = tmp_path / "reports-token"
    token.write_text(TOKEN)
    workers = [worker_factory(SLA_CLOCK="event", SLA_REPORTS_TOKEN_FILE=str(token)) for _ in range(2)]
    for w in workers:  # another name than the one it listens on: the forwarding must use the advertised URL
        w.env["SLA_WEB_ADVERTISED_URL"] = f"http://localhost:{w.port}"
    for w in workers:
        w.start()

    def split() -> None:
        mine = [owned(w.port) for w in workers]
        assert mine[0] and mine[1] and sorted(mine[0] + mine[1]) == [0, 1, 2, 3], mine

    eventually(split, timeout=90)
    base = (int(time.time() * 1000) // MIN - 180) * MIN  # three hours ago: well inside the topic's retention
    docs: list[dict] = []
    for i, tid in enumerate(TICKETS):
        docs.append(event("ticket.created", base + i * MIN, i, ticket_id=tid, severity=1, product="automation",
                          customer_id="C1"))
        if i % 2 == 0:  # half answered within Sev1's 15 minutes, half never
            docs.append(event("ticket.responded", base + (i + 5) * MIN, i, ticket_id=tid, engineer_id="E1"))
    docs.append(event("heartbeat", base + 120 * MIN, 0))
    await publish(broker.bootstrap, topics.events, docs)
    found = await read_unique(broker.bootstrap, topics.outcomes, "outcome_id", want=len(TICKETS), timeout=120)
    published = {tid: [copies[0][2] for oid, copies in sorted(found.items()) if copies[0][2]["ticket_id"] == tid]
                 for tid in TICKETS}
    assert sorted(o["outcome"] for docs_ in published.values() for o in docs_) == ["breached"] * 4 + ["met"] * 4

    split()  # still the same owners
    ports = {p: w.port for w in workers for p in owned(w.port)}
    for tid in TICKETS:
        owner = ports[partition_of(tid.encode(), 4)]
        other = next(w.port for w in workers if w.port != owner)

        def explained(tid: str = tid, owner: int = owner, other: int = other) -> None:
            status, headers, body = get(f"http://127.0.0.1:{other}/tickets/{tid}?format=json",
                                        Authorization=f"Bearer {TOKEN}")
            assert status == 200, body
            assert headers[ANSWERED_BY] == f"http://localhost:{owner}"  # forwarded: the owner explained it
            doc = orjson.loads(body)
            assert doc["ticket_id"] == tid
            assert doc["outcomes"] == published[tid]

        eventually(explained, timeout=30)

    status, _, body = get(f"http://127.0.0.1:{workers[1].port}/tickets/IT-0", Accept="text/html")
    assert status == 401 and "SLA_REPORTS_TOKEN_FILE" in orjson.loads(body)["error"]
    status, headers, body = get(f"http://127.0.0.1:{workers[0].port}/tickets/IT-0?token={TOKEN}")
    assert status == 200 and headers["Content-Type"].startswith("text/html") and b"IT-0" in body
    for w in workers:  # an unknown ticket: 404 whichever worker is asked
        status, _, body = get(f"http://127.0.0.1:{w.port}/tickets/NO-SUCH-TICKET?format=json",
                              Authorization=f"Bearer {TOKEN}")
        assert status == 404 and "no ticket NO-SUCH-TICKET" in orjson.loads(body)["error"]
