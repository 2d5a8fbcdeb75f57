"""Freshdesk: the webhook adapter (contract v3 section 11).

Freshdesk calls webhooks from automation rules ("Trigger webhook" action, Admin > Workflows > Automations),
with a JSON body the admin writes from placeholders (``{{ticket.id}}``, ``{{ticket.status}}``...; the mapping
file ships the recommended body, one rule per ``sla_event``). It does not sign its calls (Freshdesk support,
"Using webhooks in automation rules": custom headers or "Requires authentication" with a user name and
password), so a call is authentic when it carries the shared secret: in a custom header (``secret_header``,
by default ``X-SLA-Webhook-Secret``) or as the password of HTTP basic authentication. Compared in constant time.

Freshdesk's placeholders carry no id of a reply or an update and no machine-readable time, so:
* the native event id is ``{{ticket.modified_on}}`` (the ticket's last update, as Freshdesk renders it) with the
  rule's kind: a retried delivery repeats it; two replies of the same kind rendered with the same update time
  count once;
* ``occurred_at`` is the body's ``occurred_at`` if the admin supplied an RFC 3339 time, else the call's arrival
  (``Request.received_ms``): Freshdesk calls the webhook as the rule runs, and a retry's later arrival is a
  duplicate downstream, so the first delivery's time stands.
"""

from __future__ import annotations

import base64
import binascii
import dataclasses
import hashlib
from typing import Any

from pipeline.errors import ConfigError
from pipeline.ingest.adapter import (
    Request,
    Unauthorized,
    Unmappable,
    constant_time_equal,
    event,
    event_id,
    load_json,
    need_object,
    parse_instant,
    severity_of,
    text,
    ticket_id,
)
from pipeline.ingest.mapping import Common, Reader, read_common
from pipeline.kafka.client import Secret

SOURCE = "freshdesk"
SECRET_SETTING = "SLA_INGEST_FRESHDESK_SECRET_FILE"
KINDS = ("created", "agent_reply", "customer_reply", "status", "reopened", "priority", "assignee")
_TRUE = frozenset({"true", "yes", "1", "on", "checked"})


@dataclasses.dataclass(frozen=True, slots=True)
class Mapping(Common):
    # customer: a key of the body's "ticket" object ("company" for organization, "requester_id" for requester)
    secret_header: str
    basic_user: str | None
    unassigned_engineer: str


def build(reader: Reader, secret: Secret | None) -> FreshdeskAdapter:
    if secret is None:
        raise ConfigError(SECRET_SETTING, "Freshdesk does not sign its webhooks: the shared secret its rules send "
                                          "(header or basic-auth password) is needed to check its calls")
    return FreshdeskAdapter(read_mapping(reader), secret)


def read_mapping(reader: Reader) -> Mapping:
    common = read_common(reader, prefix="FD-", product="group", waiting=("Pending", "Waiting on Customer"),
                         resolved=("Resolved",), closed=("Closed",))
    customer = {"organization": "company", "requester": "requester_id"}.get(common.customer, common.customer)
    header = reader.text("secret_header", "X-SLA-Webhook-Secret")
    if not all(c.isalnum() or c == "-" for c in header):
        raise reader.error("secret_header", "must be an HTTP header name (letters, digits, '-')", header)
    mapping = Mapping(
        **{**common.fields(), "customer": customer},
        secret_header=header.lower(),
        basic_user=reader.text("basic_auth_user"),
        unassigned_engineer=reader.text("unassigned_engineer", "unassigned"),
    )
    reader.refuse_unknown()
    return mapping


