"""The one app factory: ``create_app(settings, partitions=...)`` builds a Faust app and its wiring.

Nothing here runs at import time; the CLI builds the app once it has read the settings and made sure
the topics exist (the tables must have as many partitions as ``tickets.events``).
"""

from __future__ import annotations

import dataclasses

import faust
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from pipeline.agents import tickets as tickets_agent
from pipeline.domain.clock import Clock, EventPartitionClock, WallClock, WallPartitionClock
from pipeline.kafka.admin import MAX_MESSAGE_BYTES
from pipeline.metrics import Metrics
from pipeline.processor import Processor
from pipeline.settings import Settings
from pipeline.tables import tickets as tickets_tables

RAW = {"key_type": bytes, "value_type": bytes, "key_serializer": "raw", "value_serializer": "raw"}


@dataclasses.dataclass(frozen=True)
class Pipeline:
    app: faust.App
    settings: Settings
    processor: Processor
    metrics: Metrics


def ticks_topic_name(settings: Settings) -> str:
    return f"{settings.app_id}-ticks"


def create_app(
    settings: Settings,
    *,
    partitions: int,
    wall: Clock | None = None,
    metrics: Metrics | None = None,
    tick_interval_s: float = 0.25,
) -> Pipeline:
    wall = wall or WallClock()
    metrics = metrics or Metrics.create()
    app = faust.App(
        settings.app_id,
        broker=settings.kafka_broker_url,
        store="rocksdb://",
        datadir=str(settings.data_dir),
        web_bind=settings.web_host,
        web_host=settings.web_host,
        web_port=settings.web_port,
        topic_partitions=partitions,
        topic_replication_factor=settings.replication_factor,
        producer_max_request_size=MAX_MESSAGE_BYTES,
        consumer_max_fetch_size=MAX_MESSAGE_BYTES,
        autodiscover=False,
    )
    clock = (
        EventPartitionClock(int(settings.allowed_lateness_seconds * 1000))
        if settings.clock == "event" else WallPartitionClock(wall)
    )
    processor = Processor(
        clock=clock,
        wall=wall,
        metrics=metrics,
        orphan_timeout_ms=int(settings.orphan_timeout_seconds * 1000),
        events_topic=settings.topic_events,
    )
    tickets, clocks = tickets_tables.declare(app, partitions)
    source = app.topic(settings.topic_events, ticks_topic_name(settings), **RAW)
    ticks = app.topic(ticks_topic_name(settings), partitions=partitions, internal=True, **RAW)
    dlq = app.topic(settings.topic_dlq, **RAW)
    tickets_agent.register(
        app,
        source=source,
        ticks=ticks,
        events_topic=settings.topic_events,
        processor=processor,
        store=tickets_tables.TableStore(tickets, clocks),
        publisher=tickets_agent.Publisher(dlq),
        tick_interval_s=tick_interval_s,
    )

    @app.page("/metrics")
    async def metrics_page(web: faust.web.Web, request: faust.web.Request) -> faust.web.Response:
        return web.bytes(generate_latest(metrics.registry), headers={"Content-Type": CONTENT_TYPE_LATEST})

    return Pipeline(app=app, settings=settings, processor=processor, metrics=metrics)
