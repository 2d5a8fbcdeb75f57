"""The daily Sev1 debrief: each ticket that was Sev1 (or BizCrit) during a day, as a timeline of its events,
its SLA outcomes and every BizCrit rung with whom it reached, with what went wrong on top. Pure.

A ticket's history (its severity over time, its BizCrit stints) is its events folded through the domain
engine; its outcomes and rungs are the records the pipeline published. See :mod:`.build` for the inputs
and the shape of the output. Nothing after the judging clock (``Period.now_ms``) is shown or counted: a day
that is not over is counted to that clock, and a stint still open is counted to it ("still BizCrit at 13:19").
"""

from __future__ import annotations

import math
from collections import Counter, defaultdict
from collections.abc import Iterable
from typing import Any

from pipeline.domain import bizcrit, engine
from pipeline.domain.events import Event
from pipeline.domain.policy import Policy
from pipeline.domain.records import Escalation, Outcome
from pipeline.domain.ticket import TicketState
from pipeline.reports.build import LADDER, RUNG_NAMES, ms, period_doc, rfc3339, short_duration
from pipeline.reports.period import Period

_WHO = {  # whom each rung reached (contract section 4; level 2 and up page on-call)
    (bizcrit.IRT_AT_RISK, 1): "NOC (board)",
    (bizcrit.IRT_AT_RISK, 2): "on-call (paged)",
    (bizcrit.IRT_BREACHED, 3): "on-call (paged)",
    (bizcrit.TIER3, 1): "engineering (tier 3)",
    (bizcrit.MANAGEMENT, 2): "senior management (paged)",
    (bizcrit.EXECUTIVE, 3): "executive (paged)",
    (bizcrit.EXITED, 0): "NOC (board)",
}

_WHAT = {
    "ticket.created": "created", "ticket.assigned": "assigned", "ticket.responded": "response",
    "ticket.waiting_on_customer": "waiting on customer", "ticket.customer_replied": "customer replied",
    "ticket.severity_changed": "severity changed", "ticket.workaround_provided": "workaround",
    "ticket.resolved": "resolved", "ticket.reopened": "reopened", "ticket.closed": "closed",
    "ticket.survey_submitted": "survey", "ticket.quality_reviewed": "quality review",
}


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
            if severity == sev and start < period.cut_ms and (end is None or end > period.start_ms):
                return True
        return False

    def bizcrit_ms_in(self, period: Period) -> int:
        """Time BizCrit in the period, to its end or to the judging clock: a stint still open counts to it."""
        total = 0
        for start, end in self.stints:
            assert start is not None
            lo, hi = max(start, period.start_ms), min(end if end is not None else period.cut_ms, period.cut_ms)
            total += max(0, hi - lo)
        return total

    def bizcrit_at(self, at_ms: int) -> bool:
        return any(s <= at_ms and (e is None or e > at_ms) for s, e in self.stints)  # type: ignore[operator]


def debrief(period: Period, events: Iterable[Event], outcomes: Iterable[Outcome], escalations: Iterable[Escalation],
            policy: Policy) -> dict[str, Any]:
    """The debrief of ``period`` (a day). ``events`` should reach back to the creation of its tickets
    (the reader reads a lookback before the day) and may run past its end: later events are shown, up to
    the judging clock (``period.now_ms``); nothing after it is."""
    histories: dict[str, _History] = {}
    seen: set[tuple[str, str]] = set()
    happened = [e for e in events if e.ticket_id is not None and period.happened(e.occurred_at)]
    escalations = [e for e in escalations if period.happened(ms(e.emitted_at))]
    outcomes = [o for o in outcomes if period.happened(ms(o.decided_at))]
    for event in sorted(happened, key=lambda e: e.occurred_at):
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
        if h.state.created_at is not None and h.state.created_at < period.cut_ms
        and (h.severity_in(period, 1) or h.bizcrit_ms_in(period) > 0
             or any(period.counts(ms(e.emitted_at)) for e in by_ticket_esc.get(tid, ())))
    )
    tickets = [_debrief_ticket(histories[tid], by_ticket_out.get(tid, []), by_ticket_esc.get(tid, []), period)
               for tid in in_scope]
    tickets.sort(key=lambda t: (-t["rank"], t["created_at"], t["ticket_id"]))
    for t in tickets:
        del t["rank"]
    rungs = Counter(r for t in tickets for r in t["rungs_reached"])
    return {
        "report": "debrief",
        "period": period_doc(period),
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
        timeline.append({"at": rfc3339(max(e.occurred_at, state.created_at or e.occurred_at)), "kind": "event",
                         "what": what, "detail": detail, "who": e.engineer_id})
    for out in sorted(outcomes, key=lambda o: (o.decided_at, o.metric, o.cycle)):
        detail = f"{out.outcome or 'no target'}" + (
            "" if out.value_seconds is None else f" in {short_duration(out.value_seconds)}") + (
            "" if out.target_seconds is None else f" (target {short_duration(out.target_seconds)})") + (
            "" if out.agent_value_seconds is None else f", agent {short_duration(out.agent_value_seconds)}")
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
    stints = [{"start": rfc3339(s), "end": None if e is None else rfc3339(e)} for s, e in h.stints]  # type: ignore[arg-type]
    highest = max((LADDER.index(k) for k in (esc.kind for esc in escalations) if k in LADDER), default=-1)
    breached = irt is not None and irt.outcome == "breached"
    return {
        "ticket_id": state.ticket_id,
        "product": state.product,
        "customer_id": state.customer_id,
        "fastlane": state.fastlane,
        "created_at": rfc3339(state.created_at),  # type: ignore[arg-type]
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
        "bizcrit_at_end": h.bizcrit_at(period.cut_ms),  # at midnight, or at the judging clock if the day is not over
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


