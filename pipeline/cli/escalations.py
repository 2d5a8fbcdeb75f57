"""``sla-pipeline escalations [--follow]``: escalations as one readable line each, for a terminal."""

from __future__ import annotations

import asyncio
import sys
import time
from typing import TextIO

import orjson
from aiokafka import AIOKafkaConsumer, TopicPartition

_MARK = {0: "  ok ", 1: " warn", 2: " PAGE", 3: " PAGE"}


def line(esc: dict) -> str:
    """``2026-03-02T09:12:00Z  PAGE  irt_at_risk L2  T-1  Sev1 automation/C-17  eng E1  reason``."""
    lane = "FL " if esc.get("fastlane") else ""
    who = esc.get("engineer_id") or "unassigned"
    return (f"{esc['emitted_at'][:19]}Z {_MARK.get(int(esc['level']), '     ')}  {esc['kind']:<19} L{esc['level']}  "
            f"{esc['ticket_id']}  {lane}Sev{esc['severity']} {esc['product']}/{esc['customer_id']}  eng {who}  "
            f"{esc['reason']}")


async def follow(bootstrap: str, topic: str, *, keep_going: bool, out: TextIO = sys.stdout) -> int:
    """Print the topic from the start; with ``keep_going`` wait for more until interrupted."""
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, group_id=None, enable_auto_commit=False)
    await consumer.start()
    printed = 0
    try:
        parts = consumer.partitions_for_topic(topic)
        deadline = time.monotonic() + 10
        while not parts and time.monotonic() < deadline:
            await consumer._client.force_metadata_update()
            parts = consumer.partitions_for_topic(topic)
            await asyncio.sleep(0.2)
        tps = [TopicPartition(topic, p) for p in sorted(parts or [])]
        consumer.assign(tps)
        await consumer.seek_to_beginning(*tps)
        ends = await consumer.end_offsets(tps) if tps else {}
        while True:
            batch = await consumer.getmany(timeout_ms=500)
            for records in batch.values():
                for r in records:
                    out.write(line(orjson.loads(r.value)) + "\n")
                    printed += 1
            out.flush()
            if not keep_going:
                positions = [await consumer.position(tp) for tp in tps]
                if all(pos >= ends[tp] for pos, tp in zip(positions, tps, strict=True)):
                    return printed
    finally:
        await consumer.stop()
