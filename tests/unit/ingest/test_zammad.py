"""Zammad trigger webhooks -> section 2 events: every fixture (written from Zammad's documented default
payload) maps to the events a support manager expects, state-only calls give events the worker applies
once however often they repeat, the HMAC-SHA1 signature is checked, and every mapping mistake names its key."""

from __future__ import annotations

import copy
from typing import Any

import orjson
import pytest

from pipeline.ingest.adapter import Request, Unauthorized
from pipeline.ingest.sources import zammad
from tests.unit.ingest.common import Source, assert_valid_for_the_pipeline, fixture, signed_request

SIGNED = fixture("zammad", "signed_call")
ZM = Source(zammad, SIGNED["secret"])
EMMA = "emma@chrispresso.com"

body, shipped, adapter, events = ZM.body, ZM.shipped, ZM.build, ZM.events


def ev(eid: str, etype: str, at: str, **fields: Any) -> dict[str, Any]:
    return {"event_id": f"zammad:81:{eid}", "type": etype, "ticket_id": "ZM-10081", "occurred_at": at, **fields}


def state(at: str, etype: str, kind: str, severity: int = 3, **fields: Any) -> list[dict[str, Any]]:
    """What every later call says about the ticket as it is: its owner, its priority, its state."""
    return [ev(f"owner:{EMMA}:assigned", "ticket.assigned", at, engineer_id=EMMA),
            ev(f"at:{at}:severity", "ticket.severity_changed", at, severity=severity),
            ev(f"at:{at}:{kind}", etype, at, **fields)]


EXPECTED = {
    # the first article is the request itself, not a reply; nobody owns the ticket yet
    "ticket_created": [ev("created:created", "ticket.created", "2026-03-02T08:15:04.120Z", severity=3,
                          product="Service Desk", customer_id="Awesome Customer Inc.")],
    "assigned": state("2026-03-02T08:30:00.000Z", "ticket.reopened", "reopened"),
    "agent_reply": [ev("article:106:article", "ticket.responded", "2026-03-02T08:40:00.100Z", engineer_id=EMMA),
                    *state("2026-03-02T08:40:00.300Z", "ticket.reopened", "reopened")],
    "internal_note": state("2026-03-02T08:42:00.300Z", "ticket.reopened", "reopened"),
    "priority_changed": state("2026-03-02T08:45:00.000Z", "ticket.reopened", "reopened", severity=2),
    "waiting_on_customer": state("2026-03-02T08:50:00.000Z", "ticket.waiting_on_customer", "waiting"),
    "customer_reply": [ev("article:108:article", "ticket.customer_replied", "2026-03-02T09:30:00.200Z"),
                       *state("2026-03-02T09:30:00.400Z", "ticket.reopened", "reopened")],
    "resolved": state("2026-03-02T10:00:00.000Z", "ticket.resolved", "resolved", engineer_id=EMMA),
    "reopened": state("2026-03-03T07:00:00.000Z", "ticket.reopened", "reopened"),
    "closed": state("2026-03-03T08:00:00.000Z", "ticket.closed", "closed"),
}


def test_every_fixture_has_its_expected_events() -> None:
    assert ZM.fixture_names(besides={"signed_call"}) == set(EXPECTED)


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_fixture_maps_to_the_expected_events(name: str) -> None:
    assert events(body(name)) == EXPECTED[name]


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_every_event_is_valid_under_the_contract(name: str) -> None:
    assert_valid_for_the_pipeline(events(body(name)))


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_a_retried_call_gives_the_same_event_ids(name: str) -> None:
    assert events(body(name), received_ms=1_000) == events(body(name), received_ms=9_000_000)


def test_the_same_owner_seen_by_many_calls_is_one_assignment() -> None:
    # a later call must not restart the engineer's response sample: its assignment id is the owner's
    ids = {e["event_id"] for name in ("assigned", "agent_reply", "resolved")
           for e in events(body(name)) if e["type"] == "ticket.assigned"}
    assert ids == {f"zammad:81:owner:{EMMA}:assigned"}


def test_the_creation_seen_by_a_second_trigger_is_the_same_event() -> None:
    raw = orjson.loads(body("ticket_created"))
    raw["ticket"]["updated_at"] = "2026-03-02T08:15:09.000Z"  # a second trigger, a moment later
    raw["ticket"]["owner"], raw["ticket"]["owner_id"] = None, 5
    assert events(orjson.dumps(raw))[0] == EXPECTED["ticket_created"][0]