class FreshdeskAdapter:
    source = SOURCE

    def __init__(self, mapping: Mapping, secret: Secret) -> None:
        self.mapping = mapping
        self._secret = secret

    def authenticate(self, request: Request) -> None:
        secret = self._secret.reveal()
        given = request.headers.get(self.mapping.secret_header)
        if given is not None:
            if not constant_time_equal(given.strip(), secret):
                raise Unauthorized(f"wrong {self.mapping.secret_header}")
            return
        auth = request.headers.get("authorization", "")
        if not auth[:6].lower() == "basic ":
            raise Unauthorized(f"missing {self.mapping.secret_header} header or basic authentication")
        try:
            user, _, password = base64.b64decode(auth[6:].strip(), validate=True).decode().partition(":")
        except (binascii.Error, UnicodeDecodeError):
            raise Unauthorized("unreadable basic authentication") from None
        user_ok = self.mapping.basic_user is None or constant_time_equal(user, self.mapping.basic_user)
        if not (constant_time_equal(password, secret) and user_ok):
            raise Unauthorized("wrong basic authentication")

    def events(self, request: Request) -> list[dict[str, Any]]:
        doc = load_json(request.body, " (a placeholder with a quote in it?)")
        doc = doc if isinstance(doc, dict) else {}  # JSON but no object: it has no ticket either
        need_object(doc, "ticket", "the body has no 'ticket' object (see the shipped freshdesk.toml for the "
                                   "recommended body)")
        kind = doc.get("sla_event")
        if kind not in KINDS:
            raise Unmappable("invalid_field:sla_event", f"sla_event must be one of {', '.join(KINDS)}, got "
                                                        f"{str(kind)[:40]!r}")
        return _Call(self.mapping, doc, request).events(kind)


class _Call:
    def __init__(self, mapping: Mapping, doc: dict[str, Any], request: Request) -> None:
        self.m = mapping
        self.ticket: dict[str, Any] = doc["ticket"]
        self.native = self.need("id")
        self.tid = ticket_id(mapping.prefix, self.native)
        self.at = _occurred_ms(doc, request)
        # the update this call is about: Freshdesk's modified_on, else the body itself (a retry repeats both)
        self.update = text(self.ticket.get("updated_at")) or hashlib.sha256(request.body).hexdigest()[:32]

    def need(self, key: str) -> str:
        value = text(self.ticket.get(key))
        if value is None:
            raise Unmappable(f"missing_field:ticket.{key}", f"the body's ticket has no {key}")
        return value

    def make(self, etype: str, native_event: str, kind: str, **fields: Any) -> dict[str, Any]:
        return event(etype, self.tid, event_id(SOURCE, self.native, native_event, kind), self.at, **fields)

    def severity(self) -> int:
        return severity_of(text(self.ticket.get("priority")), self.m.severities, self.m.default_severity,
                           "ticket.priority")

    def engineer(self) -> str:
        # Freshdesk's placeholders name the ticket's agent, not who acted; Freshdesk assigns an unassigned
        # ticket to the agent who replies first, so this is who answered in the usual case.
        return text(self.ticket.get("agent")) or self.m.unassigned_engineer

    def events(self, kind: str) -> list[dict[str, Any]]:
        m, update = self.m, self.update
        if kind == "created":
            customer = text(self.ticket.get(m.customer)) or text(self.ticket.get("requester_id")) or text(
                self.ticket.get("requester"))
            if customer is None:
                raise Unmappable(f"missing_field:ticket.{m.customer}", "the ticket has no company or requester")
            fastlane = None if m.fastlane is None else (text(self.ticket.get(m.fastlane)) or "").casefold() in _TRUE
            return [self.make("ticket.created", "created", "created", severity=self.severity(),
                              product=text(self.ticket.get(m.product)) or m.default_product, customer_id=customer,
                              contract=text(self.ticket.get(m.contract)) if m.contract else None, fastlane=fastlane)]
        if kind == "agent_reply":
            return [self.make("ticket.responded", update, "responded", engineer_id=self.engineer())]
        if kind == "customer_reply":
            return [self.make("ticket.customer_replied", update, "customer_replied")]
        if kind == "reopened":
            return [self.make("ticket.reopened", update, "reopened")]
        if kind == "priority":
            return [self.make("ticket.severity_changed", update, "severity", severity=self.severity())]
        if kind == "assignee":
            agent = text(self.ticket.get("agent"))
            return [] if agent is None else [self.make("ticket.assigned", update, "assigned", engineer_id=agent)]
        status = self.need("status").casefold()
        if status in m.waiting:
            return [self.make("ticket.waiting_on_customer", update, "waiting")]
        if status in m.resolved:
            return [self.make("ticket.resolved", update, "resolved", engineer_id=self.engineer())]
        if status in m.closed:
            return [self.make("ticket.closed", update, "closed")]
        return []  # open or another status: nothing the SLA judges


def _occurred_ms(doc: dict[str, Any], request: Request) -> int:
    given = text(doc.get("occurred_at"))
    if given is None:
        return request.received_ms  # Freshdesk's placeholders have no machine-readable time: the arrival
    return parse_instant(given, "occurred_at")
