"""Engineer performance (contract sections 3 and 6): response samples, surveys, quality reviews, stack rank.

The ticket side turns events into :class:`Fact` records keyed by engineer; the engineer side folds them
into daily buckets of counts and sums (never lists), kept 31 days, and reads 7-day and 30-day views.

* ART = mean response sample; % ART = share of samples within the ticket's IRT target.
* VSAT % = share of surveys rated ``very_satisfied``; DSAT = neutral, dissatisfied, very dissatisfied.
* Quality % = mean review score / 100.
* Stack rank score = weighted VSAT %, Quality %, % ART (policy weights), only for engineers with at
  least the policy's minimum surveys and samples in the window; others are listed as unranked. An
  engineer with no quality review in the window is scored on the other two, their weights rescaled.
"""

from __future__ import annotations

import base64
import dataclasses

import orjson

from pipeline.domain import calendar, sla
from pipeline.domain.events import DSAT_RATINGS, Event
from pipeline.domain.policy import Policy
from pipeline.domain.ticket import TicketState, digest_in, digests_with, event_digest
from pipeline.domain.timefmt import DAY_MS

KEEP_DAYS = 31
WINDOW_DAYS = {"7d": 7, "30d": 30}
SEEN_LIMIT = 512  # fact ids remembered per engineer: redelivery after a crash is seconds' worth
REASONS_LIMIT = 20  # distinct DSAT reasons kept per engineer and day; the rest count as "other"
FEEDBACK_TYPES = frozenset({"ticket.survey_submitted", "ticket.quality_reviewed"})

# bucket slots
SAMPLES, SAMPLE_MS, WITHIN, SURVEYS, VSAT, DSAT, REVIEWS, SCORE = range(8)


@dataclasses.dataclass(slots=True, unsafe_hash=True)  # not frozen: built per event, 5x cheaper (nothing mutates it)
class Fact:
    """One thing an engineer did or was rated on, keyed by engineer for the engineer aggregates."""

    kind: str  # "sample", "survey" or "review"
    fact_id: str
    engineer_id: str
    at: int
    ticket_id: str
    value_ms: int | None = None  # sample
    within: bool | None = None  # sample within the ticket's IRT target
    rating: str | None = None  # survey
    dsat_reason: str | None = None  # survey
    score: float | None = None  # review

    def to_bytes(self) -> bytes:
        return orjson.dumps(self)  # orjson writes a dataclass as an object in field order

    @classmethod
    def from_bytes(cls, data: bytes) -> Fact:
        return cls(**orjson.loads(data))


def facts_for(state: TicketState, event: Event, at: int, policy: Policy) -> list[Fact]:
    """Facts an event yields, given the ticket's state (after the SLA rules applied it).

    A response sample runs from ``ticket.assigned`` (for the assignee) or ``ticket.customer_replied``
    (for the ticket's engineer) to that engineer's next ``ticket.responded``. It measures how long the
    customer waited (contract v3, section 3): a sample already open keeps its first start when the same
    engineer is assigned again or the customer writes again; a reassignment to another engineer drops the
    open sample uncounted and starts the new engineer's.
    """
    fact_id = f"{state.ticket_id}:{event.event_id}"
    if event.type == "ticket.assigned":
        if state.sample_start is None or state.sample_engineer != event.engineer_id:
            state.sample_start, state.sample_engineer = at, event.engineer_id
    elif event.type == "ticket.customer_replied" and state.engineer_id:
        if state.sample_start is None:
            state.sample_start, state.sample_engineer = at, state.engineer_id
    elif event.type == "ticket.responded" and state.sample_start is not None:
        if state.sample_engineer == event.engineer_id:
            value = max(0, at - state.sample_start)
            target = sla.irt_target(state, policy)  # the ticket's IRT target under its contract
            # within its target in the ticket's calendar: an answer on Monday morning to a Friday-evening
            # assignment is not late on a business-hours contract
            counted = calendar.elapsed(sla.calendar_of(state, policy), state.sample_start, at)
            state.sample_start = state.sample_engineer = None
            return [Fact("sample", fact_id, event.engineer_id, at, state.ticket_id, value_ms=value,  # type: ignore[arg-type]
                         within=counted <= target)]
    elif event.type == "ticket.survey_submitted":
        engineer = event.engineer_id or state.engineer_id
        if engineer:
            return [Fact("survey", fact_id, engineer, at, state.ticket_id, rating=event.rating,
                         dsat_reason=event.dsat_reason)]
    elif event.type == "ticket.quality_reviewed":
        return [Fact("review", fact_id, event.engineer_id, at, state.ticket_id, score=event.score)]  # type: ignore[arg-type]
    return []


@dataclasses.dataclass(frozen=True, slots=True)
class Summary:
    engineer_id: str
    samples: int
    art_seconds: float | None
    art_ratio: float | None
    surveys: int
    vsat_ratio: float | None
    dsat: int
    dsat_reasons: dict[str, int]
    reviews: int
    quality_ratio: float | None

    def eligible(self, policy: Policy) -> bool:
        return self.surveys >= policy.stack_rank_min_surveys and self.samples >= policy.stack_rank_min_samples

    def score(self, policy: Policy) -> float | None:
        if not self.eligible(policy):
            return None
        w_vsat, w_quality, w_art = policy.stack_rank_weights
        parts = [(w_vsat, self.vsat_ratio), (w_art, self.art_ratio)]
        if self.quality_ratio is not None:
            parts.append((w_quality, self.quality_ratio))
        weight = sum(w for w, _ in parts)
        return round(sum(w * v for w, v in parts) / weight, 6) if weight else None  # type: ignore[operator]


