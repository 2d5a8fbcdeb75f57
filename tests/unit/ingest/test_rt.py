"""Request Tracker (our scrip) -> section 2 events. The fixtures are the exact bodies the shipped scrip
(rt-scrip.pl) posted from a real RT 5.0.3 (Debian's packages) for one scenario: a customer opens tickets,
staff take, answer, stall, resolve, reject and reopen them. Every fixture maps to the events a support
manager expects, retries give the same ids, the signature Perl computed is accepted and a wrong or missing
one refused, and every mapping mistake names its key."""

from __future__ import annotations

import copy
import tomllib
from pathlib import Path
from typing import Any

import pytest

from pipeline.ingest import registry
from pipeline.ingest.adapter import Request, Unauthorized
from pipeline.ingest.mapping import Reader
from pipeline.ingest.sources import rt
from pipeline.kafka.client import Secret
from tests.unit.ingest.common import Source, assert_valid_for_the_pipeline, event_ids, fixture, signed_request

SIGNED = fixture("rt", "headers")  # what HTTP::Tiny sent with create.json
SECRET = SIGNED["secret"]
RT = Source(rt, SECRET, arrived_ms=0)
body, shipped, adapter, events_of, edited = RT.body, RT.shipped, RT.build, RT.events, RT.mutated


def with_mapping(**changes: Any) -> dict[str, Any]:
    doc = copy.deepcopy(shipped())
    for dotted, value in changes.items():
        node = doc
        *parents, last = dotted.split("__")
        for part in parents:
            node = node.setdefault(part, {})
        node[last] = value
    return doc


EXPECTED: dict[str, list[dict[str, Any]]] = {
    "create": [{"event_id": "rt:2:58:ticket.created", "type": "ticket.created", "ticket_id": "RT-2",
                "occurred_at": "2026-12-03T15:49:15.000Z", "severity": 1, "product": "General",
                "customer_id": "Acme Corp", "contract": "gold", "fastlane": True}],
    "create_without_fields": [{"event_id": "rt:1:39:ticket.created", "type": "ticket.created", "ticket_id": "RT-1",
                               "occurred_at": "2026-12-03T15:48:54.000Z", "severity": 2, "product": "Billing",
                               "customer_id": "Acme Corp", "fastlane": False}],
    "set_owner": [{"event_id": "rt:1:41:ticket.assigned", "type": "ticket.assigned", "ticket_id": "RT-1",
                   "occurred_at": "2026-12-03T15:48:55.000Z", "engineer_id": "alice"}],
    "correspond_staff": [{"event_id": "rt:1:43:ticket.responded", "type": "ticket.responded", "ticket_id": "RT-1",
                          "occurred_at": "2026-12-03T15:48:56.000Z", "engineer_id": "alice"}],
    "status_stalled": [{"event_id": "rt:1:47:ticket.waiting_on_customer", "type": "ticket.waiting_on_customer",
                        "ticket_id": "RT-1", "occurred_at": "2026-12-03T15:48:58.000Z"}],
    "correspond_customer": [{"event_id": "rt:1:48:ticket.customer_replied", "type": "ticket.customer_replied",
                             "ticket_id": "RT-1", "occurred_at": "2026-12-03T15:48:58.000Z"}],
    "set_priority": [{"event_id": "rt:1:50:ticket.severity_changed", "type": "ticket.severity_changed",
                      "ticket_id": "RT-1", "occurred_at": "2026-12-03T15:49:00.000Z", "severity": 4}],
    "status_resolved": [{"event_id": "rt:1:51:ticket.resolved", "type": "ticket.resolved", "ticket_id": "RT-1",
                         "occurred_at": "2026-12-03T15:49:00.000Z", "engineer_id": "alice"}],
    "status_rejected": [{"event_id": "rt:1:53:ticket.closed", "type": "ticket.closed", "ticket_id": "RT-1",
                         "occurred_at": "2026-12-03T15:49:02.000Z"}],
    "status_reopened": [{"event_id": "rt:2:62:ticket.reopened", "type": "ticket.reopened", "ticket_id": "RT-2",
                         "occurred_at": "2026-12-03T15:49:18.000Z"}],
    "comment": [],  # internal: the customer never saw it
    "status_auto_open": [],  # RT_System's new -> open after the first staff reply
    "set_watcher": [],  # the Owner role's membership, said again by the Set Owner transaction
}


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_each_fixture_maps_to_the_expected_events(name: str) -> None:
    assert events_of(body(name)) == EXPECTED[name]


