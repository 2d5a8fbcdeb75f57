"""Deterministic ticket lifecycles from a profile: the same seed gives the same events, in time order.

Arrivals per product follow a Poisson process whose rate follows the profile's daily and weekly rhythm
(by thinning). Each ticket's whole lifecycle is drawn at creation and merged into the time-ordered
output: assignment, a first response (mostly in time, some late, a few never), sometimes a severity
change, waiting on the customer, a workaround (always for Sev1), a reopen; resolution, closing, and
afterwards a survey and a quality review.

Under a policy with contracts, tickets also name their customer's plan, and the life after the first
response is drawn against the ticket's contract (:mod:`pipeline.simulate.contracts`). Under a policy
without them nothing of that is drawn: the events are byte for byte those of v2 (tests/unit/test_simulate.py
pins their digest).
"""

from __future__ import annotations

import heapq
import math
import random
from collections.abc import Iterator

from pipeline.domain import calendar
from pipeline.domain.calendar import Calendar
from pipeline.domain.contracts import IRT
from pipeline.domain.policy import Policy
from pipeline.domain.timefmt import format_rfc3339_ms
from pipeline.simulate import contracts
from pipeline.simulate.profile import Profile

MIN = 60_000
HOUR = 60 * MIN
DAY = 24 * HOUR
MONTH = 30 * DAY
RATINGS = ("very_satisfied", "satisfied", "neutral", "dissatisfied", "very_dissatisfied")


