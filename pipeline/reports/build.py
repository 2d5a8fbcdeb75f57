"""The reviews of a support organisation, computed from what the pipeline published. Pure.

- :func:`pipeline.reports.debrief.debrief` (its own module): the daily Sev1 debrief.
- :func:`dsat_review`: the weekly review of every Neutral or worse survey, its drivers per customer
  segment, the trend against the previous weeks and the owners' counts.
- :func:`monthly`: IRT compliance per severity and product against the goal, TTW and TTR percentiles,
  BizCrit rungs and the time spent in each, and the stack rank; with a policy that defines contracts,
  compliance per contract, judged metric and severity against each contract's goal (:mod:`.judged`).
- :func:`pipeline.reports.statement.statement` (its own module): one customer's monthly SLA statement.

Inputs are the decoded records of the topics (events, ``sla.outcomes``, ``sla.escalations``,
``sla.dsat_reviews``, engineer facts); outputs are plain JSON-ready dicts that the renderers (HTML, JSON,
CSV) present without computing anything. Times in the output are RFC 3339 (UTC); durations are seconds.

A report never counts time after the clock that judges (``Period.now_ms``): what happened after it is left
out, a period that is not over is counted to it (``Period.cut_ms``), and the period's document says how far
it was counted (``counted_to``) and whether it is ``complete``.
"""

from __future__ import annotations

import math
from collections import Counter, defaultdict
from collections.abc import Iterable
from typing import Any

from pipeline.domain import bizcrit
from pipeline.domain.engineers import EngineerState, Fact, stack_rank
from pipeline.domain.policy import Policy
from pipeline.domain.records import DsatReview, Escalation, Outcome
from pipeline.domain.timefmt import format_rfc3339_ms, parse_rfc3339_ms
from pipeline.reports import judged
from pipeline.reports.period import Period

TREND_WEEKS = 4  # previous weeks beside the reviewed one in the DSAT trend
TOP = 10  # the stack rank's rewarded engineers
PERCENTILES = (50, 90, 99)
DSAT_ORDER = ("neutral", "dissatisfied", "very_dissatisfied")

LADDER = (bizcrit.TIER3, bizcrit.MANAGEMENT, bizcrit.EXECUTIVE)
RUNG_NAMES = {bizcrit.TIER3: "tier3", bizcrit.MANAGEMENT: "management", bizcrit.EXECUTIVE: "executive"}
def percentile(values: list[float], p: float) -> float | None:
    """Nearest-rank percentile (the smallest value with at least p % of the values at or below it)."""
    if not values:
        return None
    ordered = sorted(values)
    return ordered[max(0, math.ceil(p / 100 * len(ordered)) - 1)]


def _ratio(met: int, total: int) -> float | None:
    return round(met / total, 6) if total else None


def ms(at: str) -> int:
    return parse_rfc3339_ms(at)


def rfc3339(at_ms: int) -> str:
    return format_rfc3339_ms(at_ms)


def short_duration(seconds: float | None) -> str:
    """A report's duration: ``2d 3h 05m``, ``1h 05m``, ``7m 30s``; ``-`` for none."""
    if seconds is None:
        return "-"
    s = int(round(seconds))
    d, s = divmod(s, 86400)
    h, s = divmod(s, 3600)
    m, s = divmod(s, 60)
    return f"{d}d {h}h {m:02d}m" if d else f"{h}h {m:02d}m" if h else f"{m}m {s:02d}s"


def period_doc(period: Period) -> dict[str, Any]:
    return {"kind": period.kind, "label": period.label, "timezone": period.zone, "start": rfc3339(period.start_ms),
            "end": rfc3339(period.end_ms), "counted_to": rfc3339(period.cut_ms), "complete": period.complete}


# --- the weekly DSAT review -------------------------------------------------------------------------

