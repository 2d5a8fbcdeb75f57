"""Plays simulated events to Kafka in compressed time, with heartbeats so event-time workers keep up.

Simulated time runs ``speedup`` times faster than the wall clock from ``start_ms``. Events carry their
simulated ``occurred_at`` (and record timestamp), so the workers that consume them must use the
event-time clock (``SLA_CLOCK=event``); a heartbeat on every partition every ``heartbeat_s`` wall seconds
moves their clocks on when no event arrives, so deadlines and rungs still fire on time (in simulated time).
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import time
from collections.abc import Callable, Iterator

import orjson
from aiokafka import AIOKafkaProducer

from pipeline.domain.timefmt import format_rfc3339_ms, parse_rfc3339_ms
from pipeline.kafka import client
from pipeline.kafka.client import KafkaClient


@dataclasses.dataclass
class PlayStats:
    sent: int = 0
    heartbeats: int = 0
    sim_now_ms: int = 0


async def play(kafka: KafkaClient | str, topic: str, source: Iterator[dict], *, start_ms: int, speedup: float,
               rate: float | None = None, heartbeat_s: float = 0.5, stopping: asyncio.Event | None = None,
               stats: PlayStats | None = None, on_progress: Callable[[PlayStats], None] | None = None) -> PlayStats:
    stopping = stopping or asyncio.Event()
    stats = stats or PlayStats()
    producer = AIOKafkaProducer(**client.options(kafka), linger_ms=10, acks="all")
    await client.connect(producer, kafka)
    wall0 = time.monotonic()
    partitions = sorted(await producer.partitions_for(topic))

    def sim_now() -> int:
        return start_ms + int((time.monotonic() - wall0) * 1000 * speedup)

    async def beat() -> None:
        beat_no = 0
        while not stopping.is_set():
            now = sim_now()
            beat_no += 1
            for p in partitions:
                doc = {"event_id": f"sim-hb-{start_ms}-{beat_no}-{p}", "type": "heartbeat",
                       "occurred_at": format_rfc3339_ms(now)}
                await producer.send(topic, orjson.dumps(doc), partition=p, timestamp_ms=now)
                stats.heartbeats += 1
            stats.sim_now_ms = now
            if on_progress:
                on_progress(stats)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stopping.wait(), heartbeat_s)

    beats = asyncio.create_task(beat())
    bucket_start, bucket_sent = time.monotonic(), 0
    try:
        for doc in source:
            if stopping.is_set():
                break
            at = parse_rfc3339_ms(doc["occurred_at"])
            wait = (at - sim_now()) / 1000 / speedup
            if wait > 0:
                try:
                    await asyncio.wait_for(stopping.wait(), wait)
                    break
                except TimeoutError:
                    pass
            if rate:  # cap: at most `rate` events per wall second
                bucket_sent += 1
                ahead = bucket_sent / rate - (time.monotonic() - bucket_start)
                if ahead > 0:
                    await asyncio.sleep(ahead)
            await producer.send(topic, orjson.dumps(doc), key=doc["ticket_id"].encode(), timestamp_ms=at)
            stats.sent += 1
    finally:
        stopping.set()
        await beats
        await producer.stop()
    return stats
