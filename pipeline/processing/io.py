"""What goes in and out of the processor: records received, records to publish, and the processor's view
of its tables and of the committed offsets. No Faust here; the agents adapt Faust to these.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable
from typing import Protocol

from pipeline.domain.events import Rejection
from pipeline.domain.ticket import TicketState

SOURCE_EVENTS, SOURCE_TICKS = 0, 1  # the processor's two input topics, as outbox entries name them


@dataclasses.dataclass(frozen=True, slots=True)
class Record:
    """One Kafka record as received."""

    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes | None
    timestamp_ms: int | None = None


@dataclasses.dataclass(frozen=True, slots=True)
class DeadLetter:
    """A record for the DLQ: the original key and bytes, and where they came from."""

    key: bytes | None
    value: bytes | None
    reason: str
    detail: str
    source_topic: str
    source_partition: int
    source_offset: int
    timestamp_ms: int | None

    @classmethod
    def of(cls, record: Record, rejection: Rejection) -> DeadLetter:
        return cls(record.key, record.value, rejection.reason, rejection.detail,
                   record.topic, record.partition, record.offset, record.timestamp_ms)

    def headers(self) -> list[tuple[str, bytes]]:
        return [
            ("dlq.reason", self.reason.encode()),
            ("dlq.source.partition", str(self.source_partition).encode()),
            ("dlq.source.offset", str(self.source_offset).encode()),
            ("dlq.source.topic", self.source_topic.encode()),
            ("dlq.detail", self.detail.encode()),
        ]


@dataclasses.dataclass(frozen=True, slots=True)
class Emit:
    """A record for one of the output topics ("outcomes", "escalations", "facts" or "dsat")."""

    topic: str
    key: bytes
    value: bytes


Output = DeadLetter | Emit


class Store(Protocol):
    """The processor's view of its tables. Writes go to the partition of the record being processed."""

    def get(self, ticket_id: str) -> TicketState | None: ...

    def put(self, state: TicketState) -> None: ...

    def delete(self, ticket_id: str) -> None: ...

    def get_clock(self, partition: int) -> int | None: ...

    def put_clock(self, partition: int, now_ms: int) -> None: ...

    def put_window(self, key: bytes, value: bytes | None) -> None: ...

    def all_states(self) -> Iterable[TicketState]:
        """Every ticket of the partitions this worker owns (after recovery)."""

    def all_windows(self) -> Iterable[tuple[bytes, bytes]]: ...


class Positions(Protocol):
    def committed(self, source: int, partition: int) -> int | None:
        """The committed offset (next to read) of a source topic's partition, or None if unknown."""


class NoPositions:
    """Nothing known to be committed: every outbox entry counts as pending (tests, first start)."""

    def committed(self, source: int, partition: int) -> int | None:
        return None
