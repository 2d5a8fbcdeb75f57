"""The BizCrit escalation ladder (contract section 4), as plain functions over a ticket's state.

A ticket is BizCrit while it is Sev1 (or a FastLane customer's Sev2), open, and has neither a workaround
nor a resolution in its current cycle. :func:`step` brings the ladder up to an instant: it notes entry,
fires every rung whose instant has passed (once per kind, level and cycle), and notes the exit.

Rungs fire when the clock is strictly past their instant, stamped with that instant. Rungs that a
change makes overdue (a severity raised, a ticket entering BizCrit late) fire at the change: call
``step(..., changed=True)`` right after applying an event.

IRT rungs fire only while the ticket is BizCrit and unanswered, so an IRT rung whose instant lies before
the stint (or before the change that moved it) fires at the stint's start (or at the change). When that
puts several IRT rungs at one instant, only the highest fires, saying what happened; the lower ones are
skipped for the cycle. That needs no memory of its own: an IRT rung below one already emitted in the
cycle never fires (in normal progress the lower rungs always come first), so the rule survives restarts.
"""

from __future__ import annotations

import dataclasses

from pipeline.domain import calendar, judged, sla
from pipeline.domain.contracts import NEXT_RESPONSE, RESOLUTION, WORKAROUND
from pipeline.domain.events import Event
from pipeline.domain.policy import Policy
from pipeline.domain.ticket import TicketState
from pipeline.domain.words import duration, engaged, rung_name

IRT_AT_RISK, IRT_BREACHED = "irt_at_risk", "irt_breached"
TIER3, MANAGEMENT, EXECUTIVE, EXITED = "bizcrit_tier3", "bizcrit_management", "bizcrit_executive", "bizcrit_exited"
IRT_RUNGS = ((IRT_AT_RISK, 1), (IRT_AT_RISK, 2), (IRT_BREACHED, 3))
BIZCRIT_RUNGS = ((TIER3, 1), (MANAGEMENT, 2), (EXECUTIVE, 3))
LADDER_KINDS = (IRT_AT_RISK, IRT_BREACHED, TIER3, MANAGEMENT, EXECUTIVE, EXITED)
# Contract v3 section 10: a contract's notices (warnings on sla.escalations, never pages), and the allowance's.
NOTICE_KINDS = tuple(f"{metric}_{what}" for metric in (NEXT_RESPONSE, WORKAROUND, RESOLUTION)
                     for what in ("at_risk", "breached"))
ALLOWANCE_EXCEEDED = "allowance_exceeded"
KINDS = (*LADDER_KINDS, *NOTICE_KINDS, ALLOWANCE_EXCEEDED)
# Open BizCrit tickets are counted by the highest BizCrit rung their stint has reached ("none" before tier 3).
BOARD_RUNGS = ("none", *(rung_name(kind) for kind, _ in BIZCRIT_RUNGS))
PAGE_LEVEL = 2  # level 2 and up pages on-call; lower levels (and the exit) go to the NOC
_IRT_KEYS = tuple(f"{kind}:{level}" for kind, level in IRT_RUNGS)  # in ladder order, lowest first


def pages(kind: str, level: int) -> bool:
    """Does this escalation page on-call? The one rule: the notifier, the metrics and the boards all ask it.
    Only the ladder's rungs page; a contract's notices and the allowance are warnings."""
    return kind in LADDER_KINDS and kind != EXITED and level >= PAGE_LEVEL


def is_notice(kind: str) -> bool:
    """A warning of section 10 (a contract's notice, or the allowance), not a rung of the ladder."""
    return kind in NOTICE_KINDS or kind == ALLOWANCE_EXCEEDED


def rungs_that_page() -> list[tuple[str, int]]:
    return [(kind, level) for kind, level in (*IRT_RUNGS, *BIZCRIT_RUNGS) if pages(kind, level)]


@dataclasses.dataclass(slots=True, unsafe_hash=True)  # not frozen: built per event, 5x cheaper (nothing mutates it)
class Escalation:
    kind: str
    level: int
    cycle: int
    severity: int
    at: int  # emitted_at: the rung's instant, or the change that made it overdue
    deadline: int | None  # the IRT deadline while unanswered
    budget_used: float | None  # share of the IRT budget used at `at`, while unanswered
    engineer_id: str | None
    reason: str
    contract: str | None = None  # the contract judged under, only under a policy with contracts (section 10)

    @property
    def code(self) -> str:
        return f"{self.kind}:{self.level}"


