"""Jira Service Management (Jira Cloud webhooks) -> section 2 events.

Authentication (Atlassian, "Jira Cloud platform: Webhooks", secure admin webhooks): a webhook registered with
a secret carries ``X-Hub-Signature: sha256=<hex HMAC-SHA256(secret, raw body)>`` (WebSub's method=signature).
JSM automation's "Send web request" action cannot sign but can add headers, so an installation may name
``shared_secret_header`` in the mapping: a call without a signature is then accepted when that header holds
the secret itself (weaker: use it only over HTTPS).

The payload (the Jira webhook documentation): ``webhookEvent``, ``timestamp`` (epoch ms, when Jira fired it),
``user`` (the actor), ``issue`` {``id``, ``key``, ``fields``}, and for ``jira:issue_updated`` a ``changelog``
{``id``, ``items`` [{``field``, ``fieldId``, ``from``, ``fromString``, ``to``, ``toString``}]}; for
``comment_created`` a ``comment`` {``id``, ``author`` {``accountId``, ``accountType``}, ``created``,
``jsdPublic``}. JSM marks a comment shared with the customer ``jsdPublic: true`` and an internal one
``false``; its portal customers have ``accountType: "customer"``, agents ``"atlassian"``.

* ``jira:issue_created`` -> ``ticket.created`` (and ``ticket.assigned`` when created with an assignee);
* ``jira:issue_updated`` -> per changelog item: status to a waiting / resolved / closed status, from a
  resolved or closed one back to any other (reopen), priority, assignee; a ``comment`` it carries (Jira
  Data Center's ``issue_commented``) maps as below, with the same ids as ``comment_created``;
* ``comment_created`` -> public comment by staff ``ticket.responded``, by the customer
  ``ticket.customer_replied``; internal comments -> nothing. Every other webhook event -> nothing.
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

SOURCE = "jira"
SECRET_SETTING = "SLA_INGEST_JIRA_SECRET_FILE"
# a field's value as text: a string, a select option's value, a named object's name, a list's first
_text = functools.partial(text, keys=("value", "name"), first=True)


@dataclasses.dataclass(frozen=True, slots=True)
class Mapping(Common):
    # customer: "organization", "requester" or a field id; product: "project", "component" or a field id
    ticket_key: str  # "key" (SUP-12) or "id" (10012)
    organization_field: str
    staff_account_types: frozenset[str]
    reporter_is_customer: bool
    unmarked_comments_public: bool
    shared_secret_header: str | None


def read_mapping(reader: Reader) -> Mapping:
    key = reader.text("ticket_key", "key")
    if key not in ("key", "id"):
        raise reader.error("ticket_key", 'must be "key" (SUP-12) or "id" (10012)', key)
    common = read_common(reader, prefix="JSM-", product="project", waiting=("Waiting for customer",),
                         resolved=("Resolved",), closed=("Closed", "Canceled"), ends_may_share=True)
    mapping = Mapping(
        **common.fields(),
        ticket_key=key,  # type: ignore[arg-type]
        organization_field=reader.text("fields.organization", "customfield_10002"),  # type: ignore[arg-type]
        staff_account_types=frozenset(reader.texts("staff.account_types", ("atlassian", "app"))),
        reporter_is_customer=reader.flag("staff.reporter_is_customer", True),
        unmarked_comments_public=reader.flag("staff.unmarked_comments_public", True),
        shared_secret_header=reader.text("auth.shared_secret_header"),
    )
    reader.refuse_unknown()
    return mapping


def build(reader: Reader, secret: Secret | None) -> JiraAdapter:
    mapping = read_mapping(reader)
    if secret is None:
        raise ConfigError(SECRET_SETTING, "the jira webhook needs the secret set on Jira's webhook (a file "
                                          "holding it); without it no call can be checked")
    return JiraAdapter(mapping, secret)


class JiraAdapter:
    source = SOURCE

    def __init__(self, mapping: Mapping, secret: Secret) -> None:
        self.mapping = mapping
        self._key = secret.reveal().encode()

    def authenticate(self, request: Request) -> None:
        signature = request.headers.get("x-hub-signature")
        if signature is not None:
            method, _, digest = signature.strip().partition("=")
            if method.lower() != "sha256":
                raise Unauthorized("X-Hub-Signature: only sha256=<hex> is accepted")
            expected = hmac.new(self._key, request.body, hashlib.sha256).hexdigest()
            if not constant_time_equal(digest.lower(), expected):
                raise Unauthorized("X-Hub-Signature does not match the body")
            return
        header = self.mapping.shared_secret_header
        given = request.headers.get(header.lower()) if header else None
        if given is not None:
            if not constant_time_equal(given.strip().encode(), self._key):
                raise Unauthorized(f"{header} is not the secret")
            return
        raise Unauthorized("no X-Hub-Signature" + (f" and no {header}" if header else ""))

    def events(self, request: Request) -> list[dict[str, Any]]:
        doc = load_object(request.body)
        kind = doc.get("webhookEvent")
        if not isinstance(kind, str) or not kind:
            raise Unmappable("missing_field:webhookEvent", "a Jira webhook names its event in webhookEvent")
        if kind == "jira:issue_created":
            out = self._created(doc, request)
        elif kind == "jira:issue_updated":
            out = self._updated(doc, request)
        elif kind == "comment_created":
            out = self._comment(doc, need_object(doc, "comment"), request)
        else:
            out = []  # deleted issues, edited comments, worklogs...: nothing the SLA judges
        return sorted(out, key=lambda e: e["occurred_at"])  # one format (UTC, ms): text order is time order

    # -- the three kinds ------------------------------------------------------------------------------

    def _created(self, doc: dict[str, Any], request: Request) -> list[dict[str, Any]]:
        native, ticket, fields = self._issue(doc)
        created = fields.get("created")
        at = parse_instant(created, "issue.fields.created") if created else _fired_at(doc, request)
        m = self.mapping
        out = [event("ticket.created", ticket, event_id(SOURCE, native, "created", "created"), at,
                     severity=self._severity(fields.get("priority"), "issue.fields.priority"),
                     product=self._product(fields), customer_id=self._customer(fields),
                     contract=_text(fields.get(m.contract)) if m.contract else None,
                     fastlane=truthy(fields.get(m.fastlane), read=_text, ticked=True) if m.fastlane else None)]
        assignee = _account(fields.get("assignee"))
        if assignee:
            out.append(event("ticket.assigned", ticket, event_id(SOURCE, native, "created", "assigned"), at,
                             engineer_id=assignee))
        return out

    def _updated(self, doc: dict[str, Any], request: Request) -> list[dict[str, Any]]:
        native, ticket, fields = self._issue(doc)
        changelog = doc.get("changelog") or {}
        items = changelog.get("items") or [] if isinstance(changelog, dict) else []
        out: list[dict[str, Any]] = []
        if items:
            change = changelog.get("id")
            if change is None:
                raise Unmappable("missing_field:changelog.id", "a changelog without its id cannot be told "
                                                               "from a retry")
            at = _fired_at(doc, request)
            for item in items:
                if isinstance(item, dict):
                    out += self._change(item, native, ticket, change, at, fields, doc)
        comment = doc.get("comment")
        if isinstance(comment, dict):  # Jira Data Center's issue_commented carries the comment here
            out += self._comment(doc, comment, request)
        return out

    def _change(self, item: dict[str, Any], native: str, ticket: str, change: object, at: int,
                fields: dict[str, Any], doc: dict[str, Any]) -> list[dict[str, Any]]:
        m = self.mapping
        field = item.get("fieldId") or item.get("field")

        def one(etype: str, kind: str, **extra: Any) -> dict[str, Any]:
            return event(etype, ticket, event_id(SOURCE, native, f"change:{change}", kind), at, **extra)

        if field == "priority":
            return [one("ticket.severity_changed", "severity",
                        severity=self._severity({"name": item.get("toString")}, "changelog.items.priority"))]
        if field == "assignee":
            engineer = item.get("to")
            return [one("ticket.assigned", "assigned", engineer_id=str(engineer))] if engineer else []
        if field != "status":
            return []
        before = str(item.get("fromString") or "").casefold()
        after = str(item.get("toString") or "").casefold()
        out = []
        if before in m.resolved | m.closed and after not in m.resolved | m.closed:
            out.append(one("ticket.reopened", "reopened"))
        if after in m.waiting:
            out.append(one("ticket.waiting_on_customer", "waiting"))
        if after in m.resolved:
            engineer = _account(fields.get("assignee")) or _account(doc.get("user"))
            if not engineer:
                raise Unmappable("missing_field:issue.fields.assignee",
                                 "a resolved issue needs an assignee or an actor (user) to credit")
            out.append(one("ticket.resolved", "resolved", engineer_id=engineer))
        if after in m.closed:
            out.append(one("ticket.closed", "closed"))
        return out

    def _comment(self, doc: dict[str, Any], comment: dict[str, Any], request: Request) -> list[dict[str, Any]]:
        native, ticket, fields = self._issue(doc)
        public = comment.get("jsdPublic")
        if not (self.mapping.unmarked_comments_public if public is None else public is True):
            return []  # an internal comment: the customer never sees it
        number = comment.get("id")
        if number is None:
            raise Unmappable("missing_field:comment.id", "a comment without its id cannot be told from a retry")
        author = comment.get("author")
        who = _account(author)
        if not who:
            raise Unmappable("missing_field:comment.author.accountId", "a comment needs its author")
        created = comment.get("created")
        at = parse_instant(created, "comment.created") if created else _fired_at(doc, request)
        eid = event_id(SOURCE, native, f"comment:{number}", "comment")
        kind = author.get("accountType") if isinstance(author, dict) else None
        customer = kind not in self.mapping.staff_account_types or (
            self.mapping.reporter_is_customer and who == _account(fields.get("reporter")))
        if customer:
            return [event("ticket.customer_replied", ticket, eid, at)]
        return [event("ticket.responded", ticket, eid, at, engineer_id=who)]

    # -- fields ---------------------------------------------------------------------------------------

    def _issue(self, doc: dict[str, Any]) -> tuple[str, str, dict[str, Any]]:
        issue = need_object(doc, "issue")
        native = issue.get("id")
        if native is None:
            raise Unmappable("missing_field:issue.id", "the issue has no id")
        shown = issue.get(self.mapping.ticket_key)
        if shown is None:
            raise Unmappable(f"missing_field:issue.{self.mapping.ticket_key}", "the issue has no "
                                                                               f"{self.mapping.ticket_key}")
        fields = issue.get("fields")
        return str(native), ticket_id(self.mapping.prefix, shown), fields if isinstance(fields, dict) else {}

    def _severity(self, priority: Any, path: str) -> int:
        return severity_of(_text(priority), self.mapping.severities, self.mapping.default_severity, path)

    def _customer(self, fields: dict[str, Any]) -> str:
        how = self.mapping.customer
        if how == "organization":
            found = _text(fields.get(self.mapping.organization_field))
            # a request without an organisation: its reporter is the customer
            found = found or _account(fields.get("reporter"))
        elif how == "requester":
            found = _account(fields.get("reporter"))
        else:
            found = _text(fields.get(how))
        if not found:
            raise Unmappable("missing_field:issue.fields.reporter", "no customer: the issue has neither the "
                                                                    "customer field nor a reporter")
        return found

    def _product(self, fields: dict[str, Any]) -> str:
        how = self.mapping.product
        if how == "project":
            project = fields.get("project")
            found = _text(project.get("key")) if isinstance(project, dict) else None
        elif how == "component":
            found = _text(fields.get("components"))
        else:
            found = _text(fields.get(how))
        return found or self.mapping.default_product


def _fired_at(doc: dict[str, Any], request: Request) -> int:
    """When Jira fired the webhook (its ``timestamp``, epoch ms): the instant of a changelog, which has no
    time of its own. A payload without it (a hand-made automation body) takes the arrival time."""
    stamp = doc.get("timestamp")
    if isinstance(stamp, int) and not isinstance(stamp, bool) and stamp > 0:
        return stamp
    return request.received_ms


def _account(user: Any) -> str | None:
    """A user's id: Cloud's accountId, Data Center's name."""
    if not isinstance(user, dict):
        return None
    value = user.get("accountId") or user.get("name") or user.get("key")
    return str(value) if value else None

