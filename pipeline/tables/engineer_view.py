"""The stack rank as every worker sees it: all engineers, read from the ``engineers`` table's changelog.

Each worker owns only some engineers' aggregates (their partitions), but ``/stackrank`` must be complete
and identical on every worker. So every worker tails the whole changelog into memory (a few hundred
small records) and ranks from that. Metrics still come only from the engineers a worker owns.
"""

from __future__ import annotations

import logging
import time

from pipeline.domain.engineers import WINDOW_DAYS, EngineerState, Standing, stack_rank
from pipeline.domain.policy import Policy
from pipeline.domain.timefmt import format_rfc3339_ms
from pipeline.kafka.client import KafkaClient
from pipeline.kafka.tail import Tail

log = logging.getLogger(__name__)


class EngineerView:
    def __init__(self, policy: Policy, *, event_time: bool) -> None:
        self.policy = policy
        self.event_time = event_time
        self._raw: dict[str, bytes] = {}  # the changelog's latest value per engineer
        self._decoded: dict[str, EngineerState] = {}  # decoded when asked, until the engineer's next update

    def load(self, key: bytes, value: bytes | None) -> None:
        """Take one changelog record. Decoding waits until someone asks (a scrape, /stackrank): an
        engineer's state changes with nearly every event, and is read every few seconds at most."""
        engineer = key.decode()
        self._decoded.pop(engineer, None)
        if value is None:
            self._raw.pop(engineer, None)
        else:
            self._raw[engineer] = value

    @property
    def states(self) -> dict[str, EngineerState]:
        """Every engineer's state, decoded (those updated since the last look, now)."""
        for engineer, raw in self._raw.items():
            if engineer not in self._decoded:
                self._decoded[engineer] = EngineerState.from_bytes(engineer, raw)
        return self._decoded

    @states.setter
    def states(self, states: dict[str, EngineerState]) -> None:
        """Replace every state (tests and tools that build a view by hand)."""
        self._raw, self._decoded = {}, dict(states)

    def now(self) -> int:
        """Wall time live; in event time, the newest fact seen (the same on every worker)."""
        if self.event_time:
            return max((s.last_at for s in self.states.values()), default=0)
        return time.time_ns() // 1_000_000

    def standings(self, window: str) -> list[Standing]:
        now = self.now()
        return stack_rank([s.summary(now, window) for s in self.states.values()], self.policy)

    def report(self, window: str) -> dict:
        if window not in WINDOW_DAYS:
            raise ValueError(f"window must be one of {', '.join(WINDOW_DAYS)}")
        rows = []
        for st in self.standings(window):
            s = st.summary
            rows.append({
                "rank": st.rank, "engineer": s.engineer_id, "score": st.score,
                "vsat_ratio": s.vsat_ratio, "quality_ratio": s.quality_ratio, "art_ratio": s.art_ratio,
                "art_seconds": s.art_seconds, "samples": s.samples, "surveys": s.surveys, "reviews": s.reviews,
                "dsat": s.dsat, "dsat_reasons": s.dsat_reasons,
            })
        w = self.policy.stack_rank_weights
        return {
            "window": window,
            "as_of": format_rfc3339_ms(self.now()),
            "weights": {"vsat": w[0], "quality": w[1], "art": w[2]},
            "minimum": {"surveys": self.policy.stack_rank_min_surveys,
                        "samples": self.policy.stack_rank_min_samples},
            "ranked": [r for r in rows if r["rank"] is not None],
            "unranked": [r for r in rows if r["rank"] is None],
        }


async def follow_changelog(kafka: KafkaClient | str, topic: str, view: EngineerView) -> None:
    """Keep ``view`` up to date with every partition of the changelog, from its start, forever."""
    async with Tail(kafka, topic) as tail:
        tps = await tail.wait_for_partitions()  # Faust creates the changelog at start-up
        log.info("engineer view: following %s (%d partitions)", topic, len(tps))
        while True:
            for r in await tail.records(timeout_ms=1000):
                if r.key is not None:
                    view.load(r.key, r.value)
