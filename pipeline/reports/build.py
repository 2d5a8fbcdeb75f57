"""The three reviews of a support organisation, computed from what the pipeline published. Pure.

- :func:`debrief`: the daily Sev1 debrief: each ticket that was Sev1 (or BizCrit) during the day, as a
  timeline of its events, its SLA outcomes and every BizCrit rung with whom it reached, and on top what
  went wrong (IRT breaches, rungs reached, time BizCrit).
- :func:`dsat_review`: the weekly review of every Neutral or worse survey, its drivers per customer
  segment, the trend against the previous weeks and the owners' counts.
- :func:`monthly`: IRT compliance per severity and product against the goal, TTW and TTR percentiles,
  BizCrit rungs and the time spent in each, and the stack rank.

Inputs are the decoded records of the topics (events, ``sla.outcomes``, ``sla.escalations``,
``sla.dsat_reviews``, engineer facts); outputs are plain JSON-ready dicts that the renderers (HTML, JSON,
CSV) present without computing anything. Times in the output are RFC 3339 (UTC); durations are seconds.
"""

from __future__ import annotations

import math
from collections import Counter, defaultdict
from collections.abc import Iterable
from typing import Any

from pipeline.domain import bizcrit, engine
from pipeline.domain.engineers import EngineerState, Fact, stack_rank
from pipeline.domain.events import Event
from pipeline.domain.policy import Policy
from pipeline.domain.records import DsatReview, Escalation, Outcome
from pipeline.domain.ticket import TicketState
from pipeline.domain.timefmt import format_rfc3339_ms, parse_rfc3339_ms
from pipeline.reports.period import Period

TREND_WEEKS = 4  # previous weeks beside the reviewed one in the DSAT trend
TOP = 10  # the stack rank's rewarded engineers
PERCENTILES = (50, 90, 99)
DSAT_ORDER = ("neutral", "dissatisfied", "very_dissatisfied")

_WHO = {  # whom each rung reached (contract section 4; level 2 and up page on-call)
    (bizcrit.IRT_AT_RISK, 1): "NOC (board)",
    (bizcrit.IRT_AT_RISK, 2): "on-call (paged)",
    (bizcrit.IRT_BREACHED, 3): "on-call (paged)",
    (bizcrit.TIER3, 1): "engineering (tier 3)",
    (bizcrit.MANAGEMENT, 2): "senior management (paged)",
    (bizcrit.EXECUTIVE, 3): "executive (paged)",
    (bizcrit.EXITED, 0): "NOC (board)",
}
LADDER = (bizcrit.TIER3, bizcrit.MANAGEMENT, bizcrit.EXECUTIVE)
RUNG_NAMES = {bizcrit.TIER3: "tier3", bizcrit.MANAGEMENT: "management", bizcrit.EXECUTIVE: "executive"}
_WHAT = {
    "ticket.created": "created", "ticket.assigned": "assigned", "ticket.responded": "response",
    "ticket.waiting_on_customer": "waiting on customer", "ticket.customer_replied": "customer replied",
    "ticket.severity_changed": "severity changed", "ticket.workaround_provided": "workaround",
    "ticket.resolved": "resolved", "ticket.reopened": "reopened", "ticket.closed": "closed",
    "ticket.survey_submitted": "survey", "ticket.quality_reviewed": "quality review",
}


def percentile(values: list[float], p: float) -> float | None:
    """Nearest-rank percentile (the smallest value with at least p % of the values at or below it)."""
    if not values:
        return None
    ordered = sorted(values)
    return ordered[max(0, math.ceil(p / 100 * len(ordered)) - 1)]


def _ratio(met: int, total: int) -> float | None:
    return round(met / total, 6) if total else None


def _ms(at: str) -> int:
    return parse_rfc3339_ms(at)


def _t(at_ms: int) -> str:
    return format_rfc3339_ms(at_ms)


# --- the daily Sev1 debrief -------------------------------------------------------------------------