@dataclasses.dataclass(slots=True)
class EngineerState:
    engineer_id: str
    days: dict[int, list[float]] = dataclasses.field(default_factory=dict)
    reasons: dict[int, dict[str, int]] = dataclasses.field(default_factory=dict)
    seen: bytes = b""  # digests of the facts counted, newest last (a blob: 512 of them, searched and encoded whole)
    last_at: int = 0
    # each day's bucket as the bytes to_bytes writes for it, until the bucket changes: a fact changes one
    # day, and encoding all 31 again was most of the cost of a fact (13 of 20 us)
    _encoded: dict[int, bytes] = dataclasses.field(default_factory=dict, repr=False, compare=False)

    def apply(self, fact: Fact) -> bool:
        """Fold a fact in; False for a fact already counted (redelivery)."""
        digest = event_digest(fact.fact_id)
        if digest_in(self.seen, digest):
            return False
        self.seen = digests_with(self.seen, digest, SEEN_LIMIT)
        day = fact.at // DAY_MS
        bucket = self.days.setdefault(day, [0] * 8)
        self._encoded.pop(day, None)
        if fact.kind == "sample":
            bucket[SAMPLES] += 1
            bucket[SAMPLE_MS] += fact.value_ms or 0
            bucket[WITHIN] += 1 if fact.within else 0
        elif fact.kind == "survey":
            bucket[SURVEYS] += 1
            bucket[VSAT] += 1 if fact.rating == "very_satisfied" else 0
            if fact.rating in DSAT_RATINGS:
                bucket[DSAT] += 1
                reasons = self.reasons.setdefault(day, {})
                reason = fact.dsat_reason or "unspecified"
                if reason not in reasons and len(reasons) >= REASONS_LIMIT:
                    reason = "other"
                reasons[reason] = reasons.get(reason, 0) + 1
        elif fact.kind == "review":
            bucket[REVIEWS] += 1
            bucket[SCORE] += fact.score or 0
        self.last_at = max(self.last_at, fact.at)
        self.expire(self.last_at)
        return True

    def expire(self, now: int) -> None:
        oldest = now // DAY_MS - KEEP_DAYS + 1
        for day in [d for d in self.days if d < oldest]:
            del self.days[day]
            self.reasons.pop(day, None)
            self._encoded.pop(day, None)

    def summary(self, now: int, window: str) -> Summary:
        """The rolling window ending today (``now``'s UTC day), by whole days."""
        first = now // DAY_MS - WINDOW_DAYS[window] + 1
        total = [0.0] * 8
        reasons: dict[str, int] = {}
        for day, bucket in self.days.items():
            if first <= day <= now // DAY_MS:
                total = [a + b for a, b in zip(total, bucket, strict=True)]
                for reason, n in self.reasons.get(day, {}).items():
                    reasons[reason] = reasons.get(reason, 0) + n
        samples, surveys, reviews = int(total[SAMPLES]), int(total[SURVEYS]), int(total[REVIEWS])
        return Summary(
            engineer_id=self.engineer_id,
            samples=samples,
            art_seconds=round(total[SAMPLE_MS] / samples / 1000, 3) if samples else None,
            art_ratio=round(total[WITHIN] / samples, 6) if samples else None,
            surveys=surveys,
            vsat_ratio=round(total[VSAT] / surveys, 6) if surveys else None,
            dsat=int(total[DSAT]),
            dsat_reasons=dict(sorted(reasons.items(), key=lambda kv: (-kv[1], kv[0]))),
            reviews=reviews,
            quality_ratio=round(total[SCORE] / reviews / 100, 6) if reviews else None,
        )

    def to_bytes(self) -> bytes:
        """``{"d": {day: bucket}, "t": last_at, "r": {day: reasons}, "s": digests}`` as orjson writes it; the
        buckets of days no fact changed are the bytes written last time."""
        encoded = self._encoded
        parts = []
        for day, bucket in self.days.items():
            part = encoded.get(day)
            if part is None:
                part = encoded[day] = b'"%d":%b' % (day, orjson.dumps(bucket))
            parts.append(part)
        out = b'{"d":{%b},"t":%b' % (b",".join(parts), orjson.dumps(self.last_at))
        if self.reasons:
            out += b',"r":' + orjson.dumps({str(k): v for k, v in self.reasons.items()})
        if self.seen:
            out += b',"s":"%b"' % base64.b64encode(self.seen)
        return out + b"}"

    @classmethod
    def from_bytes(cls, engineer_id: str, data: bytes) -> EngineerState:
        doc = orjson.loads(data)
        return cls(
            engineer_id=engineer_id,
            days={int(k): v for k, v in doc["d"].items()},
            reasons={int(k): v for k, v in doc.get("r", {}).items()},
            seen=base64.b64decode(doc.get("s", "")),
            last_at=doc.get("t", 0),
        )


@dataclasses.dataclass(frozen=True, slots=True)
class Standing:
    rank: int | None
    score: float | None
    summary: Summary


def stack_rank(summaries: list[Summary], policy: Policy) -> list[Standing]:
    """Ranked engineers first (score high to low, ties by id), then the unranked by id."""
    scored = sorted(((s.score(policy), s) for s in summaries if s.eligible(policy)),
                    key=lambda p: (-p[0], p[1].engineer_id))  # type: ignore[operator]
    ranked = [Standing(i, score, s) for i, (score, s) in enumerate(scored, start=1)]
    unranked = [Standing(None, None, s) for s in sorted(summaries, key=lambda s: s.engineer_id)
                if not s.eligible(policy)]
    return ranked + unranked
