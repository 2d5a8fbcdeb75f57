"""``sla-pipeline explain`` and ``sla-pipeline whatif``: events judged again by the pure core, one ticket's to
explain it, a period's under a candidate policy beside the live one. Neither publishes anything."""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys
import time
from pathlib import Path

from pipeline.settings import Settings


def explain(args: argparse.Namespace, settings: Settings) -> int:
    """``explain TICKET``: the ticket's records from tickets.events (or --events), re-folded and explained."""
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

    from pipeline.domain.policy import load_policy
    from pipeline.errors import ConfigError
    from pipeline.explain import render, source
    from pipeline.explain.fold import explain as fold

    try:
        ZoneInfo(args.explain_timezone)
    except (ZoneInfoNotFoundError, ValueError):
        raise ConfigError("--timezone", f"is not an IANA time zone such as Europe/Berlin: {args.explain_timezone!r}") \
            from None
    policy = load_policy(settings.policy_file)
    if args.events is not None:
        found = source.from_file(args.events, args.ticket_id, settings.topic_events)
        now = source.latest_instant(found)
    else:
        found = asyncio.run(source.from_topic(settings.kafka, settings.topic_events, args.ticket_id))
        now = time.time_ns() // 1_000_000
    if not found.records:
        print(f"sla-pipeline: {found.missing}", file=sys.stderr)
        return 1
    lateness = int(settings.allowed_lateness_seconds * 1000) if settings.clock == "event" else 0
    expl = fold(args.ticket_id, found.records, policy, now if now is not None else 0, marks=found.marks,
                lateness_ms=lateness, orphan_timeout_ms=int(settings.orphan_timeout_seconds * 1000))
    data = render.as_json(expl) if args.format == "json" else render.as_html(expl, args.explain_timezone).encode()
    _deliver(data, args.out)
    return 0


def _deliver(data: bytes, out: Path | None) -> None:
    """A rendered document to stdout, or to ``out`` (its folder made), naming it on stdout."""
    if out is None:
        sys.stdout.buffer.write(data)
        sys.stdout.flush()
    else:
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_bytes(data)
        print(out)


def whatif(args: argparse.Namespace, settings: Settings) -> int:
    """``whatif --policy CANDIDATE.toml --from DATE --to DATE``: live against the candidate; never publishes."""
    import os

    from pipeline import whatif as what
    from pipeline.domain.policy import load_policy
    from pipeline.errors import ConfigError
    from pipeline.whatif import render, source

    logging.getLogger("pipeline.processing.processor").setLevel(logging.WARNING)  # its "state rebuilt", per partition
    processes = args.processes if args.processes is not None else os.cpu_count() or 1
    if processes < 1:
        raise ConfigError("--processes", "must be at least 1")
    window = source.Window.parse(args.whatif_from, args.whatif_to, source.settle(args.settle_days))
    live, candidate = load_policy(settings.policy_file), load_policy(args.candidate_policy)
    started = time.monotonic()
    if args.whatif_events is not None:
        where = str(args.whatif_events)
        partitions = source.from_file(args.whatif_events, window, settings.partitions)
    else:
        where = settings.topic_events
        partitions = asyncio.run(source.from_topic(settings.kafka, settings.topic_events, window,
                                                   progress=what.ReadProgress(where)))
    print(f"whatif: {window.describe()}: {what.tickets_of(partitions):,} tickets, "
          f"{sum(map(len, partitions.values())):,} events from {where} in {time.monotonic() - started:.1f} s",
          file=sys.stderr, flush=True)
    report = what.whatif(partitions, window, live, candidate, source=where, processes=processes,
                         live_name=str(settings.policy_file or "built-in policy"),
                         candidate_name=str(args.candidate_policy), progress=what.ProgressLine("events judged"),
                         orphan_timeout_ms=int(settings.orphan_timeout_seconds * 1000),
                         lateness_ms=int(settings.allowed_lateness_seconds * 1000) if settings.clock == "event" else 0)
    _deliver(render.render(report, args.whatif_format), args.whatif_out)
    flips, pages = report["flips"], report["pages"]["candidate_only"]
    print(f"whatif: {len(flips):,} outcomes flip, the candidate adds {len(pages):,} pages; "
          f"{time.monotonic() - started:.1f} s", file=sys.stderr, flush=True)
    return 0