class _History:
    """One ticket's life folded through the domain core: severity and BizCrit stints over time."""

    def __init__(self, ticket_id: str) -> None:
        self.state = TicketState(ticket_id, 0)
        self.severities: list[tuple[int, int]] = []  # (from, severity)
        self.stints: list[list[int | None]] = []  # [start, end or None]
        self.events: list[Event] = []

    def fold(self, event: Event, policy: Policy) -> None:
        self.events.append(event)
        state = self.state
        if event.type == "ticket.created":
            if state.created_at is not None:
                return  # a second ticket.created is ignored (contract section 3)
            step = engine.create(state, event, policy)
        elif state.created_at is None or state.closed_at is not None:
            return  # before its creation arrived, or after it closed: nothing changes
        else:
            step = engine.apply(state, event, policy)
        at = max(event.occurred_at, state.created_at or event.occurred_at)
        if state.severity is not None and (not self.severities or self.severities[-1][1] != state.severity):
            self.severities.append((at, state.severity))
        for esc in step.escalations:
            if esc.kind == bizcrit.EXITED and self.stints and self.stints[-1][1] is None:
                self.stints[-1][1] = esc.at
        if state.bizcrit_since is not None and (not self.stints or self.stints[-1][1] is not None):
            self.stints.append([state.bizcrit_since, None])

    def severity_in(self, period: Period, sev: int) -> bool:
        for i, (start, severity) in enumerate(self.severities):
            end = self.severities[i + 1][0] if i + 1 < len(self.severities) else self.state.closed_at
            if severity == sev and start < period.end_ms and (end is None or end > period.start_ms):
                return True
        return False

    def bizcrit_ms_in(self, period: Period) -> int:
        total = 0
        for start, end in self.stints:
            assert start is not None
            lo, hi = max(start, period.start_ms), min(end if end is not None else period.end_ms, period.end_ms)
            total += max(0, hi - lo)
        return total


def debrief(period: Period, events: Iterable[Event], outcomes: Iterable[Outcome], escalations: Iterable[Escalation],
            policy: Policy) -> dict[str, Any]:
    """The debrief of ``period`` (a day). ``events`` should reach back to the creation of its tickets
    (the reader reads a lookback before the day) and may run past its end: later events are shown."""
    histories: dict[str, _History] = {}
    seen: set[tuple[str, str]] = set()
    for event in sorted((e for e in events if e.ticket_id is not None), key=lambda e: e.occurred_at):
        if (event.ticket_id, event.event_id) in seen:
            continue  # a repeat of an event id is applied once
        seen.add((event.ticket_id, event.event_id))  # type: ignore[arg-type]
        histories.setdefault(event.ticket_id, _History(event.ticket_id)).fold(event, policy)  # type: ignore[arg-type]
    by_ticket_esc: dict[str, list[Escalation]] = defaultdict(list)
    for esc in escalations:
        by_ticket_esc[esc.ticket_id].append(esc)
    by_ticket_out: dict[str, list[Outcome]] = defaultdict(list)
    for out in outcomes:
        by_ticket_out[out.ticket_id].append(out)

    in_scope = sorted(
        tid for tid, h in histories.items()
        if h.state.created_at is not None and h.state.created_at < period.end_ms
        and (h.severity_in(period, 1) or h.bizcrit_ms_in(period) > 0
             or any(period.contains(_ms(e.emitted_at)) for e in by_ticket_esc.get(tid, ())))
    )
    tickets = [_debrief_ticket(histories[tid], by_ticket_out.get(tid, []), by_ticket_esc.get(tid, []), period)
               for tid in in_scope]
    tickets.sort(key=lambda t: (-t["rank"], t["created_at"], t["ticket_id"]))
    for t in tickets:
        del t["rank"]
    rungs = Counter(r for t in tickets for r in t["rungs_reached"])
    return {
        "report": "debrief",
        "period": _period_doc(period),
        "summary": {
            "tickets": len(tickets),
            "irt_breaches": sum(1 for t in tickets if t["irt"]["outcome"] == "breached"),
            "breached_tickets": [t["ticket_id"] for t in tickets if t["irt"]["outcome"] == "breached"],
            "rungs_reached": {RUNG_NAMES[k]: rungs.get(RUNG_NAMES[k], 0) for k in LADDER},
            "pages": sum(t["pages"] for t in tickets),
            "bizcrit_seconds": round(math.fsum(t["bizcrit_seconds"] for t in tickets), 3),
            "bizcrit_at_end": sum(1 for t in tickets if t["bizcrit_at_end"]),
        },
        "tickets": tickets,
    }


