"""The tools of ``sla-pipeline``: produce, notify, escalations, stackrank, generate, simulate, replay, demo,
ingest (explain and whatif: :mod:`pipeline.cli.rejudge`).

Each receives its parsed arguments and the settings :func:`pipeline.cli.main` built for it.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys
import time
from collections.abc import Iterator
from pathlib import Path

from pipeline.cli.signals import stop_on_signals
from pipeline.domain.timefmt import DAY_MS, HOUR_MS, MINUTE_MS, SECOND_MS
from pipeline.errors import PipelineError
from pipeline.settings import BrokerSettings, GenerateSettings, IngestSettings, NotifySettings, Settings


def produce(args: argparse.Namespace, settings: Settings) -> int:
    from pipeline.cli.produce import open_input, produce_lines, read_lines

    topic = args.topic or settings.topic_events
    stream = open_input(args.file)
    try:
        report = asyncio.run(produce_lines(settings.kafka, topic, read_lines(stream)))
    finally:
        if stream is not sys.stdin.buffer:
            stream.close()
    print(f"{report.summary()} to {topic}")
    return 0


def notify(args: argparse.Namespace, settings: NotifySettings) -> int:
    from pipeline import notify as notifier
    from pipeline.domain.policy import load_policy

    auth = notifier.AlertmanagerAuth(bearer_token=settings.alertmanager_bearer_token,
                                     username=settings.alertmanager_username,
                                     password=settings.alertmanager_password, ca_file=settings.alertmanager_ca_file)
    config = notifier.NotifyConfig(alertmanager_urls=settings.alertmanager_urls, auth=auth,
                                   runbook_base_url=settings.runbook_base_url,
                                   policy=load_policy(settings.policy_file))
    metrics = notifier.NotifierMetrics()
    if settings.notifier_port:
        from prometheus_client import start_http_server

        start_http_server(settings.notifier_port, addr=settings.web_host, registry=metrics.registry)

    async def main_loop() -> None:
        stopping = stop_on_signals()
        await notifier.run(settings.kafka, settings.topic_escalations, settings.group_id, config,
                           stopping, metrics)

    shown = ", ".join(notifier.target_name(url) for url in config.alertmanager_urls)
    print(f"notifier: {settings.topic_escalations} -> {shown}; Ctrl-C stops", flush=True)
    asyncio.run(main_loop())
    return 0


def ingest(args: argparse.Namespace, settings: IngestSettings) -> int:
    from pipeline.ingest import server

    async def go() -> None:
        await server.run(settings, stop_on_signals(), announce=lambda line: print(line, flush=True))

    asyncio.run(go())
    return 0


def ingest_catchup(args: argparse.Namespace, settings: IngestSettings) -> int:
    import importlib

    try:
        catchup = importlib.import_module("pipeline.ingest.catchup")  # written apart from the gateway
    except ModuleNotFoundError as exc:
        if exc.name != "pipeline.ingest.catchup":
            raise
        print("sla-pipeline: ingest catchup is not available in this build yet", file=sys.stderr)
        return 1
    return int(catchup.run(args, settings) or 0)


def escalations(args: argparse.Namespace, settings: Settings) -> int:
    from pipeline.cli.escalations import follow

    asyncio.run(follow(settings.kafka, settings.topic_escalations, keep_going=args.follow))
    return 0


def stackrank(args: argparse.Namespace, settings: Settings) -> int:
    import urllib.error
    import urllib.request

    import orjson

    from pipeline.cli.stackrank import table

    base = args.url or f"http://127.0.0.1:{settings.web_port}"
    request = urllib.request.Request(f"{base}/stackrank?window={args.window}")
    if settings.reports_token is not None:
        request.add_header("Authorization", f"Bearer {settings.reports_token.reveal()}")
    try:
        with urllib.request.urlopen(request, timeout=10) as resp:
            report = orjson.loads(resp.read())
    except (urllib.error.URLError, OSError) as exc:
        raise PipelineError(f"no worker answered at {base} ({exc}); is `sla-pipeline worker` running?") from exc
    print(table(report))
    return 0


def health(args: argparse.Namespace, settings: Settings) -> int:
    import urllib.request

    url = f"http://127.0.0.1:{args.port or settings.web_port}{args.path}"
    try:
        with urllib.request.urlopen(url, timeout=3) as resp:
            resp.read()
    except OSError as exc:
        raise PipelineError(f"{url} did not answer: {exc}") from None
    return 0


def generate(args: argparse.Namespace, settings: GenerateSettings) -> int:
    from pipeline.domain.policy import load_policy
    from pipeline.observability import generate as generator

    # without SLA_POLICY_FILE: the shipped example's contracts, which the checked-in rules and boards are made from
    policy = load_policy(settings.policy_file) if settings.policy_file is not None else None
    kwargs = {"policy": policy, "runbook_base": settings.runbook_base_url}
    if args.check:
        stale = generator.stale(**kwargs)
        for path in stale:
            print(f"out of date: {path} (run `sla-pipeline generate`)")
        return 1 if stale else 0
    for path in generator.write(**kwargs):
        print(f"wrote {path}")
    return 0


_UNITS = {"s": SECOND_MS, "m": MINUTE_MS, "h": HOUR_MS, "d": DAY_MS}


def _duration_ms(text: str) -> int:
    try:
        return int(float(text[:-1]) * _UNITS[text[-1]])
    except (KeyError, ValueError, IndexError):
        raise PipelineError(f"--duration must look like 90m, 12h or 7d, got {text!r}") from None


def simulate(args: argparse.Namespace, settings: Settings) -> int:
    import orjson

    from pipeline.domain.policy import load_policy
    from pipeline.domain.timefmt import format_rfc3339_ms, parse_rfc3339_ms
    from pipeline.simulate.generator import events
    from pipeline.simulate.player import play
    from pipeline.simulate.profile import load_profile

    profile = load_profile(args.profile)
    start = time.time_ns() // 1_000_000 if args.start == "now" else parse_rfc3339_ms(args.start)
    end = start + _duration_ms(args.duration)
    source = events(profile, args.seed, start, end, policy=load_policy(settings.policy_file))
    if args.out:
        with open(args.out, "wb") as f:
            n = 0
            for doc in source:
                f.write(orjson.dumps(doc) + b"\n")
                n += 1
        print(f"wrote {n} events of {args.duration} from {format_rfc3339_ms(start)} to {args.out}")
        return 0
    print(f"simulating {args.duration} from {format_rfc3339_ms(start)} at x{args.speedup:g} to "
          f"{settings.topic_events}; workers should use SLA_CLOCK=event. Ctrl-C stops.", flush=True)

    async def go() -> None:
        stopping = stop_on_signals()
        stats = await play(settings.kafka, settings.topic_events, source, start_ms=start,
                           speedup=args.speedup, rate=args.rate, stopping=stopping)
        print(f"sent {stats.sent} events and {stats.heartbeats} heartbeats; simulated time reached "
              f"{format_rfc3339_ms(stats.sim_now_ms)}")

    asyncio.run(go())
    return 0


def replay(args: argparse.Namespace, settings: Settings) -> int:
    from pipeline.cli import replay as replayer

    if not args.file.is_file():
        raise PipelineError(f"{args.file}: no such file")
    if args.mapping or args.file.suffix.lower() == ".csv":
        if not args.mapping:
            raise PipelineError("a CSV export needs --mapping (see deploy/replay/example-mapping.toml)")
        mapping = replayer.CsvMapping.load(args.mapping)

        def rows() -> Iterator[replayer.Row]:
            return replayer.csv_rows(args.file, mapping)

        total = max(0, replayer.count_rows(args.file) - 1)
    else:
        def rows() -> Iterator[replayer.Row]:
            return replayer.jsonl_rows(args.file)

        total = replayer.count_rows(args.file)
    oldest = replayer.oldest_event(rows())  # a first pass: the topic must keep the oldest event

    async def go() -> replayer.ReplayReport:
        await replayer.check_topic_keeps(settings.kafka, settings.topic_events, oldest, int(time.time() * 1000))
        stopping = stop_on_signals()
        return await replayer.replay(rows(), total, settings.kafka, settings.topic_events,
                                     speedup=None if args.fast else args.speedup, stopping=stopping)

    report = asyncio.run(go())
    print(report.summary())
    if report.stopped:
        return 130
    return 1 if report.bad else 0


def report(args: argparse.Namespace, settings: Settings) -> int:

    from pipeline import reports
    from pipeline.domain.policy import load_policy
    from pipeline.errors import ConfigError
    from pipeline.reports import period

    if args.kind == reports.STATEMENT:
        return statement(args, settings)
    if args.customer is not None:
        raise ConfigError("--customer", f"belongs to the statement, not the {args.kind} report")
    flags = {kind: period.PARAMS[unit] for kind, unit in reports.KINDS.items()}  # debrief: date (--date), ...
    given = {kind: getattr(args, flag) for kind, flag in flags.items()}
    for kind, value in given.items():
        if value is not None and kind != args.kind:
            raise ConfigError(f"--{flags[kind]}", f"belongs to the {kind} report, not {args.kind}")
    policy = load_policy(settings.policy_file)
    started = time.monotonic()

    async def make() -> tuple[period.Period, dict[str, str]]:
        now = await reports.judging_now(settings, int(time.time() * 1000))  # the wall clock, or the pipeline's
        span = period.parse(reports.KINDS[args.kind], given[args.kind], settings.report_timezone, now)
        return span, await reports.rendered(args.kind, span, settings, policy, args.format)

    span, files = asyncio.run(make())
    out = args.out or Path("reports")
    out.mkdir(parents=True, exist_ok=True)
    for suffix, text in files.items():
        path = out / f"{args.kind}-{span.label}.{suffix}"
        path.write_text(text, encoding="utf-8")
        print(path)
    print(f"{args.kind} {span.label} ({settings.report_timezone}): made in {time.monotonic() - started:.1f} s",
          file=sys.stderr)
    return 0


def statement(args: argparse.Namespace, settings: Settings) -> int:
    """``report statement --customer ID [--month YYYY-MM]``: one file (``--out``), else standard output."""
    from pipeline import reports
    from pipeline.domain.policy import load_policy
    from pipeline.errors import ConfigError

    for flag in ("date", "week"):
        if getattr(args, flag) is not None:
            raise ConfigError(f"--{flag}", "belongs to the debrief or dsat report, not statement (it takes --month)")
    if not (args.customer or "").strip():
        raise ConfigError("--customer", "the statement is one customer's: give its id, e.g. --customer C-0042")
    policy = load_policy(settings.policy_file)
    started = time.monotonic()

    async def make() -> tuple[str, dict[str, str]]:
        now = await reports.judging_now(settings, int(time.time() * 1000))
        span = reports.statement_month(args.month, now)
        return span.label, await reports.rendered_statement(args.customer.strip(), span, settings, policy, args.format)

    label, files = asyncio.run(make())
    (text,) = files.values()  # html, json, or csv: one table
    if args.out is None:
        sys.stdout.write(text)
        sys.stdout.flush()
    else:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(text, encoding="utf-8")
        print(args.out)
    print(f"statement of {args.customer.strip()} for {label} ({reports.STATEMENT_ZONE}): made in "
          f"{time.monotonic() - started:.1f} s", file=sys.stderr)
    return 0


def demo(args: argparse.Namespace, settings: Settings, broker: BrokerSettings) -> int:
    from pipeline.cli import demo as live

    logging.getLogger("aiokafka").setLevel(logging.ERROR)
    logging.getLogger("pipeline").setLevel(logging.WARNING)
    logging.getLogger("aiohttp.access").setLevel(logging.WARNING)  # the webhook stands in for on-call quietly
    ports = {name: getattr(args, f"{name.replace('-', '_')}_port") for name in live.PORTS}
    config = live.DemoConfig(workdir=args.dir, kafka_version=broker.kafka_version, ports=ports, speedup=args.speedup,
                             seed=args.seed)
    return asyncio.run(live.main(config, settings))
