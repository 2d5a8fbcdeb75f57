"""What the NOC board counts over the open tickets a worker owns: unanswered tickets at risk, unanswered
tickets whose business-hours calendar is closed now, open BizCrit tickets by the highest rung reached,
and running judged clocks at risk per contract, metric and severity (section 10).
Pure: the processor keeps it current as tickets change, and the metrics read it at scrape time with each
partition's clock.
"""

from __future__ import annotations

from collections.abc import Callable

from pipeline.domain import bizcrit, calendar, judged
from pipeline.domain.contracts import IRT
from pipeline.domain.policy import Policy
from pipeline.domain.ticket import TicketState

NowOf = Callable[[int], "int | None"]  # partition -> its clock's now (None before its first record)


class OpenTickets:
    def __init__(self, policy: Policy) -> None:
        self.policy = policy
        # p -> tid -> (severity, at risk from, deadline, calendar): instants in the ticket's calendar time
        self._unanswered: dict[int, dict[str, tuple[int, int, int, calendar.Calendar]]] = {}
        # p -> tid -> [(contract, metric, severity, at risk from, deadline)] of its undecided, unpaused clocks
        self._clocks: dict[int, dict[str, list[tuple[str, str, int, int, int]]]] = {}
        self._bizcrit: dict[int, dict[str, int]] = {}  # p -> tid -> BizCrit since

    def clear(self) -> None:
        self._unanswered.clear()
        self._bizcrit.clear()
        self._clocks.clear()

    def index(self, state: TicketState) -> None:
        """Note a ticket as it is now (after every change)."""
        bizcrit_tickets = self._bizcrit.setdefault(state.partition, {})
        if state.bizcrit_since is None:
            bizcrit_tickets.pop(state.ticket_id, None)
        else:
            bizcrit_tickets[state.ticket_id] = state.bizcrit_since
        unanswered = self._unanswered.setdefault(state.partition, {})
        unanswered.pop(state.ticket_id, None)
        running = []
        contract = judged.contract_name(state, self.policy)[0] if state.clocks else ""
        for clock in state.clocks:
            deadline, at_risk = judged.instants(state, clock, self.policy)
            if deadline is None:
                continue
            if clock.metric == IRT:
                unanswered[state.ticket_id] = (state.severity, at_risk, deadline,  # type: ignore[assignment]
                                               judged.calendar_of(state, self.policy))
            running.append((contract, clock.metric, state.severity, at_risk, deadline))
        clocks = self._clocks.setdefault(state.partition, {})
        if running:
            clocks[state.ticket_id] = running  # type: ignore[assignment]
        else:
            clocks.pop(state.ticket_id, None)

    def forget(self, state: TicketState) -> None:
        self._bizcrit.get(state.partition, {}).pop(state.ticket_id, None)
        self._unanswered.get(state.partition, {}).pop(state.ticket_id, None)
        self._clocks.get(state.partition, {}).pop(state.ticket_id, None)

    def at_risk_clock_counts(self, now_of: NowOf) -> dict[tuple[str, str, int], int]:
        """(contract, metric, severity) -> running clocks, not paused nor yet breached, that have counted at
        least the at-risk share of their target."""
        counts: dict[tuple[str, str, int], int] = {}
        for partition, tickets in self._clocks.items():
            now = now_of(partition)
            if now is None:
                continue
            for entries in tickets.values():
                for contract, metric, severity, at_risk, deadline in entries:
                    if at_risk <= now <= deadline:
                        key = (contract, metric, severity)
                        counts[key] = counts.get(key, 0) + 1
        return counts

    def unanswered(self) -> int:
        return sum(len(u) for u in self._unanswered.values())

    def at_risk_counts(self, now_of: NowOf) -> dict[int, int]:
        """Unanswered, not yet breached tickets that used at least the at-risk share of their budget (a share of
        calendar time: a business-hours ticket does not become at risk over a weekend)."""
        counts: dict[int, int] = {}
        for partition, tickets in self._unanswered.items():
            now = now_of(partition)
            if now is None:
                continue
            for severity, at_risk, deadline, _ in tickets.values():
                if at_risk <= now <= deadline:
                    counts[severity] = counts.get(severity, 0) + 1
        return counts

    def paused_counts(self, now_of: NowOf) -> dict[int, int]:
        """Unanswered, not yet breached tickets whose calendar is closed now: their IRT clock is paused until
        the next opening (what a NOC sees on a weekend instead of a queue of tickets at risk)."""
        counts: dict[int, int] = {}
        for partition, tickets in self._unanswered.items():
            now = now_of(partition)
            if now is None:
                continue
            closed: dict[calendar.Calendar, bool] = {}  # asked once per calendar, not per ticket
            for severity, _, deadline, cal in tickets.values():
                if calendar.is_24x7(cal) or now > deadline:
                    continue
                if cal not in closed:
                    closed[cal] = not calendar.is_open(cal, now)
                if closed[cal]:
                    counts[severity] = counts.get(severity, 0) + 1
        return counts

    def bizcrit_counts(self, now_of: NowOf) -> dict[str, int]:
        """Open BizCrit tickets by the highest BizCrit rung their time in BizCrit has reached."""
        counts = dict.fromkeys(bizcrit.BOARD_RUNGS, 0)
        for partition, tickets in self._bizcrit.items():
            now = now_of(partition)
            if now is None:
                continue
            for since in tickets.values():
                reached = sum(1 for after in self.policy.bizcrit_rungs_ms if now - since > after)
                counts[bizcrit.BOARD_RUNGS[reached]] += 1
        return counts