def _debrief_ticket(h: _History, outcomes: list[Outcome], escalations: list[Escalation],
                    period: Period) -> dict[str, Any]:
    state = h.state
    timeline: list[dict[str, Any]] = []
    first_response_done = False
    engineers: set[str] = set()
    for e in h.events:
        what = _WHAT.get(e.type, e.type)
        detail = ""
        if e.type == "ticket.created":
            detail = f"Sev{e.severity}, {e.product}, customer {e.customer_id}" + (", FastLane" if e.fastlane else "")
        elif e.type == "ticket.responded" and not first_response_done:
            what, first_response_done = "first response", True
        elif e.type == "ticket.severity_changed":
            detail = f"to Sev{e.severity}"
        elif e.type == "ticket.survey_submitted":
            detail = (e.rating or "") + (f": {e.dsat_reason}" if e.dsat_reason else "")
        elif e.type == "ticket.quality_reviewed":
            detail = f"score {e.score:g}" if e.score is not None else ""
        if e.engineer_id:
            engineers.add(e.engineer_id)
        timeline.append({"at": _t(max(e.occurred_at, state.created_at or e.occurred_at)), "kind": "event",
                         "what": what, "detail": detail, "who": e.engineer_id})
    for out in sorted(outcomes, key=lambda o: (o.decided_at, o.metric, o.cycle)):
        detail = f"{out.outcome or 'no target'}" + (
            "" if out.value_seconds is None else f" in {_duration(out.value_seconds)}") + (
            "" if out.target_seconds is None else f" (target {_duration(out.target_seconds)})") + (
            "" if out.agent_value_seconds is None else f", agent {_duration(out.agent_value_seconds)}")
        timeline.append({"at": out.decided_at, "kind": "outcome", "what": f"{out.metric.upper()} (cycle {out.cycle})"
                         if out.metric == "ttr" else out.metric.upper(), "detail": detail, "who": out.engineer_id})
    pages = 0
    reached: list[str] = []
    for esc in sorted(escalations, key=lambda x: (x.emitted_at, x.level)):
        pages += 1 if esc.paged else 0
        if esc.kind in RUNG_NAMES:
            reached.append(RUNG_NAMES[esc.kind])
        timeline.append({"at": esc.emitted_at, "kind": "escalation", "what": f"{esc.kind} {esc.level}",
                         "detail": esc.reason, "who": _WHO.get((esc.kind, esc.level), "")})
    order = {"event": 0, "outcome": 1, "escalation": 2}
    timeline.sort(key=lambda x: (x["at"], order[x["kind"]]))
    irt = next((o for o in outcomes if o.metric == "irt"), None)
    ttw = next((o for o in outcomes if o.metric == "ttw"), None)
    ttrs = sorted((o for o in outcomes if o.metric == "ttr"), key=lambda o: o.cycle)
    stints = [{"start": _t(s), "end": None if e is None else _t(e)} for s, e in h.stints]  # type: ignore[arg-type]
    highest = max((LADDER.index(k) for k in (esc.kind for esc in escalations) if k in LADDER), default=-1)
    breached = irt is not None and irt.outcome == "breached"
    return {
        "ticket_id": state.ticket_id,
        "product": state.product,
        "customer_id": state.customer_id,
        "fastlane": state.fastlane,
        "created_at": _t(state.created_at),  # type: ignore[arg-type]
        "severity_now": state.severity,
        "engineers": sorted(engineers),
        "irt": _outcome_doc(irt),
        "first_response_seconds": None if state.first_response_at is None
        else (state.first_response_at - state.created_at) / 1000,  # type: ignore[operator]
        "ttw": _outcome_doc(ttw),
        "ttr": [_outcome_doc(o) for o in ttrs],
        "reopens": sum(1 for e in h.events if e.type == "ticket.reopened"),
        "rungs_reached": list(dict.fromkeys(reached)),
        "highest_rung": RUNG_NAMES[LADDER[highest]] if highest >= 0 else None,
        "pages": pages,
        "bizcrit_stints": stints,
        "bizcrit_seconds": h.bizcrit_ms_in(period) / 1000,
        "bizcrit_at_end": any(s <= period.end_ms and (e is None or e > period.end_ms)  # type: ignore[operator]
                              for s, e in h.stints),
        "timeline": timeline,
        "rank": (2 if breached else 0) + highest + 1,  # what went worst comes first
    }


def _outcome_doc(o: Outcome | None) -> dict[str, Any]:
    if o is None:
        return {"outcome": None, "value_seconds": None, "target_seconds": None, "decided_at": None}
    doc = {"outcome": o.outcome, "value_seconds": o.value_seconds, "target_seconds": o.target_seconds,
           "decided_at": o.decided_at}
    if o.metric == "ttr":
        doc["cycle"] = o.cycle
        doc["agent_value_seconds"] = o.agent_value_seconds
    return doc


def _duration(seconds: float) -> str:
    s = int(round(seconds))
    days, s = divmod(s, 86400)
    hours, s = divmod(s, 3600)
    minutes, s = divmod(s, 60)
    if days:
        return f"{days}d {hours}h"
    if hours:
        return f"{hours}h {minutes:02d}m"
    return f"{minutes}m {s:02d}s"