def dsat_review(period: Period, reviews: Iterable[DsatReview], trend_weeks: int = TREND_WEEKS) -> dict[str, Any]:
    """The review of ``period`` (a week); ``reviews`` may include the previous weeks, for the trend."""
    unique = {r.review_id: r for r in reviews}.values()  # a record published again counts once
    weeks = [period]
    for _ in range(trend_weeks):
        weeks.insert(0, weeks[0].previous())
    this = sorted((r for r in unique if period.counts(ms(r.submitted_at))),
                  key=lambda r: (r.submitted_at, r.review_id))
    rows = [{"submitted_at": r.submitted_at, "ticket_id": r.ticket_id, "rating": r.rating,
             "reason": r.dsat_reason or "unspecified", "engineer_id": r.engineer_id, "customer_id": r.customer_id,
             "product": r.product, "fastlane": r.fastlane, "severity": r.severity, "comment": r.comment}
            for r in this]
    drivers: dict[str, dict[str, dict[str, int]]] = {"product": {}, "fastlane": {}}
    for row in rows:
        for segment, value in (("product", row["product"] or "unknown"),
                               ("fastlane", "FastLane" if row["fastlane"] else "standard")):
            counts = drivers[segment].setdefault(value, {})
            counts[row["reason"]] = counts.get(row["reason"], 0) + 1
    trend = []
    for w in weeks:
        inside = [r for r in unique if w.counts(ms(r.submitted_at))]
        ratings = Counter(r.rating for r in inside)
        trend.append({"week": w.label, "total": len(inside),
                      **{rating: ratings.get(rating, 0) for rating in DSAT_ORDER}})
    owners = Counter(row["engineer_id"] or "unassigned" for row in rows)
    reasons = Counter(row["reason"] for row in rows)
    return {
        "report": "dsat",
        "period": period_doc(period),
        "summary": {"surveys": len(rows), "reasons": dict(sorted(reasons.items(), key=lambda kv: (-kv[1], kv[0]))),
                    "previous_week": trend[-2]["total"] if len(trend) > 1 else None},
        "reviews": rows,
        "drivers": {seg: {k: dict(sorted(v.items(), key=lambda kv: (-kv[1], kv[0]))) for k, v in sorted(d.items())}
                    for seg, d in drivers.items()},
        "trend": trend,
        "owners": [{"engineer_id": e, "surveys": n} for e, n in sorted(owners.items(), key=lambda kv: (-kv[1], kv[0]))],
    }


# --- the monthly SLA report -------------------------------------------------------------------------

def monthly(period: Period, outcomes: Iterable[Outcome], escalations: Iterable[Escalation], facts: Iterable[Fact],
            policy: Policy) -> dict[str, Any]:
    """The SLA report of ``period`` (a month): outcomes decided and rungs reached in it, and the stack rank
    over the 30 days up to its end; a month that is not over only to the judging clock, day by day."""
    outs = [o for o in {o.outcome_id: o for o in outcomes}.values() if period.counts(ms(o.decided_at))]
    irt = [o for o in outs if o.metric == "irt"]
    goal = policy.irt_goal

    def compliance(group: list[Outcome]) -> dict[str, Any]:
        met = sum(1 for o in group if o.outcome == "met")
        ratio = _ratio(met, len(group))
        return {"tickets": len(group), "met": met, "breached": len(group) - met, "ratio": ratio,
                "meets_goal": None if ratio is None else ratio >= goal}

    by_sev = {str(s): compliance([o for o in irt if o.severity == s]) for s in sorted(policy.irt_targets_ms)}
    products = sorted({o.product or "unknown" for o in irt})
    by_product = {p: compliance([o for o in irt if (o.product or "unknown") == p]) for p in products}
    # with business-hours calendars, business-hours contracts against round-the-clock ones ({} without)
    calendars = sorted({o.calendar for o in irt if o.calendar is not None})
    by_calendar = {c: compliance([o for o in irt if o.calendar == c]) for c in calendars}
    per_day = []
    for d in period.elapsed_days():
        inside = [o for o in irt if d.counts(ms(o.decided_at))]
        per_day.append({"day": d.label, **compliance(inside)})

    def spread(metric: str, key: str = "value_seconds") -> dict[str, Any]:
        out: dict[str, Any] = {}
        for s in sorted(policy.irt_targets_ms):
            values = [getattr(o, key) for o in outs if o.metric == metric and o.severity == s
                      and getattr(o, key) is not None]
            out[str(s)] = {"count": len(values), **{f"p{p}": percentile(values, p) for p in PERCENTILES}}
        return out

    escs = [e for e in {e.escalation_id: e for e in escalations}.values() if period.counts(ms(e.emitted_at))]
    # a policy without contracts: the report of v2, key for key
    contracts = {"contracts": judged.per_contract(outs, policy)} if policy.uses_contracts else {}
    return {
        "report": "monthly",
        "period": period_doc(period),
        "goal": goal,
        "irt": {"overall": compliance(irt), "by_severity": by_sev, "by_product": by_product,
                "by_calendar": by_calendar, "per_day": per_day},
        "ttw": spread("ttw"),
        "ttr": spread("ttr"),
        "agent_ttr": spread("ttr", "agent_value_seconds"),
        "bizcrit": _rung_times(escs, escalations, period),
        "stack_rank": _stack_rank(facts, period, policy),
        **contracts,
    }


