"""``sla-pipeline``: the command line. Each command's one-line summary and each option's help live in
:func:`_parser` alone (``sla-pipeline --help``, ``sla-pipeline COMMAND --help``).

Each command names the settings it needs; :func:`main` builds them from the environment (flags win)
after the arguments are parsed, and hands them over. So ``--help`` works whatever the environment holds
and never shows a value read from it (a password, a token).
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from collections.abc import Sequence
from pathlib import Path

from pipeline.cli import commands, policy, rejudge, worker
from pipeline.cli.demo import PORTS
from pipeline.errors import BrokerError, ConfigError, PipelineError, StorageError
from pipeline.settings import (
    BrokerSettings,
    GenerateSettings,
    IngestSettings,
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
        names = _flag_names(parser)
        settings = [cls.from_env(os.environ, names, **cls.fields_from_flags(flags)) for cls in args.needs]
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


def _flag_names(parser: argparse.ArgumentParser) -> dict[str, str]:
    """dest -> the flag as a user writes it (``report_timezone`` -> ``--timezone``), over every subcommand."""
    names: dict[str, str] = {}
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for sub in action.choices.values():
                for dest, flag in _flag_names(sub).items():
                    names.setdefault(dest, flag)
        elif action.option_strings:
            names.setdefault(action.dest, max(action.option_strings, key=len))
    return names


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="sla-pipeline", description="Real-time support SLA monitor.")
    parser.add_argument("--version", action="version", version=f"%(prog)s {_version()}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    kafka = _command(sub, "kafka", "start, stop or check the embedded single-node Kafka broker")
    kafka.add_argument("action", choices=["start", "stop", "status"], help="what to do with the broker")
    _broker_flags(kafka)
    kafka.add_argument("--fresh", action="store_true", help="start: wipe the broker's data first")
    kafka.set_defaults(handler=worker.kafka, needs=(BrokerSettings,))

    work = _command(sub, "worker", "run a pipeline worker; /metrics and /runbooks on its port")
    _worker_flags(work)
    work.set_defaults(handler=worker.worker, needs=(Settings,))

    produce = _command(sub, "produce", "publish ticket events from a JSON-lines file as they are")
    produce.add_argument("file", help="the JSON-lines file, one event a line ('-' = standard input)")
    produce.add_argument("--topic", help="the topic to publish to (default: SLA_TOPIC_EVENTS or tickets.events)")
    produce.set_defaults(handler=commands.produce, needs=(Settings,))

    notify = _command(sub, "notify", "deliver sla.escalations to on-call through Alertmanager")
    notify.add_argument("--alertmanager-url", dest="alertmanager_urls", metavar="URL[,URL...]",
                        help="where alerts go, each to every URL (default: SLA_ALERTMANAGER_URLS, "
                             "SLA_ALERTMANAGER_URL or http://127.0.0.1:9093)")
    notify.add_argument("--metrics-port", dest="notifier_port", type=int,
                        help="the notifier's /metrics (default: SLA_NOTIFIER_PORT or 6067; 0 = none)")
    notify.set_defaults(handler=commands.notify, needs=(NotifySettings,))

    follow = _command(sub, "escalations", "print the escalations on sla.escalations, one line each")
    follow.add_argument("--follow", "-f", action="store_true", help="keep printing new escalations")
    follow.set_defaults(handler=commands.escalations, needs=(Settings,))

    rank = _command(sub, "stackrank", "print the engineer stack rank, from a worker's /stackrank")
    rank.add_argument("--window", choices=["7d", "30d"], default="30d", help="the period ranked (default 30d)")
    rank.add_argument("--url", help="a worker's web address (default: http://127.0.0.1:SLA_WEB_PORT)")
    rank.set_defaults(handler=commands.stackrank, needs=(Settings,))

    generate = _command(sub, "generate", "write the Prometheus rules and Grafana boards from code")
    generate.add_argument("--check", action="store_true", help="only say whether the checked-in files are current")
    generate.add_argument("--runbook-base-url",
                          help="where alerts' runbook links point (default: SLA_RUNBOOK_BASE_URL or a worker's "
                               "/runbooks)")
    generate.set_defaults(handler=commands.generate, needs=(GenerateSettings,))

    pol = _command(sub, "policy", "check the policy file; with --severity, a ticket's deadlines")
    pol.add_argument("--policy-file", type=Path, help="default: SLA_POLICY_FILE, else the built-in policy")
    pol.add_argument("--severity", type=int, choices=[1, 2, 3, 4],
                     help="a ticket of this severity: its contract, when each metric becomes at risk and breaches")
    pol.add_argument("--customer", help="... from this customer id (needs --severity)")
    pol.add_argument("--contract", help="... whose ticket.created names this contract (needs --severity)")
    pol.add_argument("--product", help="... for this product (needs --severity)")
    pol.add_argument("--fastlane", action="store_true", help="... from a FastLane customer (needs --severity)")
    pol.add_argument("--created", help="... created then (RFC 3339 with an offset; default: now; needs --severity)")
    pol.set_defaults(handler=policy.command, needs=(PolicySettings,))

    expl = _command(sub, "explain", "explain one ticket's SLA: contract, clocks, escalations")
    expl.add_argument("ticket_id", help="the ticket's id (the key of its events)")
    expl.add_argument("--format", choices=["html", "json"], default="html", help="the output format (default html)")
    expl.add_argument("--out", type=Path, help="the file to write (default: standard output)")
    expl.add_argument("--events", type=Path, metavar="FILE.jsonl",
                      help="read the ticket's events from this JSON-lines file instead of tickets.events; its "
                           "latest event's instant is then the judging clock (else the wall clock)")
    expl.add_argument("--timezone", dest="explain_timezone", default="UTC",
                      help="html: the time zone times are shown in (default UTC)")
    expl.set_defaults(handler=rejudge.explain, needs=(Settings,))

    what = _command(sub, "whatif", "compare a period judged by the live and a candidate policy")
    what.add_argument("--policy", dest="candidate_policy", type=Path, required=True, metavar="CANDIDATE.toml",
                      help="the candidate policy (live: SLA_POLICY_FILE, else the built-in policy)")
    what.add_argument("--from", dest="whatif_from", required=True, metavar="DATE",
                      help="tickets created from this UTC date (2026-11-01) or RFC 3339 instant")
    what.add_argument("--to", dest="whatif_to", required=True, metavar="DATE", help="... to this one (not included)")
    what.add_argument("--events", dest="whatif_events", type=Path, metavar="FILE.jsonl",
                      help="read the events from this JSON-lines file instead of tickets.events")
    what.add_argument("--settle-days", type=float, default=7.0,
                      help="read the tickets' events this long after --to, for them to be judged (default 7)")
    what.add_argument("--processes", type=int, help="worker processes judging partitions (default: the cores)")
    what.add_argument("--format", dest="whatif_format", choices=["html", "json", "csv"], default="html",
                      help="the output format (default html)")
    what.add_argument("--out", dest="whatif_out", type=Path, help="the file to write (default: standard output)")
    what.set_defaults(handler=rejudge.whatif, needs=(Settings,))

    sim = _command(sub, "simulate", "play simulated ticket lifecycles to Kafka, or to a file")
    sim.add_argument("--seed", type=int, default=1, help="the same seed plays the same tickets (default 1)")
    sim.add_argument("--profile", type=Path, help="a profile TOML (default: deploy/profiles/default.toml)")
    sim.add_argument("--speedup", type=float, default=60.0, help="simulated seconds per wall second (default 60)")
    sim.add_argument("--rate", type=float, help="at most this many events per wall second")
    sim.add_argument("--duration", default="1d", help="simulated time to cover, e.g. 12h, 7d, 30d (default 1d)")
    sim.add_argument("--start", default="now", help="simulated start: now, or an RFC 3339 instant")
    sim.add_argument("--out", help="write JSON lines to this file instead of Kafka, as fast as possible")
    sim.set_defaults(handler=commands.simulate, needs=(Settings,))

    rep = _command(sub, "replay", "replay an export (JSON lines or mapped CSV) into Kafka")
    rep.add_argument("file", type=Path, help="the export: JSON lines, or CSV (then with --mapping)")
    rep.add_argument("--mapping", type=Path, help="CSV column mapping TOML (see deploy/replay/example-mapping.toml)")
    rep.add_argument("--speedup", type=float, default=None, help="compress the original timing by this factor")
    rep.add_argument("--fast", action="store_true", help="as fast as possible (the default without --speedup)")
    rep.set_defaults(handler=commands.replay, needs=(Settings,))

    report = _command(sub, "report", "write a review, the SLA report or a customer's statement")
    report.add_argument("kind", choices=["debrief", "dsat", "monthly", "statement"],
                        help="debrief: a day's Sev1 tickets; dsat: a week's unhappy surveys; monthly: the SLA report; "
                             "statement: one customer's SLA statement for a month (UTC)")
    when = report.add_mutually_exclusive_group()
    when.add_argument("--date", help="the debrief's day, e.g. 2026-11-28 (default: yesterday)")
    when.add_argument("--week", help="the DSAT review's ISO week, e.g. 2026-W48 (default: last week)")
    when.add_argument("--month", help="the SLA report's or the statement's month, e.g. 2026-11 (default: last month)")
    report.add_argument("--customer", help="statement: the customer's id (the customer_id of its tickets)")
    report.add_argument("--format", choices=["html", "json", "csv"], default="html",
                        help="the file format (default html)")
    report.add_argument("--out", type=Path,
                        help="directory to write to (default ./reports); statement: the file (default: stdout)")
    report.add_argument("--timezone", dest="report_timezone",
                        help="the time zone of days, weeks and months (default: SLA_REPORT_TIMEZONE or UTC)")
    report.set_defaults(handler=commands.report, needs=(Settings,))

    demo = _command(sub, "demo", "everything at once on this machine, with a live board")
    demo.add_argument("--dir", type=Path, default=Path(".demo"),
                      help="where the demo keeps state and logs (default ./.demo)")
    demo.add_argument("--speedup", type=float, default=300.0, help="simulated seconds per wall second (default 300)")
    demo.add_argument("--seed", type=int, default=1, help="the simulator's seed (default 1)")
    demo.add_argument("--kafka-version", help="Apache Kafka version (default: SLA_KAFKA_VERSION or 3.9.1)")
    for name, port in PORTS.items():
        demo.add_argument(f"--{name}-port", type=int, default=port, dest=f"{name.replace('-', '_')}_port",
                          help=f"the demo's {name} port (default {port})")
    demo.set_defaults(handler=commands.demo, needs=(Settings, BrokerSettings))

    health = _command(sub, "health", "exit 0 if a local worker answers /healthz (health checks)")
    health.add_argument("--port", type=int, help="default: SLA_WEB_PORT or 6066 (the notifier: 6067)")
    health.add_argument("--path", default="/healthz", help="default /healthz (the notifier: /metrics)")
    health.set_defaults(handler=commands.health, needs=(Settings,))

    ingest = _command(sub, "ingest", "serve ticket systems' webhooks and /v1/events into Kafka")
    ingest.add_argument("--port", dest="ingest_port", type=int, help="the gateway's port (default: SLA_INGEST_PORT "
                                                                     "or 6068)")
    ingest.add_argument("--sources", dest="ingest_sources", metavar="NAME[,NAME...]",
                        help="the ticket systems served (default: SLA_INGEST_SOURCES, else every one whose "
                             "SLA_INGEST_<SOURCE>_SECRET_FILE is set)")
    ingest.add_argument("--mapping-dir", dest="mapping_dir",
                        help="a folder of <source>.toml mappings (default: SLA_INGEST_MAPPING_DIR, else the shipped)")
    ingest.set_defaults(handler=commands.ingest, needs=(IngestSettings,))
    ingest_actions = ingest.add_subparsers(dest="ingest_action", metavar="ACTION")
    catchup = ingest_actions.add_parser("catchup", help="publish what a ticket system's webhooks missed",
                                        description="Read tickets' history from the ticket system (RT: REST 2) and "
                                                    "publish the events the gateway may have missed, with the "
                                                    "webhooks' own event ids (repeats are duplicates downstream).")
    catchup.add_argument("--source", required=True, choices=["rt"], help="the ticket system (rt)")
    which = catchup.add_mutually_exclusive_group(required=True)
    which.add_argument("--ticket", type=int, action="append", metavar="N", help="a ticket's number (repeatable)")
    which.add_argument("--since", metavar="ISO", help="every ticket updated since this RFC 3339 instant")
    catchup.set_defaults(handler=commands.ingest_catchup, needs=(IngestSettings,))

    run = _command(sub, "run", "start the embedded broker and a worker; Ctrl-C stops both")
    _broker_flags(run)
    _worker_flags(run)
    run.set_defaults(handler=worker.run, needs=(Settings, BrokerSettings))
    return parser


def _command(sub: argparse._SubParsersAction, name: str, summary: str) -> argparse.ArgumentParser:
    """A subcommand whose one-line ``summary`` is its line in ``sla-pipeline --help`` and heads its own help."""
    return sub.add_parser(name, help=summary, description=summary[0].upper() + summary[1:] + ".")


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
    p.add_argument("--clock", choices=["wall", "event"],
                   help="judge time by the wall clock or by the events' own (default: SLA_CLOCK or wall)")
    p.add_argument("--web-port", type=int, help="the worker's web port (default: SLA_WEB_PORT or 6066)")
    p.add_argument("--data-dir", help="the worker's RocksDB state (default: SLA_DATA_DIR or ./data)")
