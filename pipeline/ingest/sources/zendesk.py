"""Zendesk: the webhook adapter (contract v3 section 11).

Authentication (developer.zendesk.com, "Verifying webhook authenticity"): every webhook call carries
``X-Zendesk-Webhook-Signature`` = base64(HMAC-SHA256(signing secret, ``X-Zendesk-Webhook-Signature-Timestamp``
followed by the raw body)). We also refuse a timestamp more than 5 minutes from the call's arrival (a replay).

Two kinds of Zendesk webhooks reach ``/v1/webhooks/zendesk``, told apart by their body:

* **Event-subscribed** (``"type": "zen:event-type:ticket.…"``, documented payloads; "Webhook event types:
  Ticket events"). We map the five that carry what the SLA judges:
  ``ticket.created`` (priority, organisation, requester, group, brand, form, tags), ``ticket.comment_added``
  (``is_public`` and ``author.is_staff`` tell a response from a customer reply from an internal note),
  ``ticket.status_changed`` (``previous``/``current``: waiting, solved, closed, and solved -> open is a reopen),
  ``ticket.priority_changed`` and ``ticket.agent_assignment_changed``. Every other ticket event type (group,
  tags, custom status, which duplicates status_changed's category, comment made private: a response once
  given stays given, ...) is about nothing the SLA judges: answered 200 with no event. These payloads carry
  no custom fields, so product, contract and FastLane come from the group, brand, form or tags.
* **Trigger/automation** webhooks: the body is the JSON an admin writes with placeholders; the mapping file
  ships the recommended body (one trigger per ``sla_event``: created, comment, status, reopened, priority,
  assignee). Its times (``*_at_with_timestamp``) have minute precision.

Event ids come from Zendesk's own ids: the comment id for comments, the event's ``id`` for the other
event-subscribed events (a retried delivery repeats it), the update time and the new value for triggers.
"""

from __future__ import annotations

import base64
import dataclasses
import hashlib
import hmac
import re
from collections.abc import Callable
from typing import Any

from pipeline.domain.timefmt import MINUTE_MS, SECOND_MS, TimestampError, parse_rfc3339_ms
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
    severity_of,
    text,
    ticket_id,
)
from pipeline.ingest.mapping import Common, Reader, read_common
from pipeline.kafka.client import Secret

SOURCE = "zendesk"
SECRET_SETTING = "SLA_INGEST_ZENDESK_SECRET_FILE"
SIGNATURE_HEADER = "x-zendesk-webhook-signature"
TIMESTAMP_HEADER = "x-zendesk-webhook-signature-timestamp"
REPLAY_WINDOW_MS = 5 * MINUTE_MS
EVENT_PREFIX = "zen:event-type:"
TRIGGER_KINDS = ("created", "comment", "status", "reopened", "priority", "assignee")
_PRODUCT_FROM = ("group", "brand", "form")
_MINUTES = re.compile(r"^(\d{4}-\d{2}-\d{2}T\d{2}:\d{2})([Zz]|[+-]\d{2}:\d{2})$")  # 2013-12-12T05:35Z


def signature(secret: str, timestamp: str, body: bytes) -> str:
    """What Zendesk puts in ``X-Zendesk-Webhook-Signature`` for this timestamp header and body."""
    digest = hmac.new(secret.encode(), timestamp.encode() + body, hashlib.sha256).digest()
    return base64.b64encode(digest).decode()


@dataclasses.dataclass(frozen=True, slots=True)
class Mapping(Common):
    # customer: "organization" | "requester"; product: "group" | "brand" | "form" | "tag:<prefix>";
    # contract and fastlane: the tag's text (casefolded), after "tag:"
    products: dict[str, str]
    staff_roles: frozenset[str]


def build(reader: Reader, secret: Secret | None) -> ZendeskAdapter:
    if secret is None:
        raise ConfigError(SECRET_SETTING, "the Zendesk webhook's signing secret is needed to check its calls")
    return ZendeskAdapter(read_mapping(reader), secret)