def is_bizcrit(state: TicketState, policy: Policy) -> bool:
    return (
        state.created_at is not None
        and state.severity is not None
        and policy.is_bizcrit_severity(state.severity, state.fastlane)
        and state.closed_at is None
        and state.ttw_at is None  # set by a workaround, or by a resolution that came first
        and state.resolved_at is None
    )


@dataclasses.dataclass(slots=True, frozen=True)
class _Rung:
    instant: int  # when the ticket, as it is now, reaches the rung
    order: int  # ladder order: breaks ties, and ranks the IRT rungs (a higher one skips the lower)
    kind: str
    level: int

    @property
    def irt(self) -> bool:
        return self.order < len(IRT_RUNGS)


def _pending(state: TicketState, policy: Policy) -> list[_Rung]:
    """The rungs of the current BizCrit stint still to fire, earliest first: not emitted in this cycle, and
    for IRT rungs (while unanswered, shares of its calendar's time) not below one emitted (skipped)."""
    if state.bizcrit_since is None:
        return []
    done = set(state.escalated)
    rungs: list[_Rung] = []
    if state.first_response_at is None:
        target = sla.irt_target(state, policy)  # under the ticket's contract (section 10, rule 2)
        cal = sla.calendar_of(state, policy)
        highest = max((i for i, key in enumerate(_IRT_KEYS) if key in done), default=-1)
        for order, ((kind, level), share) in enumerate(zip(IRT_RUNGS, policy.irt_rungs, strict=True)):
            if order > highest:
                rungs.append(_Rung(calendar.reached(cal, state.created_at, int(target * share)),  # type: ignore[arg-type]
                                   order, kind, level))
    # BizCrit rungs: always round the clock (a Sev1 is worked 24x7), whatever the calendar
    for order, ((kind, level), after) in enumerate(zip(BIZCRIT_RUNGS, policy.bizcrit_rungs_ms, strict=True), 3):
        if f"{kind}:{level}" not in done:
            rungs.append(_Rung(state.bizcrit_since + after, order, kind, level))
    return sorted(rungs, key=lambda r: (r.instant, r.order))


def _fires_at(rung: _Rung, since: int) -> int:
    """An IRT rung reached before the stint began fires when it begins; other rungs at their instant."""
    return max(rung.instant, since) if rung.irt else rung.instant


def rung_instants(state: TicketState, policy: Policy) -> list[tuple[int, str, int]]:
    """(instant, kind, level) of every rung of the current BizCrit stint still to fire, earliest first."""
    since = state.bizcrit_since
    if since is None:
        return []
    rungs = sorted(_pending(state, policy), key=lambda r: (_fires_at(r, since), r.order))
    return [(_fires_at(r, since), r.kind, r.level) for r in rungs]


def next_rung(state: TicketState, policy: Policy) -> int | None:
    return min((instant for instant, _, _ in rung_instants(state, policy)), default=None)


def step(state: TicketState, now: int, policy: Policy, *, changed: bool = False,
         cause: Event | None = None) -> list[Escalation]:
    """Bring the ladder up to ``now``; see the module docstring for ``changed``."""
    out: list[Escalation] = []
    bizcrit = is_bizcrit(state, policy)
    if bizcrit and state.bizcrit_since is None:
        state.bizcrit_since = now
    if state.bizcrit_since is not None:
        for at, rung in _due(state, now, policy, changed):
            happened = _what_happened(cause if changed else None) if at > rung.instant else None
            out.append(_emit(state, rung.kind, rung.level, at, policy, happened=happened))
    if not bizcrit and state.bizcrit_since is not None:
        state.bizcrit_since = None
        if f"{EXITED}:0" not in state.escalated:
            out.append(_emit(state, EXITED, 0, now, policy, _exit_reason(state, cause)))
    return out


