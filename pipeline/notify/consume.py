"""The notifier's Kafka side: ``sla.escalations`` in a consumer group, the open alerts rebuilt on every assignment.

* Each record is decoded (a malformed one is logged, counted and skipped), its alerts are queued for every
  Alertmanager, and the offsets are committed. The consumer keeps polling whatever Alertmanager does, so an
  outage of any length never costs the group membership (aiokafka leaves the group when a consumer does
  not poll for ``max_poll_interval_ms``).
* On every assignment (start, a second notifier joining, a rejoin after a broker outage) the alerts open on
  the assigned partitions are rebuilt from the topic up to the committed offsets, and everything open is
  re-asserted to every Alertmanager. So nothing committed is forgotten: an escalation whose page no
  Alertmanager had taken when the notifier died is posted again after the restart (Alertmanager
  deduplicates, nobody is paged twice). A resolution that never got out is the one thing a crash can
  cost: that alert then ends by itself ``ttl_intervals`` re-assertions later.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

import aiohttp
from aiokafka import AIOKafkaConsumer, ConsumerRebalanceListener, TopicPartition
from aiokafka.errors import CommitFailedError, IllegalStateError, KafkaError

from pipeline.kafka import client
from pipeline.kafka.client import KafkaClient
from pipeline.notify.alerts import NotifyConfig
from pipeline.notify.delivery import Notifier, NotifierMetrics, Target, alertmanager_poster, target_name

log = logging.getLogger(__name__)


class _Rebuild(ConsumerRebalanceListener):
    """After each assignment: the open alerts of exactly the assigned partitions, then a re-assertion."""

    def __init__(self, consumer: AIOKafkaConsumer, notifier: Notifier, kafka: KafkaClient | str) -> None:
        self.consumer = consumer
        self.notifier = notifier
        self.kafka = kafka

    async def on_partitions_revoked(self, revoked: set[TopicPartition]) -> None:
        pass

    async def on_partitions_assigned(self, assigned: set[TopicPartition]) -> None:
        committed = {tp: await self.consumer.committed(tp) for tp in assigned}
        self.notifier.forget()
        await read_history(self.kafka, self.notifier, {tp: o for tp, o in committed.items() if o})
        log.info("notifier: partitions %s assigned; %d alerts open; re-asserting them to every Alertmanager",
                 sorted(tp.partition for tp in assigned), len(self.notifier.open))
        self.notifier.reassert()


async def read_history(kafka: KafkaClient | str, notifier: Notifier, upto: dict[TopicPartition, int]) -> None:
    """Replay each partition from its beginning up to (not including) its committed offset, posting nothing."""
    if not upto:
        return
    history = AIOKafkaConsumer(**client.options(kafka), enable_auto_commit=False, group_id=None)
    await client.connect(history, kafka)
    try:
        history.assign(list(upto))
        await history.seek_to_beginning(*upto)
        remaining = dict(upto)
        while remaining:
            batch = await history.getmany(*remaining, timeout_ms=1000)
            for tp, records in batch.items():
                for r in records:
                    if r.offset < remaining.get(tp, -1):
                        esc = notifier.decode(r.value, f"{tp.topic}[{tp.partition}]@{r.offset}")
                        if esc is not None:
                            notifier.remember(esc)
                if tp in remaining and await history.position(tp) >= remaining[tp]:
                    del remaining[tp]
    finally:
        await history.stop()


async def run(kafka: KafkaClient | str, topic: str, group: str, config: NotifyConfig,
              stopping: asyncio.Event | None = None, metrics: NotifierMetrics | None = None,
              **consumer_config: object) -> None:
    """Deliver ``topic`` to the configured Alertmanagers until ``stopping`` is set."""
    stopping = stopping or asyncio.Event()
    # Metadata every 10 s (aiokafka's default is 5 min): a notifier started before the workers have created
    # the topic finds it soon after they do.
    consumer = AIOKafkaConsumer(**client.options(kafka), group_id=group, enable_auto_commit=False,
                                auto_offset_reset="earliest", **{"metadata_max_age_ms": 10_000, **consumer_config})
    timeout = aiohttp.ClientTimeout(total=config.post_timeout_s)
    async with aiohttp.ClientSession(timeout=timeout) as session:
        targets = [Target(target_name(url), alertmanager_poster(session, url, config.auth))
                   for url in config.alertmanager_urls]
        notifier = Notifier(config, targets, metrics=metrics)
        await client.connect(consumer, kafka)
        rebuild = _Rebuild(consumer, notifier, kafka)
        consumer.subscribe([topic], listener=rebuild)
        tasks = notifier.start()
        try:
            log.info("notifier: %s -> %s", topic, ", ".join(t.name for t in targets))
            next_reassert = notifier.timer.monotonic() + config.reassert_s
            while not stopping.is_set():
                batch = await consumer.getmany(timeout_ms=500, max_records=500)
                for tp, records in batch.items():
                    for r in records:
                        esc = notifier.decode(r.value, f"{tp.topic}[{tp.partition}]@{r.offset}")
                        if esc is not None:
                            notifier.take(esc)
                if batch:
                    await _commit(consumer)
                if notifier.timer.monotonic() >= next_reassert:
                    notifier.reassert()
                    next_reassert = notifier.timer.monotonic() + config.reassert_s
        finally:
            await notifier.stop(tasks)
            with contextlib.suppress(KafkaError):
                await consumer.stop()


async def _commit(consumer: AIOKafkaConsumer) -> None:
    """Commit what was taken; if the group moved on meanwhile, the records come again (to us or another)."""
    try:
        await consumer.commit()
    except (CommitFailedError, IllegalStateError) as exc:
        log.warning("notifier: commit failed (%s); those escalations will be read again", exc)