def read_mapping(reader: Reader) -> Mapping:
    common = read_common(reader, prefix="ZD-", product="group", waiting=("pending",), resolved=("solved",),
                         closed=("closed",))
    if common.customer not in ("organization", "requester"):
        raise reader.error("fields.customer", 'must be "organization" or "requester"', common.customer)
    if common.product not in _PRODUCT_FROM and not _is_tag(common.product):
        raise reader.error("fields.product", 'must be "group", "brand", "form" or "tag:<prefix>"', common.product)
    products = reader.get("products", {})
    if not isinstance(products, dict) or any(not isinstance(v, str) or not v for v in products.values()):
        raise reader.error("products", "must be a table of group, brand or form ids (or tag values) to product "
                                       "names", products)
    for key, value in (("fields.contract", common.contract), ("fields.fastlane", common.fastlane)):
        if value is not None and not _is_tag(value):
            raise reader.error(key, 'must be "tag:<text>"', value)
    mapping = Mapping(
        **{**common.fields(), "contract": _tag(common.contract), "fastlane": _tag(common.fastlane)},
        products={str(k).casefold(): v for k, v in products.items()},
        staff_roles=frozenset(r.casefold() for r in reader.texts("staff_roles", ("agent", "admin"))),
    )
    reader.refuse_unknown()
    return mapping


def _is_tag(value: str) -> bool:
    return value.startswith("tag:") and len(value) > 4


def _tag(value: str | None) -> str | None:
    return None if value is None else value[4:].casefold()


class ZendeskAdapter:
    source = SOURCE

    def __init__(self, mapping: Mapping, secret: Secret) -> None:
        self.mapping = mapping
        self._secret = secret

    def authenticate(self, request: Request) -> None:
        given = request.headers.get(SIGNATURE_HEADER)
        stamp = request.headers.get(TIMESTAMP_HEADER)
        if not given or not stamp:
            raise Unauthorized("missing X-Zendesk-Webhook-Signature or X-Zendesk-Webhook-Signature-Timestamp")
        if not constant_time_equal(signature(self._secret.reveal(), stamp, request.body), given.strip()):
            raise Unauthorized("wrong X-Zendesk-Webhook-Signature")
        at = _stamp_ms(stamp)
        if at is None:
            raise Unauthorized("unreadable X-Zendesk-Webhook-Signature-Timestamp")
        if abs(request.received_ms - at) > REPLAY_WINDOW_MS:
            raise Unauthorized("X-Zendesk-Webhook-Signature-Timestamp is more than 5 minutes away: a replay?")

    def events(self, request: Request) -> list[dict[str, Any]]:
        doc = load_object(request.body)
        kind = doc.get("type")
        if isinstance(kind, str) and kind.startswith(EVENT_PREFIX):
            return _Call(self.mapping, doc, trigger=False).subscribed(kind[len(EVENT_PREFIX):])
        if "sla_event" in doc:
            return _Call(self.mapping, doc, trigger=True).triggered(doc["sla_event"])
        raise Unmappable("unknown_event", "neither a Zendesk event (type zen:event-type:...) nor a trigger body with "
                                          "sla_event (see the shipped zendesk.toml for the recommended body)")


