"""``sla-pipeline``: the command line.

    sla-pipeline kafka start|stop|status   the embedded single-node Kafka broker
    sla-pipeline worker [--clock wall|event] a pipeline worker (Faust), /metrics on its web port
    sla-pipeline produce FILE.jsonl          publish ticket events from JSON lines
    sla-pipeline notify                      deliver escalations to on-call through Alertmanager
    sla-pipeline escalations [--follow]      print escalations as they arrive
    sla-pipeline stackrank [--window 30d]    the engineer stack rank, from a worker's /stackrank
    sla-pipeline generate [--check]          write the Prometheus rules and Grafana dashboards
    sla-pipeline simulate [--speedup N]      play realistic simulated tickets to Kafka (or --out a file)
    sla-pipeline replay FILE                 replay a JSON-lines or CSV export into tickets.events
    sla-pipeline demo                        everything, with a live board in the terminal
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
from pipeline.signals import stop_on_signals

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

    sim = sub.add_parser("simulate", help="play simulated ticket lifecycles (deterministic per --seed)")
    sim.add_argument("--seed", type=int, default=1)
    sim.add_argument("--profile", type=Path, help="a profile TOML (default: deploy/profiles/default.toml)")
    sim.add_argument("--speedup", type=float, default=60.0, help="simulated seconds per wall second (default 60)")
    sim.add_argument("--rate", type=float, help="at most this many events per wall second")
    sim.add_argument("--duration", default="1d", help="simulated time to cover, e.g. 12h, 7d, 30d (default 1d)")
    sim.add_argument("--start", default="now", help="simulated start: now, or an RFC 3339 instant")
    sim.add_argument("--out", help="write JSON lines to this file instead of Kafka, as fast as possible")
    sim.set_defaults(handler=_cmd_simulate)

    rep = sub.add_parser("replay", help="replay an export (JSON lines, or CSV with --mapping) into tickets.events")
    rep.add_argument("file", type=Path)
    rep.add_argument("--mapping", type=Path, help="CSV column mapping TOML (see deploy/replay/example-mapping.toml)")
    rep.add_argument("--speedup", type=float, default=None, help="compress the original timing by this factor")
    rep.add_argument("--fast", action="store_true", help="as fast as possible (the default without --speedup)")
    rep.set_defaults(handler=_cmd_replay)

    demo = sub.add_parser("demo", help="broker, worker, notifier, Prometheus, Alertmanager, simulator, live board")
    demo.add_argument("--dir", type=Path, default=Path(".demo"), help="where the demo keeps state and logs")
    demo.add_argument("--speedup", type=float, default=300.0)
    demo.add_argument("--seed", type=int, default=1)
    demo.add_argument("--kafka-version", default=os.environ.get("SLA_KAFKA_VERSION"))
    for flag, default in (("kafka-port", 9092), ("kafka-controller-port", 9192), ("web-port", 6066),
                          ("notifier-port", 6067), ("prometheus-port", 9090), ("alertmanager-port", 9093),
                          ("webhook-port", 9095)):
        demo.add_argument(f"--{flag}", type=int, default=default)
    demo.set_defaults(handler=_cmd_demo)

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
    # At WARNING and above Faust's progress spinner sets the root logger to DEBUG so that every debug
    # message (one per record sent, in aiokafka) is built and handed to it; that cost a worker a fifth of
    # its CPU. The spinner only decorates start-up on a terminal.
    worker.spinner = None
    worker.execute_from_commandline()
    return 0


def _cmd_produce(args: argparse.Namespace) -> int:
    from pipeline.cli.produce import open_input, produce_lines, read_lines

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
        stopping = stop_on_signals()
        await notify.run(settings.bootstrap_servers, settings.topic_escalations, f"{settings.app_id}-notifier",
                         config, stopping, metrics)

    print(f"notifier: {settings.topic_escalations} -> {config.alertmanager_url}; Ctrl-C stops", flush=True)
    asyncio.run(main_loop())
    return 0


def _cmd_escalations(args: argparse.Namespace) -> int:
    from pipeline.cli.escalations import follow

    logging.getLogger("aiokafka").setLevel(logging.WARNING)  # the terminal is for escalations
    settings = Settings.from_env(os.environ)
    asyncio.run(follow(settings.bootstrap_servers, settings.topic_escalations, keep_going=args.follow))
    return 0


def _cmd_stackrank(args: argparse.Namespace) -> int:
    import urllib.error
    import urllib.request

    import orjson

    from pipeline.cli.stackrank import table

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


_UNITS = {"s": 1000, "m": 60_000, "h": 3_600_000, "d": 86_400_000}


def _duration_ms(text: str) -> int:
    try:
        return int(float(text[:-1]) * _UNITS[text[-1]])
    except (KeyError, ValueError, IndexError):
        raise PipelineError(f"--duration must look like 90m, 12h or 7d, got {text!r}") from None


def _cmd_simulate(args: argparse.Namespace) -> int:
    import time

    import orjson

    from pipeline.domain.timefmt import format_rfc3339_ms, parse_rfc3339_ms
    from pipeline.simulate.generator import events
    from pipeline.simulate.player import play
    from pipeline.simulate.profile import load_profile

    profile = load_profile(args.profile)
    start = time.time_ns() // 1_000_000 if args.start == "now" else parse_rfc3339_ms(args.start)
    end = start + _duration_ms(args.duration)
    source = events(profile, args.seed, start, end)
    if args.out:
        with open(args.out, "wb") as f:
            n = 0
            for doc in source:
                f.write(orjson.dumps(doc) + b"\n")
                n += 1
        print(f"wrote {n} events of {args.duration} from {format_rfc3339_ms(start)} to {args.out}")
        return 0
    settings = Settings.from_env(os.environ)
    print(f"simulating {args.duration} from {format_rfc3339_ms(start)} at x{args.speedup:g} to "
          f"{settings.topic_events}; workers should use SLA_CLOCK=event. Ctrl-C stops.", flush=True)
    logging.getLogger("aiokafka").setLevel(logging.WARNING)

    async def go() -> None:

        stopping = stop_on_signals()
        stats = await play(settings.bootstrap_servers, settings.topic_events, source, start_ms=start,
                           speedup=args.speedup, rate=args.rate, stopping=stopping)
        print(f"sent {stats.sent} events and {stats.heartbeats} heartbeats; simulated time reached "
              f"{format_rfc3339_ms(stats.sim_now_ms)}")

    asyncio.run(go())
    return 0


def _cmd_replay(args: argparse.Namespace) -> int:

    from pipeline.cli import replay

    settings = Settings.from_env(os.environ)
    logging.getLogger("aiokafka").setLevel(logging.WARNING)
    if not args.file.is_file():
        raise PipelineError(f"{args.file}: no such file")
    if args.mapping or args.file.suffix.lower() == ".csv":
        if not args.mapping:
            raise PipelineError("a CSV export needs --mapping (see deploy/replay/example-mapping.toml)")
        rows = replay.csv_rows(args.file, replay.CsvMapping.load(args.mapping))
        total = max(0, replay.count_rows(args.file) - 1)
    else:
        rows = replay.jsonl_rows(args.file)
        total = replay.count_rows(args.file)

    async def go() -> replay.ReplayReport:
        stopping = stop_on_signals()
        return await replay.replay(rows, total, settings.bootstrap_servers, settings.topic_events,
                                   speedup=None if args.fast else args.speedup, stopping=stopping)

    report = asyncio.run(go())
    print(report.summary())
    if report.stopped:
        return 130
    return 1 if report.bad else 0


def _cmd_demo(args: argparse.Namespace) -> int:
    from pipeline.cli import demo
    from pipeline.kafka.embedded import DEFAULT_VERSION

    logging.getLogger("aiokafka").setLevel(logging.ERROR)
    logging.getLogger("pipeline").setLevel(logging.WARNING)
    logging.getLogger("aiohttp.access").setLevel(logging.WARNING)  # the webhook stands in for on-call quietly
    config = demo.DemoConfig(
        workdir=args.dir, kafka_version=args.kafka_version or DEFAULT_VERSION, kafka_port=args.kafka_port,
        kafka_controller_port=args.kafka_controller_port, web_port=args.web_port, notifier_port=args.notifier_port,
        prometheus_port=args.prometheus_port, alertmanager_port=args.alertmanager_port,
        webhook_port=args.webhook_port, speedup=args.speedup, seed=args.seed)
    return asyncio.run(demo.main(config))


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