def rhythm(profile: Profile, t_ms: int) -> float:
    """Relative arrival rate at an instant (mean 1 over a week)."""
    hour = (t_ms // HOUR) % 24
    weekday = (t_ms // DAY + 3) % 7  # 1970-01-01 was a Thursday; Monday = 0
    mean_h = sum(profile.hourly) / 24
    mean_w = sum(profile.weekly) / 7
    return (profile.hourly[hour] / mean_h) * (profile.weekly[weekday] / mean_w)


def events(profile: Profile, seed: int, start_ms: int, end_ms: int | None = None,
           policy: Policy | None = None) -> Iterator[dict]:
    """Events of tickets created from ``start_ms`` (to ``end_ms``, or forever), in occurred_at order.

    Response times are drawn as shares of the ``policy``'s IRT targets (so late answers are late under
    the policy the workers apply)."""
    policy = policy or Policy()
    rng = random.Random(seed)
    peak = max(profile.hourly) / (sum(profile.hourly) / 24) * max(profile.weekly) / (sum(profile.weekly) / 7)
    engineers = [(f"eng-t{tier}-{i:03d}", tier) for tier, n in profile.engineers.items() for i in range(n)]
    arrivals = []  # one Poisson stream per product, merged
    for index, product in enumerate(profile.products):
        rate = product.tickets_per_month / MONTH * peak  # candidates per ms, thinned below
        if rate > 0:
            arrivals.append((start_ms + _gap(rng, rate), index, rate))
    heapq.heapify(arrivals)
    pending: list[tuple[int, int, dict]] = []
    seq = 0
    counter = 0
    while arrivals:
        t, index, rate = heapq.heappop(arrivals)
        if end_ms is not None and t >= end_ms:
            continue
        heapq.heappush(arrivals, (t + _gap(rng, rate), index, rate))
        if rng.random() * peak > rhythm(profile, t):
            continue  # thinning: a quieter hour
        while pending and pending[0][0] <= t:
            yield heapq.heappop(pending)[2]
        counter += 1
        for at, doc in _lifecycle(rng, profile, profile.products[index], f"SIM-{seed}-{counter:07d}", t, engineers,
                                    policy):
            seq += 1
            doc["event_id"] = f"{doc['ticket_id']}-{seq}"
            doc["occurred_at"] = format_rfc3339_ms(at)
            heapq.heappush(pending, (at, seq, doc))
    while pending:
        yield heapq.heappop(pending)[2]


def _gap(rng: random.Random, rate_per_ms: float) -> int:
    return max(1, int(-math.log(1.0 - rng.random()) / rate_per_ms))


def _lifecycle(rng: random.Random, profile: Profile, product, tid: str, created: int,
               engineers: list, policy: Policy) -> list[tuple[int, dict]]:
    life = profile.lifecycle
    severity = rng.choices((1, 2, 3, 4), weights=product.severity_mix)[0]
    fastlane = rng.random() < product.fastlane_share
    customer = f"{product.name[:4]}-cust-{rng.randrange(product.customers):05d}"
    opened = {"type": "ticket.created", "ticket_id": tid, "severity": severity, "product": product.name,
              "customer_id": customer, "fastlane": fastlane, "tier": 1}
    requested = contracts.plan_of(product, customer) if policy.uses_contracts else None
    if requested is not None:
        opened["contract"] = requested
    contract = policy.contract(policy.choose_contract(requested, customer, product.name, fastlane).contract)
    out: list[tuple[int, dict]] = [(created, opened)]
    engineer, tier = rng.choice(engineers)
    # assignment and first response come at shares of the IRT budget in the ticket's calendar (the policy's
    # [calendar_for] rules, or its contract's): a business-hours ticket opened on Friday evening is answered
    # on Monday. Without contracts the contract is the implicit one: the [irt] targets, as in v2. (IRT always
    # has a target: severities a contract leaves out fall back to [irt]'s, so `or 0` never applies.)
    target = policy.target_ms(contract, IRT, severity, fastlane) or 0
    cal = policy.calendar_under(contract, severity, product.name, fastlane)
    t = calendar.reached(cal, created, rng.randrange(1, max(2, int(target * 0.3))))
    out.append((t, {"type": "ticket.assigned", "ticket_id": tid, "engineer_id": engineer, "tier": tier}))
    if rng.random() < life.get("severity_change_share", 0):
        severity = max(1, min(4, severity + rng.choice((-1, 1))))
        t = calendar.reached(cal, t, rng.randrange(1, max(2, int(target * 0.4))))
        out.append((t, {"type": "ticket.severity_changed", "ticket_id": tid, "severity": severity}))
        target = policy.target_ms(contract, IRT, severity, fastlane) or 0
        cal = policy.calendar_under(contract, severity, product.name, fastlane)
    roll = rng.random()
    answered = roll >= life.get("no_response_share", 0)
    if answered:
        late = roll < life.get("no_response_share", 0) + life.get("late_response_share", 0)
        share = rng.uniform(1.02, 3.0) if late else rng.betavariate(2, 3)
        t = max(t + 1, calendar.reached(cal, created, int(target * share)))
        out.append((t, {"type": "ticket.responded", "ticket_id": tid, "engineer_id": engineer}))
    if policy.uses_contracts:
        clocks = contracts.Clocks(policy, contract, severity, fastlane, cal, life)
        t = contracts.middle(rng, clocks, out, tid, engineer, created, t, answered)
    else:
        t = _v2_middle(rng, life, out, tid, engineer, severity, target, cal, t)
    t += rng.randrange(MIN, DAY)
    out.append((t, {"type": "ticket.closed", "ticket_id": tid}))
    if rng.random() < life.get("survey_share", 0):
        rating = rng.choices(RATINGS, weights=profile.ratings)[0]
        survey = {"type": "ticket.survey_submitted", "ticket_id": tid, "rating": rating}
        if rating in ("neutral", "dissatisfied", "very_dissatisfied"):
            survey["dsat_reason"] = rng.choice(profile.dsat_reasons)
        out.append((t + rng.randrange(MIN, 2 * DAY), survey))
    if rng.random() < life.get("review_share", 0):
        out.append((t + rng.randrange(HOUR, 5 * DAY), {"type": "ticket.quality_reviewed", "ticket_id": tid,
                                                      "engineer_id": engineer, "score": rng.randrange(50, 101)}))
    return out


def _v2_middle(rng: random.Random, life: dict[str, float], out: list[tuple[int, dict]], tid: str, engineer: str,
               severity: int, target: int, cal: Calendar, t: int) -> int:
    """From the first response to the last resolution, as v2 drew it (its draws, in its order): the events of a
    policy without contracts stay byte for byte what they were. Returns the last resolution's instant."""
    if rng.random() < life.get("waiting_share", 0):
        t += rng.randrange(MIN, 2 * HOUR)
        out.append((t, {"type": "ticket.waiting_on_customer", "ticket_id": tid}))
        t += rng.randrange(10 * MIN, 20 * HOUR)
        out.append((t, {"type": "ticket.customer_replied", "ticket_id": tid}))
        t = calendar.reached(cal, t, rng.randrange(MIN, int(max(2 * MIN, target))))
        out.append((t, {"type": "ticket.responded", "ticket_id": tid, "engineer_id": engineer}))
    if severity == 1 or rng.random() < life.get("workaround_share", 0):
        t += rng.randrange(5 * MIN, 6 * HOUR)
        out.append((t, {"type": "ticket.workaround_provided", "ticket_id": tid, "engineer_id": engineer}))
    t += rng.randrange(10 * MIN, 3 * DAY)
    out.append((t, {"type": "ticket.resolved", "ticket_id": tid, "engineer_id": engineer}))
    if rng.random() < life.get("reopen_share", 0):
        t += rng.randrange(HOUR, 2 * DAY)
        out.append((t, {"type": "ticket.reopened", "ticket_id": tid}))
        t += rng.randrange(HOUR, DAY)
        out.append((t, {"type": "ticket.resolved", "ticket_id": tid, "engineer_id": engineer}))
    return t
