"""Judged clocks (contract v3 section 10): one model for every metric a contract judges, IRT included.

A clock starts at an instant, may pause (only the calendar time inside a pause is not counted), and
ends; its target comes from the ticket's current severity within its contract, so a severity change
re-targets it from its start. It has at most one outcome: ``met`` when it ends in time, ``breached``
when the clock is strictly past its deadline (or at the change that put it past), whichever comes
first. A clock without a target for the current severity runs unjudged.

This module knows clocks and time; which event starts, ends, pauses or cancels which clock is
:mod:`pipeline.domain.sla`'s business. Pure: no I/O, no clock reads.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any

from pipeline.domain import calendar
from pipeline.domain.calendar import Calendar
from pipeline.domain.contracts import IRT, METRICS, Contract
from pipeline.domain.policy import Policy

MET, BREACHED = "met", "breached"
AT_RISK_SENT, BREACH_SENT = 1, 2  # JudgedClock.notices bits: notices emitted (or skipped) for this clock


@dataclasses.dataclass(slots=True)
class JudgedClock:
    metric: str
    cycle: int
    start: int
    end: int | None = None  # when it ended; None while it runs
    outcome: str | None = None  # MET or BREACHED once decided (a breached clock runs on until it ends)
    pauses: list[int] = dataclasses.field(default_factory=list)  # closed pauses: [start, end, start, end, ...]
    paused_since: int | None = None
    notices: int = 0
    # [severity, pauses closed, policy fingerprint, deadline, at-risk instant]: the instants, asked several times
    # per event, computed once while what they depend on stays (kept in the state: a worker reads each ticket
    # back for every event, and business-hours instants are costly to find again)
    memo: list | None = dataclasses.field(default=None, compare=False, repr=False)

    @property
    def running(self) -> bool:
        return self.end is None

    @property
    def paused(self) -> bool:
        return self.paused_since is not None

    def to_list(self) -> list[Any]:
        row = [METRICS.index(self.metric), self.cycle, self.start, self.end, self.outcome, self.pauses,
               self.paused_since, self.notices]
        return row if self.memo is None or self.end is not None else [*row, self.memo]

    @classmethod
    def from_list(cls, row: list[Any]) -> JudgedClock:
        code, *rest = row
        return cls(METRICS[code], *rest)


# --- the ticket's contract, calendar and targets ------------------------------------------------

def contract_name(state: Any, policy: Policy) -> tuple[str, str | None]:
    """(the contract the ticket is judged under, the requested name the policy lacks or None).

    The contract is chosen at creation and kept; after a policy change that no longer defines it, the
    ticket is chosen again by the new rules, naming the old one as requested (section 10, rule 10)."""
    if state.contract is None or state.contract in policy.contracts:
        name = state.contract if state.contract is not None else policy.default_contract
        if state.contract is None and policy.uses_contracts:  # created under a policy without contracts
            choice = policy.choose_contract(None, state.customer_id, state.product, state.fastlane)
            return choice.contract, None
        return name, state.requested_contract
    choice = policy.choose_contract(None, state.customer_id, state.product, state.fastlane)
    return choice.contract, state.contract


def contract_of(state: Any, policy: Policy) -> Contract:
    found = policy.contracts.get(state.contract)  # the common case first: asked many times per event
    if found is not None:
        return found
    if not policy.contracts:
        return policy.contract(None)
    return policy.contract(contract_name(state, policy)[0])


def calendar_of(state: Any, policy: Policy) -> Calendar:
    """The calendar the ticket's judged clocks count in, for its current severity (section 10)."""
    return policy.calendar_under(contract_of(state, policy), state.severity, state.product, state.fastlane)


def target_of(state: Any, policy: Policy, metric: str) -> int | None:
    return policy.target_ms(contract_of(state, policy), metric, state.severity, state.fastlane)


# --- time on a clock ----------------------------------------------------------------------------

def paused_ms(clock: JudgedClock, cal: Calendar, until: int | None = None) -> int:
    """Calendar time inside the clock's pauses (the open one up to ``until``, if given)."""
    p = clock.pauses
    total = sum(calendar.elapsed(cal, p[i], p[i + 1]) for i in range(0, len(p), 2))
    if clock.paused_since is not None and until is not None:
        total += calendar.elapsed(cal, clock.paused_since, until)
    return total


def counted(clock: JudgedClock, cal: Calendar, at: int) -> int:
    """Calendar time less pauses from the clock's start to ``at``."""
    return calendar.elapsed(cal, clock.start, at) - paused_ms(clock, cal, at)


def reaching(clock: JudgedClock, cal: Calendar, amount: int, *, paused: bool = True) -> int | None:
    """The first instant at which the clock has counted ``amount``: None while it is paused (unless
    ``paused`` is False: then the instant it reached it before the pause, if it did). Pauses that began
    after that instant do not move it (a severity change during a pause can put the clock past its
    target before the pause)."""
    if clock.paused and paused:
        return None
    skipped = 0
    p = clock.pauses + ([clock.paused_since, clock.paused_since] if clock.paused_since is not None else [])
    for i in range(0, len(p), 2):
        at = calendar.reached(cal, clock.start, amount + skipped)
        if at <= p[i]:
            return at
        skipped += calendar.elapsed(cal, p[i], p[i + 1])
    return calendar.reached(cal, clock.start, amount + skipped)


def deadline(state: Any, clock: JudgedClock, policy: Policy) -> int | None:
    """When the clock breaches: None once decided or ended, while paused, or without a target."""
    return instants(state, clock, policy)[0]


def at_risk_at(state: Any, clock: JudgedClock, policy: Policy) -> int | None:
    """When the undecided clock will have counted the at-risk share of its target (None as for deadline)."""
    return instants(state, clock, policy)[1]


def instants(state: Any, clock: JudgedClock, policy: Policy) -> tuple[int | None, int | None]:
    """(deadline, at-risk instant), remembered on the clock while the severity, the closed pauses and the
    policy stay the same (the ticket's contract, product and FastLane flag are fixed under one policy)."""
    if clock.end is not None or clock.outcome is not None or clock.paused_since is not None:
        return None, None
    memo = clock.memo
    if (memo is not None and memo[0] == state.severity and memo[1] == len(clock.pauses)
            and memo[2] == policy.fingerprint):
        return memo[3], memo[4]
    target = target_of(state, policy, clock.metric)
    deadline = at_risk = None
    if target is not None:
        cal = calendar_of(state, policy)
        deadline = reaching(clock, cal, target)
        at_risk = reaching(clock, cal, math.ceil(policy.at_risk_fraction * target))
    clock.memo = [state.severity, len(clock.pauses), policy.fingerprint, deadline, at_risk]
    return deadline, at_risk


def find(state: Any, metric: str, *, running: bool = True) -> JudgedClock | None:
    """The ticket's clock of that metric (the running one, by default)."""
    for clock in state.clocks:
        if clock.metric == metric and (clock.running or not running):
            return clock
    return None


def irt_clock(state: Any) -> JudgedClock | None:
    return find(state, IRT, running=False)
