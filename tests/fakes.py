"""Test doubles shared by the unit tests."""

from __future__ import annotations

import orjson

from pipeline.processing.io import Record
from pipeline.processing.memory import MemoryStore

DictStore = MemoryStore  # the processor's Store over dicts; states round-trip through bytes like the real table


TICKS = "sla-pipeline-ticks"


class Feed:
    """Builds records with increasing offsets, as one partition of tickets.events would hold them."""

    def __init__(self, partition: int = 0, topic: str = "tickets.events") -> None:
        self.partition = partition
        self.topic = topic
        self.offset = 0
        self.tick_offset = 0

    def tick(self) -> Record:
        rec = Record(TICKS, self.partition, self.tick_offset, None, b"")
        self.tick_offset += 1
        return rec

    def record(self, doc: dict | bytes, key: bytes | None | str = "auto") -> Record:
        value = doc if isinstance(doc, bytes) else orjson.dumps(doc)
        if key == "auto":
            key = doc.get("ticket_id", "").encode() or None if isinstance(doc, dict) else None
        rec = Record(self.topic, self.partition, self.offset, key, value, None)  # type: ignore[arg-type]
        self.offset += 1
        return rec
