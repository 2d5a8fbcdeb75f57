"""Zammad (trigger webhooks, default payload) -> section 2 events.

Authentication (Zammad admin documentation, "Webhook": "HMAC SHA1 Signature Token" and "Webhook payload:
Request headers"): a webhook with a signature token carries ``X-Hub-Signature: sha1=<hex HMAC-SHA1(token,
raw body)>`` (WebSub's method=signature), with ``X-Zammad-Trigger`` (the trigger's name) and
``X-Zammad-Delivery`` (a random id per delivery, not used here: ids come from the ticket and article).

The default payload is the ticket as it is now (``ticket`` {``id``, ``number``, ``state``, ``priority``,
``owner``, ``organization``, ``group``, ``customer``, ``article_count``, ``created_at``, ``updated_at``,
custom attributes...}) and the article the trigger fired for, if any (``article`` {``id``, ``sender``
"Customer" / "Agent" / "System", ``internal``, ``created_by``, ``created_at``}). It has no changelog, so
every call reports the ticket's current state, and each event is one the worker applies idempotently:

* a call while the ticket has at most one article -> ``ticket.created`` (event id from the ticket alone, so
  the same creation seen by several triggers is one event); its first article is the request, no reply;
* a later article: public by an agent -> ``ticket.responded``, by the customer -> ``ticket.customer_replied``;
  internal notes and system articles -> nothing;
* the state: waiting -> ``ticket.waiting_on_customer``, resolved -> ``ticket.resolved``, closed ->
  ``ticket.closed``, any other -> ``ticket.reopened`` (acts only on a resolved ticket);
* the priority -> ``ticket.severity_changed`` (to the severity it has: a no-op when unchanged);
* the owner -> ``ticket.assigned``, its event id from the owner, so repeated calls do not restart the
  engineer's response sample (a ticket handed back to an earlier owner keeps the first assignment).

State, priority and owner events take the ticket's ``updated_at`` as their instant and in their ids: a
retried delivery repeats them exactly. Point one webhook at ``/v1/webhooks/zammad`` and use it from
triggers on "Action: created" and "Action: updated" (with the condition you need); see the README.
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import hmac
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
    severity_of,
    text,
    ticket_id,
    truthy,
)
from pipeline.ingest.mapping import Common, Reader, read_common
from pipeline.kafka.client import Secret

SOURCE = "zammad"
SECRET_SETTING = "SLA_INGEST_ZAMMAD_SECRET_FILE"
_NOBODY = 1  # Zammad's user 1 ("-") owns unassigned tickets
_ENGINEER_IDS = ("login", "email", "id")
_text = functools.partial(text, keys=("name",))  # an attribute, or an expanded object's name (group, state...)


@dataclasses.dataclass(frozen=True, slots=True)
class Mapping(Common):
    # customer: "organization", "requester" or a ticket attribute; product: "group" or a ticket attribute
    ticket_key: str  # "number" (10081) or "id" (81)
    engineer_id: str  # which of a user's attributes names an engineer


def read_mapping(reader: Reader) -> Mapping:
    key = reader.text("ticket_key", "number")
    if key not in ("number", "id"):
        raise reader.error("ticket_key", 'must be "number" (10081, what people see) or "id" (81)', key)
    engineer = reader.text("staff.engineer_id", "login")
    if engineer not in _ENGINEER_IDS:
        raise reader.error("staff.engineer_id", f"must be one of {', '.join(_ENGINEER_IDS)}", engineer)
    common = read_common(reader, prefix="ZM-", product="group", waiting=("pending reminder",),
                         resolved=("closed",), closed=("merged",), ends_may_share=True)
    mapping = Mapping(**common.fields(), ticket_key=key, engineer_id=engineer)  # type: ignore[arg-type]
    reader.refuse_unknown()
    return mapping


def build(reader: Reader, secret: Secret | None) -> ZammadAdapter:
    mapping = read_mapping(reader)
    if secret is None:
        raise ConfigError(SECRET_SETTING, "the zammad webhook needs its HMAC SHA1 signature token (a file "
                                          "holding it); without it no call can be checked")
    return ZammadAdapter(mapping, secret)


class ZammadAdapter:
    source = SOURCE

    def __init__(self, mapping: Mapping, secret: Secret) -> None:
        self.mapping = mapping
        self._key = secret.reveal().encode()

    def authenticate(self, request: Request) -> None:
        signature = request.headers.get("x-hub-signature")
        if signature is None:
            raise Unauthorized("no X-Hub-Signature (set the webhook's HMAC SHA1 signature token)")
        method, _, digest = signature.strip().partition("=")
        if method.lower() != "sha1":
            raise Unauthorized("X-Hub-Signature: only sha1=<hex> is accepted")
        expected = hmac.new(self._key, request.body, hashlib.sha1).hexdigest()
        if not constant_time_equal(digest.lower(), expected):
            raise Unauthorized("X-Hub-Signature does not match the body")

    def events(self, request: Request) -> list[dict[str, Any]]:
        doc = load_object(request.body)
        ticket = need_object(doc, "ticket", "a Zammad webhook carries the ticket in 'ticket'")
        native = ticket.get("id")
        shown = ticket.get(self.mapping.ticket_key)
        if native is None or shown is None:
            missing = "id" if native is None else self.mapping.ticket_key
            raise Unmappable(f"missing_field:ticket.{missing}", f"the ticket has no {missing}")
        tid = ticket_id(self.mapping.prefix, shown)
        at = parse_instant(ticket.get("updated_at"), "ticket.updated_at")
        article = doc.get("article")
        article = article if isinstance(article, dict) and article else None
        count = ticket.get("article_count")
        creating = not isinstance(count, int) or count <= 1
        out: list[dict[str, Any]] = []
        if creating:
            out.append(self._created(ticket, native, tid))
        elif article is not None:
            out += self._article(article, native, tid)
        out += self._state(ticket, native, tid, at, creating)
        return sorted(out, key=lambda e: e["occurred_at"])  # one format (UTC, ms): text order is time order

    def _created(self, ticket: dict[str, Any], native: object, tid: str) -> dict[str, Any]:
        m = self.mapping
        return event("ticket.created", tid, event_id(SOURCE, native, "created", "created"),
                     parse_instant(ticket.get("created_at"), "ticket.created_at"),
                     severity=self._severity(ticket), product=self._product(ticket),
                     customer_id=self._customer(ticket),
                     contract=_text(ticket.get(m.contract)) if m.contract else None,
                     fastlane=truthy(ticket.get(m.fastlane), read=_text) if m.fastlane else None)

    def _article(self, article: dict[str, Any], native: object, tid: str) -> list[dict[str, Any]]:
        if article.get("internal") is not False:
            return []  # an internal note (or an article that does not say): the customer never sees it
        number = article.get("id")
        if number is None:
            raise Unmappable("missing_field:article.id", "an article without its id cannot be told from a retry")
        sender = str(article.get("sender") or "").casefold()
        at = parse_instant(article.get("created_at"), "article.created_at")
        eid = event_id(SOURCE, native, f"article:{number}", "article")
        if sender == "customer":
            return [event("ticket.customer_replied", tid, eid, at)]
        if sender == "agent":
            author = self._user(article.get("created_by"), article.get("created_by_id"))
            if author is None:
                raise Unmappable("missing_field:article.created_by", "an agent's article needs its author")
            return [event("ticket.responded", tid, eid, at, engineer_id=author)]
        return []  # "System" articles: auto-replies, notifications

    def _state(self, ticket: dict[str, Any], native: object, tid: str, at: int,
               creating: bool) -> list[dict[str, Any]]:
        m = self.mapping
        when = ticket.get("updated_at")

        def one(etype: str, kind: str, **extra: Any) -> dict[str, Any]:
            return event(etype, tid, event_id(SOURCE, native, f"at:{when}", kind), at, **extra)

        out = []
        owner = self._user(ticket.get("owner"), ticket.get("owner_id"))
        if owner is not None:
            out.append(event("ticket.assigned", tid, event_id(SOURCE, native, f"owner:{owner}", "assigned"), at,
                             engineer_id=owner))
        if not creating:
            out.append(one("ticket.severity_changed", "severity", severity=self._severity(ticket)))
        state = (_text(ticket.get("state")) or "").casefold()
        if state in m.waiting:
            out.append(one("ticket.waiting_on_customer", "waiting"))
        elif state in m.resolved | m.closed:
            if state in m.resolved:
                engineer = owner or self._user(ticket.get("updated_by"), ticket.get("updated_by_id"))
                if engineer is None:
                    raise Unmappable("missing_field:ticket.owner", "a resolved ticket needs an owner or an "
                                                                   "editor (updated_by) to credit")
                out.append(one("ticket.resolved", "resolved", engineer_id=engineer))
            if state in m.closed:
                out.append(one("ticket.closed", "closed"))
        elif not creating:
            out.append(one("ticket.reopened", "reopened"))
        return out

    def _user(self, user: Any, user_id: Any) -> str | None:
        if isinstance(user, dict):
            if user.get("id") == _NOBODY:
                return None
            value = user.get(self.mapping.engineer_id)
            if value not in (None, ""):
                return str(value)
        if self.mapping.engineer_id == "id" and user_id not in (None, _NOBODY):
            return str(user_id)
        return None

    def _severity(self, ticket: dict[str, Any]) -> int:
        return severity_of(_text(ticket.get("priority")), self.mapping.severities, self.mapping.default_severity,
                           "ticket.priority")

    def _customer(self, ticket: dict[str, Any]) -> str:
        how = self.mapping.customer
        person = ticket.get("customer")
        requester = _text(person.get("login") or person.get("email")) if isinstance(person, dict) else None
        requester = requester or _text(ticket.get("customer_id"))
        if how == "organization":
            found = _text(ticket.get("organization")) or requester  # no organisation: the person is the customer
        elif how == "requester":
            found = requester
        else:
            found = _text(ticket.get(how))
        if not found:
            raise Unmappable("missing_field:ticket.customer", "no customer: the ticket has neither the "
                                                              "customer attribute nor a customer")
        return found

    def _product(self, ticket: dict[str, Any]) -> str:
        how = self.mapping.product
        return _text(ticket.get(how)) or self.mapping.default_product

