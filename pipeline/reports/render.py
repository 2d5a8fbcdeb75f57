"""A report as HTML (one self-contained file: inline CSS and SVG, no script, opens offline), JSON, or CSV.

The renderers only present what :mod:`pipeline.reports.build` computed; JSON carries every number, and
CSV the same numbers as tables (one file per table: ``name -> text``).
"""

from __future__ import annotations

import csv
import io
from datetime import datetime
from html import escape
from typing import Any
from zoneinfo import ZoneInfo

import orjson

from pipeline.domain import words
from pipeline.domain.timefmt import parse_rfc3339_ms
from pipeline.reports.build import short_duration as _dur

FORMATS = ("html", "json", "csv")
charts: Any = None  # pipeline.reports.charts, imported by html()
_CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:2em auto;max-width:1100px;color:#1b2631;
padding:0 1em}
h1{font-size:1.5em;margin-bottom:0}h2{font-size:1.15em;margin-top:2em;border-bottom:1px solid #d5d8dc}
h3{font-size:1em;margin-bottom:.3em}.sub{color:#566573;margin-top:.2em}
table{border-collapse:collapse;margin:.5em 0;font-size:.88em}td,th{border:1px solid #d5d8dc;padding:.25em .5em;
text-align:left;vertical-align:top}th{background:#f4f6f7}td.n{text-align:right;font-variant-numeric:tabular-nums}
.bad{color:#c0392b;font-weight:600}.good{color:#1e8449}.tiles{display:flex;flex-wrap:wrap;gap:.8em;margin:1em 0}
.tile{border:1px solid #d5d8dc;border-radius:6px;padding:.5em .9em;min-width:8em}.tile b{display:block;font-size:1.5em}
.chart svg{max-width:100%;height:auto}.empty{color:#566573;font-style:italic}
@media print{body{margin:0;max-width:none;font-size:10pt}h2,h3{break-after:avoid}tr{break-inside:avoid}}
"""


def render(report: dict[str, Any], fmt: str) -> dict[str, str]:
    """``{file suffix: text}``: one entry for html and json, one per table for csv."""
    if fmt == "json":
        return {"json": orjson.dumps(report, option=orjson.OPT_INDENT_2).decode() + "\n"}
    if fmt == "csv":
        return {f"{name}.csv": _csv(rows) for name, rows in tables(report).items()}
    if fmt == "html":
        return {"html": html(report)}
    raise ValueError(f"format must be one of {', '.join(FORMATS)}")


# --- tables (CSV, and the HTML tables) ---------------------------------------------------------------

def tables(report: dict[str, Any]) -> dict[str, list[dict[str, Any]]]:
    kind = report["report"]
    if kind == "debrief":
        return {
            "tickets": [{k: t[k] for k in ("ticket_id", "product", "customer_id", "fastlane", "created_at",
                                           "severity_now", "highest_rung", "pages", "bizcrit_seconds",
                                           "bizcrit_at_end", "reopens")}
                        | {"irt_outcome": t["irt"]["outcome"], "first_response_seconds": t["first_response_seconds"],
                           "ttw_seconds": t["ttw"]["value_seconds"], "engineers": " ".join(t["engineers"])}
                        for t in report["tickets"]],
            "timeline": [{"ticket_id": t["ticket_id"], **x} for t in report["tickets"] for x in t["timeline"]],
        }
    if kind == "dsat":
        return {
            "reviews": report["reviews"],
            "drivers": [{"segment": seg, "value": value, "reason": reason, "surveys": n}
                        for seg, values in report["drivers"].items() for value, reasons in values.items()
                        for reason, n in reasons.items()],
            "trend": report["trend"],
            "owners": report["owners"],
        }
    if kind == "statement":
        return {"statement": statement_rows(report)}
    irt = report["irt"]
    compliance = [{"scope": "overall", "key": "all", **irt["overall"]}]
    compliance += [{"scope": "severity", "key": k, **v} for k, v in irt["by_severity"].items()]
    compliance += [{"scope": "product", "key": k, **v} for k, v in irt["by_product"].items()]
    compliance += [{"scope": "calendar", "key": k, **v} for k, v in irt["by_calendar"].items()]
    compliance += [{"scope": "day", "key": d["day"], **{k: v for k, v in d.items() if k != "day"}}
                   for d in irt["per_day"]]
    spread = [{"metric": metric, "severity": sev, **row} for metric in ("ttw", "ttr", "agent_ttr")
              for sev, row in report[metric].items()]
    rungs = [{"rung": name, **row} for name, row in report["bizcrit"]["rungs"].items()]
    rank = report["stack_rank"]
    contracts = {"contract_compliance": [
        {"contract": name, "metric": metric, "severity": sev, **row}
        for name, metrics in report["contracts"].items() for metric, m in metrics.items()
        for sev, row in [("all", m["overall"]), *m["by_severity"].items()]]} if "contracts" in report else {}
    return {"irt_compliance": compliance, "percentiles": spread, "bizcrit_rungs": rungs,
            "stack_rank": rank["ranked"] + rank["unranked"], **contracts}


_STATEMENT_COLUMNS = ("customer_id", "month", "line", "contract", "metric", "severity", "ticket_id", "target_seconds",
                      "goal", "decided", "met", "breached", "ratio", "meets_goal", "actual", "counted_seconds",
                      "paused_seconds", "decided_at", "used", "allowed")


def statement_rows(report: dict[str, Any]) -> list[dict[str, Any]]:
    """A statement as one table, a ``line`` per row: ``compliance`` (per metric, severity ``all``, then per
    severity), ``allowance`` and ``breach``; the columns a line has no value for are empty."""
    rows: list[dict[str, Any]] = []

    def add(**values: Any) -> None:
        rows.append({c: values.get(c) for c in _STATEMENT_COLUMNS}
                    | {"customer_id": report["customer_id"], "month": report["period"]["label"]})

    counts = ("goal", "decided", "met", "breached", "ratio", "meets_goal")
    for section in report["contracts"]:
        name = section["contract"]
        for c in section["compliance"]:
            add(line="compliance", contract=name, metric=c["metric"], severity="all",
                paused_seconds=c["paused_seconds"], **{k: c[k] for k in counts})
            for sev, row in c["by_severity"].items():
                add(line="compliance", contract=name, metric=c["metric"], severity=sev, **{k: row[k] for k in counts})
        a = section["allowance"]
        if a is not None:
            add(line="allowance", contract=name, severity=" ".join(str(s) for s in a["severities"]), used=a["used"],
                allowed=a["allowed"])
        for b in section["breaches"]:
            add(line="breach", contract=name, **{k: b[k] for k in ("metric", "severity", "ticket_id", "target_seconds",
                                                                   "actual", "counted_seconds", "paused_seconds",
                                                                   "decided_at")})
    return rows


def _csv(rows: list[dict[str, Any]]) -> str:
    buf = io.StringIO()
    if rows:
        writer = csv.DictWriter(buf, fieldnames=list(rows[0]), lineterminator="\n")
        writer.writeheader()
        for row in rows:
            writer.writerow({k: "" if v is None else v for k, v in row.items()})
    return buf.getvalue()


# --- HTML --------------------------------------------------------------------------------------------

def _pct(v: float | None) -> str:
    return "-" if v is None else f"{v * 100:.2f} %"


def _cell(v: Any) -> str:
    if v is None:
        return "<td>-</td>"
    if isinstance(v, bool):
        return f"<td>{'yes' if v else 'no'}</td>"
    if isinstance(v, int | float):
        return f'<td class="n">{v:g}</td>' if isinstance(v, float) else f'<td class="n">{v}</td>'
    return f"<td>{escape(str(v))}</td>"


def _table(head: list[str], rows: list[list[Any]], empty: str) -> str:
    if not rows:
        return f'<p class="empty">{escape(empty)}</p>'
    out = ["<table><tr>", *(f"<th>{escape(h)}</th>" for h in head), "</tr>"]
    for row in rows:
        out.append("<tr>" + "".join(c if isinstance(c, str) and c.startswith("<td") else _cell(c) for c in row)
                   + "</tr>")
    out.append("</table>")
    return "".join(out)


def _tiles(items: list[tuple[str, str, bool | None]]) -> str:
    def cls(good: bool | None) -> str:
        return "" if good is None else (' class="good"' if good else ' class="bad"')

    return '<div class="tiles">' + "".join(f'<div class="tile"><b{cls(g)}>{escape(v)}</b>{escape(k)}</div>'
                                           for k, v, g in items) + "</div>"


def _chart(svg: str) -> str:
    return f'<div class="chart">{svg}</div>'


def _page(title: str, sub: str, body: list[str]) -> str:
    return ("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
            f"<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\"><title>{escape(title)}</title>"
            f"<style>{_CSS}</style></head><body><h1>{escape(title)}</h1><p class=\"sub\">{escape(sub)}</p>"
            + "".join(body) + "</body></html>\n")


def _local(at: str, zone: str) -> datetime:
    return datetime.fromtimestamp(parse_rfc3339_ms(at) / 1000, tz=ZoneInfo(zone))


def counted_to(period: dict[str, Any]) -> str | None:
    """Where a period that is not over was cut, in its own local time (``13:19`` within a day, else
    ``2026-11-03 13:19``); None for a complete period."""
    if period["complete"]:
        return None
    at = _local(period["counted_to"], period["timezone"])
    return at.strftime("%H:%M" if period["kind"] == "day" else "%Y-%m-%d %H:%M")


def _sub(report: dict[str, Any]) -> str:
    p = report["period"]
    span = f"{p['label']} ({p['timezone']}): {p['start']} to {p['end']}"
    if p["complete"]:
        return span
    if p["counted_to"] == p["start"]:
        return f"{span}; the {p['kind']} has not begun"
    return f"{span}; to {counted_to(p)}, the {p['kind']} is not over"


def html(report: dict[str, Any]) -> str:
    global charts  # matplotlib is imported when the first HTML report is drawn, not when a worker starts
    from pipeline.reports import charts

    kind = report["report"]
    if kind == "debrief":
        return _debrief_html(report)
    if kind == "dsat":
        return _dsat_html(report)
    if kind == "statement":
        return _statement_html(report)
    return _monthly_html(report)


def _debrief_html(r: dict[str, Any]) -> str:
    s = r["summary"]
    reached = s["rungs_reached"]
    body = [_tiles([("Sev1 / BizCrit tickets", str(s["tickets"]), None),
                    ("IRT breaches", str(s["irt_breaches"]), s["irt_breaches"] == 0),
                    *((f"reached {name}", str(reached[key]), reached[key] == 0)
                      for key, name in (("tier3", "tier 3"), ("management", "management"), ("executive", "executive"))),
                    ("pages", str(s["pages"]), None),
                    ("time BizCrit", _dur(s["bizcrit_seconds"]), None),
                    (f"still BizCrit at {counted_to(r['period']) or 'midnight'}", str(s["bizcrit_at_end"]),
                     s["bizcrit_at_end"] == 0)])]
    if not r["tickets"]:
        body.append('<p class="empty">No ticket was Sev1 or BizCrit on this day.</p>')
        return _page(f"Sev1 debrief {r['period']['label']}", _sub(r), body)
    body.append("<h2>What went wrong</h2>")
    body.append(_table(
        ["ticket", "customer", "product", "IRT", "highest rung", "pages", "BizCrit that day", "engineers"],
        [[t["ticket_id"], t["customer_id"], t["product"],
          f'<td class="{"bad" if t["irt"]["outcome"] == "breached" else "good"}">'
          f'{escape(str(t["irt"]["outcome"] or "pending"))}, answered after {_dur(t["first_response_seconds"])}</td>',
          t["highest_rung"], t["pages"], _dur(t["bizcrit_seconds"]), ", ".join(t["engineers"])]
         for t in r["tickets"]], ""))
    body.append("<h2>Timelines</h2>")
    body.append(_chart(charts.sev1_timelines(r["tickets"], r["period"]["start"], r["period"]["counted_to"],
                                             r["period"]["timezone"], "debrief-timelines")))
    for t in r["tickets"]:
        ttr = "; ".join(f"cycle {x['cycle']}: {_dur(x['value_seconds'])} (agent {_dur(x['agent_value_seconds'])})"
                        for x in t["ttr"]) or "-"
        body.append(f"<h3>{escape(t['ticket_id'])}: {escape(str(t['customer_id']))}, {escape(str(t['product']))}"
                    f"{', FastLane' if t['fastlane'] else ''}</h3>")
        body.append(f"<p>IRT {escape(str(t['irt']['outcome'] or 'pending'))}, first response after "
                    f"{_dur(t['first_response_seconds'])}"
                    f" (target {_dur(t['irt']['target_seconds'])}); TTW {_dur(t['ttw']['value_seconds'])};"
                    f" TTR {escape(ttr)}; reopens {t['reopens']}</p>")
        body.append(_table(["at (UTC)", "what", "detail", "who"],
                           [[x["at"], x["what"], x["detail"], x["who"]] for x in t["timeline"]], ""))
    return _page(f"Sev1 debrief {r['period']['label']}", _sub(r), body)


def _dsat_html(r: dict[str, Any]) -> str:
    s = r["summary"]
    prev = s["previous_week"]
    body = [_tiles([("Neutral or worse surveys", str(s["surveys"]), None),
                    ("previous week", "-" if prev is None else str(prev), None),
                    ("top reason", next(iter(s["reasons"]), "-"), None)])]
    if not r["reviews"]:
        body.append('<p class="empty">No Neutral or worse survey this week.</p>')
    body.append("<h2>Trend</h2>")
    body.append(_chart(charts.weekly_trend(r["trend"], "dsat-trend")))
    if r["reviews"]:
        body.append("<h2>Drivers per customer segment</h2>")
        for seg, title in (("product", "by product"), ("fastlane", "FastLane or standard")):
            body.append(_chart(charts.drivers_per_segment(r["drivers"][seg], title, f"dsat-{seg}")))
    body.append("<h2>Every survey</h2>")
    body.append(_table(["submitted (UTC)", "ticket", "rating", "reason", "engineer", "customer", "product",
                        "FastLane", "comment"],
                       [[x["submitted_at"], x["ticket_id"], x["rating"], x["reason"], x["engineer_id"],
                         x["customer_id"], x["product"], x["fastlane"], x["comment"]] for x in r["reviews"]],
                       "None."))
    body.append("<h2>Owners</h2>")
    body.append(_table(["engineer", "surveys"], [[o["engineer_id"], o["surveys"]] for o in r["owners"]], "None."))
    return _page(f"DSAT review {r['period']['label']}", _sub(r), body)


def _monthly_html(r: dict[str, Any]) -> str:
    irt, goal = r["irt"], r["goal"]
    o = irt["overall"]
    b = r["bizcrit"]
    body = [_tiles([("IRT met", _pct(o["ratio"]), o["meets_goal"]), ("tickets decided", str(o["tickets"]), None),
                    ("IRT breaches", str(o["breached"]), o["breached"] == 0),
                    ("BizCrit tickets", str(b["tickets_bizcrit"]), None), ("pages", str(b["pages"]), None)])]
    body.append(f"<h2>IRT compliance per day (goal {goal * 100:g} %)</h2>")
    body.append(_chart(charts.compliance_per_day(irt["per_day"], goal, "monthly-compliance")))

    def rows(groups: dict[str, dict[str, Any]], label: str) -> list[list[Any]]:
        return [[f"{label}{k}", v["tickets"], v["met"], v["breached"],
                 f'<td class="{"good" if v["meets_goal"] else "bad" if v["meets_goal"] is False else ""}">'
                 f'{_pct(v["ratio"])}</td>'] for k, v in groups.items()]

    head = ["", "tickets", "met", "breached", "IRT met"]
    body.append("<h2>IRT compliance per severity</h2>")
    body.append(_table(head, rows(irt["by_severity"], "Sev"), ""))
    body.append("<h2>IRT compliance per product</h2>")
    body.append(_table(head, rows(irt["by_product"], ""), "No IRT decided this month."))
    if irt["by_calendar"]:  # only with business-hours calendars in the policy
        body.append("<h2>IRT compliance per calendar</h2>")
        body.append(_table(head, rows(irt["by_calendar"], ""), ""))
    if "contracts" in r:
        body.append("<h2>Compliance per contract and metric</h2>")
        body.append(_contract_table(r["contracts"]))
    body.append("<h2>Time to workaround and to resolution</h2>")
    body.append(_table(["", "severity", "count", "p50", "p90", "p99"],
                       [[name, f"Sev{sev}", row["count"], _dur(row["p50"]), _dur(row["p90"]), _dur(row["p99"])]
                        for metric, name in (("ttw", "TTW"), ("ttr", "TTR"), ("agent_ttr", "agent TTR"))
                        for sev, row in r[metric].items()], ""))
    body.append("<h2>BizCrit rungs</h2>")
    body.append(_table(["rung", "tickets", "time in rung (total)", "mean"],
                       [[name, row["tickets"], _dur(row["total_seconds"]), _dur(row["mean_seconds"])]
                        for name, row in b["rungs"].items()], ""))
    rank = r["stack_rank"]
    body.append(f"<h2>Stack rank ({rank['window']} to {rank['as_of']}; top {rank['top']} rewarded)</h2>")
    body.append(_table(["rank", "engineer", "score", "VSAT %", "Quality %", "% ART", "ART", "surveys", "samples"],
                       [[x["rank"] if x["rank"] is not None else "unranked", x["engineer_id"] +
                         (" (top 10)" if x["rank"] is not None and x["rank"] <= rank["top"] else ""), x["score"],
                         _pct(x["vsat_ratio"]), _pct(x["quality_ratio"]), _pct(x["art_ratio"]), _dur(x["art_seconds"]),
                         x["surveys"], x["samples"]] for x in rank["ranked"] + rank["unranked"]],
                       "No engineer activity in the window."))
    return _page(f"Monthly SLA report {r['period']['label']}", _sub(r), body)


def _met_cell(row: dict[str, Any]) -> str:
    good = row["meets_goal"]
    cls = "good" if good else "bad" if good is False else ""
    count = f' <span class="sub">({row["met"]} of {row["decided"]})</span>' if row["decided"] else ""
    return f'<td class="n {cls}">{_pct(row["ratio"])}{count}</td>'


def _contract_table(contracts: dict[str, Any]) -> str:
    """Per contract and metric: met % per severity and overall, each against the contract's goal."""
    sevs = sorted({s for metrics in contracts.values() for m in metrics.values() for s in m["by_severity"]})
    return _table(["contract", "metric", *(f"Sev{s}" for s in sevs), "all", "goal"],
                  [[name, metric, *(_met_cell(m["by_severity"][s]) if s in m["by_severity"] else "<td>-</td>"
                                    for s in sevs), _met_cell(m["overall"]), _pct(m["goal"])]
                   for name, metrics in contracts.items() for metric, m in metrics.items()],
                  "No contract judged anything this month.")


def _words(seconds: float | None) -> str:
    """A statement's durations as its contract's targets are worded (``2 h``, ``7 min 30 s``); ``-`` for none."""
    return "-" if not seconds else words.duration(round(seconds * 1000))


def _statement_html(r: dict[str, Any]) -> str:
    s = r["summary"]
    title = f"SLA statement: {r['customer_id']}, {r['period']['label']}"
    body = [_tiles([("outcomes judged", str(s["decided"]), None), ("breaches", str(s["breaches"]), s["breaches"] == 0),
                    ("contracts", ", ".join(s["contracts"]) or "-", None)])]
    if not r["contracts"]:
        body.append('<p class="empty">No ticket of this customer was judged in this month.</p>')
    for c in r["contracts"]:
        body.append(f"<h2>Contract {escape(c['contract'])}</h2>")
        if c["requested_contracts"]:
            body.append(f'<p class="sub">Some tickets named a plan this policy does not define '
                        f'({escape(", ".join(c["requested_contracts"]))}) and were judged under this contract.</p>')
        if not c["in_policy"]:
            body.append('<p class="sub">This contract is not in the current policy: its targets are shown per '
                        'breach only.</p>')
        else:
            body.append(f"<p>{escape(c['terms']['words'])}</p>")
            body.append("<h3>Targets</h3>")
            body.append(_table(["", *(f"Sev{n}" for n in range(1, 5)), "goal"],
                               [[t["name"], *("-" if x is None else x["words"] for x in t["by_severity"].values()),
                                 _pct(t["goal"])] for t in c["targets"]], ""))
        body.append("<h3>Compliance</h3>")
        paused = any(x["paused_seconds"] for x in c["compliance"])
        body.append(_table(["", "judged", "met", "breached", "met %", "goal",
                            *(["waiting on you (not counted)"] if paused else [])],
                           [[x["name"], x["decided"], x["met"], x["breached"], _met_cell(x), _pct(x["goal"]),
                             *([_words(x["paused_seconds"])] if paused else [])] for x in c["compliance"]], ""))
        a = c["allowance"]
        if a is not None:
            cls = "bad" if a["over"] else "good"
            over = ", over the allowance" if a["over"] else ""
            body.append(f'<p>Critical incidents this month: <b class="{cls}">{a["used"]} used of {a["allowed"]} '
                        f'allowed</b>{over} <span class="sub">(counted: {escape(a["counted"])})</span></p>')
        body.append("<h3>Breaches</h3>")
        body.append(_table(["ticket", "severity", "metric", "target", "actual", "paused (waiting on you)",
                            "decided at (UTC)"],
                           [[b["ticket_id"], f"Sev{b['severity']}", b["name"], _words(b["target_seconds"]),
                             b["actual"], _words(b["paused_seconds"]), b["decided_at"]]
                            for b in c["breaches"]], "None: every target was met."))
    if r["policies"]:
        body.append(f'<p class="sub">Judged under policy {escape(", ".join(r["policies"]))}.</p>')
    return _page(title, _sub(r), body)
