"""On-call delivery: ``sla.escalations`` -> Alertmanager API v2 (``POST /api/v2/alerts``).

* Each escalation becomes one alert; ``bizcrit_exited`` resolves that ticket's alerts (``endsAt``).
* Alerts are re-asserted every ``reassert_s`` with ``endsAt`` a few intervals ahead, so they neither
  expire while the ticket is BizCrit nor linger for long if the notifier itself dies.
* Offsets are committed only after Alertmanager accepted the alerts; while it is unreachable the
  notifier retries with backoff and commits nothing, so no escalation is lost.
* On start, the alerts still open are rebuilt by reading the topic up to the committed offsets (without
  posting), then re-asserted once: a restart neither forgets an open alert nor pages twice.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import time
from collections.abc import Awaitable, Callable

import aiohttp
import orjson
from aiokafka import AIOKafkaConsumer, TopicPartition
from prometheus_client import CollectorRegistry, Counter, Gauge

from pipeline.domain.bizcrit import (
    BIZCRIT_RUNGS,
    EXECUTIVE,
    EXITED,
    IRT_AT_RISK,
    IRT_BREACHED,
    IRT_RUNGS,
    MANAGEMENT,
    TIER3,
    bizcrit_rung_title,
)
from pipeline.domain.policy import Policy
from pipeline.domain.records import Escalation
from pipeline.domain.timefmt import format_rfc3339_ms, parse_rfc3339_ms
from pipeline.kafka import client
from pipeline.kafka.client import KafkaClient
from pipeline.settings import DEFAULT_RUNBOOK_BASE_URL

log = logging.getLogger(__name__)

ALERTNAMES = {
    IRT_AT_RISK: "BizCritIrtAtRisk",
    IRT_BREACHED: "BizCritIrtBreached",
    TIER3: "BizCritTier3Engaged",
    MANAGEMENT: "BizCritManagementEngaged",
    EXECUTIVE: "BizCritExecutiveEngaged",
}


@dataclasses.dataclass(frozen=True)
class NotifyConfig:
    alertmanager_url: str = "http://127.0.0.1:9093"
    runbook_base_url: str = DEFAULT_RUNBOOK_BASE_URL
    reassert_s: float = 60.0
    ttl_intervals: int = 5  # endsAt = now + ttl_intervals * reassert_s for a firing alert
    max_backoff_s: float = 30.0
    policy: Policy = dataclasses.field(default_factory=Policy)  # the rungs' times in the summaries


def summary(esc: Escalation, policy: Policy) -> str:
    """The alert's one-line summary; the BizCrit rungs' times come from the policy, like the ladder's."""
    sev = f"Sev{esc.severity}{' FastLane' if esc.fastlane else ''} {esc.ticket_id}"
    if esc.kind == IRT_AT_RISK:
        return f"{sev} unanswered: {esc.budget_used or 0:.0%} of IRT budget used"
    if esc.kind == IRT_BREACHED:
        return f"{sev} breached its initial response target"
    return f"{sev}: {bizcrit_rung_title(esc.kind, policy)}"


def to_alert(esc: Escalation, config: NotifyConfig, now_ms: int, *, resolved: bool = False) -> dict:
    """The Alertmanager alert for one escalation (ticket ids are fine as labels here: not Prometheus)."""
    labels = {
        "alertname": ALERTNAMES[esc.kind],
        "severity": "page" if esc.paged else "warning",
        "ticket_id": esc.ticket_id,
        "kind": esc.kind,
        "level": str(esc.level),
        "cycle": str(esc.cycle),
        "ticket_severity": str(esc.severity),
        "product": str(esc.product),
        "fastlane": "true" if esc.fastlane else "false",
    }
    annotations = {
        "summary": summary(esc, config.policy),
        "description": esc.reason,
        "runbook_url": f"{config.runbook_base_url}#{esc.kind.replace('_', '-')}",
        "escalation_id": esc.escalation_id,
        "customer_id": str(esc.customer_id),
        "engineer_id": str(esc.engineer_id or "unassigned"),
    }
    if esc.deadline:
        annotations["irt_deadline"] = esc.deadline
    annotations["escalated_at"] = esc.emitted_at
    ends = now_ms if resolved else now_ms + int(config.ttl_intervals * config.reassert_s * 1000)
    # A replay or a simulation stamps escalations in its own (possibly future) time; Alertmanager
    # refuses an alert that starts after it ends, so it starts no later than now.
    starts = min(parse_rfc3339_ms(esc.emitted_at), now_ms)
    return {"labels": labels, "annotations": annotations, "startsAt": format_rfc3339_ms(starts),
            "endsAt": format_rfc3339_ms(ends)}