@pytest.mark.parametrize("name", sorted(n for n, e in EXPECTED.items() if e))
def test_each_event_is_one_the_worker_accepts(name: str) -> None:
    assert_valid_for_the_pipeline(events_of(body(name)))


def test_every_fixture_is_covered() -> None:
    assert RT.fixture_names(besides={"headers", "rest2"}) == set(EXPECTED)


def test_a_retried_call_gives_the_same_event_ids() -> None:
    first = [e for name in sorted(EXPECTED) for e in events_of(body(name))]
    again = [e for name in sorted(EXPECTED) for e in events_of(body(name))]
    assert first == again
    assert len(set(event_ids(first))) == len(first)


# -- authentication: X-RT-Signature = hex HMAC-SHA256(secret, body), as Perl's hmac_sha256_hex computed it


def signed(headers: dict[str, str], raw: bytes | None = None) -> Request:
    return signed_request(headers, body("create") if raw is None else raw, received_ms=0)


def test_the_signature_perl_computed_is_accepted() -> None:
    adapter().authenticate(signed(SIGNED["headers"]))
    upper = {**SIGNED["headers"], "X-RT-Signature": SIGNED["headers"]["X-RT-Signature"].upper()}
    adapter().authenticate(signed(upper))


@pytest.mark.parametrize("case", ["wrong", "missing", "empty", "tampered_body", "other_secret"])
def test_a_wrong_or_missing_signature_is_refused(case: str) -> None:
    headers = dict(SIGNED["headers"])
    raw = None
    good = headers["X-RT-Signature"]
    if case == "wrong":
        headers["X-RT-Signature"] = ("0" if good[0] != "0" else "1") + good[1:]
    elif case == "missing":
        del headers["X-RT-Signature"]
    elif case == "empty":
        headers["X-RT-Signature"] = ""
    elif case == "tampered_body":
        raw = body("create").replace(b'"Priority":"95"', b'"Priority":"15"')
        assert raw != body("create")
    subject = adapter(secret="another secret" if case == "other_secret" else None)
    with pytest.raises(Unauthorized):
        subject.authenticate(signed(headers, raw))


# -- who is staff, who is the customer


def _cc_reply(doc: dict[str, Any]) -> None:  # an unprivileged user who is not a requestor (a Cc) replies
    doc["transaction"]["Creator"] = {"id": "carol@acme.example", "EmailAddress": "carol@acme.example",
                                     "Organization": "Acme Corp", "Privileged": False}


def _privileged_requestor_reply(doc: dict[str, Any]) -> None:  # a staff member opened the ticket for someone
    doc["ticket"]["Requestors"].append(doc["transaction"]["Creator"])


@pytest.mark.parametrize(("rule", "change", "expected"), [
    ("privileged_or_not_requestor", _cc_reply, "ticket.responded"),
    ("privileged", _cc_reply, "ticket.customer_replied"),
    ("not_requestor", _cc_reply, "ticket.responded"),
    ("privileged_or_not_requestor", _privileged_requestor_reply, "ticket.responded"),
    ("privileged", _privileged_requestor_reply, "ticket.responded"),
    ("not_requestor", _privileged_requestor_reply, "ticket.customer_replied"),
])
def test_the_staff_rule_decides_who_responded(rule: str, change: Any, expected: str) -> None:
    [e] = events_of(edited("correspond_staff", change), with_mapping(staff=rule))
    assert e["type"] == expected


def test_a_customer_reply_stays_a_customer_reply_under_every_rule() -> None:
    for rule in rt.STAFF_RULES:
        assert [e["type"] for e in events_of(body("correspond_customer"), with_mapping(staff=rule))] == [
            "ticket.customer_replied"]


def test_rt_itself_never_responds() -> None:
    def by_system(doc: dict[str, Any]) -> None:
        doc["transaction"]["Creator"] = {"id": "RT_System", "EmailAddress": None, "Organization": None,
                                         "Privileged": False}

    assert events_of(edited("correspond_staff", by_system)) == []