def _rung_times(in_period: list[Escalation], every: Iterable[Escalation], period: Period) -> dict[str, Any]:
    """Tickets reaching each rung in the period, and how long they stayed in it: until the next rung, the exit
    from BizCrit, or the end of the period (the judging clock if it is not over)."""
    stints: dict[tuple[str, int], list[tuple[int, str]]] = defaultdict(list)
    for e in {e.escalation_id: e for e in every}.values():
        if (e.kind in RUNG_NAMES or e.kind == bizcrit.EXITED) and period.happened(ms(e.emitted_at)):
            stints[(e.ticket_id, e.cycle)].append((ms(e.emitted_at), e.kind))
    entered = {(e.ticket_id, e.cycle, e.kind) for e in in_period if e.kind in RUNG_NAMES}
    seconds: dict[str, list[float]] = {RUNG_NAMES[k]: [] for k in LADDER}
    for (tid, cycle), rows in stints.items():
        rows.sort()
        for i, (at, kind) in enumerate(rows):
            if kind not in RUNG_NAMES or (tid, cycle, kind) not in entered:
                continue
            until = rows[i + 1][0] if i + 1 < len(rows) else period.cut_ms
            seconds[RUNG_NAMES[kind]].append(max(0, min(until, period.cut_ms) - at) / 1000)
    return {
        "tickets_bizcrit": len({(e.ticket_id, e.cycle) for e in in_period if e.kind in RUNG_NAMES}),
        "rungs": {name: {"tickets": len(v), "total_seconds": round(math.fsum(v), 3),  # exact whatever the order
                         "mean_seconds": round(math.fsum(v) / len(v), 3) if v else None}
                  for name, v in seconds.items()},
        "pages": sum(1 for e in in_period if e.paged),
    }


def _stack_rank(facts: Iterable[Fact], period: Period, policy: Policy) -> dict[str, Any]:
    as_of = period.last_ms
    states: dict[str, EngineerState] = {}
    unique = {f.fact_id: f for f in facts}.values()  # a fact published again (after a crash) counts once
    for fact in sorted(unique, key=lambda f: (f.at, f.fact_id)):
        if fact.at <= as_of:
            states.setdefault(fact.engineer_id, EngineerState(fact.engineer_id)).apply(fact)
    standings = stack_rank([s.summary(as_of, "30d") for s in states.values()], policy)
    rows = [{"rank": st.rank, "engineer_id": st.summary.engineer_id,
             "score": None if st.score is None else round(st.score, 6), "vsat_ratio": st.summary.vsat_ratio,
             "quality_ratio": st.summary.quality_ratio, "art_ratio": st.summary.art_ratio,
             "art_seconds": st.summary.art_seconds, "surveys": st.summary.surveys, "samples": st.summary.samples,
             "dsat": st.summary.dsat} for st in standings]
    return {"as_of": rfc3339(as_of), "window": "30d", "top": TOP, "ranked": [r for r in rows if r["rank"] is not None],
            "unranked": [r for r in rows if r["rank"] is None]}