class OpenAlerts:
    """What is firing now: ticket -> {(kind, level, cycle): escalation}."""

    def __init__(self) -> None:
        self._open: dict[str, dict[tuple[str, int, int], Escalation]] = {}

    def apply(self, esc: Escalation) -> tuple[list[Escalation], list[Escalation]]:
        """Take one escalation; returns (escalations now firing, escalations now resolved)."""
        if esc.kind == EXITED:
            closing = self._open.pop(esc.ticket_id, {})
            if not closing:  # nothing known (e.g. the ladder started before our history): resolve every rung
                closing = {(k, lvl, esc.cycle): dataclasses.replace(esc, kind=k, level=lvl)
                           for k, lvl in (*IRT_RUNGS, *BIZCRIT_RUNGS)}
            return [], list(closing.values())
        self._open.setdefault(esc.ticket_id, {})[(esc.kind, esc.level, esc.cycle)] = esc
        return [esc], []

    def firing(self) -> list[Escalation]:
        return [esc for rungs in self._open.values() for esc in rungs.values()]

    def __len__(self) -> int:
        return sum(len(r) for r in self._open.values())


Post = Callable[[list[dict]], Awaitable[None]]


class NotifierMetrics:
    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        reg = registry or CollectorRegistry()
        self.registry = reg
        self.posted = Counter("sla_notifier_alerts_posted_total", "Alerts Alertmanager accepted.", registry=reg)
        self.failures = Counter("sla_notifier_post_failures_total", "Failed posts to Alertmanager (retried).",
                                registry=reg)
        self.open = Gauge("sla_notifier_open_alerts", "Escalation alerts currently firing.", registry=reg)


