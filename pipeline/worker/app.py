"""The one app factory: ``create_app(settings, partitions=...)`` builds a Faust app and its wiring.

Nothing here runs at import time; the CLI builds the app once it has read the settings and made sure
the topics exist (the tables must have as many partitions as ``tickets.events``).
"""

from __future__ import annotations

import dataclasses

import faust

from pipeline import reports
from pipeline.agents import Progress
from pipeline.agents import customers as customers_agent
from pipeline.agents import engineers as engineers_agent
from pipeline.agents import tickets as tickets_agent
from pipeline.agents.offsets import CommittedOffsets, register_lag, rewind_uncommitted
from pipeline.agents.publisher import Publisher
from pipeline.domain.clock import Clock, EventPartitionClock, WallClock, WallPartitionClock
from pipeline.domain.policy import Policy, load_policy
from pipeline.domain.timefmt import DAY_MS
from pipeline.kafka.admin import MAX_MESSAGE_BYTES
from pipeline.metrics import Metrics
from pipeline.processing.outbox import OUTPUT_TOPICS
from pipeline.processing.processor import Processor
from pipeline.settings import Settings
from pipeline.tables import tickets as tickets_tables
from pipeline.tables.engineer_view import EngineerView, follow_changelog
from pipeline.worker import web
from pipeline.worker.tickets_page import KafkaTicketRecords, TicketPages, TicketRecords

RAW = {"key_type": bytes, "value_type": bytes, "key_serializer": "raw", "value_serializer": "raw"}


@dataclasses.dataclass(frozen=True)
class Pipeline:
    app: faust.App
    settings: Settings
    processor: Processor
    metrics: Metrics
    policy: Policy
    tickets: tickets_agent.TicketAgent  # the ticket agent and its tick timer
    engineers: faust.types.AgentT  # the engineer agent
    engineers_progress: Progress
    engineer_table: faust.Table
    customers: faust.types.AgentT  # the customers agent (critical-incident allowances)
    customers_progress: Progress
    customer_table: faust.Table
    view: EngineerView
    topics: dict[str, faust.TopicT]  # every topic the worker writes, by the outbox's names and "dlq", "ticks"


def changelog_topic_names(settings: Settings) -> list[str]:
    """The tables' changelog topics, named as Faust names them."""
    return settings.changelog_topics(tickets_tables.TABLES)


