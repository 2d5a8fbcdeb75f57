"""A what-if comparison as JSON (every number), CSV (one table, a ``line`` per row) or one self-contained HTML
page (inline CSS, no script, no external asset) in the reports' style."""

from __future__ import annotations

import csv
import io
from html import escape
from typing import Any

import orjson

from pipeline.domain import words
from pipeline.reports.build import short_duration
from pipeline.reports.render import _page, _pct, _table, _tiles

FORMATS = ("html", "json", "csv")
HTML_ROWS = 500  # flips and pages listed on the page; JSON and CSV list every one
_SIDE = ("outcomes", "met", "breached", "compliance", "goal", "meets_goal", "at_risk_seconds")
CSV_COLUMNS = ("line", "contract", "metric", "severity", *(f"{s}_{k}" for s in ("live", "candidate") for k in _SIDE),
               "ticket_id", "cycle", "customer_id", "live", "candidate", "live_contract", "candidate_contract",
               "kind", "level", "emitted_at", "reason", "explain_url", "explain_command")


def render(report: dict[str, Any], fmt: str) -> bytes:
    if fmt == "json":
        return as_json(report)
    if fmt == "csv":
        return as_csv(report).encode()
    if fmt == "html":
        return as_html(report).encode()
    raise ValueError(f"format must be one of {', '.join(FORMATS)}")


def as_json(report: dict[str, Any]) -> bytes:
    return orjson.dumps(report, option=orjson.OPT_INDENT_2) + b"\n"


# --- CSV ---------------------------------------------------------------------------------------------------

def rows(report: dict[str, Any]) -> list[dict[str, Any]]:
    """Every line of the comparison: ``compliance`` rows, then ``flip``, then ``page_added`` (the candidate
    would page, live did not) and ``page_removed``; the columns a line has no value for are empty."""
    out: list[dict[str, Any]] = []

    def add(**values: Any) -> None:
        out.append({c: values.get(c) for c in CSV_COLUMNS})

    for r in report["compliance"]:
        add(line="compliance", contract=r["contract"], metric=r["metric"], severity=r["severity"],
            **{f"{side}_{k}": r[side][k] for side in ("live", "candidate") for k in _SIDE})
    for f in report["flips"]:
        add(line="flip", **{k: f[k] for k in ("ticket_id", "metric", "cycle", "severity", "customer_id", "live",
                                              "candidate", "live_contract", "candidate_contract")},
            explain_url=f["explain"]["url"], explain_command=f["explain"]["command"])
    for line, key in (("page_added", "candidate_only"), ("page_removed", "live_only")):
        for p in report["pages"][key]:
            add(line=line, **{k: p[k] for k in ("ticket_id", "kind", "level", "cycle", "severity", "customer_id",
                                                "emitted_at", "reason")},
                explain_url=p["explain"]["url"], explain_command=p["explain"]["command"])
    return out


def as_csv(report: dict[str, Any]) -> str:
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=list(CSV_COLUMNS), lineterminator="\n")
    writer.writeheader()
    for row in rows(report):
        writer.writerow({k: "" if v is None else v for k, v in row.items()})
    return buf.getvalue()


# --- HTML --------------------------------------------------------------------------------------------------

def _delta(live: float | None, candidate: float | None) -> str:
    if live is None or candidate is None:
        return "<td>-</td>"
    d = (candidate - live) * 100
    cls = "" if abs(d) < 0.005 else (' class="good"' if d > 0 else ' class="bad"')
    return f'<td class="n"><span{cls}>{d:+.2f} pts</span></td>'


def _share(side: dict[str, Any]) -> str:
    cls = "" if side["meets_goal"] is None else (' class="good"' if side["meets_goal"] else ' class="bad"')
    return f'<td class="n"><span{cls}>{_pct(side["compliance"])}</span></td>'


def _link(item: dict[str, Any]) -> str:
    url, command = item["explain"]["url"], item["explain"]["command"]
    return (f'<td><a href="{escape(url)}">{escape(item["ticket_id"])}</a>'
            f'<br><code>{escape(command)}</code></td>')


def _outcome(value: str) -> str:
    cls = {"met": "good", "breached": "bad"}.get(value, "")
    return f'<td><span class="{cls}">{escape(value)}</span></td>' if cls else f"<td>{escape(value)}</td>"


