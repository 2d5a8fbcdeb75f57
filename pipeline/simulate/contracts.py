"""A ticket's life under a policy with SLA contracts (contract v3 section 10), from its first response to its
last resolution: the customer's plan on ``ticket.created``, customer replies that start next-response clocks
and the staff's answers, waiting on the customer, a workaround and the resolution, each drawn as a share of
the contract's target for it (mostly in time, a profile's share late).

Only :mod:`pipeline.simulate.generator` calls this, and only when the policy defines contracts: a policy
without them draws what v2 drew, in its order, and never gets here.
"""

from __future__ import annotations

import dataclasses
import hashlib
import random

from pipeline.domain import calendar
from pipeline.domain.calendar import Calendar
from pipeline.domain.contracts import IRT, NEXT_RESPONSE, RESOLUTION, WORKAROUND, Contract
from pipeline.domain.policy import Policy
from pipeline.domain.timefmt import DAY_MS, HOUR_MS, MINUTE_MS

MAX_REPLIES = 8  # customer replies of one ticket (a geometric draw, cut here)


def plan_of(product, customer_id: str) -> str | None:
    """The plan a customer's tickets name in ``contract`` (None: they name none, the policy's rules choose).
    A fact about the customer, not a draw: the same on every ticket, whatever the seed, and it takes no
    random number from the simulation."""
    digest = hashlib.blake2b(f"{product.name}/{customer_id}".encode(), digest_size=8).digest()
    u = int.from_bytes(digest, "big") / 2**64
    for plan, share in product.plans:
        if u < share:
            return plan
        u -= share
    return None


@dataclasses.dataclass(frozen=True)
class Clocks:
    """What the draws need of a ticket's contract: its targets at the ticket's (final) severity, its calendar,
    and the profile's shares."""

    policy: Policy
    contract: Contract
    severity: int
    fastlane: bool
    cal: Calendar
    life: dict[str, float]

    def target(self, metric: str) -> int | None:
        return self.policy.target_ms(self.contract, metric, self.severity, self.fastlane)

    def drawn(self, rng: random.Random, start: int, target: int, late_key: str) -> int:
        """When a clock started at ``start`` ends: a share of its target in the contract's calendar, in time
        (a beta-distributed share) or, with the profile's ``late_key`` share, late (1.02 to 2 times it)."""
        late = rng.random() < self.life.get(late_key, 0)
        share = rng.uniform(1.02, 2.0) if late else rng.betavariate(2, 3)
        return calendar.reached(self.cal, start, max(1, int(target * share)))


def middle(rng: random.Random, clocks: Clocks, out: list[tuple[int, dict]], tid: str, engineer: str,
           created: int, t: int, answered: bool) -> int:
    """Append the events after the first response (``t``: the last event so far) up to the last resolution,
    and return the last resolution's instant."""
    resolved = _cycle(rng, clocks, out, tid, engineer, created, t)
    if answered:  # a customer reply before the first response starts no next-response clock: none drawn
        _conversation(rng, clocks, out, tid, engineer, t, resolved)
    out.append((resolved, {"type": "ticket.resolved", "ticket_id": tid, "engineer_id": engineer}))
    if rng.random() < clocks.life.get("reopen_share", 0):  # a new TTR cycle: its clocks start at the reopen
        reopened = resolved + rng.randrange(HOUR_MS, 2 * DAY_MS)
        out.append((reopened, {"type": "ticket.reopened", "ticket_id": tid}))
        resolved = _cycle(rng, clocks, out, tid, engineer, reopened, reopened)
        out.append((resolved, {"type": "ticket.resolved", "ticket_id": tid, "engineer_id": engineer}))
    return resolved


def _cycle(rng: random.Random, clocks: Clocks, out: list[tuple[int, dict]], tid: str, engineer: str, start: int,
           t: int) -> int:
    """A TTR cycle from ``start`` (creation or a reopen): its workaround, appended, and the instant of its
    resolution (after ``t``, and after the workaround). A contract that judges the workaround at the ticket's
    severity always gets one (or its resolution would be judged as the workaround); otherwise Sev1 tickets and
    the profile's ``workaround_share`` do, as in v2."""
    resolution, workaround = clocks.target(RESOLUTION), clocks.target(WORKAROUND)
    if resolution is not None:
        resolved = max(t + MINUTE_MS, clocks.drawn(rng, start, resolution, "late_resolution_share"))
    else:  # no resolution target at this severity: as long as v2's tickets took
        resolved = t + rng.randrange(10 * MINUTE_MS, 3 * DAY_MS)
    if workaround is not None or clocks.severity == 1 or rng.random() < clocks.life.get("workaround_share", 0):
        at = max(t + 1, clocks.drawn(rng, start, workaround, "late_workaround_share") if workaround is not None
                 else t + rng.randrange(5 * MINUTE_MS, 6 * HOUR_MS))
        resolved = max(resolved, at + rng.randrange(10 * MINUTE_MS, 6 * HOUR_MS))  # the fix follows the workaround
        out.append((at, {"type": "ticket.workaround_provided", "ticket_id": tid, "engineer_id": engineer}))
    return resolved


def _conversation(rng: random.Random, clocks: Clocks, out: list[tuple[int, dict]], tid: str, engineer: str,
                  t: int, resolved: int) -> None:
    """Customer replies between the first response and the resolution, each answered by the staff within a
    share of the next-response target (or, without one, of the IRT target); the first round, for the profile's
    ``waiting_share`` of tickets, starts with the staff waiting on the customer. A reply or an answer that would
    come after the resolution is not sent (the resolution cancels the next-response clock)."""
    life = clocks.life
    rounds = [rng.random() < life.get("waiting_share", 0)]
    while len(rounds) <= MAX_REPLIES and rng.random() < life.get("reply_share", 0):
        rounds.append(False)
    if not rounds[0]:
        rounds.pop(0)
    target = clocks.target(NEXT_RESPONSE) or clocks.target(IRT) or HOUR_MS
    for waiting in rounds:
        if waiting:
            asked = t + rng.randrange(MINUTE_MS, 2 * HOUR_MS)
            replied = asked + rng.randrange(10 * MINUTE_MS, 20 * HOUR_MS)
        else:
            asked, replied = None, t + rng.randrange(10 * MINUTE_MS, 12 * HOUR_MS)
        if replied >= resolved:
            return
        answer = max(replied + 1, clocks.drawn(rng, replied, target, "late_next_response_share"))
        if asked is not None:
            out.append((asked, {"type": "ticket.waiting_on_customer", "ticket_id": tid}))
        out.append((replied, {"type": "ticket.customer_replied", "ticket_id": tid}))
        if answer >= resolved:
            return
        out.append((answer, {"type": "ticket.responded", "ticket_id": tid, "engineer_id": engineer}))
        t = answer
