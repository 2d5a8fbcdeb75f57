"""Zendesk webhooks -> section 2 events: every fixture (written from Zendesk's documented payloads) maps to
the events a support manager expects, retries give the same event ids, the signature and its timestamp are
checked, and every mapping mistake names its key."""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any

import orjson
import pytest

from pipeline.domain.timefmt import MINUTE_MS, SECOND_MS, parse_rfc3339_ms
from pipeline.ingest.adapter import Request, Unauthorized
from pipeline.ingest.sources import zendesk
from tests.unit.ingest.common import Source, assert_valid_for_the_pipeline, event_ids

SECRET = "zd-fixture-signing-secret"
SIGNED_AT = parse_rfc3339_ms("2025-01-08T10:12:08Z")
ZD = Source(zendesk, SECRET, arrived_ms=SIGNED_AT)
AGENT, CUSTOMER, ORG, GROUP = "8447388090495", "8447388090494", "8447346622462", "8447320466430"
body, shipped, adapter = ZD.body, ZD.shipped, ZD.build


def events(name: str, doc: dict[str, Any] | None = None) -> list[dict[str, Any]]:
    return ZD.events(body(name), doc)


def ev(eid: str, etype: str, at: str, **fields: Any) -> dict[str, Any]:
    return {"event_id": f"zendesk:5158:{eid}", "type": etype, "ticket_id": "ZD-5158", "occurred_at": at, **fields}


SUBSCRIBED = {
    "created": [ev("created:created", "ticket.created", "2025-01-08T10:12:07.672Z",
                   severity=2, product=GROUP, customer_id=ORG)],
    "comment_description": [],  # the ticket's first comment is its description, not a reply
    "comment_staff_public": [ev("9876543210:responded", "ticket.responded", "2025-01-08T10:25:30.123Z",
                                engineer_id=AGENT)],
    "comment_customer_public": [ev("9876543299:customer_replied", "ticket.customer_replied",
                                   "2025-01-08T11:02:11.500Z")],
    "comment_internal_note": [],
    "status_pending": [ev("a1b2c3d4-0000-4a6b-8c8d-9e0f1a2b3c01:waiting", "ticket.waiting_on_customer",
                          "2025-01-08T10:26:02.250Z")],
    "status_solved": [ev("a8b9c1d2-3e4f-5a6b-7c8d-9e0f1a2b3c4d:resolved", "ticket.resolved",
                         "2025-01-08T16:45:20.987Z", engineer_id=AGENT)],
    "status_reopened": [ev("b9c0d1e2-4f5a-4b6c-9d8e-0f1a2b3c4d5e:reopened", "ticket.reopened",
                           "2025-01-09T08:01:00.000Z")],
    "status_closed": [ev("c0d1e2f3-5a6b-4c7d-8e9f-1a2b3c4d5e6f:closed", "ticket.closed", "2025-01-13T00:00:05.000Z")],
    "priority_changed": [ev("e2f3a4b5-6c7d-4e8f-9a0b-1c2d3e4f5a6b:severity", "ticket.severity_changed",
                            "2025-01-08T10:40:00.000Z", severity=1)],
    "agent_assignment_changed": [ev("c6d7e8f9-0a1b-2c3d-4e5f-6a7b8c9d0e1f:assigned", "ticket.assigned",
                                    "2025-01-08T10:15:45.789Z", engineer_id=AGENT)],
    "tags_changed": [],  # nothing the SLA judges: answered 200 with no event
}
TRIGGERS = {
    "trigger_created": [ev("created:created", "ticket.created", "2025-01-08T10:12:00.000Z",
                           severity=2, product=GROUP, customer_id=ORG)],
    "trigger_comment_agent": [ev("9876543210:responded", "ticket.responded", "2025-01-08T10:25:00.000Z",
                                 engineer_id=AGENT)],
    "trigger_comment_end_user": [ev("9876543299:customer_replied", "ticket.customer_replied",
                                    "2025-01-08T11:02:00.000Z")],
    "trigger_comment_private": [],
    "trigger_status_pending": [ev("2025-01-08T10:26Z:pending:waiting", "ticket.waiting_on_customer",
                                  "2025-01-08T10:26:00.000Z")],
    "trigger_status_solved": [ev("2025-01-08T16:45Z:solved:resolved", "ticket.resolved", "2025-01-08T16:45:00.000Z",
                                 engineer_id=AGENT)],
    "trigger_reopened": [ev("2025-01-09T08:01Z:reopened", "ticket.reopened", "2025-01-09T08:01:00.000Z")],
    "trigger_priority": [ev("2025-01-08T10:40Z:urgent:severity", "ticket.severity_changed", "2025-01-08T10:40:00.000Z",
                            severity=1)],
    "trigger_assignee": [ev(f"2025-01-08T10:15Z:{AGENT}:assigned", "ticket.assigned", "2025-01-08T10:15:00.000Z",
                            engineer_id=AGENT)],
}
ALL = {**SUBSCRIBED, **TRIGGERS}