@pytest.mark.parametrize(("setting", "change", "expected"), [
    ("organization", None, "Acme Corp"),
    ("organization", lambda d: d["ticket"]["Requestors"][0].update(Organization=None), "acme.example"),
    ("domain", None, "acme.example"),
    ("requester", None, "bob@acme.example"),
    ("Contract", None, "gold"),  # a custom field's name
])
def test_the_customer_comes_from_where_the_mapping_says(setting: str, change: Any, expected: str) -> None:
    raw = edited("create", change) if change else body("create")
    [e] = events_of(raw, with_mapping(fields__customer=setting))
    assert e["customer_id"] == expected


def test_the_product_from_a_custom_field_falls_back_to_the_default_product() -> None:
    doc = with_mapping(fields__product="Product", default_product="general-support")
    [e] = events_of(body("create"), doc)
    assert e["product"] == "general-support"
    [e] = events_of(edited("create", lambda d: d["ticket"]["CustomFields"].update(Product=["Payments"])), doc)
    assert e["product"] == "Payments"


@pytest.mark.parametrize(("priority", "severity"), [("100", 1), ("90", 1), ("89", 2), ("70", 2), ("50", 3),
                                                    ("29", 4), ("0", 4), ("250", 3), ("-5", 3)])
def test_severity_from_the_priority_ranges_else_the_default(priority: str, severity: int) -> None:
    [e] = events_of(edited("create", lambda d: d["ticket"].update(Priority=priority)))
    assert e["severity"] == severity


def test_a_priority_change_inside_one_severity_says_nothing() -> None:
    def within(doc: dict[str, Any]) -> None:
        doc["transaction"].update(OldValue="20", NewValue="25")

    assert events_of(edited("set_priority", within)) == []


def test_fastlane_values_are_the_mappings() -> None:
    doc = with_mapping(fields__fastlane_values=["Premium"])
    [e] = events_of(edited("create", lambda d: d["ticket"]["CustomFields"].update(FastLane=["premium"])), doc)
    assert e["fastlane"] is True
    [e] = events_of(body("create"), doc)
    assert e["fastlane"] is False


def test_giving_a_ticket_back_to_nobody_assigns_no_one() -> None:
    def to_nobody(doc: dict[str, Any]) -> None:
        doc["transaction"]["NewOwner"], doc["transaction"]["OldOwner"] = doc["transaction"]["OldOwner"], \
            doc["transaction"]["NewOwner"]

    assert events_of(edited("set_owner", to_nobody)) == []


def test_a_resolution_without_owner_credits_who_resolved_it() -> None:
    [e] = events_of(edited("status_resolved", lambda d: d["ticket"]["Owner"].update(id="Nobody")))
    assert e["engineer_id"] == "alice"  # the transaction's creator
    [e] = events_of(edited("status_resolved", lambda d: d["ticket"]["Owner"].update(id="dave")))
    assert e["engineer_id"] == "dave"


@pytest.mark.parametrize(("old", "new", "expected"), [
    ("resolved", "open", ["ticket.reopened"]), ("resolved", "stalled", ["ticket.reopened"]),
    ("open", "stalled", ["ticket.waiting_on_customer"]), ("stalled", "open", []), ("new", "open", []),
    ("open", "resolved", ["ticket.resolved"]), ("open", "deleted", ["ticket.closed"]),
    ("rejected", "deleted", []), ("rejected", "open", []),  # closed is final: no reopen of a closed ticket
])
def test_status_changes(old: str, new: str, expected: list[str]) -> None:
    raw = edited("status_stalled", lambda d: d["transaction"].update(OldValue=old, NewValue=new))
    assert [e["type"] for e in events_of(raw)] == expected


def test_installation_statuses_come_from_the_mapping() -> None:
    doc = with_mapping(status__waiting=["pending customer"], status__closed=["closed"])
    raw = edited("status_stalled", lambda d: d["transaction"].update(NewValue="Pending Customer"))
    assert [e["type"] for e in events_of(raw, doc)] == ["ticket.waiting_on_customer"]
    assert events_of(body("status_stalled"), doc) == []
    assert "ticket.closed" not in [e["type"] for e in events_of(body("status_rejected"), doc)]


# -- what cannot be mapped says why


