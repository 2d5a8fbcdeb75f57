"""Ticket events as a ticket system publishes them, for every test tier (the ``events`` fixture in
``tests/conftest.py`` hands each test a fresh :class:`EventFactory`).

Each event gets a new ``event_id`` (``ticket.assigned#2``, never one of ``tests.desk``'s) unless one is
given: the same id twice is a redelivery, which the pipeline applies once, so a test that means a
redelivery says so by sending the same document again or by passing the id.
"""

from __future__ import annotations

import orjson

from pipeline.domain.timefmt import format_rfc3339_ms, parse_rfc3339_ms

T0 = parse_rfc3339_ms("2026-03-02T09:00:00Z")  # a Monday, 09:00 UTC


class EventFactory:
    """Builds event documents (dicts, as they are before JSON) with fresh event ids."""

    def __init__(self) -> None:
        self._n = 0

    def event(self, etype: str, at: int = T0, tid: str | None = "T1", *, event_id: str | None = None,
              **fields: object) -> dict:
        """A ``etype`` event at ``at`` (epoch ms); ``tid=None`` for one without a ticket (a heartbeat)."""
        self._n += 1
        doc = {"event_id": event_id or f"{etype}#{self._n}", "type": etype,
               "occurred_at": format_rfc3339_ms(at)}
        if tid is not None:
            doc["ticket_id"] = tid
        return {**doc, **fields}

    def created(self, tid: str = "T1", at: int = T0, severity: int = 1, **fields: object) -> dict:
        """``ticket.created`` with the fields the contract requires (automation, customer C1 unless given)."""
        return self.event("ticket.created", at, tid, severity=severity,
                          **{"product": "automation", "customer_id": "C1", **fields})

    def assigned(self, tid: str = "T1", at: int = T0, engineer_id: str = "E1", **fields: object) -> dict:
        return self.event("ticket.assigned", at, tid, engineer_id=engineer_id, **fields)

    def heartbeat(self, at: int, **fields: object) -> dict:
        return self.event("heartbeat", at, None, **fields)


def keyed(doc: dict) -> tuple[bytes, bytes]:
    """(key, value) of the record a ticket system produces for ``doc``: keyed by its ticket."""
    return doc.get("ticket_id", "").encode(), orjson.dumps(doc)
