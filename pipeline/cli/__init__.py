"""``sla-pipeline``: the command line.

    sla-pipeline kafka start|stop|status   the embedded single-node Kafka broker
    sla-pipeline worker [--clock wall|event] a pipeline worker (Faust), /metrics on its web port
    sla-pipeline produce FILE.jsonl          publish ticket events from JSON lines
    sla-pipeline notify                      deliver escalations to on-call through Alertmanager
    sla-pipeline escalations [--follow]      print escalations as they arrive
    sla-pipeline stackrank [--window 30d]    the engineer stack rank, from a worker's /stackrank
    sla-pipeline generate [--check]          write the Prometheus rules and Grafana dashboards
    sla-pipeline policy [--severity N ...]   check the policy file; when a given ticket is due
    sla-pipeline simulate [--speedup N]      play realistic simulated tickets to Kafka (or --out a file)
    sla-pipeline replay FILE                 replay a JSON-lines or CSV export into tickets.events
    sla-pipeline report debrief|dsat|monthly the support manager's reviews (HTML, JSON or CSV), from the topics
    sla-pipeline demo                        everything, with a live board in the terminal
    sla-pipeline run                         start the embedded broker, then a worker (Ctrl-C stops both)

Each command names the settings it needs; :func:`main` builds them from the environment (flags win)
after the arguments are parsed, so ``--help`` works whatever the environment holds, and hands them over.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from collections.abc import Sequence
from pathlib import Path

from pipeline.cli import commands, policy, worker
from pipeline.cli.demo import PORTS
from pipeline.errors import BrokerError, ConfigError, PipelineError, StorageError
from pipeline.settings import (
    BrokerSettings,
    GenerateSettings,
    NotifySettings,
    PolicySettings,
    Settings,
    unknown_keys,
)
from pipeline.tables.guard import EXIT_STORAGE

log = logging.getLogger("pipeline")


def main(argv: Sequence[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger("aiokafka").setLevel(logging.WARNING)  # its INFO chatter is not the user's business
    try:
        flags = vars(args)
        settings = [cls.from_env(os.environ, **cls.fields_from_flags(flags)) for cls in args.needs]
        for key in unknown_keys(os.environ):
            log.warning("ignoring unknown variable %s (a typo?)", key)
        return int(args.handler(args, *settings) or 0)
    except ConfigError as exc:
        print(f"sla-pipeline: configuration error: {exc}", file=sys.stderr)
        return 2
    except StorageError as exc:
        print(f"sla-pipeline: {exc}", file=sys.stderr)
        return EXIT_STORAGE
    except (BrokerError, PipelineError) as exc:
        print(f"sla-pipeline: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="sla-pipeline", description="Real-time support SLA monitor.")
    parser.add_argument("--version", action="version", version=f"%(prog)s {_version()}")
    sub = parser.add_subparsers(dest="command", required=True)

    kafka = sub.add_parser("kafka", help="the embedded single-node Kafka broker")
    kafka.add_argument("action", choices=["start", "stop", "status"])
    _broker_flags(kafka)
    kafka.add_argument("--fresh", action="store_true", help="start: wipe the broker's data first")
    kafka.set_defaults(handler=worker.kafka, needs=(BrokerSettings,))

    work = sub.add_parser("worker", help="run a pipeline worker")
    _worker_flags(work)
    work.set_defaults(handler=worker.worker, needs=(Settings,))

    produce = sub.add_parser("produce", help="publish ticket events from a JSON-lines file ('-' = stdin)")
    produce.add_argument("file")
    produce.add_argument("--topic", help="default: SLA_TOPIC_EVENTS")
    produce.set_defaults(handler=commands.produce, needs=(Settings,))

    notify = sub.add_parser("notify", help="deliver sla.escalations to Alertmanager (API v2)")
    notify.add_argument("--alertmanager-url", dest="alertmanager_urls", metavar="URL[,URL...]",
                        help="where alerts go, each to every URL (default: SLA_ALERTMANAGER_URLS, "
                             "SLA_ALERTMANAGER_URL or http://127.0.0.1:9093)")
    notify.add_argument("--metrics-port", dest="notifier_port", type=int,
                        help="the notifier's /metrics (default: SLA_NOTIFIER_PORT or 6067; 0 = none)")
    notify.set_defaults(handler=commands.notify, needs=(NotifySettings,))

    follow = sub.add_parser("escalations", help="print escalations from sla.escalations")
    follow.add_argument("--follow", "-f", action="store_true", help="keep printing new escalations")
    follow.set_defaults(handler=commands.escalations, needs=(Settings,))

    rank = sub.add_parser("stackrank", help="print the engineer stack rank (from a worker's /stackrank)")
    rank.add_argument("--window", choices=["7d", "30d"], default="30d")
    rank.add_argument("--url", help="a worker's web address (default: http://127.0.0.1:SLA_WEB_PORT)")
    rank.set_defaults(handler=commands.stackrank, needs=(Settings,))

    generate = sub.add_parser("generate", help="write deploy/prometheus/rules and grafana/dashboards from code")
    generate.add_argument("--check", action="store_true", help="only say whether the checked-in files are current")
    generate.add_argument("--runbook-base-url",
                          help="where alerts' runbook links point (default: SLA_RUNBOOK_BASE_URL or a worker's "
                               "/runbooks)")
    generate.set_defaults(handler=commands.generate, needs=(GenerateSettings,))

    pol = sub.add_parser("policy", help="check the policy file and say what it means; with --severity, when "
                                        "such a ticket becomes at risk and breaches (calendars included)")
    pol.add_argument("--policy-file", type=Path, help="default: SLA_POLICY_FILE, else the built-in policy")
    pol.add_argument("--severity", type=int, choices=[1, 2, 3, 4], help="a ticket of this severity ...")
    pol.add_argument("--product", help="... for this product")
    pol.add_argument("--fastlane", action="store_true", help="... from a FastLane customer")
    pol.add_argument("--created", help="... created then (RFC 3339 with an offset; default: now)")
    pol.set_defaults(handler=policy.command, needs=(PolicySettings,))

    sim = sub.add_parser("simulate", help="play simulated ticket lifecycles (deterministic per --seed)")
    sim.add_argument("--seed", type=int, default=1)
    sim.add_argument("--profile", type=Path, help="a profile TOML (default: deploy/profiles/default.toml)")
    sim.add_argument("--speedup", type=float, default=60.0, help="simulated seconds per wall second (default 60)")
    sim.add_argument("--rate", type=float, help="at most this many events per wall second")
    sim.add_argument("--duration", default="1d", help="simulated time to cover, e.g. 12h, 7d, 30d (default 1d)")
    sim.add_argument("--start", default="now", help="simulated start: now, or an RFC 3339 instant")
    sim.add_argument("--out", help="write JSON lines to this file instead of Kafka, as fast as possible")
    sim.set_defaults(handler=commands.simulate, needs=(Settings,))

    rep = sub.add_parser("replay", help="replay an export (JSON lines, or CSV with --mapping) into tickets.events")
    rep.add_argument("file", type=Path)
    rep.add_argument("--mapping", type=Path, help="CSV column mapping TOML (see deploy/replay/example-mapping.toml)")
    rep.add_argument("--speedup", type=float, default=None, help="compress the original timing by this factor")
    rep.add_argument("--fast", action="store_true", help="as fast as possible (the default without --speedup)")
    rep.set_defaults(handler=commands.replay, needs=(Settings,))

    report = sub.add_parser("report", help="a review from the topics: the daily Sev1 debrief, the weekly DSAT "
                                           "review or the monthly SLA report")
    report.add_argument("kind", choices=["debrief", "dsat", "monthly"])
    when = report.add_mutually_exclusive_group()
    when.add_argument("--date", help="the debrief's day, e.g. 2026-11-28 (default: yesterday)")
    when.add_argument("--week", help="the DSAT review's ISO week, e.g. 2026-W48 (default: last week)")
    when.add_argument("--month", help="the SLA report's month, e.g. 2026-11 (default: last month)")
    report.add_argument("--format", choices=["html", "json", "csv"], default="html")
    report.add_argument("--out", type=Path, default=Path("reports"), help="directory to write to (default ./reports)")
    report.add_argument("--timezone", dest="report_timezone",
                        help="the time zone of days, weeks and months (default: SLA_REPORT_TIMEZONE or UTC)")
    report.set_defaults(handler=commands.report, needs=(Settings,))

    demo = sub.add_parser("demo", help="broker, worker, notifier, Prometheus, Alertmanager, simulator, live board")
    demo.add_argument("--dir", type=Path, default=Path(".demo"), help="where the demo keeps state and logs")
    demo.add_argument("--speedup", type=float, default=300.0)
    demo.add_argument("--seed", type=int, default=1)
    demo.add_argument("--kafka-version", help="default: SLA_KAFKA_VERSION or 3.9.1")
    for name, port in PORTS.items():
        demo.add_argument(f"--{name}-port", type=int, default=port, dest=f"{name.replace('-', '_')}_port")
    demo.set_defaults(handler=commands.demo, needs=(Settings, BrokerSettings))

    health = sub.add_parser("health", help="exit 0 if the local worker (or --port) answers /healthz: for "
                                           "container health checks")
    health.add_argument("--port", type=int, help="default: SLA_WEB_PORT or 6066 (the notifier: 6067)")
    health.add_argument("--path", default="/healthz", help="default /healthz (the notifier: /metrics)")
    health.set_defaults(handler=commands.health, needs=(Settings,))

    run = sub.add_parser("run", help="start the embedded broker and a worker; Ctrl-C stops both")
    _broker_flags(run)
    _worker_flags(run)
    run.set_defaults(handler=worker.run, needs=(Settings, BrokerSettings))
    return parser


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("sla-pipeline")
    except PackageNotFoundError:
        return "(not installed)"


def _broker_flags(p: argparse.ArgumentParser) -> None:
    p.add_argument("--kafka-version", help="Apache Kafka version (default: SLA_KAFKA_VERSION or 3.9.1)")
    p.add_argument("--kafka-port", type=int,
                   help="broker port on 127.0.0.1 (default: SLA_KAFKA_PORT, else the port of "
                        "KAFKA_BOOTSTRAP_SERVERS, else 9092)")
    p.add_argument("--kafka-dir", help="broker state and logs (default: SLA_KAFKA_DIR or ./.kafka)")


def _worker_flags(p: argparse.ArgumentParser) -> None:
    p.add_argument("--clock", choices=["wall", "event"], help="default: SLA_CLOCK or wall")
    p.add_argument("--web-port", type=int, help="default: SLA_WEB_PORT or 6066")
    p.add_argument("--data-dir", help="default: SLA_DATA_DIR or ./data")
