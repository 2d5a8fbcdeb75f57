"""A deterministic scenario of ticket lifecycles for tests, and the pure core's answer for it.

Each ticket: created; usually assigned and answered (some late, some never); sometimes a severity
change, waiting on the customer, a workaround, a reopen; resolved and closed. Events are in time
order overall, as ticket systems publish them.
"""

from __future__ import annotations

import dataclasses
import random
from collections import defaultdict

import orjson

from pipeline.domain.clock import EventPartitionClock, ManualClock
from pipeline.domain.policy import Policy
from pipeline.domain.timefmt import format_rfc3339_ms
from pipeline.metrics import Metrics
from pipeline.processing.io import Emit, Record
from pipeline.processing.processor import Processor
from tests.fakes import DictStore

T0 = 1_772_442_000_000  # 2026-03-02T09:00:00Z
MIN = 60_000
TARGET_MIN = {1: 15, 2: 60, 3: 240, 4: 1440}
RATINGS = ["very_satisfied", "satisfied", "neutral", "dissatisfied", "very_dissatisfied"]
DSAT_REASONS = ["Workflow: Resolution was delayed", "Reason not clear",
                "Tech: Product bug/design/functionality/stability/reliability"]


def tickets(n: int, seed: int = 7, span_ms: int = 48 * 60 * MIN, *, start: int = T0,
            policy: Policy | None = None, plans: tuple[str, ...] = ()) -> list[dict]:
    """Events of ``n`` tickets created over ``span_ms`` from ``start``, sorted by occurred_at. With a
    ``policy``, first responses come at shares of the IRT budget in each ticket's calendar (as the
    simulator times them), not of wall time. With ``plans`` (contract v3 section 10), a third of the
    tickets name one of them as their ``contract``, and customers write again after the first response
    (next-response clocks, some answered late, some never); those draws come from a second generator, so
    the rest of the scenario is the same as without them."""
    from pipeline.domain import calendar

    rng = random.Random(seed)
    events: list[tuple[int, int, dict]] = []
    seq = 0

    def add(at: int, doc: dict) -> None:
        nonlocal seq
        seq += 1
        doc = {"event_id": f"{doc['ticket_id']}-{seq}", "occurred_at": format_rfc3339_ms(at), **doc}
        events.append((at, seq, doc))

    for i in range(n):
        tid = f"S-{seed}-{i:05d}"
        created = start + rng.randrange(span_ms)
        severity = rng.choices([1, 2, 3, 4], weights=[5, 20, 50, 25])[0]
        fastlane = rng.random() < 0.1
        product, customer = rng.choice(["desktop", "automation", "plesk"]), f"C{rng.randrange(300)}"
        opened = {"type": "ticket.created", "ticket_id": tid, "severity": severity, "fastlane": fastlane,
                  "product": product, "customer_id": customer}
        extra = random.Random(f"{seed}-{i}") if plans else None
        if extra is not None and extra.random() < 0.33:
            opened["contract"] = extra.choice(plans)
        add(created, opened)
        engineer = f"E{rng.randrange(40):02d}"
        target = TARGET_MIN[severity] * MIN * (0.5 if fastlane else 1)
        t = created + rng.randrange(1, 3 * MIN)
        add(t, {"type": "ticket.assigned", "ticket_id": tid, "engineer_id": engineer})
        if rng.random() < 0.06:  # severity changes before the answer, up or down
            t += rng.randrange(1, int(target * 0.6) + 2)
            severity = rng.choice([s for s in (1, 2, 3, 4) if s != severity])
            add(t, {"type": "ticket.severity_changed", "ticket_id": tid, "severity": severity})
        roll = rng.random()
        if roll < 0.03:
            answered = None  # never answered
        else:
            late = roll > 0.93
            budget_used = int(target * (rng.uniform(1.01, 2.5) if late else rng.uniform(0.05, 1.0)))
            cal = policy.calendar_for(severity, product, fastlane) if policy else calendar.ROUND_THE_CLOCK
            answered = calendar.reached(cal, created, budget_used)
            answered = max(answered, t + 1)
            add(answered, {"type": "ticket.responded", "ticket_id": tid, "engineer_id": engineer})
        t = max(t, answered or t) + rng.randrange(1, 60 * MIN)
        if extra is not None and answered is not None:
            t = _conversation(extra, add, tid, engineer, answered, t)
        if rng.random() < 0.3:
            add(t, {"type": "ticket.waiting_on_customer", "ticket_id": tid})
            t += rng.randrange(1, 240 * MIN)
            add(t, {"type": "ticket.customer_replied", "ticket_id": tid})
        if severity == 1 or rng.random() < 0.2:
            t += rng.randrange(1, 120 * MIN)
            add(t, {"type": "ticket.workaround_provided", "ticket_id": tid, "engineer_id": engineer})
        t += rng.randrange(1, 600 * MIN)
        add(t, {"type": "ticket.resolved", "ticket_id": tid, "engineer_id": engineer})
        if rng.random() < 0.05:
            t += rng.randrange(1, 120 * MIN)
            add(t, {"type": "ticket.reopened", "ticket_id": tid})
            t += rng.randrange(1, 300 * MIN)
            add(t, {"type": "ticket.resolved", "ticket_id": tid, "engineer_id": engineer})
        t += rng.randrange(1, 60 * MIN)
        add(t, {"type": "ticket.closed", "ticket_id": tid})
        if rng.random() < 0.02:  # an upstream retry: the same event twice
            add(t, dict(events[-1][2]))
        if rng.random() < 0.7:  # surveys come after closing
            rating = rng.choices(RATINGS, weights=[55, 25, 10, 6, 4])[0]
            survey = {"type": "ticket.survey_submitted", "ticket_id": tid, "rating": rating}
            if rating in ("neutral", "dissatisfied", "very_dissatisfied"):
                survey["dsat_reason"] = rng.choice(DSAT_REASONS)
            add(t + rng.randrange(1, 24 * 60 * MIN), survey)
        if rng.random() < 0.3:
            add(t + rng.randrange(1, 48 * 60 * MIN), {"type": "ticket.quality_reviewed", "ticket_id": tid,
                                                      "engineer_id": engineer, "score": rng.randrange(60, 101)})
    events.sort(key=lambda e: (e[0], e[1]))
    return [doc for _, _, doc in events]