@pytest.mark.parametrize(("raw", "reason"), [
    (b"{not json", "malformed_json"),
    (b"[1, 2]", "malformed_json"),
    (b'{"ticket": {"id": "1"}}', "missing_field:transaction"),
    (edited("create", lambda d: d.pop("ticket")), "missing_field:ticket"),
    (edited("create", lambda d: d["ticket"].pop("id")), "missing_field:ticket.id"),
    (edited("create", lambda d: d["transaction"].pop("id")), "missing_field:transaction.id"),
    (edited("create", lambda d: d["transaction"].update(Created="yesterday")), "invalid_field:transaction.Created"),
    (edited("create", lambda d: d["transaction"].update(Created="1970-01-01T00:00:00Z")),
     "invalid_field:transaction.Created"),
    (edited("create", lambda d: d["ticket"].update(Requestors=[])), "missing_field:ticket.Requestors"),
    (edited("set_owner", lambda d: d["transaction"].pop("NewOwner")), "missing_field:transaction.NewOwner"),
])
def test_an_unmappable_call_says_why(raw: bytes, reason: str) -> None:
    assert RT.unmappable(raw).reason == reason


def test_a_customer_field_the_ticket_lacks_is_unmappable_naming_it() -> None:
    caught = RT.unmappable(body("create"), with_mapping(fields__customer="Account"))
    assert caught.reason == "missing_field:ticket.CustomFields.Account"


def test_rt_dates_without_zone_are_utc() -> None:
    [e] = events_of(edited("status_stalled", lambda d: d["transaction"].update(Created="2026-12-03 15:48:58")))
    assert e["occurred_at"] == "2026-12-03T15:48:58.000Z"


# -- the mapping file


def test_the_shipped_mapping_is_documented_and_read_whole() -> None:
    text = (Path(rt.__file__).resolve().parents[2] / "resources" / "ingest" / "rt.toml").read_text()
    assert tomllib.loads(text) == shipped()
    for key in ("ticket_prefix", "default_severity", "staff", "default_product", "waiting", "resolved", "closed",
                "product", "customer", "contract", "fastlane", "fastlane_values"):
        line = next(i for i, t in enumerate(text.splitlines()) if t.startswith(f"{key} ="))
        assert text.splitlines()[line - 1].startswith("#"), f"{key} has no comment above it"


def test_an_empty_mapping_takes_every_default_but_the_severities() -> None:
    assert str(RT.mapping_error({})).startswith("rt.toml: severity")
    m = rt.read_mapping(Reader({"severity": {"0-100": 3}}, "rt.toml"))
    assert (m.prefix, m.staff, m.customer, m.product, m.contract) == (
        "RT-", "privileged_or_not_requestor", "organization", "queue", None)


@pytest.mark.parametrize(("changes", "key"), [
    ({"severity": {"high": 1}}, "severity.high"),
    ({"severity": {"90-80": 1}}, "severity.90-80"),
    ({"severity": {"0-50": 3, "40-99": 2}}, "severity."),
    ({"severity": {"50": 7}}, "severity.50"),
    ({"default_severity": 0}, "default_severity"),
    ({"staff": "everyone"}, "staff"),
    ({"ticket_prefix": ""}, "ticket_prefix"),
    ({"fields": {"customer": 3}}, "fields.customer"),
    ({"fields": {"fastlane_values": [1]}}, "fields.fastlane_values"),
    ({"status": {"waiting": ["stalled"], "resolved": ["stalled"]}}, "status.waiting"),
    ({"staus": {"waiting": ["stalled"]}}, "staus.waiting"),
    ({"fields": {"contrakt": "Plan"}}, "fields.contrakt"),
])
def test_every_mapping_mistake_names_its_key(changes: dict[str, Any], key: str) -> None:
    doc = copy.deepcopy(shipped())
    for name, value in changes.items():
        if isinstance(value, dict) and name in doc and name != "severity":
            doc[name] = {**doc[name], **value}
        else:
            doc[name] = value
    assert str(RT.mapping_error(doc)).startswith(f"rt.toml: {key}")


def test_without_a_secret_start_up_names_the_setting() -> None:
    assert RT.secret_error().key == "SLA_INGEST_RT_SECRET_FILE"


def test_the_gateway_finds_the_rt_adapter() -> None:
    adapters = registry.build(["rt"], lambda source: Secret(SECRET))
    assert adapters["rt"].events(Request(headers={}, body=body("create"), received_ms=0)) == EXPECTED["create"]
