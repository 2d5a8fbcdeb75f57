"""GLPI 11 (outgoing webhooks, default payload) -> section 2 events.

Authentication (GLPI's ``src/Webhook.php``, which builds every queued call): each call carries
``X-GLPI-timestamp`` (Unix seconds, when the event was raised) and ``X-GLPI-signature`` = hex
HMAC-SHA256(secret, raw body followed by that timestamp), the secret being the webhook's (Security tab).
No replay window: GLPI queues calls and its cron may send (and resend) one long after it was signed, with
the headers it signed then; a replayed call repeats its events' ids, which the worker applies once.

The default payload is ``{"event": "new" | "update" | "delete", "item": ..., "parent_item": ...}``, the
item as GLPI's high-level API v2 shows it now (no changelog):

* a Ticket: ``id``, ``name``, ``status`` {``id``, ``name``}, ``urgency``, ``impact``, ``priority`` (1-5, 6
  major), ``entity`` {``id``, ``name``, ``completename``}, ``category`` {``id``, ``name``}, ``team``
  [{``role`` requester / observer / assigned, ``name`` (the login), ``href``}], ``date`` (opened),
  ``date_creation``, ``date_mod``;
* an ITILFollowup: ``id``, ``itemtype`` "Ticket", ``items_id``, ``is_private``, ``user`` {``id``, ``name``},
  ``date_creation``, with the ticket as ``parent_item``.

Subscribe two webhooks to ``/v1/webhooks/glpi``: Ticket (events new and update) and ITILFollowup (event
new). Mapping:

* Ticket new -> ``ticket.created`` (and ``ticket.assigned`` for an assigned user);
* Ticket update -> from its state now, each event one the worker applies idempotently: status waiting ->
  ``ticket.waiting_on_customer``, solved -> ``ticket.resolved``, closed -> ``ticket.closed``, any other ->
  ``ticket.reopened`` (acts only on a resolved ticket); priority -> ``ticket.severity_changed``; the first
  assigned user -> ``ticket.assigned`` with its id from that user (repeats do not restart the engineer's
  response sample); all at ``date_mod``, which is in their ids, so a resent call repeats them exactly;
* ITILFollowup new, public: by a requester or observer of the ticket -> ``ticket.customer_replied``, by
  anyone else -> ``ticket.responded``; private followups, tasks, deletions -> nothing.
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import hmac
import re
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

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

SOURCE = "glpi"
SECRET_SETTING = "SLA_INGEST_GLPI_SECRET_FILE"
_NAIVE = re.compile(r"^\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}:\d{2}$")  # GLPI's database form, in its time zone
_text = functools.partial(text, keys=("name",))  # a value, or a dropdown object's name (entity, category...)


@dataclasses.dataclass(frozen=True, slots=True)
class Mapping(Common):
    # customer: "organization" (the entity), "requester" or a path in the ticket; product: a path in the ticket
    # ("category.name"); statuses: GLPI's status ids
    customer_roles: frozenset[str]
    unassigned: str
    timezone: ZoneInfo


def read_mapping(reader: Reader) -> Mapping:
    zone = reader.text("timezone", "UTC")
    try:
        timezone = ZoneInfo(zone)  # type: ignore[arg-type]
    except (ZoneInfoNotFoundError, ValueError):
        raise reader.error("timezone", "must be an IANA time zone such as Europe/Paris", zone) from None
    common = read_common(reader, prefix="GLPI-", product="category.name", waiting=("4",), resolved=("5",),
                         closed=("6",), ends_may_share=True)
    mapping = Mapping(
        **common.fields(),
        customer_roles=frozenset(r.casefold() for r in reader.texts("staff.customer_roles",
                                                                     ("requester", "observer"))),
        unassigned=reader.text("staff.unassigned", "unassigned"),  # type: ignore[arg-type]
        timezone=timezone,
    )
    reader.refuse_unknown()
    return mapping


def build(reader: Reader, secret: Secret | None) -> GlpiAdapter:
    mapping = read_mapping(reader)
    if secret is None:
        raise ConfigError(SECRET_SETTING, "the glpi webhook needs the secret from its Security tab (a file "
                                          "holding it); without it no call can be checked")
    return GlpiAdapter(mapping, secret)


class GlpiAdapter:
    source = SOURCE

    def __init__(self, mapping: Mapping, secret: Secret) -> None:
        self.mapping = mapping
        self._key = secret.reveal().encode()

    def authenticate(self, request: Request) -> None:
        signature = request.headers.get("x-glpi-signature")
        stamp = request.headers.get("x-glpi-timestamp")
        if signature is None or stamp is None:
            raise Unauthorized("no X-GLPI-signature and X-GLPI-timestamp")
        expected = hmac.new(self._key, request.body + stamp.strip().encode(), hashlib.sha256).hexdigest()
        if not constant_time_equal(signature.strip().lower(), expected):
            raise Unauthorized("X-GLPI-signature does not match the body and timestamp")

    def events(self, request: Request) -> list[dict[str, Any]]:
        doc = load_object(request.body)
        what = doc.get("event")
        if not isinstance(what, str) or not what:
            raise Unmappable("missing_field:event", "a GLPI webhook names its event in 'event'")
        item = need_object(doc, "item", "a GLPI webhook carries the item in 'item'")
        if "items_id" in item:  # a timeline item of an ITIL object (followup; a solution counts alike)
            out = self._followup(what, item, doc.get("parent_item"))
        elif "tickets_id" in item or not isinstance(item.get("status"), dict):
            out = []  # a task (always internal to the SLA) or not a ticket at all
        elif what == "new":
            out = self._created(item)
        elif what == "update":
            out = self._updated(item)
        else:
            out = []  # deletions
        return sorted(out, key=lambda e: e["occurred_at"])  # one format (UTC, ms): text order is time order

    def _created(self, item: dict[str, Any]) -> list[dict[str, Any]]:
        native, tid = self._ticket(item)
        at = self._instant(item.get("date") or item.get("date_creation"), "item.date")
        m = self.mapping
        out = [event("ticket.created", tid, event_id(SOURCE, native, "created", "created"), at,
                     severity=self._severity(item), customer_id=self._customer(item),
                     product=_text(_dig(item, m.product)) or m.default_product,
                     contract=_text(_dig(item, m.contract)) if m.contract else None,
                     fastlane=truthy(_dig(item, m.fastlane), read=_text) if m.fastlane else None)]
        engineer = _assignee(item)
        if engineer:
            out.append(event("ticket.assigned", tid, event_id(SOURCE, native, f"assignee:{engineer}", "assigned"),
                             at, engineer_id=engineer))
        return out

    def _updated(self, item: dict[str, Any]) -> list[dict[str, Any]]:
        native, tid = self._ticket(item)
        m = self.mapping
        when = item.get("date_mod")
        at = self._instant(when, "item.date_mod")

        def one(etype: str, kind: str, **extra: Any) -> dict[str, Any]:
            return event(etype, tid, event_id(SOURCE, native, f"at:{when}", kind), at, **extra)

        engineer = _assignee(item)
        out = [one("ticket.severity_changed", "severity", severity=self._severity(item))]
        if engineer:
            out.append(event("ticket.assigned", tid, event_id(SOURCE, native, f"assignee:{engineer}", "assigned"),
                             at, engineer_id=engineer))
        status = str(item["status"].get("id"))
        if status in m.waiting:
            out.append(one("ticket.waiting_on_customer", "waiting"))
        elif status in m.resolved | m.closed:
            if status in m.resolved:
                out.append(one("ticket.resolved", "resolved", engineer_id=engineer or m.unassigned))
            if status in m.closed:
                out.append(one("ticket.closed", "closed"))
        else:
            out.append(one("ticket.reopened", "reopened"))
        return out

    def _followup(self, what: str, item: dict[str, Any], parent: Any) -> list[dict[str, Any]]:
        if what != "new" or item.get("itemtype") != "Ticket" or item.get("is_private") is True:
            return []  # edits, followups of changes and problems, private followups
        native, number = item.get("items_id"), item.get("id")
        if native is None or number is None:
            raise Unmappable("missing_field:item.id", "a followup needs its id and its ticket's (items_id)")
        user = item.get("user")
        author = _text(user.get("name")) if isinstance(user, dict) else None
        if not author:
            raise Unmappable("missing_field:item.user.name", "a followup needs its author")
        if not isinstance(parent, dict) or not isinstance(parent.get("team"), list):
            raise Unmappable("missing_field:parent_item.team", "a followup needs its ticket's team to tell the "
                                                               "customer from staff")
        tid = ticket_id(self.mapping.prefix, native)
        at = self._instant(item.get("date_creation") or item.get("date"), "item.date_creation")
        eid = event_id(SOURCE, native, f"followup:{number}", "followup")
        customers = {str(member.get("name")) for member in parent["team"] if isinstance(member, dict)
                     and str(member.get("role", "")).casefold() in self.mapping.customer_roles}
        if author in customers:
            return [event("ticket.customer_replied", tid, eid, at)]
        return [event("ticket.responded", tid, eid, at, engineer_id=author)]

    # -- fields ---------------------------------------------------------------------------------------

    def _ticket(self, item: dict[str, Any]) -> tuple[str, str]:
        native = item.get("id")
        if native is None:
            raise Unmappable("missing_field:item.id", "the ticket has no id")
        return str(native), ticket_id(self.mapping.prefix, native)

    def _severity(self, item: dict[str, Any]) -> int:
        priority = item.get("priority")  # 1-5 (6 major); 0 or none: the default
        return severity_of(None if priority in (None, "", 0) else str(priority), self.mapping.severities,
                           self.mapping.default_severity, "item.priority")

    def _customer(self, item: dict[str, Any]) -> str:
        how = self.mapping.customer
        if how == "organization":
            entity = item.get("entity")
            found = _text(entity.get("completename") or entity.get("name")) if isinstance(entity, dict) else None
        elif how == "requester":
            found = _member(item, "requester")
        else:
            found = _text(_dig(item, how))
        if not found:
            raise Unmappable(f"missing_field:item.{'entity' if how == 'organization' else how}",
                             "no customer: the ticket lacks what the mapping's fields.customer names")
        return found

    def _instant(self, value: Any, path: str) -> int:
        if not isinstance(value, str) or not value:
            raise Unmappable(f"missing_field:{path}", f"the payload has no {path}")
        if not _NAIVE.match(value):
            return parse_instant(value, path)
        try:
            local = datetime.fromisoformat(value.replace(" ", "T")).replace(tzinfo=self.mapping.timezone)
        except ValueError as exc:
            raise Unmappable(f"invalid_field:{path}", f"{value!r}: {exc}") from None
        return int(local.timestamp() * 1000)


def _assignee(item: dict[str, Any]) -> str | None:
    return _member(item, "assigned")


def _member(item: dict[str, Any], role: str) -> str | None:
    """The login of the ticket's first user in ``role`` (groups and suppliers are skipped)."""
    for member in item.get("team") or ():
        if not isinstance(member, dict) or str(member.get("role", "")).casefold() != role:
            continue
        kind, href = member.get("type"), str(member.get("href") or "")
        if (kind and kind != "User") or (href and "user.form.php" not in href.casefold()):
            continue
        name = _text(member.get("name"))
        if name:
            return name
    return None


def _dig(doc: dict[str, Any], path: str | None) -> Any:
    node: Any = doc
    for part in (path or "").split("."):
        if not isinstance(node, dict):
            return None
        node = node.get(part)
    return node

