"""An explanation as JSON (every instant as RFC 3339 text, every duration in seconds) and as one self-contained
HTML page a support manager can read: inline CSS and SVG, no script, no external asset (as the reports).
"""

from __future__ import annotations

import dataclasses
from datetime import datetime
from html import escape
from typing import Any
from zoneinfo import ZoneInfo

import orjson

from pipeline.domain.timefmt import format_rfc3339_ms, parse_rfc3339_ms
from pipeline.domain.words import duration, metric_name
from pipeline.explain import model
from pipeline.explain.model import ClockLine, Explanation

INSTANTS = frozenset({"at", "start", "end", "occurred_at", "applied_at", "created_at", "deadline", "at_risk_at",
                      "decided_at", "now"})


def as_dict(expl: Explanation) -> dict[str, Any]:
    """The explanation as plain data: instants as RFC 3339 text, ``*_ms`` durations as ``*_seconds``."""
    doc = _plain(dataclasses.asdict(expl))
    doc["measurements"] = expl.measurements
    return doc


def as_json(expl: Explanation) -> bytes:
    return orjson.dumps(as_dict(expl), option=orjson.OPT_INDENT_2) + b"\n"


def _plain(value: Any, key: str = "") -> Any:
    if isinstance(value, dict):
        out = {}
        for k, v in value.items():
            if k.endswith("_ms") and (v is None or isinstance(v, int)):
                out[k[:-3] + "_seconds"] = None if v is None else v / 1000
            elif k == "record" or k in ("outcomes", "escalations"):
                out[k] = v  # as published
            else:
                out[k] = _plain(v, k)
        return out
    if isinstance(value, list):
        return [_plain(v, key) for v in value]
    if key in INSTANTS and isinstance(value, int) and not isinstance(value, bool):
        return format_rfc3339_ms(value)
    return value


# --- HTML ----------------------------------------------------------------------------------------------

_CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:2em auto;max-width:1100px;color:#1b2631;
padding:0 1em}
h1{font-size:1.5em;margin-bottom:0}h2{font-size:1.15em;margin-top:2em;border-bottom:1px solid #d5d8dc}
.sub{color:#566573;margin-top:.2em}
table{border-collapse:collapse;margin:.5em 0;font-size:.88em}td,th{border:1px solid #d5d8dc;padding:.25em .5em;
text-align:left;vertical-align:top}th{background:#f4f6f7}
.bad{color:#c0392b;font-weight:600}.good{color:#1e8449;font-weight:600}.warn{color:#b9770e;font-weight:600}
.muted{color:#566573}.tiles{display:flex;flex-wrap:wrap;gap:.8em;margin:1em 0}
.tile{border:1px solid #d5d8dc;border-radius:6px;padding:.5em .9em;min-width:8em}.tile b{display:block;font-size:1.2em}
.timeline svg{max-width:100%;height:auto}.legend span{margin-right:1.2em}
.sw{display:inline-block;width:.9em;height:.9em;vertical-align:middle;margin-right:.3em;border:1px solid #aab7b8}
@media print{body{margin:0;max-width:none;font-size:10pt}h2{break-after:avoid}tr{break-inside:avoid}}
"""
_OUTCOME_CLASS = {"met": "good", "breached": "bad", model.RUNNING: "warn"}
_STATUS_CLASS = {model.REJECTED: "bad", model.DUPLICATE: "muted", model.IGNORED_AFTER_CLOSE: "muted",
                 model.IGNORED_SECOND_CREATION: "muted", model.HELD: "warn"}
_CONTRACT_WHY = {"requested": "named by the ticket's ticket.created (its contract field)",
                 "default": "no [contract_for] rule matched: the default",
                 "no contracts": "the policy defines no contracts: the [irt] targets"}


def as_html(expl: Explanation, zone: str = "UTC") -> str:
    tz = ZoneInfo(zone)

    def t(ms: int | None) -> str:
        if ms is None:
            return "&ndash;"
        return escape(datetime.fromtimestamp(ms / 1000, tz=tz).strftime("%a %Y-%m-%d %H:%M:%S"))

    title = f"Ticket {expl.ticket_id}: its SLA explained"
    parts = [f"<!doctype html><html lang=en><head><meta charset=utf-8><title>{escape(title)}</title>",
             f"<style>{_CSS}</style></head><body>", f"<h1>{escape(title)}</h1>",
             f"<p class=sub>Judged at {t(expl.now)} ({escape(zone)}) under policy {escape(expl.policy)}. "
             "Every time on this page is in that zone.</p>"]
    if not expl.exists:
        parts.append(f"<p class=bad>This ticket was never created ({escape(expl.state)}): no ticket.created was "
                     "applied. Its records are below.</p>")
    else:
        parts += _summary(expl, t)
        parts += _clocks(expl, t)
        parts += _escalations(expl, t)
        parts += _measurements(expl, t)
    parts += _records(expl, t)
    parts += [f"<p class=muted>{escape(n)}.</p>" for n in expl.notes]
    parts.append("</body></html>\n")
    return "".join(parts)


def _summary(expl: Explanation, t: Any) -> list[str]:
    why = expl.contract_why or ""
    words = _CONTRACT_WHY.get(why, f"[contract_for] {why} matched the ticket" if why.startswith("rule") else why)
    if expl.requested_contract:
        words += f"; the ticket asked for {expl.requested_contract!r}, which the policy does not define"
    lane = "yes" if expl.fastlane else "no"
    tiles = [("State", expl.state), ("Created", t(expl.created_at)), ("Severity now", f"Sev{expl.severity}"),
             ("Product", expl.product or ""), ("Customer", expl.customer_id or ""), ("FastLane", lane),
             ("Contract", expl.contract or "")]
    out = ["<div class=tiles>"]
    out += [f"<div class=tile>{escape(k)}<b>{v if k == 'Created' else escape(str(v))}</b></div>" for k, v in tiles]
    out.append("</div>")
    out.append(f"<p><b>Contract {escape(expl.contract or '')}</b>: {escape(words)}.</p>")
    out.append("<h2>Severity and calendar</h2><table><tr><th>from</th><th>what</th><th>why</th></tr>")
    rows = [(c.at, c.value, c.why) for c in expl.severities]
    rows += [(c.at, f"calendar {c.value}", _calendar_why(c.why, expl.contract)) for c in expl.calendars]
    for at, what, why_ in sorted(rows, key=lambda r: r[0]):
        out.append(f"<tr><td>{t(at)}</td><td>{escape(what)}</td><td>{escape(why_)}</td></tr>")
    out.append("</table>")
    return out


def _calendar_why(why: str, contract: str | None) -> str:
    if why.startswith("contract "):
        return f"contract {contract}'s {why.removeprefix('contract ')}"
    if why.startswith("calendar_for rule"):
        return f"[calendar_for] rule {why.rsplit(' ', 1)[1]} matched the ticket's severity, product and FastLane flag"
    return "no calendar set and no [calendar_for] rule matched: round the clock"


def _outcome(c: ClockLine) -> str:
    word = c.outcome
    if c.outcome == model.CANCELLED and c.ended_by:
        word = f"cancelled by {c.ended_by}"
    elif c.outcome == model.UNJUDGED:
        word = "unjudged (no target at its severity)"
    return f"<span class={_OUTCOME_CLASS.get(c.outcome, 'muted')}>{escape(word)}</span>"


def _clocks(expl: Explanation, t: Any) -> list[str]:
    out = ["<h2>Judged clocks</h2>", _timeline(expl)]
    out.append("<table><tr><th>clock</th><th>started</th><th>target</th><th>at risk from</th><th>deadline</th>"
               "<th>ended</th><th>counted</th><th>paused (waiting on the customer)</th><th>closed hours</th>"
               "<th>outcome</th></tr>")
    for c in expl.clocks:
        targets = "<br>".join(
            f"{escape(duration(x.target_ms)) if x.target_ms is not None else 'none'} at Sev{x.severity} "
            f"({escape(x.calendar)}){'' if i == 0 else ' from ' + t(x.at)}" for i, x in enumerate(c.targets))
        if not targets:
            targets = f"{duration(c.target_ms) if c.target_ms is not None else 'none'} ({escape(c.calendar)})"
        pauses = "<br>".join(f"{t(p.start)} &rarr; {t(p.end) if p.end is not None else 'still waiting'}"
                             for p in c.pauses) or "none"
        closed = "none" if not c.closed_hours_ms else (
            f"{escape(duration(c.closed_hours_ms))} in {len(c.closed_hours)} span(s), first "
            f"{t(c.closed_hours[0].start)} &rarr; {t(c.closed_hours[0].end)}")
        ended = "running" if c.end is None else f"{t(c.end)}<br><span class=muted>{escape(c.ended_by or 'time')}</span>"
        out.append(f"<tr><td>{escape(metric_name(c.metric))} {c.cycle}</td><td>{t(c.start)}</td><td>{targets}</td>"
                   f"<td>{t(c.at_risk_at)}</td><td>{t(c.deadline)}</td><td>{ended}</td>"
                   f"<td>{escape(duration(c.counted_ms or 0))}</td><td>{pauses}</td><td>{closed}</td>"
                   f"<td>{_outcome(c)}{'<br>' + t(c.decided_at) if c.decided_at is not None else ''}</td></tr>")
    out.append("</table>")
    return out


def _timeline(expl: Explanation) -> str:
    """One bar per clock over the ticket's life: counted time, pauses, closed hours, at-risk and deadline marks."""
    if not expl.clocks:
        return ""
    lo = min(c.start for c in expl.clocks)
    # to the last thing that happened (and the judging instant while the ticket is open): later deadlines are
    # off the chart, listed in the table
    ends = [x for c in expl.clocks for x in (c.end, c.decided_at) if x is not None]
    ends += [r.applied_at for r in expl.records if r.applied_at is not None]
    hi = max([*ends, *([expl.now] if expl.state != "closed" else [])], default=expl.now)
    hi = max(hi, lo + 1)
    width, label, row = 900, 150, 26

    def x(ms: int) -> float:
        return label + (min(max(ms, lo), hi) - lo) / (hi - lo) * (width - label - 10)

    svg = [f"<svg xmlns='http://www.w3.org/2000/svg' viewBox='0 0 {width} {row * len(expl.clocks) + 10}' "
           f"role=img aria-label='clock timeline'>"]
    for i, c in enumerate(expl.clocks):
        y = 5 + i * row
        end = c.end if c.end is not None else expl.now
        colour = {"met": "#52be80", "breached": "#e74c3c", model.RUNNING: "#f5b041"}.get(c.outcome, "#aab7b8")
        svg.append(f"<text x='0' y='{y + 15}' font-size='12'>{escape(metric_name(c.metric))} {c.cycle}</text>")
        svg.append(f"<rect x='{x(c.start):.1f}' y='{y + 3}' width='{max(1.0, x(end) - x(c.start)):.1f}' height='14' "
                   f"fill='{colour}'><title>{escape(c.outcome)}</title></rect>")
        for span in c.closed_hours:
            w = max(0.5, x(span.end or end) - x(span.start))
            svg.append(f"<rect x='{x(span.start):.1f}' y='{y + 3}' width='{w:.1f}' height='14' "
                       "fill='#d5d8dc' opacity='0.85'><title>closed hours</title></rect>")
        for p in c.pauses:
            w = max(0.5, x(p.end or end) - x(p.start))
            svg.append(f"<rect x='{x(p.start):.1f}' y='{y + 3}' width='{w:.1f}' height='14' "
                       "fill='#5dade2'><title>waiting on the customer</title></rect>")
        for at, col, what in ((c.at_risk_at, "#b9770e", "at risk"), (c.deadline, "#922b21", "deadline")):
            if at is not None and lo <= at <= hi:
                svg.append(f"<line x1='{x(at):.1f}' x2='{x(at):.1f}' y1='{y}' y2='{y + 20}' stroke='{col}' "
                           f"stroke-width='2'><title>{what}</title></line>")
    svg.append("</svg>")
    legend = ("<p class=legend><span><i class=sw style='background:#52be80'></i>met</span>"
              "<span><i class=sw style='background:#e74c3c'></i>breached</span>"
              "<span><i class=sw style='background:#f5b041'></i>running</span>"
              "<span><i class=sw style='background:#5dade2'></i>waiting on the customer</span>"
              "<span><i class=sw style='background:#d5d8dc'></i>closed hours</span>"
              "<span><i class=sw style='background:#b9770e'></i>at risk from</span>"
              "<span><i class=sw style='background:#922b21'></i>deadline</span></p>")
    return f"<div class=timeline>{''.join(svg)}</div>{legend}"


def _escalations(expl: Explanation, t: Any) -> list[str]:
    out = ["<h2>Escalations and notices</h2>"]
    if not expl.escalations:
        return [*out, "<p class=muted>None.</p>"]
    out.append("<table><tr><th>at</th><th>kind</th><th>level</th><th>cycle</th><th>reason</th></tr>")
    for e in expl.escalations:
        out.append(f"<tr><td>{t(parse_rfc3339_ms(e['emitted_at']))}</td><td>{escape(e['kind'])}</td><td>{e['level']}</td><td>{e['cycle']}</td>"
                   f"<td>{escape(e['reason'])}</td></tr>")
    out.append("</table>")
    return out


def _measurements(expl: Explanation, t: Any) -> list[str]:
    rows = expl.measurements
    if not rows:
        return []
    out = ["<h2>Measurements (time to workaround, time to resolution)</h2>",
           "<table><tr><th>metric</th><th>cycle</th><th>at</th><th>wall time</th><th>calendar time</th></tr>"]
    for m in rows:
        cal = m.get("calendar_value_seconds")
        out.append(f"<tr><td>{escape(m['metric'].upper())}</td><td>{m['cycle']}</td><td>{t(parse_rfc3339_ms(m['decided_at']))}</td>"
                   f"<td>{escape(duration(int(m['value_seconds'] * 1000)))}</td>"
                   f"<td>{'&ndash;' if cal is None else escape(duration(int(cal * 1000)))}</td></tr>")
    out.append("</table>")
    return out


def _records(expl: Explanation, t: Any) -> list[str]:
    out = ["<h2>Records, in the order the worker read them</h2>",
           "<table><tr><th>offset</th><th>event</th><th>occurred</th><th>status</th><th>applied at</th>"
           "<th>published</th></tr>"]
    for r in expl.records:
        status = escape(r.status) + (f" ({escape(r.reason)})" if r.reason else "")
        detail = f"<br><span class=muted>{escape(r.detail)}</span>" if r.detail else ""
        out.append(f"<tr><td>{r.offset}</td><td>{escape(r.type or '(invalid)')}<br><span class=muted>"
                   f"{escape(r.event_id or '')}</span></td><td>{t(r.occurred_at)}</td>"
                   f"<td class={_STATUS_CLASS.get(r.status, '')}>{status}{detail}</td><td>{t(r.applied_at)}</td>"
                   f"<td>{'<br>'.join(escape(c) for c in r.caused)}</td></tr>")
    out.append("</table>")
    return out