@pytest.mark.parametrize("name", sorted(ALL))
def test_each_fixture_maps_to_the_events_it_means(name: str) -> None:
    assert events(name) == ALL[name]


def test_every_fixture_has_its_expectation() -> None:
    assert ZD.fixture_names(besides={"signed_headers"}) == set(ALL)


@pytest.mark.parametrize("name", sorted(ALL))
def test_every_event_is_valid_for_the_pipeline(name: str) -> None:
    assert_valid_for_the_pipeline(events(name))


def test_a_retried_delivery_gives_the_same_event_ids_and_different_events_different_ids() -> None:
    assert [events(n) for n in ALL] == [events(n) for n in ALL]
    ids = [i for n in ALL if not n.startswith("trigger_") for i in event_ids(events(n))]
    assert len(ids) == len(set(ids))


def test_tags_products_and_requester_per_mapping() -> None:
    doc = shipped()
    doc["fields"].update(contract="tag:plan_", fastlane="tag:fastlane")
    doc["products"] = {GROUP: "mobile"}
    assert events("created", doc)[0] | {"event_id": "x"} == ev(
        "x", "ticket.created", "2025-01-08T10:12:07.672Z", severity=2, product="mobile", customer_id=ORG,
        contract="gold", fastlane=True) | {"event_id": "x"}
    doc["fields"].update(customer="requester", product="tag:mob", fastlane="tag:vip")
    created = events("trigger_created", doc)[0]
    assert (created["customer_id"], created["product"], created["fastlane"]) == (CUSTOMER, "ile", False)


def test_a_ticket_without_organisation_or_priority_uses_the_requester_and_the_default_severity() -> None:
    doc = orjson.loads(body("created"))
    doc["detail"].update(organization_id=None, priority=None, group_id=None)
    out = adapter().events(Request(headers={}, body=orjson.dumps(doc), received_ms=0))
    assert (out[0]["customer_id"], out[0]["severity"], out[0]["product"]) == (CUSTOMER, 3, "support")


# --- authentication ------------------------------------------------------------------------------------------------

def signed_headers() -> dict[str, str]:
    return {k.lower(): v for k, v in ZD.json("signed_headers").items() if not k.startswith("_")}


def call(headers: dict[str, str], received_ms: int = SIGNED_AT + 30 * SECOND_MS, payload: bytes | None = None):
    return Request(headers=headers, body=body("created") if payload is None else payload, received_ms=received_ms)


def test_a_call_signed_as_zendesk_signs_it_is_accepted() -> None:
    adapter().authenticate(call(signed_headers()))
    stamp = "2025-01-08T10:12:08Z"
    assert zendesk.signature(SECRET, stamp, body("created")) == signed_headers()["x-zendesk-webhook-signature"]


@pytest.mark.parametrize("change", ["body", "secret", "timestamp", "signature"])
def test_a_wrong_signature_is_refused(change: str) -> None:
    headers, payload, secret = signed_headers(), body("created"), SECRET
    if change == "body":
        payload = payload.replace(b'"HIGH"', b'"LOW"')
    elif change == "secret":
        secret = "another-secret"
    elif change == "timestamp":
        headers["x-zendesk-webhook-signature-timestamp"] = "2025-01-08T10:12:09Z"
    else:
        headers["x-zendesk-webhook-signature"] = headers["x-zendesk-webhook-signature"][:-2] + "A="
    gate = adapter(secret=secret)
    with pytest.raises(Unauthorized, match="wrong"):
        gate.authenticate(call(headers, payload=payload))


@pytest.mark.parametrize("header", [zendesk.SIGNATURE_HEADER, zendesk.TIMESTAMP_HEADER])
def test_a_missing_signature_header_is_refused(header: str) -> None:
    headers = signed_headers()
    del headers[header]
    with pytest.raises(Unauthorized, match="missing"):
        adapter().authenticate(call(headers))


