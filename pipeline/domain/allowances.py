"""Critical-incident allowances (contract v3 section 10, precise rule 8), as plain data and one fold.

A contract may cap the critical incidents a customer opens per UTC calendar month
(``critical_incidents_per_month``; ``critical_severities`` says which severities are critical). The ticket
side turns each new ticket that counts into an :class:`Incident` (:func:`incident_for`), keyed by customer
on an internal topic, so all of one customer's tickets meet in one place, as engineer facts do. The
customer side folds them into a :class:`CustomerState` per customer: distinct tickets per month, and the
first ticket over the allowance yields one ``allowance_exceeded`` escalation for the account team, id
``<customer_id>:allowance_exceeded:<YYYY-MM>`` (which ticket it names may depend on arrival order; its id
does not).

Bounded memory: a customer's state keeps the current month (the newest one seen) and the previous one,
each with its count, the digests of the tickets counted, and the ticket that went over. An incident of an
older month arrives too late to count and is ignored.
"""

from __future__ import annotations

import base64
import dataclasses

import orjson

from pipeline.domain import bizcrit, records
from pipeline.domain.judged import contract_of
from pipeline.domain.policy import Policy
from pipeline.domain.ticket import TicketState, digest_in, event_digest
from pipeline.domain.timefmt import format_rfc3339_ms

LEVEL = 1  # a warning for the account team, never a page
MONTHS_KEPT = 2  # the current month and the previous one


@dataclasses.dataclass(frozen=True, slots=True)
class Incident:
    """A ticket that counts against its customer's allowance, keyed by customer for the customers agent."""

    ticket_id: str
    customer_id: str
    created_at: int  # ms; its UTC month is the month it counts in
    severity: int  # at creation (rule 8): a later raise or drop changes nothing
    product: str | None
    fastlane: bool
    contract: str
    allowance: int  # the contract's critical_incidents_per_month when the ticket was created

    @property
    def month(self) -> str:
        return month_of(self.created_at)

    def to_bytes(self) -> bytes:
        return orjson.dumps(self)  # an object in field order: a republished incident is the same bytes

    @classmethod
    def from_bytes(cls, data: bytes) -> Incident:
        return cls(**orjson.loads(data))


def incident_for(state: TicketState, policy: Policy) -> Incident | None:
    """The incident a ticket just created yields: only when its contract sets an allowance, it names a
    customer, and its severity at creation is one of the contract's critical severities."""
    if not policy.uses_contracts or state.customer_id is None or state.severity is None \
            or state.created_at is None:
        return None
    contract = contract_of(state, policy)
    if contract.critical_incidents_per_month is None or state.severity not in contract.critical_severities:
        return None
    return Incident(state.ticket_id, state.customer_id, state.created_at, state.severity, state.product,
                    state.fastlane, contract.name, contract.critical_incidents_per_month)


def month_of(at_ms: int) -> str:
    """The UTC calendar month of an instant, ``YYYY-MM``."""
    return format_rfc3339_ms(at_ms)[:7]


def _ordinal(month: str) -> int:
    year, mm = month.split("-")
    return int(year) * 12 + int(mm) - 1


def reason(customer_id: str, contract: str, count: int, month: str, allowance: int) -> str:
    """The escalation's sentence for the account team."""
    noun = "incident" if count == 1 else "incidents"
    return (f"customer {customer_id} ({contract}) has opened {count} critical {noun} in {month}, "
            f"over its allowance of {allowance}")


def escalation(incident: Incident, count: int) -> records.Escalation:
    """The ``allowance_exceeded`` record for the ticket that went over, as the ``count``-th of its month.
    Built from the incident alone, so a redelivered incident gives the same bytes."""
    month = incident.month
    return records.Escalation(
        escalation_id=f"{incident.customer_id}:{bizcrit.ALLOWANCE_EXCEEDED}:{month}",
        cycle=1,  # the ticket's first cycle: it went over when it was created
        ticket_id=incident.ticket_id,
        kind=bizcrit.ALLOWANCE_EXCEEDED,
        level=LEVEL,
        severity=incident.severity,
        product=incident.product,
        customer_id=incident.customer_id,
        fastlane=incident.fastlane,
        engineer_id=None,
        deadline=None,
        budget_used=None,
        reason=reason(incident.customer_id, incident.contract, count, month, incident.allowance),
        emitted_at=format_rfc3339_ms(incident.created_at),
        contract=incident.contract,
    )


@dataclasses.dataclass(slots=True)
class Month:
    """One customer's month: tickets counted, their digests, and the ticket that went over (if one did)."""

    count: int = 0
    seen: bytes = b""  # digests of the tickets counted (DIGEST_BYTES each)
    over: str | None = None  # the ticket the month's notice named
    over_count: int = 0  # its place in the month (the count its notice states)

    def to_doc(self) -> dict:
        doc: dict = {"n": self.count, "s": base64.b64encode(self.seen).decode()}
        if self.over is not None:
            doc["o"], doc["c"] = self.over, self.over_count
        return doc

    @classmethod
    def from_doc(cls, doc: dict) -> Month:
        return cls(doc["n"], base64.b64decode(doc["s"]), doc.get("o"), doc.get("c", 0))


@dataclasses.dataclass(frozen=True, slots=True)
class Folded:
    """What folding one incident did: ``changed`` (the state must be written), and the escalation to send
    (the first time the month goes over, and again when that ticket's incident is redelivered)."""

    changed: bool
    escalation: records.Escalation | None = None


@dataclasses.dataclass(slots=True)
class CustomerState:
    customer_id: str
    months: dict[str, Month] = dataclasses.field(default_factory=dict)  # "YYYY-MM" -> its month, oldest first

    def apply(self, incident: Incident) -> Folded:
        """Fold an incident in. A ticket counts once per month, whatever the redeliveries; the first one
        over the allowance yields the month's escalation. Its incident redelivered yields the same record
        again (after a crash the table may hold the count while the escalation was never sent; consumers
        drop repeats by id); any other repeat yields nothing."""
        month = incident.month
        newest = max((_ordinal(m) for m in self.months), default=None)
        if newest is not None and _ordinal(month) <= newest - MONTHS_KEPT:
            return Folded(False)  # a month no longer kept: too late to count
        kept = self.months.get(month)
        digest = event_digest(incident.ticket_id)
        if kept is not None and digest_in(kept.seen, digest):
            if kept.over == incident.ticket_id:
                return Folded(False, escalation(incident, kept.over_count))
            return Folded(False)
        if kept is None:
            kept = self.months[month] = Month()
            self.months = dict(sorted(self.months.items(), key=lambda kv: _ordinal(kv[0])))
        kept.count += 1
        kept.seen += digest
        notice = None
        if kept.over is None and kept.count > incident.allowance:
            kept.over, kept.over_count = incident.ticket_id, kept.count
            notice = escalation(incident, kept.count)
        self._expire()
        return Folded(True, notice)

    def used(self, month: str) -> int:
        """Critical incidents counted in ``month`` (0 for a month not kept)."""
        kept = self.months.get(month)
        return 0 if kept is None else kept.count

    def _expire(self) -> None:
        newest = max(_ordinal(m) for m in self.months)
        for month in [m for m in self.months if _ordinal(m) <= newest - MONTHS_KEPT]:
            del self.months[month]

    def to_bytes(self) -> bytes:
        return orjson.dumps({"m": {month: kept.to_doc() for month, kept in self.months.items()}})

    @classmethod
    def from_bytes(cls, customer_id: str, data: bytes) -> CustomerState:
        doc = orjson.loads(data)
        return cls(customer_id, {month: Month.from_doc(m) for month, m in doc["m"].items()})
