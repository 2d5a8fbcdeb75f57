"""Sends the processor's outputs to their topics; Faust flushes them before it commits offsets."""

from __future__ import annotations

import faust

from pipeline.processing.io import DeadLetter, Emit, Output


class Publisher:
    def __init__(self, dlq: faust.TopicT, outputs: dict[str, faust.TopicT]) -> None:
        self._dlq = dlq
        self._outputs = outputs

    async def publish(self, outputs: list[Output]) -> None:
        for out in outputs:
            if isinstance(out, Emit):
                await self._outputs[out.topic].send(key=out.key, value=out.value)
            elif isinstance(out, DeadLetter):
                await self._dlq.send(
                    key=out.key, value=out.value, headers=out.headers(),
                    timestamp=None if out.timestamp_ms is None else out.timestamp_ms / 1000,
                )