def _conversation(extra: random.Random, add, tid: str, engineer: str, answered: int, t: int) -> int:
    """After the first response, up to three customer replies, each answered within minutes to hours (or
    not at all), some a second reply before the answer: next-response clocks. Returns the last instant,
    never later than ``t``'s successor in the lifecycle (the rest follows it)."""
    at = answered
    for _ in range(extra.choice((0, 1, 1, 2, 3))):
        at += extra.randrange(1, 180 * MIN)
        add(at, {"type": "ticket.customer_replied", "ticket_id": tid})
        if extra.random() < 0.2:  # the customer writes again before an answer: still one clock
            at += extra.randrange(1, 30 * MIN)
            add(at, {"type": "ticket.customer_replied", "ticket_id": tid})
        if extra.random() < 0.9:
            at += extra.randrange(1, 600 * MIN)
            add(at, {"type": "ticket.responded", "ticket_id": tid, "engineer_id": engineer})
    return max(t, at + 1)


def heartbeat(at: int, name: str) -> dict:
    return {"event_id": f"hb-{name}", "type": "heartbeat", "occurred_at": format_rfc3339_ms(at)}


def last_instant(docs: list[dict]) -> int:
    from pipeline.domain.timefmt import parse_rfc3339_ms

    return max(parse_rfc3339_ms(d["occurred_at"]) for d in docs)


