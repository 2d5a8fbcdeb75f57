"""A contract's notices (contract v3 section 10): ``<metric>_at_risk`` (level 1) and ``<metric>_breached``
(level 3) for the metrics its ``notify`` lists, once each per clock; warnings, never pages.

The at-risk notice fires when the clock has counted the at-risk share of its target (stamped with that
instant; or with the change that put it there); the breach notice with the breach. When one change makes
both due at once, only the breach fires (rule 7). Which were emitted is kept on the clock (its
``notices`` bits), so the rule survives restarts. Pure.
"""

from __future__ import annotations

from pipeline.domain import judged
from pipeline.domain.bizcrit import Escalation
from pipeline.domain.judged import AT_RISK_SENT, BREACH_SENT, BREACHED, JudgedClock
from pipeline.domain.policy import Policy
from pipeline.domain.sla import Decision
from pipeline.domain.ticket import TicketState
from pipeline.domain.words import duration, metric_name

AT_RISK_LEVEL, BREACHED_LEVEL = 1, 3


def _listed(state: TicketState, policy: Policy) -> frozenset[str]:
    return judged.contract_of(state, policy).notify if policy.contracts else frozenset()


def next_at_risk(state: TicketState, policy: Policy) -> int | None:
    """The earliest at-risk notice still to fire (None without one)."""
    listed = _listed(state, policy)
    if not listed:
        return None
    instants = [judged.at_risk_at(state, c, policy) for c in state.clocks
                if c.metric in listed and not c.notices & AT_RISK_SENT]
    return min((i for i in instants if i is not None), default=None)


def at_risk_due(state: TicketState, now: int, policy: Policy, *, changed: bool = False) -> list[Escalation]:
    """At-risk notices due strictly before ``now`` (at their instant), or with a change at ``now`` (then)."""
    listed = _listed(state, policy)
    out = []
    for clock in state.clocks if listed else ():
        if clock.metric not in listed or clock.notices & AT_RISK_SENT:
            continue
        at = judged.at_risk_at(state, clock, policy)
        if at is not None and (at < now or (changed and at <= now)):
            clock.notices |= AT_RISK_SENT
            out.append(_notice(state, clock, AT_RISK_LEVEL, now if changed else at, policy))
    return out


def breaches(state: TicketState, decisions: list[Decision], policy: Policy) -> list[Escalation]:
    """A breach notice for each listed clock these decisions breached; its at-risk notice is then skipped."""
    listed = _listed(state, policy)
    out = []
    for d in decisions:
        if d.outcome != BREACHED or d.metric not in listed:
            continue
        clock = next((c for c in state.clocks if c.metric == d.metric and c.cycle == d.cycle), None)
        if clock is None or clock.notices & BREACH_SENT:
            continue
        clock.notices |= AT_RISK_SENT | BREACH_SENT
        out.append(_notice(state, clock, BREACHED_LEVEL, d.decided_at, policy, target_ms=d.target_ms))
    return out


def after_change(state: TicketState, decisions: list[Decision], at: int, policy: Policy) -> list[Escalation]:
    """After an event at ``at``: the breaches it decided, then at-risk instants it made due."""
    return [*breaches(state, decisions, policy), *at_risk_due(state, at, policy, changed=True)]


def _notice(state: TicketState, clock: JudgedClock, level: int, at: int, policy: Policy, *,
            target_ms: int | None = None) -> Escalation:
    kind = f"{clock.metric}_{'breached' if level == BREACHED_LEVEL else 'at_risk'}"
    target = target_ms if target_ms is not None else judged.target_of(state, policy, clock.metric)
    cal = judged.calendar_of(state, policy)
    deadline = None if target is None else judged.reaching(clock, cal, target, paused=False)
    used = None
    if target:
        used = round(judged.counted(clock, cal, at) / target, 4)
        if level != BREACHED_LEVEL:
            used = min(used, 1.0)
    contract = judged.contract_name(state, policy)[0]
    what = metric_name(clock.metric)
    lane = " FastLane" if state.fastlane else ""
    label = f"Sev{state.severity}{lane} ticket {state.ticket_id} ({state.product}, customer {state.customer_id})"
    if level == BREACHED_LEVEL:
        reason = (f"{label} has breached its {contract} contract's {duration(target or 0)} {what} target "
                  f"(clock started {duration(at - clock.start)} before)")
    else:
        reason = (f"{label} has used {used:.0%} of its {contract} contract's {duration(target or 0)} {what} "
                  f"target")
    return Escalation(kind, level, clock.cycle, state.severity, at, deadline, used,  # type: ignore[arg-type]
                      state.engineer_id, reason, contract)
