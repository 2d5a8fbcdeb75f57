"""The BizCrit escalation ladder (contract section 4), as plain functions over a ticket's state.

A ticket is BizCrit while it is Sev1 (or a FastLane customer's Sev2), open, and has neither a workaround
nor a resolution in its current cycle. :func:`step` brings the ladder up to an instant: it notes entry,
fires every rung whose instant has passed (once per kind, level and cycle), and notes the exit.

Rungs fire when the clock is strictly past their instant, stamped with that instant. Rungs that a
change makes overdue (a severity raised, a ticket entering BizCrit late) fire at the change: call
``step(..., changed=True)`` right after applying an event.
"""

from __future__ import annotations

import dataclasses

from pipeline.domain import calendar, sla
from pipeline.domain.events import Event
from pipeline.domain.policy import Policy
from pipeline.domain.ticket import TicketState

IRT_AT_RISK, IRT_BREACHED = "irt_at_risk", "irt_breached"
TIER3, MANAGEMENT, EXECUTIVE, EXITED = "bizcrit_tier3", "bizcrit_management", "bizcrit_executive", "bizcrit_exited"
IRT_RUNGS = ((IRT_AT_RISK, 1), (IRT_AT_RISK, 2), (IRT_BREACHED, 3))
BIZCRIT_RUNGS = ((TIER3, 1), (MANAGEMENT, 2), (EXECUTIVE, 3))
KINDS = (IRT_AT_RISK, IRT_BREACHED, TIER3, MANAGEMENT, EXECUTIVE, EXITED)
# Open BizCrit tickets are counted by the highest BizCrit rung their stint has reached ("none" before tier 3).
BOARD_RUNGS = ("none", *(kind.removeprefix("bizcrit_") for kind, _ in BIZCRIT_RUNGS))
PAGE_LEVEL = 2  # level 2 and up pages on-call; lower levels (and the exit) go to the NOC
_WHO = {TIER3: "engineering (tier 3) engaged", MANAGEMENT: "senior management engaged",
        EXECUTIVE: "executive engaged"}
_ENGAGE = {TIER3: "engage tier 3", MANAGEMENT: "engage senior management", EXECUTIVE: "engage an executive"}


def pages(kind: str, level: int) -> bool:
    """Does this rung page on-call? The one rule: the notifier, the metrics and the boards all ask it."""
    return kind != EXITED and level >= PAGE_LEVEL


def rungs_that_page() -> list[tuple[str, int]]:
    return [(kind, level) for kind, level in (*IRT_RUNGS, *BIZCRIT_RUNGS) if pages(kind, level)]


def bizcrit_rung_title(kind: str, policy: Policy) -> str:
    """``BizCrit 30 min without workaround, engage tier 3``: the rung's time from the policy."""
    after = policy.bizcrit_rungs_ms[[k for k, _ in BIZCRIT_RUNGS].index(kind)]
    return f"BizCrit {duration(after)} without workaround, {_ENGAGE[kind]}"


def share_words(share: float) -> str:
    """A share of a budget as a support manager says it: "half", or "80 %"."""
    return "half" if share == 0.5 else f"{share:.0%}"


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


def rung_instants(state: TicketState, policy: Policy) -> list[tuple[int, str, int]]:
    """(instant, kind, level) of every rung of the current BizCrit stint, not yet emitted, earliest first."""
    if state.bizcrit_since is None:
        return []
    rungs: list[tuple[int, int, str, int]] = []  # (instant, ladder order for ties, kind, level)
    if state.first_response_at is None:  # IRT rungs only while unanswered: shares of its calendar's time
        target = policy.irt_target_ms(state.severity, state.fastlane)  # type: ignore[arg-type]
        cal = sla.calendar_of(state, policy)
        for order, ((kind, level), share) in enumerate(zip(IRT_RUNGS, policy.irt_rungs, strict=True)):
            rungs.append((calendar.reached(cal, state.created_at, int(target * share)), order, kind, level))  # type: ignore[arg-type]
    # BizCrit rungs: always round the clock (a Sev1 is worked 24x7), whatever the calendar
    for order, ((kind, level), after) in enumerate(zip(BIZCRIT_RUNGS, policy.bizcrit_rungs_ms, strict=True), 3):
        rungs.append((state.bizcrit_since + after, order, kind, level))
    done = set(state.escalated)
    return [(at, kind, level) for at, _, kind, level in sorted(rungs) if f"{kind}:{level}" not in done]


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
        for instant, kind, level in rung_instants(state, policy):
            if not instant < now:
                break
            out.append(_emit(state, kind, level, now if changed else instant, policy))
    if not bizcrit and state.bizcrit_since is not None:
        state.bizcrit_since = None
        if f"{EXITED}:0" not in state.escalated:
            out.append(_emit(state, EXITED, 0, now, policy, _exit_reason(state, cause)))
    return out


def _emit(state: TicketState, kind: str, level: int, at: int, policy: Policy, reason: str | None = None) -> Escalation:
    state.escalated.append(f"{kind}:{level}")
    deadline = budget = None
    target = policy.irt_target_ms(state.severity, state.fastlane)  # type: ignore[arg-type]
    cal = sla.calendar_of(state, policy)
    if state.first_response_at is None:
        deadline = calendar.reached(cal, state.created_at, target)  # type: ignore[arg-type]
        budget = round(calendar.elapsed(cal, state.created_at, at) / target, 4)  # type: ignore[arg-type]
    return Escalation(kind, level, state.cycle, state.severity, at, deadline, budget,  # type: ignore[arg-type]
                      state.engineer_id, reason or _reason(state, kind, level, at, target, budget, cal))


def _label(state: TicketState) -> str:
    lane = " FastLane" if state.fastlane else ""
    return f"Sev{state.severity}{lane} ticket {state.ticket_id} ({state.product}, customer {state.customer_id})"


def _reason(state: TicketState, kind: str, level: int, at: int, target: int, budget: float | None,
            cal: calendar.Calendar) -> str:
    if kind in (IRT_AT_RISK, IRT_BREACHED):
        waited = duration(at - state.created_at)  # type: ignore[operator]
        if not calendar.is_24x7(cal):
            counted = duration(calendar.elapsed(cal, state.created_at, at))  # type: ignore[arg-type]
            waited = f"{waited} ({counted} of them in its {cal.name} calendar's hours)"
        verb = "has breached its" if kind == IRT_BREACHED else f"has used {budget:.0%} of its"
        return f"{_label(state)} is unanswered after {waited} and {verb} {duration(target)} IRT target"
    stint = duration(at - state.bizcrit_since)  # type: ignore[operator]
    return f"{_label(state)} has been BizCrit for {stint} without a workaround: {_WHO[kind]}"


def _exit_reason(state: TicketState, cause: Event | None) -> str:
    why = {
        "ticket.workaround_provided": "a workaround was provided",
        "ticket.resolved": "it was resolved",
        "ticket.closed": "it was closed",
        "ticket.severity_changed": f"its severity was lowered to {state.severity}",
    }.get(cause.type if cause else "", "it no longer qualifies")
    return f"{_label(state)} left BizCrit: {why}"


def duration(ms: int) -> str:
    """``2 h``, ``1 h 30 min``, ``7 min 30 s``."""
    minutes, seconds = divmod(max(0, ms) // 1000, 60)
    hours, minutes = divmod(minutes, 60)
    if hours:
        return f"{hours} h {minutes} min" if minutes else f"{hours} h"
    return f"{minutes} min {seconds} s" if seconds else f"{minutes} min"
