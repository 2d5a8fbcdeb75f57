"""What the NOC board counts over the open tickets a worker owns: unanswered tickets at risk, unanswered
tickets whose business-hours calendar is closed now, open BizCrit tickets by the highest rung reached.
Pure: the processor keeps it current as tickets change, and the metrics read it at scrape time with each
partition's clock.
"""

from __future__ import annotations

from collections.abc import Callable

from pipeline.domain import bizcrit, calendar, sla
from pipeline.domain.policy import Policy
from pipeline.domain.ticket import TicketState

NowOf = Callable[[int], "int | None"]  # partition -> its clock's now (None before its first record)


class OpenTickets:
    def __init__(self, policy: Policy) -> None:
        self.policy = policy
        # p -> tid -> (severity, at risk from, deadline, calendar): instants in the ticket's calendar time
        self._unanswered: dict[int, dict[str, tuple[int, int, int, calendar.Calendar]]] = {}
        self._bizcrit: dict[int, dict[str, int]] = {}  # p -> tid -> BizCrit since

    def clear(self) -> None:
        self._unanswered.clear()
        self._bizcrit.clear()

    def index(self, state: TicketState) -> None:
        """Note a ticket as it is now (after every change)."""
        bizcrit_tickets = self._bizcrit.setdefault(state.partition, {})
        if state.bizcrit_since is None:
            bizcrit_tickets.pop(state.ticket_id, None)
        else:
            bizcrit_tickets[state.ticket_id] = state.bizcrit_since
        deadline = sla.irt_deadline(state, self.policy)
        unanswered = self._unanswered.setdefault(state.partition, {})
        if deadline is None:
            unanswered.pop(state.ticket_id, None)
        else:
            unanswered[state.ticket_id] = (state.severity, sla.at_risk_from(state, self.policy), deadline,  # type: ignore[assignment]
                                           sla.calendar_of(state, self.policy))

    def forget(self, state: TicketState) -> None:
        self._bizcrit.get(state.partition, {}).pop(state.ticket_id, None)
        self._unanswered.get(state.partition, {}).pop(state.ticket_id, None)

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