def _period_doc(period: Period) -> dict[str, Any]:
    return {"kind": period.kind, "label": period.label, "timezone": period.zone, "start": _t(period.start_ms),
            "end": _t(period.end_ms)}


# --- the weekly DSAT review -------------------------------------------------------------------------

def dsat_review(period: Period, reviews: Iterable[DsatReview], trend_weeks: int = TREND_WEEKS) -> dict[str, Any]:
    """The review of ``period`` (a week); ``reviews`` may include the previous weeks, for the trend."""
    unique = {r.review_id: r for r in reviews}.values()  # a record published again counts once
    weeks = [period]
    for _ in range(trend_weeks):
        weeks.insert(0, weeks[0].previous())
    this = sorted((r for r in unique if period.contains(_ms(r.submitted_at))),
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
        inside = [r for r in unique if w.contains(_ms(r.submitted_at))]
        ratings = Counter(r.rating for r in inside)
        trend.append({"week": w.label, "total": len(inside),
                      **{rating: ratings.get(rating, 0) for rating in DSAT_ORDER}})
    owners = Counter(row["engineer_id"] or "unassigned" for row in rows)
    reasons = Counter(row["reason"] for row in rows)
    return {
        "report": "dsat",
        "period": _period_doc(period),
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
    over the 30 days up to its end."""
    outs = [o for o in {o.outcome_id: o for o in outcomes}.values() if period.contains(_ms(o.decided_at))]
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
    per_day = []
    for d in period.each_day():
        inside = [o for o in irt if d.contains(_ms(o.decided_at))]
        per_day.append({"day": d.label, **compliance(inside)})

    def spread(metric: str, key: str = "value_seconds") -> dict[str, Any]:
        out: dict[str, Any] = {}
        for s in sorted(policy.irt_targets_ms):
            values = [getattr(o, key) for o in outs if o.metric == metric and o.severity == s
                      and getattr(o, key) is not None]
            out[str(s)] = {"count": len(values), **{f"p{p}": percentile(values, p) for p in PERCENTILES}}
        return out

    escs = [e for e in {e.escalation_id: e for e in escalations}.values() if period.contains(_ms(e.emitted_at))]
    return {
        "report": "monthly",
        "period": _period_doc(period),
        "goal": goal,
        "irt": {"overall": compliance(irt), "by_severity": by_sev, "by_product": by_product, "per_day": per_day},
        "ttw": spread("ttw"),
        "ttr": spread("ttr"),
        "agent_ttr": spread("ttr", "agent_value_seconds"),
        "bizcrit": _rung_times(escs, escalations, period),
        "stack_rank": _stack_rank(facts, period, policy),
    }


def _rung_times(in_period: list[Escalation], every: Iterable[Escalation], period: Period) -> dict[str, Any]:
    """Tickets reaching each rung in the period, and how long they stayed in it: until the next rung, the exit
    from BizCrit, or the end of the period."""
    stints: dict[tuple[str, int], list[tuple[int, str]]] = defaultdict(list)
    for e in {e.escalation_id: e for e in every}.values():
        if e.kind in RUNG_NAMES or e.kind == bizcrit.EXITED:
            stints[(e.ticket_id, e.cycle)].append((_ms(e.emitted_at), e.kind))
    entered = {(e.ticket_id, e.cycle, e.kind) for e in in_period if e.kind in RUNG_NAMES}
    seconds: dict[str, list[float]] = {RUNG_NAMES[k]: [] for k in LADDER}
    for (tid, cycle), rows in stints.items():
        rows.sort()
        for i, (at, kind) in enumerate(rows):
            if kind not in RUNG_NAMES or (tid, cycle, kind) not in entered:
                continue
            until = rows[i + 1][0] if i + 1 < len(rows) else period.end_ms
            seconds[RUNG_NAMES[kind]].append(max(0, min(until, period.end_ms) - at) / 1000)
    return {
        "tickets_bizcrit": len({(e.ticket_id, e.cycle) for e in in_period if e.kind in RUNG_NAMES}),
        "rungs": {name: {"tickets": len(v), "total_seconds": round(math.fsum(v), 3),  # exact whatever the order
                         "mean_seconds": round(math.fsum(v) / len(v), 3) if v else None}
                  for name, v in seconds.items()},
        "pages": sum(1 for e in in_period if e.paged),
    }


def _stack_rank(facts: Iterable[Fact], period: Period, policy: Policy) -> dict[str, Any]:
    as_of = period.end_ms - 1
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
    return {"as_of": _t(as_of), "window": "30d", "top": TOP, "ranked": [r for r in rows if r["rank"] is not None],
            "unranked": [r for r in rows if r["rank"] is None]}