def create_app(
    settings: Settings,
    *,
    partitions: int,
    wall: Clock | None = None,
    metrics: Metrics | None = None,
    policy: Policy | None = None,
    store: str = "rocksdb://",
    ticket_records: TicketRecords | None = None,
) -> Pipeline:
    wall = wall or WallClock()
    policy = policy or load_policy(settings.policy_file)
    metrics = metrics or Metrics.create(policy=policy)
    app = faust.App(
        settings.app_id,
        broker=settings.kafka_broker_url,
        broker_credentials=settings.kafka.faust_credentials(),
        store=store,  # "memory://" in the agent tests
        datadir=str(settings.data_dir),
        web_bind=settings.web_host,
        web_host=settings.web_host,
        web_port=settings.web_port,
        canonical_url=settings.advertised_url,  # where the other workers forward /tickets/<id> to this one
        topic_partitions=partitions,
        topic_replication_factor=settings.replication_factor,
        producer_max_request_size=MAX_MESSAGE_BYTES,
        # Batch table changelog and output records (Faust's default sends each on its own); commits still
        # flush everything first, so at-least-once holds.
        producer_linger_ms=5,
        consumer_max_fetch_size=MAX_MESSAGE_BYTES,
        # A dead worker's partitions move after this long: breaches wait no longer than that.
        broker_session_timeout=settings.session_timeout_seconds,
        broker_heartbeat_interval=min(3.0, settings.session_timeout_seconds / 3),
        autodiscover=False,
        web_tables_enabled=False,  # they would serve ticket state to anyone who reaches the port
        web_router_enabled=False,  # the cluster's layout; nothing here routes requests between workers
    )
    clock = (
        EventPartitionClock(wall, int(settings.allowed_lateness_seconds * 1000))
        if settings.clock == "event" else WallPartitionClock(wall)
    )
    ticks_name = settings.topic_ticks
    positions = CommittedOffsets(app, settings.topic_events, ticks_name)
    processor = Processor(
        clock=clock,
        wall=wall,
        metrics=metrics,
        policy=policy,
        orphan_timeout_ms=int(settings.orphan_timeout_seconds * 1000),
        events_topic=settings.topic_events,
        ticks_topic=ticks_name,
        positions=positions,
    )
    store = tickets_tables.declare(app, partitions)
    source = app.topic(settings.topic_events, ticks_name, **RAW)
    ticks = app.topic(ticks_name, partitions=partitions, internal=True, **RAW)
    facts = app.topic(settings.topic_facts, partitions=partitions, internal=True, **RAW)
    incidents = app.topic(settings.topic_incidents, partitions=partitions, internal=True, **RAW)
    dlq = app.topic(settings.topic_dlq, **RAW)
    names = {"outcomes": settings.topic_outcomes, "escalations": settings.topic_escalations,
             "dsat": settings.topic_dsat}
    internal = {"facts": facts, "incidents": incidents}  # read by the engineers and customers agents
    outputs = {topic: internal[topic] if topic in internal else app.topic(names[topic], **RAW)
               for topic in OUTPUT_TOPICS}
    ticket_agent = tickets_agent.register(
        app,
        source=source,
        ticks=ticks,
        events_topic=settings.topic_events,
        processor=processor,
        store=store,
        publisher=Publisher(dlq, outputs),
    )

    metrics.observe_lag(register_lag(app, settings.topic_events, positions, processor.next_offsets))
    rewind_uncommitted(app, {settings.topic_events, ticks_name, settings.topic_facts, settings.topic_incidents})

    def processed(partition: int) -> int | None:
        """The next offset of ``partition`` this worker processes (or the group committed, if further)."""
        done = [o for o in (processor.next_offsets.get(partition), positions.of(settings.topic_events, partition))
                if o is not None]
        return max(done, default=None)

    lateness_ms = int(settings.allowed_lateness_seconds * 1000)
    ticket_pages = TicketPages(
        topic=settings.topic_events, partitions=partitions, advertised_url=settings.advertised_url,
        owners=lambda: app.router.external_topics_metadata(), store=store,
        records=ticket_records or KafkaTicketRecords(settings.kafka, settings.topic_events), policy=policy,
        now=processor.clock.now, position=processed, lateness_ms=lateness_ms,
        orphan_timeout_ms=processor.orphan_timeout_ms,
        margin_ms=max(DAY_MS, lateness_ms, processor.orphan_timeout_ms), session=lambda: app.http_client)

    engineers = tickets_tables.declare_engineers(app, partitions)
    engineers_progress = Progress()
    engineer_agent = engineers_agent.register(app, facts=facts, table=engineers, progress=engineers_progress)
    view = EngineerView(policy, event_time=settings.clock == "event")
    metrics.observe_engineers(lambda: _owned_standings(engineers, view, settings.metrics_max_engineers))

    customers = tickets_tables.declare_customers(app, partitions)
    customers_progress = Progress()
    customer_agent = customers_agent.register(
        app, incidents=incidents, table=customers, escalations=outputs["escalations"], progress=customers_progress,
        notified=lambda esc: metrics.escalations.labels(kind=esc.kind).inc())

    @app.task
    async def engineer_view() -> None:
        await follow_changelog(settings.kafka, f"{settings.app_id}-engineers-changelog", view)

    def ready() -> str | None:
        """None when ready; else what the worker still waits for."""
        if app.rebalancing or not ticket_agent.timer.assigned:
            return "a partition assignment"
        if app.in_recovery or not app.tables.recovery.completed.is_set():
            return "table recovery"
        return None

    def partitions() -> list[int]:
        return sorted(tp.partition for tp in app.consumer.assignment() if tp.topic == settings.topic_events)

    web.register(app, metrics, view, ready=ready, partitions=partitions, access=web.Access.of(settings),
                 reports=reports.web_handler(settings, policy, wall.now_ms), tickets=ticket_pages)
    return Pipeline(app=app, settings=settings, processor=processor, metrics=metrics, policy=policy,
                    tickets=ticket_agent, engineers=engineer_agent,
                    engineers_progress=engineers_progress, engineer_table=engineers,
                    customers=customer_agent, customers_progress=customers_progress, customer_table=customers,
                    view=view,
                    topics={**outputs, "dlq": dlq, "ticks": ticks})


def _owned_standings(table: faust.Table, view: EngineerView, cap: int) -> dict[str, list]:
    """Per window, the standings of the engineers whose partitions this worker owns (at most ``cap``)."""
    owned = {key.decode() for key in table}
    out = {}
    for window in ("7d", "30d"):
        rows = [st for st in view.standings(window) if st.summary.engineer_id in owned]
        out[window] = rows[:cap]
    return out
