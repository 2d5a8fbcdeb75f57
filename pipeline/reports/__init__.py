"""The support manager's reviews: the daily Sev1 debrief, the weekly DSAT review and the monthly SLA report;
and a customer's monthly SLA statement (:mod:`.statement`, a UTC month: :data:`STATEMENT_ZONE`).

:func:`make` reads what a report needs from the topics (:mod:`.source`), computes it (:mod:`.build`, pure)
and :mod:`.render` presents it as HTML, JSON or CSV. ``sla-pipeline report`` and a worker's ``/reports/``
pages both come through here.

A report never counts time after the clock that judges: :func:`judging_now` is the wall clock in live mode
(``SLA_CLOCK=wall``) and, in event-time mode, the latest instant the pipeline published a judgement for
(:func:`.source.judged_until`: the same from the command line as from a worker). Default periods are the last
complete ones of that clock, and a period that is not over is counted to it and says so.
"""

from __future__ import annotations

import asyncio
import threading
from typing import Any, Literal

import orjson

from pipeline.domain.policy import Policy
from pipeline.domain.timefmt import DAY_MS
from pipeline.reports import build, debrief, period, render, source
from pipeline.reports import statement as statements
from pipeline.settings import Settings

Kind = Literal["debrief", "dsat", "monthly"]
KINDS: dict[str, period.Kind] = {"debrief": "day", "dsat": "week", "monthly": "month"}
LOOKBACK_DAYS = 14  # a debrief reads events this far back for its tickets' creation (and their history)
LOOKAHEAD_DAYS = 7  # ... and this far past the day, to show how its tickets ended
STATEMENT = "statement"
STATEMENT_ZONE = "UTC"  # a statement's month is a UTC month, as the allowances it shows are counted


_CPU = threading.Lock()  # one report computed at a time: bounded load, and matplotlib's settings are global


async def judging_now(settings: Settings, wall_now_ms: int) -> int:
    """The clock a report is counted to: ``wall_now_ms`` in live mode; in event-time mode the latest instant
    the pipeline has judged (``wall_now_ms`` only while it has published nothing, when every report is empty)."""
    if settings.clock != "event":
        return wall_now_ms
    judged = await source.judged_until(settings.kafka, {settings.topic_outcomes: "decided_at",
                                                        settings.topic_escalations: "emitted_at",
                                                        settings.topic_facts: "at"})
    return wall_now_ms if judged is None else judged


async def rendered(kind: Kind, span: period.Period, settings: Settings, policy: Policy, fmt: str) -> dict[str, str]:
    """:func:`make`, then :func:`render.render`, the computing in a thread so a worker's loop keeps going."""
    return await _drawn(await make(kind, span, settings, policy), fmt)


async def _drawn(doc: dict[str, Any], fmt: str) -> dict[str, str]:
    def draw() -> dict[str, str]:
        with _CPU:
            return render.render(doc, fmt)

    return await asyncio.to_thread(draw)


def statement_month(text: str | None, now_ms: int, name: str | None = None) -> period.Period:
    """The UTC month of a statement (``2026-03``; default: the last complete one), counted to ``now_ms``."""
    return period.parse("month", text, STATEMENT_ZONE, now_ms, name)


async def make_statement(customer_id: str, span: period.Period, settings: Settings, policy: Policy) -> dict[str, Any]:
    """Read the outcomes from the month's start (to the end of the topic: the IRT of a ticket created on
    its last evening may be decided after it) and build the statement (in a thread)."""
    got = await source.gather(settings.kafka, {
        "outcomes": (settings.topic_outcomes, span.start_ms, None, source.outcomes)})

    def compute() -> dict[str, Any]:
        with _CPU:
            return statements.statement(span, customer_id, got["outcomes"], policy)

    return await asyncio.to_thread(compute)


async def rendered_statement(customer_id: str, span: period.Period, settings: Settings, policy: Policy,
                             fmt: str) -> dict[str, str]:
    return await _drawn(await make_statement(customer_id, span, settings, policy), fmt)


