"""What-if (contract v3 section 12): a period's events judged under the live policy and under a candidate.

``sla-pipeline whatif --policy CANDIDATE.toml --from DATE --to DATE`` reads the tickets created in the
period with their records (:mod:`.source`: ``tickets.events`` by time, or ``--events FILE.jsonl``), judges
them with the pure core under both policies in worker processes by partition (:mod:`.run`), and compares
(:mod:`.compare`): compliance per contract, metric and severity, the outcomes that flip, the pages that
would fire. :mod:`.render` writes HTML, JSON or CSV. Nothing is written to any topic.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from typing import IO, Any

from pipeline.domain.policy import Policy
from pipeline.domain.timefmt import DAY_MS, format_rfc3339_ms
from pipeline.whatif import compare, run
from pipeline.whatif.source import Partitions, Window

PROGRESS_EVERY_S = 3.0


class ProgressLine:
    """Progress of a long run on stderr, one line every few seconds: done, rate, what is left."""

    def __init__(self, what: str, out: IO[str] | None = None, every_s: float = PROGRESS_EVERY_S,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.what = what
        self.out = out if out is not None else sys.stderr
        self.every_s = every_s
        self.clock = clock
        self.started = clock()
        self.shown = self.started

    def __call__(self, done: int, total: int) -> None:
        now = self.clock()
        if now - self.shown < self.every_s:
            return
        self.shown = now
        rate = done / (now - self.started) if now > self.started else 0.0
        left = f", about {(total - done) / rate:.0f} s left" if rate > 0 and total > done else ""
        share = f" of {total:,} ({done / total:.0%})" if total else ""
        print(f"whatif: {done:,}{share} {self.what}, {rate:,.0f}/s{left}", file=self.out, flush=True)


class ReadProgress:
    """Records read from the topic so far, on stderr every few seconds."""

    def __init__(self, topic: str, out: IO[str] | None = None, every_s: float = PROGRESS_EVERY_S,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.line = ProgressLine(f"records read from {topic}", out, every_s, clock)
        self.read = 0

    def __call__(self, n: int) -> None:
        self.read += n
        self.line(self.read, 0)


def tickets_of(partitions: Partitions) -> int:
    return len({r.key for recs in partitions.values() for r in recs})


def whatif(partitions: Partitions, window: Window, live: Policy, candidate: Policy, *, live_name: str,
           candidate_name: str, source: str, processes: int = 1, progress: run.Progress | None = None,
           orphan_timeout_ms: int = run.ORPHAN_TIMEOUT_MS, lateness_ms: int = 0) -> dict[str, Any]:
    """The comparison of the period's records judged under ``live`` and under ``candidate`` (JSON-able)."""
    options = run.Options(orphan_timeout_ms, lateness_ms)
    judged_live, judged_candidate = run.judge_all(partitions, [live, candidate], processes, progress, options)
    about = {
        "period": {"from": format_rfc3339_ms(window.start_ms), "to": format_rfc3339_ms(window.end_ms),
                   "read_until": format_rfc3339_ms(window.until_ms), "settle_days": window.settle_ms / DAY_MS,
                   "judged_until": (None if (h := run.horizon_of(partitions)) is None else format_rfc3339_ms(h))},
        "source": source,
        "live": {"name": live_name, "digest": live.digest},
        "candidate": {"name": candidate_name, "digest": candidate.digest},
        "tickets": tickets_of(partitions),
    }
    return compare.compare(judged_live, judged_candidate, live, candidate, about)