def _due(state: TicketState, now: int, policy: Policy, changed: bool) -> list[tuple[int, _Rung]]:
    """(emitted_at, rung) of the rungs to fire now, in order.

    A rung is due once ``now`` is strictly past its instant. A due IRT rung fires at its instant, or at
    the stint's start if that is later, or at ``now`` if ``changed`` (the change just made it overdue; an
    at-risk rung that the change puts exactly at ``now`` is due with them). Of the due IRT rungs that fire
    at one instant only the highest fires. A group at the stint's start waits when the breach falls exactly
    on that start (a change into BizCrit at the new deadline): the breach fires there once the clock has
    passed it (the group is the same then, being a function of the state) and the lower ones are skipped.
    Known limit: a change inside a stint (a FastLane Sev2 raised to Sev1) exactly at the new deadline fires
    ``irt_at_risk`` 2 at the change and the breach at that same instant once the clock passes it; telling
    the two apart would need the change's instant in the state.
    """
    since: int = state.bizcrit_since  # type: ignore[assignment]
    pending = _pending(state, policy)
    due = [r for r in pending if r.instant < now or (changed and r.kind == IRT_AT_RISK and r.instant == now)]
    fire = {r: now if changed and r.irt and r.instant <= now else _fires_at(r, since) for r in due}
    highest: dict[int, _Rung] = {}  # emitted_at -> the highest due IRT rung firing then
    for rung in due:
        if rung.irt and (fire[rung] not in highest or highest[fire[rung]].order < rung.order):
            highest[fire[rung]] = rung
    waits = any(r.irt and r.instant == since and r not in fire for r in pending)
    chosen = [(fire[r], r) for r in due
              if not r.irt or (highest[fire[r]] is r and not (waits and fire[r] == since))]
    return sorted(chosen, key=lambda item: (item[0], item[1].order))


def _what_happened(cause: Event | None) -> str:
    """Why IRT rungs fired late, at the change or at the stint's start, as the one rung firing says it."""
    if cause is not None and cause.type == "ticket.severity_changed":
        return f"was raised to Sev{cause.severity}"
    return "was reopened" if cause is not None and cause.type == "ticket.reopened" else "became BizCrit"


def _emit(state: TicketState, kind: str, level: int, at: int, policy: Policy, reason: str | None = None, *,
          happened: str | None = None) -> Escalation:
    state.escalated.append(f"{kind}:{level}")
    deadline = budget = None
    target = sla.irt_target(state, policy)
    cal = sla.calendar_of(state, policy)
    if state.first_response_at is None:
        deadline = calendar.reached(cal, state.created_at, target)  # type: ignore[arg-type]
        budget = round(calendar.elapsed(cal, state.created_at, at) / target, 4)  # type: ignore[arg-type]
        if kind != IRT_BREACHED:  # only the breach may report more than the whole budget used
            budget = min(budget, 1.0)
    return Escalation(kind, level, state.cycle, state.severity, at, deadline, budget,  # type: ignore[arg-type]
                      state.engineer_id, reason or _reason(state, kind, at, target, budget, cal, happened),
                      judged.contract_name(state, policy)[0] if policy.uses_contracts else None)


def _label(state: TicketState) -> str:
    lane = " FastLane" if state.fastlane else ""
    return f"Sev{state.severity}{lane} ticket {state.ticket_id} ({state.product}, customer {state.customer_id})"


def _reason(state: TicketState, kind: str, at: int, target: int, budget: float | None, cal: calendar.Calendar,
            happened: str | None) -> str:
    if kind not in (IRT_AT_RISK, IRT_BREACHED):
        stint = duration(at - state.bizcrit_since)  # type: ignore[operator]
        return f"{_label(state)} has been BizCrit for {stint} without a workaround: {engaged(kind)}"
    waited = duration(at - state.created_at)  # type: ignore[operator]
    if not calendar.is_24x7(cal):
        counted = duration(calendar.elapsed(cal, state.created_at, at))  # type: ignore[arg-type]
        waited = f"{waited} ({counted} of them in its {cal.name} calendar's hours)"
    used = (f"has breached its {duration(target)} IRT target" if kind == IRT_BREACHED
            else f"has used {budget:.0%} of its {duration(target)} IRT target")
    if happened:  # "was raised to Sev1 4 h 40 min after creation, still unanswered: it has breached ..."
        return f"{_label(state)} {happened} {waited} after creation, still unanswered: it {used}"
    return f"{_label(state)} is unanswered after {waited} and {used}"


def _exit_reason(state: TicketState, cause: Event | None) -> str:
    why = {
        "ticket.workaround_provided": "a workaround was provided",
        "ticket.resolved": "it was resolved",
        "ticket.closed": "it was closed",
        "ticket.severity_changed": f"its severity was lowered to {state.severity}",
    }.get(cause.type if cause else "", "it no longer qualifies")
    return f"{_label(state)} left BizCrit: {why}"
