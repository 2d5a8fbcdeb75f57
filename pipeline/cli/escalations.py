"""``sla-pipeline escalations [--follow]``: escalations as one readable line each, for a terminal."""

from __future__ import annotations

import sys
from typing import TextIO

from pipeline.domain.bizcrit import is_notice
from pipeline.domain.records import Escalation
from pipeline.kafka.client import KafkaClient
from pipeline.kafka.tail import Tail

_MARK = {0: "  ok ", 1: " warn"}


def printable(text: object) -> str:
    """Upstream text as it may reach a terminal: control characters (escape sequences that would move the
    cursor, recolour or retitle the terminal) are shown escaped, never interpreted."""
    return "".join(ch if ch.isprintable() else ch.encode("unicode_escape").decode() for ch in str(text))


def line(esc: Escalation) -> str:
    """``2026-03-02T09:12:00Z  PAGE  irt_at_risk L2  T-1  Sev1 automation/C-17  eng E1  reason``."""
    lane = "FL " if esc.fastlane else ""
    who = printable(esc.engineer_id or "unassigned")
    mark = " PAGE" if esc.paged else " note" if is_notice(esc.kind) else _MARK.get(esc.level, "     ")
    return (f"{printable(esc.emitted_at[:19])}Z {mark}  {esc.kind:<22} L{esc.level}  {printable(esc.ticket_id)}  "
            f"{lane}Sev{esc.severity} {printable(esc.product)}/{printable(esc.customer_id)}  eng {who}  "
            f"{printable(esc.reason)}")


async def follow(kafka: KafkaClient | str, topic: str, *, keep_going: bool, out: TextIO = sys.stdout) -> int:
    """Print the topic from the start; with ``keep_going`` wait for more until interrupted."""
    async with Tail(kafka, topic) as tail:
        if not keep_going:
            return _show(await tail.read_to_end(timeout_s=10), out)
        while True:
            _show(await tail.records(), out)


def _show(records: list, out: TextIO) -> int:
    for r in records:
        out.write(line(Escalation.decode(r.value)) + "\n")
    out.flush()
    return len(records)