async def make(kind: Kind, span: period.Period, settings: Settings, policy: Policy) -> dict[str, Any]:
    """Read the topics and build the report ``kind`` for ``span`` (the building in a thread)."""
    got = await _read(kind, span, settings)

    def compute() -> dict[str, Any]:
        with _CPU:
            return _build(kind, span, got, policy)

    return await asyncio.to_thread(compute)


def _build(kind: Kind, span: period.Period, got: dict[str, list], policy: Policy) -> dict[str, Any]:
    if kind == "debrief":
        return debrief.debrief(span, got["events"], got["outcomes"], got["escalations"], policy)
    if kind == "dsat":
        return build.dsat_review(span, got["dsat"])
    return build.monthly(span, got["outcomes"], got["escalations"], got["facts"], policy)


async def _read(kind: Kind, span: period.Period, settings: Settings) -> dict[str, list]:
    kafka = settings.kafka
    if kind == "debrief":
        since = span.start_ms - LOOKBACK_DAYS * DAY_MS
        return await source.gather(kafka, {
            "events": (settings.topic_events, since, span.cut_ms + LOOKAHEAD_DAYS * DAY_MS, source.events),
            "outcomes": (settings.topic_outcomes, since, None, source.outcomes),
            "escalations": (settings.topic_escalations, since, None, source.escalations),
        })
    if kind == "dsat":
        first = span
        for _ in range(build.TREND_WEEKS):
            first = first.previous()
        return await source.gather(kafka, {"dsat": (settings.topic_dsat, first.start_ms, None, source.dsat_reviews)})
    return await source.gather(kafka, {
        "outcomes": (settings.topic_outcomes, span.start_ms, None, source.outcomes),
        "escalations": (settings.topic_escalations, span.start_ms, None, source.escalations),
        "facts": (settings.topic_facts, span.last_ms - 31 * DAY_MS, None, source.facts),
    })


_TYPES = {"html": "text/html; charset=utf-8", "json": "application/json", "csv": "text/csv; charset=utf-8"}


def web_handler(settings: Settings, policy: Policy, now_ms: Any) -> Any:
    """The worker's ``/reports/<kind>?date=|week=|month=&format=html|json|csv&table=`` answer (and
    ``/reports/statement?customer=&month=``): (status, content type, body). ``now_ms()`` is the wall clock
    (see :func:`judging_now`). A 400 names the query parameter at fault."""
    from pipeline.errors import ConfigError, PipelineError

    async def answer(kind: str, query: dict[str, str]) -> tuple[int, str, bytes]:
        fmt = query.get("format", "html")
        try:
            if fmt not in _TYPES:
                raise PipelineError(f"format: must be one of {', '.join(_TYPES)}")
            if kind == STATEMENT:
                customer = query.get("customer", "").strip()
                if not customer:
                    raise ConfigError("customer", "must be a customer id (the customer_id of its tickets)")
                span = statement_month(query.get("month"), await judging_now(settings, now_ms()), "month")
                files = await rendered_statement(customer, span, settings, policy, fmt)
            else:
                name = period.PARAMS[KINDS[kind]]
                now = await judging_now(settings, now_ms())
                span = period.parse(KINDS[kind], query.get(name), settings.report_timezone, now, name)
                files = await rendered(kind, span, settings, policy, fmt)  # type: ignore[arg-type]
        except PipelineError as exc:
            return 400, _TYPES["json"], orjson.dumps({"error": str(exc)})
        if fmt == "csv":
            tables = {name.removesuffix(".csv"): text for name, text in files.items()}
            table = query.get("table", next(iter(tables)))
            if table not in tables:
                return 400, _TYPES["json"], orjson.dumps({"error": f"table: must be one of {', '.join(tables)}"})
            return 200, _TYPES["csv"], tables[table].encode()
        return 200, _TYPES[fmt], next(iter(files.values())).encode()

    return answer