class _Call:
    """One call's payload read through the mapping: event-subscribed (``detail``/``event``) or trigger
    (``ticket``/``comment``/``current_user``, same key names as ``detail`` so one reader serves both)."""

    def __init__(self, mapping: Mapping, doc: dict[str, Any], trigger: bool) -> None:
        self.m = mapping
        self.doc = doc
        self.trigger = trigger
        self.root = "ticket" if trigger else "detail"
        self.ticket = need_object(doc, self.root)
        self.native = self.need(self.ticket, "id")
        self.tid = ticket_id(mapping.prefix, self.native)

    # --- reading -------------------------------------------------------------------------------------
    def need(self, obj: dict[str, Any], key: str, where: str | None = None) -> str:
        """``obj[key]`` as text; ``where`` is obj's path in the payload (the ticket object by default, "" the top)."""
        value = text(obj.get(key))
        if value is None:
            raise Unmappable(f"missing_field:{_path(self.root if where is None else where, key)}",
                             f"the payload has no {key}")
        return value

    def at(self, obj: dict[str, Any], key: str, where: str | None = None) -> int:
        given = self.need(obj, key, where)
        try:
            return _parse_time(given)
        except TimestampError:
            raise Unmappable(f"invalid_field:{_path(self.root if where is None else where, key)}",
                             f"not an ISO 8601 time: {given[:40]!r}") from None

    def severity(self, value: Any, path: str) -> int:
        return severity_of(text(value), self.m.severities, self.m.default_severity, path)

    def tags(self) -> list[str]:
        raw = self.ticket.get("tags")
        items = raw.split() if isinstance(raw, str) else raw if isinstance(raw, list) else []
        return [str(t).casefold() for t in items]

    def tagged(self, prefix: str) -> str | None:
        return next((t[len(prefix):] for t in self.tags() if t.startswith(prefix) and len(t) > len(prefix)), None)

    def make(self, etype: str, native_event: str, kind: str, at_ms: int, **fields: Any) -> dict[str, Any]:
        return event(etype, self.tid, event_id(SOURCE, self.native, native_event, kind), at_ms, **fields)

    # --- ticket.created --------------------------------------------------------------------------------
    def created(self, at_ms: int) -> list[dict[str, Any]]:
        m = self.m
        requester = text(self.ticket.get("requester_id"))
        customer = text(self.ticket.get("organization_id")) if m.customer == "organization" else None
        customer = customer or requester  # no organisation: the requester is the customer
        if customer is None:
            raise Unmappable(f"missing_field:{self.root}.requester_id", "the ticket has no requester")
        raw = self.tagged(m.product[4:].casefold()) if _is_tag(m.product) else text(
            self.ticket.get(f"{m.product}_id"))
        product = m.products.get(raw.casefold(), raw) if raw else m.default_product
        fields: dict[str, Any] = {
            "severity": self.severity(self.ticket.get("priority"), f"{self.root}.priority"),
            "product": product, "customer_id": customer,
            "contract": self.tagged(m.contract) if m.contract else None,
        }
        if m.fastlane:
            fields["fastlane"] = m.fastlane in self.tags()
        return [self.make("ticket.created", "created", "created", at_ms, **fields)]

    def status(self, current: str, previous: str | None, native_event: str, at_ms: int) -> list[dict[str, Any]]:
        m, now = self.m, current.casefold()
        if now in m.waiting:
            return [self.make("ticket.waiting_on_customer", native_event, "waiting", at_ms)]
        if now in m.resolved:
            engineer = text(self.ticket.get("assignee_id")) or self.actor()
            if engineer is None:
                raise Unmappable(f"missing_field:{self.root}.assignee_id", "a solved ticket with no assignee or actor")
            return [self.make("ticket.resolved", native_event, "resolved", at_ms, engineer_id=engineer)]
        if now in m.closed:
            return [self.make("ticket.closed", native_event, "closed", at_ms)]
        if previous is not None and previous.casefold() in m.resolved:
            return [self.make("ticket.reopened", native_event, "reopened", at_ms)]
        return []  # open, on-hold, new: nothing the SLA judges

    def actor(self) -> str | None:
        if self.trigger:
            user = self.doc.get("current_user")
            return text(user.get("id")) if isinstance(user, dict) else None
        return text(self.ticket.get("actor_id"))

    # --- event-subscribed --------------------------------------------------------------------------------
    def subscribed(self, kind: str) -> list[dict[str, Any]]:
        handler: Callable[[dict[str, Any], int, str], list[dict[str, Any]]] | None = {
            "ticket.created": lambda ev, at, eid: self.created(at),
            "ticket.comment_added": self.comment_added,
            "ticket.status_changed": lambda ev, at, eid: self.status(
                self.need(ev, "current", "event"), text(ev.get("previous")), eid, at),
            "ticket.priority_changed": lambda ev, at, eid: [self.make(
                "ticket.severity_changed", eid, "severity", at, severity=self.severity(ev.get("current"),
                                                                                       "event.current"))],
            "ticket.agent_assignment_changed": self.assignment,
        }.get(kind)
        if handler is None:
            return []  # another Zendesk event (tags, group, custom status, ...): nothing the SLA judges
        ev = self.doc.get("event")
        ev = ev if isinstance(ev, dict) else {}
        return handler(ev, self.at(self.doc, "time", ""), self.need(self.doc, "id", ""))

    def comment_added(self, ev: dict[str, Any], at_ms: int, _eid: str) -> list[dict[str, Any]]:
        comment = ev.get("comment")
        if not isinstance(comment, dict):
            raise Unmappable("missing_field:event.comment", "a comment_added event without its comment")
        if comment.get("is_public") is not True:
            return []  # an internal note: nothing the customer sees
        created = text(self.ticket.get("created_at"))
        if created is not None and _same_second(created, at_ms):
            return []  # the ticket's first comment (its description) is part of ticket.created, not a reply
        author = comment.get("author") if isinstance(comment.get("author"), dict) else {}
        return self.reply(self.need(comment, "id", "event.comment"), author.get("is_staff") is True,
                          text(author.get("id")), at_ms)

    def reply(self, comment_id: str, staff: bool, author: str | None, at_ms: int) -> list[dict[str, Any]]:
        if not staff:
            return [self.make("ticket.customer_replied", comment_id, "customer_replied", at_ms)]
        engineer = author or self.actor()
        if engineer is None:
            raise Unmappable("missing_field:comment.author.id", "a staff reply without its author")
        return [self.make("ticket.responded", comment_id, "responded", at_ms, engineer_id=engineer)]

    def assignment(self, ev: dict[str, Any], at_ms: int, eid: str) -> list[dict[str, Any]]:
        engineer = text(ev.get("current"))
        if engineer is None:
            return []  # unassigned: nobody owns it now; the SLA clocks run on
        return [self.make("ticket.assigned", eid, "assigned", at_ms, engineer_id=engineer)]

    # --- trigger / automation bodies ---------------------------------------------------------------------------
    def triggered(self, kind: Any) -> list[dict[str, Any]]:
        if kind not in TRIGGER_KINDS:
            raise Unmappable("invalid_field:sla_event", f"sla_event must be one of {', '.join(TRIGGER_KINDS)}, "
                                                        f"got {str(kind)[:40]!r}")
        if kind == "created":
            return self.created(self.at(self.ticket, "created_at"))
        at, updated = self.at(self.ticket, "updated_at"), self.need(self.ticket, "updated_at")
        if kind == "comment":
            comment = self.doc.get("comment")
            if not isinstance(comment, dict):
                raise Unmappable("missing_field:comment", "a comment trigger without its comment object")
            if text(comment.get("public")) not in ("true", "True"):
                return []  # an internal note
            user = self.doc.get("current_user") if isinstance(self.doc.get("current_user"), dict) else {}
            role = (text(user.get("role")) or "").casefold()
            return self.reply(self.need(comment, "id", "comment"), role in self.m.staff_roles,
                              text(comment.get("author_id")), at)
        if kind == "reopened":
            return [self.make("ticket.reopened", updated, "reopened", at)]
        if kind == "status":
            status = self.need(self.ticket, "status")
            return self.status(status, None, f"{updated}:{status.casefold()}", at)
        if kind == "priority":
            priority = text(self.ticket.get("priority")) or ""
            return [self.make("ticket.severity_changed", f"{updated}:{priority.casefold()}", "severity", at,
                              severity=self.severity(priority, "ticket.priority"))]
        engineer = text(self.ticket.get("assignee_id"))
        return [] if engineer is None else [
            self.make("ticket.assigned", f"{updated}:{engineer}", "assigned", at, engineer_id=engineer)]


def _path(where: str, key: str) -> str:
    return f"{where}.{key}" if where else key


def _parse_time(given: str) -> int:
    minutes = _MINUTES.match(given)
    return parse_rfc3339_ms(f"{minutes[1]}:00{minutes[2]}" if minutes else given)


def _same_second(given: str, at_ms: int) -> bool:
    try:
        return _parse_time(given) // SECOND_MS == at_ms // SECOND_MS
    except TimestampError:
        return False


def _stamp_ms(stamp: str) -> int | None:
    """The signature timestamp header: ISO 8601 as Zendesk sends it (epoch seconds also read)."""
    if stamp.isdigit():
        return int(stamp) * SECOND_MS
    try:
        return _parse_time(stamp)
    except TimestampError:
        return None
