"""``sla-pipeline worker``, ``run`` and ``kafka``: a pipeline worker and the embedded broker."""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import logging

from pipeline.errors import PipelineError
from pipeline.kafka.embedded import EmbeddedKafka
from pipeline.settings import BrokerSettings, Settings

log = logging.getLogger("pipeline")


def embedded(broker: BrokerSettings, controller_port: int | None = None) -> EmbeddedKafka:
    return EmbeddedKafka(home=broker.kafka_dir / f"broker-{broker.port}", version=broker.kafka_version,
                         port=broker.port, controller_port=controller_port)


def kafka(args: argparse.Namespace, settings: BrokerSettings) -> int:
    broker = embedded(settings)
    if args.action == "start":
        print(f"starting Kafka {broker.version} on {broker.bootstrap} (jars cached in {broker.cache}) ...",
              flush=True)
        print(broker.start(fresh=args.fresh).describe())
        return 0
    if args.action == "stop":
        print("stopped" if broker.stop() else f"not running ({broker.home})")
        return 0
    status = broker.status()
    print(status.describe())
    return 0 if status.running else 3


def worker(args: argparse.Namespace, settings: Settings) -> int:
    return run_worker(settings)


def run_worker(settings: Settings) -> int:
    import faust

    from pipeline.domain.policy import load_policy
    from pipeline.kafka.admin import MAX_MESSAGE_BYTES, ensure_topics
    from pipeline.tables.guard import check_writable
    from pipeline.worker.app import changelog_topic_names, create_app

    policy = load_policy(settings.policy_file)  # a bad policy stops start-up before Kafka is touched
    check_writable(settings.data_dir)  # a full or read-only volume, said at once
    for key, value in settings.describe():
        log.info("config %s=%s", key, value)
    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    big = {"max.message.bytes": str(MAX_MESSAGE_BYTES)}
    counts = loop.run_until_complete(ensure_topics(
        settings.kafka, {settings.topic_events: settings.partitions},
        replication_factor=settings.replication_factor, configs={settings.topic_events: big},
    ))
    partitions = counts[settings.topic_events]
    names = (settings.topic_dlq, settings.topic_outcomes, settings.topic_escalations, settings.topic_dsat,
             settings.topic_ticks, settings.topic_facts, settings.topic_incidents)
    others = dict.fromkeys(names, partitions)
    counts = loop.run_until_complete(ensure_topics(
        settings.kafka, others, replication_factor=settings.replication_factor,
        configs={settings.topic_dlq: big},
    ))
    # The changelogs too, before Faust starts: created by Faust itself, a changelog's metadata could still be
    # empty at the first table write, which Faust refuses (PartitionsMismatch: "... has 0 partitions").
    changelogs = changelog_topic_names(settings)
    counts.update(loop.run_until_complete(ensure_topics(
        settings.kafka, dict.fromkeys(changelogs, partitions), replication_factor=settings.replication_factor,
        configs={name: {"cleanup.policy": "compact"} for name in changelogs},
    )))
    for internal in (settings.topic_ticks, settings.topic_facts, settings.topic_incidents, *changelogs):
        if counts[internal] != partitions:
            raise PipelineError(
                f"topic {internal} has {counts[internal]} partitions but {settings.topic_events} has "
                f"{partitions}; they must match (the pipeline's internal topics follow tickets.events)"
            )
    log.info("%s has %d partitions", settings.topic_events, partitions)
    pipeline = create_app(settings, partitions=partitions, policy=policy)
    faust_worker = faust.Worker(pipeline.app, loop=loop, loglevel=settings.log_level.upper())
    # At WARNING and above Faust's progress spinner sets the root logger to DEBUG so that every debug
    # message (one per record sent, in aiokafka) is built and handed to it; that cost a worker a fifth of
    # its CPU. The spinner only decorates start-up on a terminal.
    faust_worker.spinner = None
    faust_worker.execute_from_commandline()
    return 0


def run(args: argparse.Namespace, settings: Settings, broker_settings: BrokerSettings) -> int:
    broker = embedded(broker_settings)
    started = not broker.status().running
    if started:
        print(f"starting Kafka {broker.version} on {broker.bootstrap} ...", flush=True)
    print(broker.start().describe(), flush=True)
    if settings.bootstrap_servers != broker.bootstrap:
        settings = dataclasses.replace(settings, bootstrap_servers=broker.bootstrap)
    print(f"worker: metrics at http://{settings.web_host}:{settings.web_port}/metrics; Ctrl-C stops", flush=True)
    try:
        return run_worker(settings)
    except SystemExit as exc:
        return int(exc.code or 0)
    finally:
        if started:
            broker.stop()
            print("stopped the embedded Kafka broker")