def _compliance_table(report: dict[str, Any]) -> str:
    head = ["Contract", "Metric", "Severity", "Live: judged", "Live: met", "Candidate: judged", "Candidate: met",
            "Change", "Goal", "Live: at-risk time", "Candidate: at-risk time"]
    body = []
    for r in report["compliance"]:
        live, cand = r["live"], r["candidate"]
        goal = cand["goal"] if cand["goal"] is not None else live["goal"]
        body.append([r["contract"], words.metric_name(r["metric"]),
                     "all" if r["severity"] == "all" else f"Sev{r['severity']}",
                     live["outcomes"], _share(live), cand["outcomes"], _share(cand),
                     _delta(live["compliance"], cand["compliance"]), _pct(goal),
                     short_duration(live["at_risk_seconds"]), short_duration(cand["at_risk_seconds"])])
    return _table(head, body, "No judged outcome under either policy in this period.")


def _flips_table(flips: list[dict[str, Any]]) -> str:
    head = ["Ticket (explain)", "Metric", "Cycle", "Severity", "Customer", "Live", "Candidate", "Contract"]
    body = []
    for f in flips[:HTML_ROWS]:
        contracts = {f["live_contract"], f["candidate_contract"]} - {None}
        body.append([_link(f), words.metric_name(f["metric"]), f["cycle"], f"Sev{f['severity']}", f["customer_id"],
                     _outcome(f["live"]), _outcome(f["candidate"]), " -> ".join(sorted(contracts)) or "-"])
    more = (f'<p class="sub">The first {HTML_ROWS} of {len(flips)}: the JSON and CSV list every one.</p>'
            if len(flips) > HTML_ROWS else "")
    return _table(head, body, "No outcome flips: every judged clock ends the same under both policies.") + more


def _pages_table(items: list[dict[str, Any]], empty: str) -> str:
    head = ["Ticket (explain)", "Page", "Level", "Cycle", "Severity", "Customer", "When (UTC)", "Why"]
    body = [[_link(p), words.rung_name(p["kind"]), p["level"], p["cycle"], f"Sev{p['severity']}", p["customer_id"],
             p["emitted_at"], p["reason"]] for p in items[:HTML_ROWS]]
    more = (f'<p class="sub">The first {HTML_ROWS} of {len(items)}: the JSON and CSV list every one.</p>'
            if len(items) > HTML_ROWS else "")
    return _table(head, body, empty) + more


def as_html(report: dict[str, Any]) -> str:
    w = report["whatif"]
    flips, pages = report["flips"], report["pages"]
    worse = sum(1 for f in flips if f["live"] == "met" and f["candidate"] == "breached")
    better = sum(1 for f in flips if f["live"] == "breached" and f["candidate"] == "met")
    tiles = _tiles([
        ("tickets created in the period", f"{w['tickets']:,}", None),
        ("events judged under each policy", f"{w['records']:,}", None),
        ("met under live, breached under the candidate", f"{worse:,}", False if worse else None),
        ("breached under live, met under the candidate", f"{better:,}", True if better else None),
        ("pages the candidate adds", f"{len(pages['candidate_only']):,}", False if pages["candidate_only"] else None),
        ("pages the candidate removes", f"{len(pages['live_only']):,}", None),
    ])
    sub = (f"{w['period']['from']} to {w['period']['to']} (UTC; events read to {w['period']['read_until']}), "
           f"from {w['source']}. Live: {w['live']['name']} (policy {w['live']['digest']}); candidate: "
           f"{w['candidate']['name']} (policy {w['candidate']['digest']}). Nothing was published.")
    risk = (f"At-risk time: per clock, the time it counted (business hours, less pauses) from the at-risk share "
            f"of its target (live {w['at_risk_fraction']['live']:g}, candidate "
            f"{w['at_risk_fraction']['candidate']:g}) to its end or breach.")
    body = [tiles, "<h2>Compliance per contract, metric and severity</h2>", f'<p class="sub">{escape(risk)}</p>',
            _compliance_table(report),
            f"<h2>Tickets whose outcome flips ({len(flips):,})</h2>",
            '<p class="sub">Each links to the ticket\'s explanation on a worker (behind the reports token), or run '
            "the command shown. \u201cnone\u201d: that policy does not judge the clock.</p>",
            _flips_table(flips),
            f"<h2>Pages the candidate would fire that live did not ({len(pages['candidate_only']):,})</h2>",
            _pages_table(pages["candidate_only"], "None: the candidate pages on-call for nothing live did not."),
            f"<h2>Pages live fired that the candidate would not ({len(pages['live_only']):,})</h2>",
            _pages_table(pages["live_only"], "None."),
            f'<p class="sub">Pages in the period: live {pages["live"]:,}, candidate {pages["candidate"]:,}.</p>']
    return _page("What-if: the candidate policy against live", sub, body)