class Notifier:
    def __init__(self, config: NotifyConfig, post: Post, clock: Callable[[], int] | None = None,
                 metrics: NotifierMetrics | None = None) -> None:
        self.config = config
        self.open = OpenAlerts()
        self._post = post
        self._now = clock or (lambda: time.time_ns() // 1_000_000)
        self.posted = 0
        self.metrics = metrics or NotifierMetrics()
        self.metrics.open.set_function(lambda: len(self.open))

    def remember(self, esc: Escalation) -> None:
        """Replay of history at start-up: track what is open, post nothing."""
        self.open.apply(esc)

    def alerts_for(self, esc: Escalation) -> list[dict]:
        firing, resolved = self.open.apply(esc)
        now = self._now()
        return [to_alert(e, self.config, now) for e in firing] + [
            to_alert(e, self.config, now, resolved=True) for e in resolved]

    def reassert_alerts(self) -> list[dict]:
        now = self._now()
        return [to_alert(e, self.config, now) for e in self.open.firing()]

    async def deliver(self, alerts: list[dict], stopping: asyncio.Event | None = None) -> bool:
        """Post until Alertmanager accepts (backoff up to max_backoff_s); False only if asked to stop."""
        if not alerts:
            return True
        delay = 0.5
        while True:
            try:
                await self._post(alerts)
                self.posted += len(alerts)
                self.metrics.posted.inc(len(alerts))
                return True
            except Exception as exc:  # noqa: BLE001 - any failure is retried; nothing is committed meanwhile
                self.metrics.failures.inc()
                log.warning("Alertmanager did not take %d alerts (%s); retrying in %.1f s", len(alerts), exc, delay)
            if stopping is not None and stopping.is_set():
                return False
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for((stopping or asyncio.Event()).wait(), delay)
            delay = min(delay * 2, self.config.max_backoff_s)


def alertmanager_poster(session: aiohttp.ClientSession, base_url: str) -> Post:
    url = base_url.rstrip("/") + "/api/v2/alerts"

    async def post(alerts: list[dict]) -> None:
        async with session.post(url, data=orjson.dumps(alerts), headers={"Content-Type": "application/json"},
                                timeout=aiohttp.ClientTimeout(total=10)) as resp:
            if resp.status >= 300:
                raise RuntimeError(f"HTTP {resp.status}: {(await resp.text())[:200]}")

    return post


async def run(kafka: KafkaClient | str, topic: str, group: str, config: NotifyConfig,
              stopping: asyncio.Event | None = None, metrics: NotifierMetrics | None = None) -> None:
    stopping = stopping or asyncio.Event()
    consumer = AIOKafkaConsumer(topic, **client.options(kafka), group_id=group, enable_auto_commit=False,
                                auto_offset_reset="earliest")
    async with aiohttp.ClientSession() as session:
        notifier = Notifier(config, alertmanager_poster(session, config.alertmanager_url), metrics=metrics)
        await client.connect(consumer, kafka)
        try:
            await _catch_up(consumer, notifier, kafka, topic)
            log.info("notifier: %d alerts open after catching up; posting to %s", len(notifier.open),
                     config.alertmanager_url)
            if not await notifier.deliver(notifier.reassert_alerts(), stopping):
                return
            last_reassert = time.monotonic()
            while not stopping.is_set():
                batch = await consumer.getmany(timeout_ms=500, max_records=500)
                alerts = [a for records in batch.values() for r in records
                          for a in notifier.alerts_for(Escalation.decode(r.value))]
                if not await notifier.deliver(alerts, stopping):
                    return  # stopping mid-retry: the offsets stay uncommitted, the alerts come again
                if batch:
                    await consumer.commit()
                if time.monotonic() - last_reassert >= config.reassert_s:
                    if not await notifier.deliver(notifier.reassert_alerts(), stopping):
                        return
                    last_reassert = time.monotonic()
        finally:
            await consumer.stop()


async def _catch_up(consumer: AIOKafkaConsumer, notifier: Notifier, kafka: KafkaClient | str, topic: str) -> None:
    """Rebuild the open alerts from the part of the topic already delivered (before the committed offsets)."""
    deadline = time.monotonic() + 60
    while not consumer.assignment() and time.monotonic() < deadline:
        await consumer.getmany(timeout_ms=200, max_records=1)  # joins the group; records are re-read below
    assignment = consumer.assignment()
    committed = {tp: await consumer.committed(tp) for tp in assignment}
    wanted = [tp for tp, offset in committed.items() if offset]
    if wanted:  # (a group-less consumer stopped without an assignment trips over itself in aiokafka)
        history = AIOKafkaConsumer(**client.options(kafka), enable_auto_commit=False, group_id=None)
        await client.connect(history, kafka)
        try:
            history.assign(wanted)
            await history.seek_to_beginning(*wanted)
            remaining = {tp: committed[tp] for tp in wanted}
            while remaining:
                batch = await history.getmany(*remaining, timeout_ms=1000)
                for tp, records in batch.items():
                    for r in records:
                        if r.offset < remaining.get(tp, -1):
                            notifier.remember(Escalation.decode(r.value))
                    if tp in remaining and await history.position(tp) >= remaining[tp]:
                        del remaining[tp]
        finally:
            await history.stop()
    for tp in assignment:  # continue where delivery stopped
        offset = committed.get(tp)
        if offset is None:
            await consumer.seek_to_beginning(tp)
        else:
            consumer.seek(TopicPartition(tp.topic, tp.partition), offset)