def test_mapping_options_customer_contract_fastlane_ticket_key_and_engineer() -> None:
    doc = copy.deepcopy(shipped())
    doc["ticket_key"] = "id"
    doc["fields"].update(customer="requester", product="title", contract="sla_contract", fastlane="fastlane")
    doc["staff"]["engineer_id"] = "id"
    (created,) = events(body("ticket_created"), doc)
    assert created == {"event_id": "zammad:81:created:created", "type": "ticket.created", "ticket_id": "ZM-81",
                       "occurred_at": "2026-03-02T08:15:04.120Z", "severity": 3,
                       "product": "Printer prints blank pages", "customer_id": "emily@example.com",
                       "contract": "gold", "fastlane": True}
    assert events(body("agent_reply"), doc)[0]["engineer_id"] == "5"


def test_a_customer_without_an_organisation_is_their_own_customer() -> None:
    raw = orjson.loads(body("ticket_created"))
    raw["ticket"]["organization"], raw["ticket"]["organization_id"] = None, None
    assert events(orjson.dumps(raw))[0]["customer_id"] == "emily@example.com"


# -- authentication ---------------------------------------------------------------------------------------


def signed(raw: bytes | None = None, **headers: str) -> Request:
    return signed_request(SIGNED["headers"], body("ticket_created") if raw is None else raw, **headers)


def test_the_documented_signature_is_accepted() -> None:
    adapter().authenticate(signed())


@pytest.mark.parametrize("request_", [
    signed(raw=body("ticket_created").replace(b"2 normal", b"3 high")),
    signed(**{"X-Hub-Signature": "sha1=" + "0" * 40}),
    signed(**{"X-Hub-Signature": ""}),
    signed(**{"X-Hub-Signature": SIGNED["headers"]["X-Hub-Signature"].replace("sha1=", "sha256=")}),
], ids=["tampered", "wrong", "missing", "other-algorithm"])
def test_a_bad_or_missing_signature_is_refused(request_: Request) -> None:
    with pytest.raises(Unauthorized):
        adapter().authenticate(request_)


# -- what cannot be mapped --------------------------------------------------------------------------------


mutated = ZM.mutated


@pytest.mark.parametrize(("raw", "reason"), [
    (b'{"ticket": ', "malformed_json"),
    (b'"ticket"', "malformed_json"),
    (mutated("ticket_created", lambda d: d.pop("ticket")), "missing_field:ticket"),
    (mutated("ticket_created", lambda d: d["ticket"].pop("number")), "missing_field:ticket.number"),
    (mutated("ticket_created", lambda d: d["ticket"]["priority"].update(name="4 critical")),
     "invalid_field:ticket.priority"),
    (mutated("ticket_created", lambda d: d["ticket"].update(created_at="2026-03-02 08:15")),
     "invalid_field:ticket.created_at"),
    (mutated("assigned", lambda d: d["ticket"].pop("updated_at")), "missing_field:ticket.updated_at"),
    (mutated("agent_reply", lambda d: d["article"].pop("id")), "missing_field:article.id"),
    (mutated("agent_reply", lambda d: d["article"].pop("created_by")), "missing_field:article.created_by"),
    (mutated("resolved", lambda d: d["ticket"].update(owner=None, owner_id=1, updated_by=None)),
     "missing_field:ticket.owner"),
])
def test_an_unmappable_payload_says_why(raw: bytes, reason: str) -> None:
    assert ZM.unmappable(raw).reason == reason


def test_system_articles_are_no_reply() -> None:
    raw = mutated("customer_reply", lambda d: d["article"].update(sender="System"))
    assert [e["type"] for e in events(raw)] == ["ticket.assigned", "ticket.severity_changed", "ticket.reopened"]


# -- the mapping file -------------------------------------------------------------------------------------


@pytest.mark.parametrize(("change", "key"), [
    (lambda d: d["severity"].update({"3 high": 0}), "severity.3 high"),
    (lambda d: d.update(default_severity=5), "default_severity"),
    (lambda d: d.update(ticket_key="title"), "ticket_key"),
    (lambda d: d["status"].update(waiting=["closed"]), "status.waiting"),
    (lambda d: d["status"].update(resolved=""), "status.resolved"),
    (lambda d: d["fields"].update(product=["group"]), "fields.product"),
    (lambda d: d["staff"].update(engineer_id="name"), "staff.engineer_id"),
    (lambda d: d.update(prefix="Z-"), "prefix"),
])
def test_every_mapping_mistake_names_its_key(change: Any, key: str) -> None:
    assert ZM.mapping_error(ZM.changed(change)).key == f"zammad.toml: {key}"


def test_no_secret_stops_start_up_naming_its_setting() -> None:
    assert ZM.secret_error().key == "SLA_INGEST_ZAMMAD_SECRET_FILE"