def expected_outputs(partitions: dict[int, list[tuple[int, bytes | None, bytes]]], topic: str,
                     policy: Policy | None = None, facts: list | None = None,
                     escalations: dict | None = None, wall_ms: int = T0) -> tuple[dict[str, dict], Metrics]:
    """The pure core's outcomes (by outcome_id) for records as the broker placed them: per partition,
    (offset, key, value) in offset order, run with the event-time clock. Also its metrics; engineer facts
    go to ``facts`` and escalations (by escalation_id) to ``escalations`` if given. ``wall_ms`` stands in for
    the worker's wall clock, which judges only the first record of a partition (events dated now, not in
    the scenario's past, need a wall clock of now)."""
    metrics = Metrics.create()
    wall = ManualClock(wall_ms)
    proc = Processor(clock=EventPartitionClock(wall), wall=wall, metrics=metrics, policy=policy or Policy(),
                     orphan_timeout_ms=600_000, events_topic=topic, ticks_topic="unused-ticks")
    store = DictStore()
    outcomes: dict[str, dict] = {}
    for partition, rows in sorted(partitions.items()):
        for offset, key, value in sorted(rows, key=lambda r: r[0]):
            for out in proc.handle(Record(topic, partition, offset, key, value), store):
                if isinstance(out, Emit) and out.topic == "outcomes":
                    doc = orjson.loads(out.value)
                    outcomes[doc["outcome_id"]] = doc
                elif isinstance(out, Emit) and out.topic == "facts" and facts is not None:
                    facts.append(out.value)
                elif isinstance(out, Emit) and out.topic == "escalations" and escalations is not None:
                    doc = orjson.loads(out.value)
                    escalations[doc["escalation_id"]] = doc
    return outcomes, metrics


def by_partition(sent: list, records: list[tuple[bytes | None, bytes]]) -> dict[int, list]:
    placed: dict[int, list] = defaultdict(list)
    for meta, (key, value) in zip(sent, records, strict=True):
        placed[meta.partition].append((meta.offset, key, value))
    return placed


@dataclasses.dataclass
class CoreRecords:
    """Everything the pure core publishes for a stream, decoded, beside the valid events it read: what the
    reports are computed from."""

    events: list = dataclasses.field(default_factory=list)
    outcomes: list = dataclasses.field(default_factory=list)
    escalations: list = dataclasses.field(default_factory=list)
    dsat: list = dataclasses.field(default_factory=list)
    facts: list = dataclasses.field(default_factory=list)


def core_records(docs: list[dict], policy: Policy | None = None, partitions: int = 4) -> CoreRecords:
    """Run the pure core with the event-time clock over ``docs`` (placed on partitions by key, as the
    tests' fixed hash does; a heartbeat without a ticket on every partition) and collect its outputs."""
    import hashlib

    from pipeline.domain.engineers import Fact
    from pipeline.domain.events import Event, decode
    from pipeline.domain.records import DsatReview, Escalation, Outcome

    wall = ManualClock(T0)
    proc = Processor(clock=EventPartitionClock(wall), wall=wall, metrics=Metrics.create(),
                     policy=policy or Policy(), orphan_timeout_ms=600_000, events_topic="tickets.events",
                     ticks_topic="unused-ticks")
    store = DictStore()
    got = CoreRecords()
    offsets = [0] * partitions
    parse = {"outcomes": (Outcome.decode, got.outcomes), "escalations": (Escalation.decode, got.escalations),
             "dsat": (DsatReview.decode, got.dsat), "facts": (Fact.from_bytes, got.facts)}
    for doc in docs:
        key = doc.get("ticket_id", "").encode()
        value = orjson.dumps(doc)
        event = decode(value, key)
        if isinstance(event, Event) and event.ticket_id is not None:
            got.events.append(event)
        beat = doc.get("type") == "heartbeat" and "ticket_id" not in doc  # moves every partition's clock
        for p in range(partitions) if beat else [int(hashlib.md5(key).hexdigest(), 16) % partitions]:
            for out in proc.handle(Record("tickets.events", p, offsets[p], key or None, value), store):
                if isinstance(out, Emit) and out.topic in parse:
                    decoder, into = parse[out.topic]
                    into.append(decoder(out.value))
            offsets[p] += 1
    return got
