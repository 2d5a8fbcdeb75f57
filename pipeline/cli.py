"""``sla-pipeline``: the command line.

    sla-pipeline kafka start|stop|status   the embedded single-node Kafka broker
    sla-pipeline worker [--clock wall|event] a pipeline worker (Faust), /metrics on its web port
    sla-pipeline produce FILE.jsonl          publish ticket events from JSON lines
    sla-pipeline notify                      deliver escalations to on-call through Alertmanager
    sla-pipeline escalations [--follow]      print escalations as they arrive
    sla-pipeline stackrank [--window 30d]    the engineer stack rank, from a worker's /stackrank
    sla-pipeline generate [--check]          write the Prometheus rules and Grafana dashboards
    sla-pipeline run                         start the embedded broker, then a worker (Ctrl-C stops both)
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from pipeline.errors import BrokerError, ConfigError, PipelineError
from pipeline.settings import Settings

if TYPE_CHECKING:
    from pipeline.kafka.embedded import EmbeddedKafka

log = logging.getLogger("pipeline")


def main(argv: Sequence[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        return int(args.handler(args) or 0)
    except ConfigError as exc:
        print(f"sla-pipeline: configuration error: {exc}", file=sys.stderr)
        return 2
    except (BrokerError, PipelineError) as exc:
        print(f"sla-pipeline: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="sla-pipeline", description="Real-time support SLA monitor.")
    sub = parser.add_subparsers(dest="command", required=True)

    kafka = sub.add_parser("kafka", help="the embedded single-node Kafka broker")
    kafka.add_argument("action", choices=["start", "stop", "status"])
    _broker_flags(kafka)
    kafka.add_argument("--fresh", action="store_true", help="start: wipe the broker's data first")
    kafka.set_defaults(handler=_cmd_kafka)

    worker = sub.add_parser("worker", help="run a pipeline worker")
    _worker_flags(worker)
    worker.set_defaults(handler=_cmd_worker)

    produce = sub.add_parser("produce", help="publish ticket events from a JSON-lines file ('-' = stdin)")
    produce.add_argument("file")
    produce.add_argument("--topic", help="default: SLA_TOPIC_EVENTS")
    produce.set_defaults(handler=_cmd_produce)

    notify = sub.add_parser("notify", help="deliver sla.escalations to Alertmanager (API v2)")
    notify.add_argument("--alertmanager-url", default=os.environ.get("SLA_ALERTMANAGER_URL"),
                        help="default: SLA_ALERTMANAGER_URL or http://127.0.0.1:9093")
    notify.add_argument("--metrics-port", type=int, default=int(os.environ.get("SLA_NOTIFIER_PORT") or 6067),
                        help="the notifier's /metrics (default: SLA_NOTIFIER_PORT or 6067; 0 = none)")
    notify.set_defaults(handler=_cmd_notify)

    follow = sub.add_parser("escalations", help="print escalations from sla.escalations")
    follow.add_argument("--follow", "-f", action="store_true", help="keep printing new escalations")
    follow.set_defaults(handler=_cmd_escalations)

    rank = sub.add_parser("stackrank", help="print the engineer stack rank (from a worker's /stackrank)")
    rank.add_argument("--window", choices=["7d", "30d"], default="30d")
    rank.add_argument("--url", help="a worker's web address (default: http://127.0.0.1:SLA_WEB_PORT)")
    rank.set_defaults(handler=_cmd_stackrank)

    generate = sub.add_parser("generate", help="write deploy/prometheus/rules and grafana/dashboards from code")
    generate.add_argument("--check", action="store_true", help="only say whether the checked-in files are current")
    generate.add_argument("--runbook-base-url", default=os.environ.get("SLA_RUNBOOK_BASE_URL"),
                          help="where alerts' runbook links point (default: a worker's /runbooks)")
    generate.set_defaults(handler=_cmd_generate)

    run = sub.add_parser("run", help="start the embedded broker and a worker; Ctrl-C stops both")
    _broker_flags(run)
    _worker_flags(run)
    run.set_defaults(handler=_cmd_run)
    return parser


def _broker_flags(p: argparse.ArgumentParser) -> None:
    p.add_argument("--kafka-version", default=os.environ.get("SLA_KAFKA_VERSION"),
                   help="Apache Kafka version (default: SLA_KAFKA_VERSION or 3.9.1)")
    p.add_argument("--kafka-port", type=int, default=None,
                   help="broker port on 127.0.0.1 (default: the port of KAFKA_BOOTSTRAP_SERVERS, else 9092)")
    p.add_argument("--kafka-dir", default=os.environ.get("SLA_KAFKA_DIR", ".kafka"),
                   help="broker state and logs (default: SLA_KAFKA_DIR or ./.kafka)")


def _worker_flags(p: argparse.ArgumentParser) -> None:
    p.add_argument("--clock", choices=["wall", "event"], help="default: SLA_CLOCK or wall")
    p.add_argument("--web-port", type=int, help="default: SLA_WEB_PORT or 6066")
    p.add_argument("--data-dir", help="default: SLA_DATA_DIR or ./data")


def _embedded(args: argparse.Namespace) -> EmbeddedKafka:
    from pipeline.kafka.embedded import DEFAULT_VERSION, EmbeddedKafka

    port = args.kafka_port
    if port is None:
        servers = os.environ.get("KAFKA_BOOTSTRAP_SERVERS", "")
        first = servers.split(",")[0].strip()
        port = int(first.rsplit(":", 1)[1]) if ":" in first and first.rsplit(":", 1)[1].isdigit() else 9092
    version = args.kafka_version or DEFAULT_VERSION
    return EmbeddedKafka(home=Path(args.kafka_dir) / f"broker-{port}", version=version, port=port)


def _cmd_kafka(args: argparse.Namespace) -> int:
    broker = _embedded(args)
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


def _settings(args: argparse.Namespace) -> Settings:
    settings = Settings.from_env(os.environ, clock=args.clock, web_port=args.web_port, data_dir=args.data_dir)
    for key in Settings.unknown_keys(os.environ):
        log.warning("ignoring unknown variable %s (a typo?)", key)
    return settings


def _cmd_worker(args: argparse.Namespace) -> int:
    return run_worker(_settings(args))


def run_worker(settings: Settings) -> int:
    import faust

    from pipeline.app import create_app, facts_topic_name, ticks_topic_name
    from pipeline.domain.policy import load_policy
    from pipeline.kafka.admin import MAX_MESSAGE_BYTES, ensure_topics

    policy = load_policy(settings.policy_file)  # a bad policy stops start-up before Kafka is touched
    for key, value in settings.describe():
        log.info("config %s=%s", key, value)
    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    big = {"max.message.bytes": str(MAX_MESSAGE_BYTES)}
    counts = loop.run_until_complete(ensure_topics(
        settings.bootstrap_servers, {settings.topic_events: settings.partitions},
        replication_factor=settings.replication_factor, configs={settings.topic_events: big},
    ))
    partitions = counts[settings.topic_events]
    names = (settings.topic_dlq, settings.topic_outcomes, settings.topic_escalations, settings.topic_dsat,
             ticks_topic_name(settings), facts_topic_name(settings))
    others = dict.fromkeys(names, partitions)
    counts = loop.run_until_complete(ensure_topics(
        settings.bootstrap_servers, others, replication_factor=settings.replication_factor,
        configs={settings.topic_dlq: big},
    ))
    for internal in (ticks_topic_name(settings), facts_topic_name(settings)):
        if counts[internal] != partitions:
            raise PipelineError(
                f"topic {internal} has {counts[internal]} partitions but {settings.topic_events} has "
                f"{partitions}; they must match (the pipeline's internal topics follow tickets.events)"
            )
    log.info("%s has %d partitions", settings.topic_events, partitions)
    pipeline = create_app(settings, partitions=partitions, policy=policy)
    worker = faust.Worker(pipeline.app, loop=loop, loglevel=settings.log_level.upper())
    worker.execute_from_commandline()
    return 0


def _cmd_produce(args: argparse.Namespace) -> int:
    from pipeline.produce import open_input, produce_lines, read_lines

    settings = Settings.from_env(os.environ)
    topic = args.topic or settings.topic_events
    stream = open_input(args.file)
    try:
        report = asyncio.run(produce_lines(settings.bootstrap_servers, topic, read_lines(stream)))
    finally:
        if stream is not sys.stdin.buffer:
            stream.close()
    print(f"{report.summary()} to {topic}")
    return 0


def _cmd_notify(args: argparse.Namespace) -> int:
    import signal

    from pipeline import notify

    settings = Settings.from_env(os.environ)
    config = notify.NotifyConfig(
        alertmanager_url=args.alertmanager_url or "http://127.0.0.1:9093",
        runbook_base_url=os.environ.get("SLA_RUNBOOK_BASE_URL") or notify.NotifyConfig.runbook_base_url,
    )

    metrics = notify.NotifierMetrics()
    if args.metrics_port:
        from prometheus_client import start_http_server

        start_http_server(args.metrics_port, addr=settings.web_host, registry=metrics.registry)

    async def main_loop() -> None:
        stopping = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stopping.set)
        await notify.run(settings.bootstrap_servers, settings.topic_escalations, f"{settings.app_id}-notifier",
                         config, stopping, metrics)

    print(f"notifier: {settings.topic_escalations} -> {config.alertmanager_url}; Ctrl-C stops", flush=True)
    asyncio.run(main_loop())
    return 0


def _cmd_escalations(args: argparse.Namespace) -> int:
    from pipeline.escalations_view import follow

    logging.getLogger("aiokafka").setLevel(logging.WARNING)  # the terminal is for escalations
    settings = Settings.from_env(os.environ)
    asyncio.run(follow(settings.bootstrap_servers, settings.topic_escalations, keep_going=args.follow))
    return 0


def _cmd_stackrank(args: argparse.Namespace) -> int:
    import urllib.error
    import urllib.request

    import orjson

    from pipeline.stackrank_view import table

    settings = Settings.from_env(os.environ)
    base = args.url or f"http://127.0.0.1:{settings.web_port}"
    try:
        with urllib.request.urlopen(f"{base}/stackrank?window={args.window}", timeout=10) as resp:
            report = orjson.loads(resp.read())
    except (urllib.error.URLError, OSError) as exc:
        raise PipelineError(f"no worker answered at {base} ({exc}); is `sla-pipeline worker` running?") from exc
    print(table(report))
    return 0


def _cmd_generate(args: argparse.Namespace) -> int:
    from pipeline.domain.policy import load_policy
    from pipeline.observability import generate

    settings = Settings.from_env(os.environ)
    kwargs = {"policy": load_policy(settings.policy_file)}
    if args.runbook_base_url:
        kwargs["runbook_base"] = args.runbook_base_url
    if args.check:
        stale = generate.stale(**kwargs)
        for path in stale:
            print(f"out of date: {path} (run `sla-pipeline generate`)")
        return 1 if stale else 0
    for path in generate.write(**kwargs):
        print(f"wrote {path}")
    return 0


def _cmd_run(args: argparse.Namespace) -> int:
    settings = _settings(args)
    broker = _embedded(args)
    if not broker.status().running:
        print(f"starting Kafka {broker.version} on {broker.bootstrap} ...", flush=True)
        started = True
    else:
        started = False
    print(broker.start().describe(), flush=True)
    if settings.bootstrap_servers != broker.bootstrap:
        settings = Settings.from_env({**os.environ, "KAFKA_BOOTSTRAP_SERVERS": broker.bootstrap},
                                     clock=args.clock, web_port=args.web_port, data_dir=args.data_dir)
    print(f"worker: metrics at http://{settings.web_host}:{settings.web_port}/metrics; Ctrl-C stops", flush=True)
    try:
        return run_worker(settings)
    except SystemExit as exc:
        return int(exc.code or 0)
    finally:
        if started:
            broker.stop()
            print("stopped the embedded Kafka broker")


if __name__ == "__main__":
    sys.exit(main())
