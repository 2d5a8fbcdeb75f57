"""Request Tracker 5 (our scrip, ``pipeline/resources/ingest/rt-scrip.pl``) -> section 2 events.

RT 5.0 has no webhooks of its own; the project ships a global scrip (On Transaction, User Defined, stage
TransactionCreate) that posts every transaction with its ticket, one call per transaction:
``{"transaction": {id, Type, Field, OldValue, NewValue, Created, Creator, [OldOwner, NewOwner]},
"ticket": {id, Queue, Status, Priority, Owner, Requestors, CustomFields, Created}}``. Users appear as REST 2
names them (``id`` = the user's Name) with ``EmailAddress``, ``Organization`` and ``Privileged``; numbers
are strings and dates UTC (``2026-12-03T15:48:54Z``). ``sla-pipeline ingest catchup`` builds the same
document from RT's REST 2 history (:mod:`pipeline.ingest.catchup`), so both paths give the same events.

Authentication (our own scheme, computed by the scrip with core Perl's ``Digest::SHA::hmac_sha256_hex(body,
secret)``): ``X-RT-Signature`` = hex HMAC-SHA256(secret, raw body). ``X-RT-Transaction-Id`` names the
transaction for logs; it is not signed, so the ids used are the body's.

Mapping, one transaction at a time (RT posts a transaction's side effects before the transaction itself, and
never retries: order does not matter, the worker applies events by ``occurred_at``):

* ``Create`` -> ``ticket.created`` (severity from Priority, product from the queue or a custom field,
  customer from the first requestor's organisation or email domain, contract and FastLane from custom fields);
* ``Correspond`` by staff -> ``ticket.responded``, by a customer -> ``ticket.customer_replied`` (who is
  staff: the mapping's ``staff``); ``Comment`` (internal) -> nothing;
* ``Status`` to a waiting status -> ``ticket.waiting_on_customer``, to a resolved one -> ``ticket.resolved``
  (engineer: the owner, else who resolved it), to a closed one (rejected, deleted) -> ``ticket.closed``,
  from a resolved one back to an active one -> ``ticket.reopened``; RT's own new -> open -> nothing;
* ``Set`` Owner -> ``ticket.assigned`` (to Nobody: nothing); ``Set`` Priority -> ``ticket.severity_changed``
  when the severity changes; every other transaction -> nothing.

Event ids are ``rt:<ticket>:<transaction id>:<type>``: a replay of the same transaction is a duplicate.
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import hmac
import re
from typing import Any

from pipeline.errors import ConfigError
from pipeline.ingest.adapter import (
    Request,
    Unauthorized,
    Unmappable,
    constant_time_equal,
    event,
    event_id,
    load_object,
    need_object,
    parse_instant,
    text,
    ticket_id,
    truthy,
)
from pipeline.ingest.mapping import Common, Reader, read_common
from pipeline.kafka.client import Secret

SOURCE = "rt"
SECRET_SETTING = "SLA_INGEST_RT_SECRET_FILE"
SYSTEM_USERS = frozenset({"RT_System"})  # RT itself (auto-open, SLA dates): never a person's reply
NOBODY = "Nobody"  # RT's owner of unowned tickets
STAFF_RULES = {
    "privileged_or_not_requestor": "a privileged user, or anyone who is not a requestor",
    "privileged": "only privileged users (an unprivileged Cc replies as the customer)",
    "not_requestor": "anyone who is not a requestor (RT's own SLA rule)",
}
CUSTOMER_SOURCES = ("organization", "domain", "requester")
_RANGE = re.compile(r"^\s*(\d+)\s*(?:-\s*(\d+)\s*)?$")
_RT_DATE = re.compile(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d")  # RT's own form of a UTC date
_text = functools.partial(text, scalars=(str, int))  # the scrip and REST 2 send strings (and a few integers)


@dataclasses.dataclass(frozen=True, slots=True)
class Mapping(Common):
    # customer: one of CUSTOMER_SOURCES, or a custom field's name; product: "queue" or a custom field's name;
    # contract and fastlane: a custom field's name
    ranges: tuple[tuple[int, int, int], ...]  # (lowest, highest, severity): RT priorities, both included
    staff: str  # a key of STAFF_RULES
    fastlane_values: frozenset[str]

    def severity(self, priority: object) -> int:
        try:
            value = int(str(priority).strip())
        except ValueError:
            return self.default_severity
        return next((sev for low, high, sev in self.ranges if low <= value <= high), self.default_severity)


def read_mapping(reader: Reader) -> Mapping:
    common = read_common(reader, prefix="RT-", product="queue", waiting=("stalled",), resolved=("resolved",),
                         closed=("rejected", "deleted"))
    ranges = []
    for key, severity in common.severities.items():
        match = _RANGE.match(key)
        if match is None:
            raise reader.error(f"severity.{key}", 'must be an RT priority ("80") or a range of them ("80-99")')
        low, high = int(match[1]), int(match[2] or match[1])
        if low > high:
            raise reader.error(f"severity.{key}", "must be a range from low to high")
        for other_low, other_high, _ in ranges:
            if low <= other_high and other_low <= high:
                raise reader.error(f"severity.{key}", f"overlaps the range {other_low}-{other_high}")
        ranges.append((low, high, severity))
    staff = reader.text("staff", "privileged_or_not_requestor")
    if staff not in STAFF_RULES:
        raise reader.error("staff", f"must be one of {', '.join(STAFF_RULES)}", staff)
    mapping = Mapping(
        **common.fields(),
        ranges=tuple(sorted(ranges)),
        staff=staff,  # type: ignore[arg-type]
        fastlane_values=frozenset(v.casefold() for v in reader.texts("fields.fastlane_values", ("yes", "true", "1"))),
    )
    reader.refuse_unknown()
    return mapping


def build(reader: Reader, secret: Secret | None) -> RtAdapter:
    mapping = read_mapping(reader)
    if secret is None:
        raise ConfigError(SECRET_SETTING, "the RT scrip signs each call with a shared secret (RT's "
                                          "$SLAIngestSecret); name a file holding the same text")
    return RtAdapter(mapping, secret)


class RtAdapter:
    source = SOURCE

    def __init__(self, mapping: Mapping, secret: Secret) -> None:
        self.mapping = mapping
        self._key = secret.reveal().encode()

    def authenticate(self, request: Request) -> None:
        signature = request.headers.get("x-rt-signature")
        if not signature:
            raise Unauthorized("no X-RT-Signature (is the scrip's $SLAIngestSecret set?)")
        expected = hmac.new(self._key, request.body, hashlib.sha256).hexdigest()
        if not constant_time_equal(signature.strip().lower(), expected):
            raise Unauthorized("X-RT-Signature does not match the body")

    def events(self, request: Request) -> list[dict[str, Any]]:
        return payload_events(load_object(request.body), self.mapping)


def payload_events(doc: dict[str, Any], m: Mapping) -> list[dict[str, Any]]:
    """The events one scrip document means (none, or one): the webhook's and the catch-up's one home."""
    txn, ticket = need_object(doc, "transaction"), need_object(doc, "ticket")
    native = _required(ticket, "ticket", "id")
    number = _required(txn, "transaction", "id")
    tid = ticket_id(m.prefix, native)
    kind = txn.get("Type")
    field = txn.get("Field")
    actor = _user(txn.get("Creator"))

    def one(etype: str, **fields: Any) -> list[dict[str, Any]]:
        at = _instant(txn.get("Created"), "transaction.Created")
        return [event(etype, tid, event_id(SOURCE, native, number, etype), at, **fields)]

    if kind == "Create":
        return one("ticket.created", severity=m.severity(ticket.get("Priority")), product=_product(ticket, m),
                   customer_id=_customer(ticket, m), contract=_field(ticket, m.contract) if m.contract else None,
                   fastlane=(_field(ticket, m.fastlane) or "").casefold() in m.fastlane_values
                   if m.fastlane else None)
    if kind == "Correspond":
        if actor is None or actor in SYSTEM_USERS:
            return []
        if _is_staff(txn.get("Creator"), ticket, m):
            return one("ticket.responded", engineer_id=actor)
        return one("ticket.customer_replied")
    if kind == "Status" or (kind == "Set" and field == "Status"):
        return _status(txn, ticket, m, actor, one)
    if kind == "Set" and field == "Owner":
        owner = _user(txn.get("NewOwner"))  # NewValue is a user id; the scrip says whose
        if owner is None:
            raise Unmappable("missing_field:transaction.NewOwner", "an owner change names the new owner")
        if owner == NOBODY:
            return []  # given back: nobody's sample starts
        return one("ticket.assigned", engineer_id=owner)
    if kind == "Set" and field == "Priority":
        old, new = m.severity(txn.get("OldValue")), m.severity(txn.get("NewValue"))
        return [] if old == new else one("ticket.severity_changed", severity=new)
    return []  # Comment (internal), SetWatcher, CustomField, Set Due/Starts, EmailRecord...


def _status(txn: dict[str, Any], ticket: dict[str, Any], m: Mapping, actor: str | None,
            one: Any) -> list[dict[str, Any]]:
    old = (_text(txn.get("OldValue")) or "").casefold()
    new = (_text(txn.get("NewValue")) or "").casefold()
    if new in m.closed:
        return [] if old in m.closed else one("ticket.closed")
    if new in m.resolved:
        if old in m.resolved:
            return []
        owner = _user(ticket.get("Owner"))
        engineer = owner if owner is not None and owner != NOBODY else actor
        if engineer is None:
            raise Unmappable("missing_field:transaction.Creator", "a resolution needs the ticket's owner or its actor")
        return one("ticket.resolved", engineer_id=engineer)
    if old in m.resolved:
        return one("ticket.reopened")  # resolved -> an active status (open, new, stalled...)
    if new in m.waiting and old not in m.waiting:
        return one("ticket.waiting_on_customer")
    return []  # new -> open (RT's auto-open), stalled -> open...


def _is_staff(creator: Any, ticket: dict[str, Any], m: Mapping) -> bool:
    name = _user(creator)
    privileged = isinstance(creator, dict) and truthy(creator.get("Privileged"), frozenset({"1"}), read=_text)
    requestor = name in {_user(r) for r in _requestors(ticket)}
    if m.staff == "privileged":
        return privileged
    if m.staff == "not_requestor":
        return not requestor
    return privileged or not requestor


def _customer(ticket: dict[str, Any], m: Mapping) -> str:
    if m.customer not in CUSTOMER_SOURCES:
        value = _field(ticket, m.customer)
        if value is None:
            raise Unmappable(f"missing_field:ticket.CustomFields.{m.customer}",
                             f"the customer comes from the custom field {m.customer!r} (fields.customer), "
                             "which this ticket has no value for")
        return value
    requestors = _requestors(ticket)
    if not requestors:
        raise Unmappable("missing_field:ticket.Requestors", "a ticket without a requestor has no customer")
    first = requestors[0]
    email = _text(first.get("EmailAddress"))
    domain = email.rpartition("@")[2].casefold() if email and "@" in email else None
    if m.customer == "organization":
        value = _text(first.get("Organization")) or domain
    elif m.customer == "domain":
        value = domain
    else:
        value = email or _user(first)
    if value is None:
        lacks = "organization or email address" if m.customer == "organization" else "email address"
        raise Unmappable("missing_field:ticket.Requestors.EmailAddress", f"the first requestor has no {lacks}")
    return value


def _product(ticket: dict[str, Any], m: Mapping) -> str:
    value = _text(ticket.get("Queue")) if m.product == "queue" else _field(ticket, m.product)
    return value or m.default_product


def _field(ticket: dict[str, Any], name: str) -> str | None:
    """A custom field's first value (the scrip sends ``{name: [values]}``)."""
    fields = ticket.get("CustomFields")
    values = fields.get(name) if isinstance(fields, dict) else None
    if isinstance(values, list):
        values = values[0] if values else None
    return _text(values)


def _requestors(ticket: dict[str, Any]) -> list[dict[str, Any]]:
    requestors = ticket.get("Requestors")
    return [r for r in requestors if isinstance(r, dict)] if isinstance(requestors, list) else []


def _user(value: Any) -> str | None:
    return _text(value.get("id")) if isinstance(value, dict) else None


def _required(obj: dict[str, Any], where: str, name: str) -> str:
    value = _text(obj.get(name))
    if value is None:
        raise Unmappable(f"missing_field:{where}.{name}", f"the {where} has no {name}")
    return value


def _instant(value: Any, path: str) -> int:
    """RT's dates are UTC: REST 2 and the scrip write ``2026-12-03T15:48:54Z``, RT's own ``2026-12-03 15:48:54``."""
    if isinstance(value, str) and _RT_DATE.fullmatch(value):
        value = value.replace(" ", "T") + "Z"
    at = parse_instant("" if value is None else value, path)  # RT has always called no date invalid, not missing
    if at <= 0:
        raise Unmappable(f"invalid_field:{path}", f"{path} is RT's unset date")
    return at