@pytest.mark.parametrize("offset_ms", [5 * MINUTE_MS + 1, -(5 * MINUTE_MS + 1), 3600 * SECOND_MS])
def test_an_old_or_future_timestamp_is_a_replay(offset_ms: int) -> None:
    with pytest.raises(Unauthorized, match="5 minutes"):
        adapter().authenticate(call(signed_headers(), received_ms=SIGNED_AT + offset_ms))


@pytest.mark.parametrize("offset_ms", [5 * MINUTE_MS, -5 * MINUTE_MS, 0])
def test_the_replay_window_is_five_minutes_either_way(offset_ms: int) -> None:
    adapter().authenticate(call(signed_headers(), received_ms=SIGNED_AT + offset_ms))


# --- payloads that cannot be mapped ---------------------------------------------------------------------------------

mutated = ZD.mutated


@pytest.mark.parametrize(("payload", "reason"), [
    (b'{"type": "zen:event-type:ticket.created", ', "malformed_json"),
    (b'[1, 2]', "malformed_json"),
    (b'{"hello": "world"}', "unknown_event"),
    (mutated("created", lambda d: d["detail"].update(priority="P0")), "invalid_field:detail.priority"),
    (mutated("created", lambda d: d.pop("detail")), "missing_field:detail"),
    (mutated("created", lambda d: d["detail"].pop("id")), "missing_field:detail.id"),
    (mutated("created", lambda d: d.update(time="yesterday")), "invalid_field:time"),
    (mutated("status_solved", lambda d: d.pop("id")), "missing_field:id"),
    (mutated("status_solved", lambda d: d["detail"].update(assignee_id=None, actor_id=None)),
     "missing_field:detail.assignee_id"),
    (mutated("comment_staff_public", lambda d: d["event"].pop("comment")), "missing_field:event.comment"),
    (mutated("trigger_status_pending", lambda d: d.update(sla_event="deleted")), "invalid_field:sla_event"),
    (mutated("trigger_status_pending", lambda d: d["ticket"].update(updated_at="")), "missing_field:ticket.updated_at"),
])
def test_an_unmappable_payload_says_why(payload: bytes, reason: str) -> None:
    assert ZD.unmappable(payload).reason == reason


# --- mapping mistakes ------------------------------------------------------------------------------------------------

@pytest.mark.parametrize(("change", "key"), [
    (lambda d: d["severity"].update(urgent=7), "severity.urgent"),
    (lambda d: d.update(severity={}), "severity"),
    (lambda d: d.update(default_severity=0), "default_severity"),
    (lambda d: d.update(ticket_prefix=""), "ticket_prefix"),
    (lambda d: d.update(default_product=5), "default_product"),
    (lambda d: d["status"].update(waiting=["pending", 3]), "status.waiting"),
    (lambda d: d["status"].update(closed=["closed", "Solved"]), "status.closed"),
    (lambda d: d["fields"].update(customer="team"), "fields.customer"),
    (lambda d: d["fields"].update(product="queue"), "fields.product"),
    (lambda d: d["fields"].update(contract="plan"), "fields.contract"),
    (lambda d: d["fields"].update(fastlane="tag:"), "fields.fastlane"),
    (lambda d: d.update(products={"1": 2}), "products"),
    (lambda d: d.update(staff_roles=[]) or d.update(staff_roles=[""]), "staff_roles"),
    (lambda d: d.update(ticket_prefx="Z-"), "ticket_prefx"),
    (lambda d: d["fields"].update(organisation="x"), "fields.organisation"),
])
def test_every_mapping_mistake_names_its_key(change, key: str) -> None:
    assert ZD.mapping_error(ZD.changed(change)).key == f"zendesk.toml: {key}"


def test_the_secret_is_required_and_named() -> None:
    assert ZD.secret_error().key == "SLA_INGEST_ZENDESK_SECRET_FILE"


def test_the_shipped_mapping_is_valid_toml_with_every_key_read() -> None:
    text = (Path(zendesk.__file__).resolve().parents[2] / "resources" / "ingest" / "zendesk.toml").read_text()
    assert tomllib.loads(text) == shipped()
    adapter()  # refuse_unknown passes: every shipped key is one the adapter reads
