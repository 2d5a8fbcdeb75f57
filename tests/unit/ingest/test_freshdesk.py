"""Freshdesk automation webhooks -> section 2 events: every fixture (the shipped recommended body, filled as
Freshdesk renders its placeholders) maps to the events it means, a retried call gives the same event ids, the
shared secret (header or basic auth) is checked, and every mapping mistake names its key."""

from __future__ import annotations

import base64
import copy
import tomllib
from pathlib import Path
from typing import Any

import orjson
import pytest

from pipeline.domain.timefmt import parse_rfc3339_ms
from pipeline.ingest.adapter import Request, Unauthorized
from pipeline.ingest.sources import freshdesk
from tests.unit.ingest.common import Source, assert_valid_for_the_pipeline, event_ids

SECRET = "fd-fixture-shared-secret"
ARRIVED = parse_rfc3339_ms("2025-01-08T10:12:09.250Z")
FD = Source(freshdesk, SECRET, arrived_ms=ARRIVED)
AGENT = "sam.agent@example.com"
body, shipped, adapter = FD.body, FD.shipped, FD.build


def events(name: str, doc: dict[str, Any] | None = None, payload: bytes | None = None) -> list[dict[str, Any]]:
    return FD.events(body(name) if payload is None else payload, doc)


def ev(update: str, kind: str, etype: str, **fields: Any) -> dict[str, Any]:
    # occurred_at: Freshdesk's placeholders carry no machine-readable time, so the call's arrival
    return {"event_id": f"freshdesk:1042:{update}:{kind}", "type": etype, "ticket_id": "FD-1042",
            "occurred_at": "2025-01-08T10:12:09.250Z", **fields}


EXPECTED = {
    "created": [ev("created", "created", "ticket.created", severity=2, product="Billing", customer_id="Acme Corp",
                   contract="gold", fastlane=False)],
    "agent_reply": [ev("Wed, 8 Jan, 2025 at 10:25 AM", "responded", "ticket.responded", engineer_id=AGENT)],
    "customer_reply": [ev("Wed, 8 Jan, 2025 at 11:02 AM", "customer_replied", "ticket.customer_replied")],
    "status_pending": [ev("Wed, 8 Jan, 2025 at 10:26 AM", "waiting", "ticket.waiting_on_customer")],
    "status_waiting_on_third_party": [],  # not the customer's turn: nothing the SLA judges
    "status_resolved": [ev("Wed, 8 Jan, 2025 at 4:45 PM", "resolved", "ticket.resolved", engineer_id=AGENT)],
    "status_closed": [ev("Mon, 13 Jan, 2025 at 12:00 AM", "closed", "ticket.closed")],
    "reopened": [ev("Thu, 9 Jan, 2025 at 8:01 AM", "reopened", "ticket.reopened")],
    "priority": [ev("Wed, 8 Jan, 2025 at 10:40 AM", "severity", "ticket.severity_changed", severity=1)],
    "assignee": [ev("Wed, 8 Jan, 2025 at 10:15 AM", "assigned", "ticket.assigned", engineer_id=AGENT)],
}


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_each_fixture_maps_to_the_events_it_means(name: str) -> None:
    assert events(name) == EXPECTED[name]


def test_every_fixture_has_its_expectation() -> None:
    assert FD.fixture_names(besides={"auth_headers"}) == set(EXPECTED)


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_every_event_is_valid_for_the_pipeline(name: str) -> None:
    assert_valid_for_the_pipeline(events(name))


def test_a_retried_call_gives_the_same_event_ids_even_arriving_later() -> None:
    first = [i for n in EXPECTED for i in event_ids(events(n))]
    later = [i for n in EXPECTED for i in event_ids(FD.events(body(n), received_ms=ARRIVED + 60_000))]
    assert first == later and len(first) == len(set(first))


def test_a_given_occurred_at_wins_over_the_arrival() -> None:
    doc = orjson.loads(body("agent_reply")) | {"occurred_at": "2025-01-08T10:25:31+01:00"}
    assert events("", payload=orjson.dumps(doc))[0]["occurred_at"] == "2025-01-08T09:25:31.000Z"


def test_without_updated_at_the_body_tells_updates_apart() -> None:
    one = orjson.loads(body("agent_reply"))
    one["ticket"]["updated_at"] = ""
    two = copy.deepcopy(one)
    two["ticket"]["status"] = "Pending"
    ids = {events("", payload=orjson.dumps(d))[0]["event_id"] for d in (one, one, two)}
    assert len(ids) == 2


def test_fields_per_mapping_and_fallbacks() -> None:
    doc = shipped()
    doc["fields"] = {"customer": "requester", "product": "cf_product", "fastlane": "cf_fastlane"}
    payload = orjson.loads(body("created"))
    payload["ticket"].update(cf_product="Mobile", cf_fastlane="Yes", priority="")
    created = events("", doc, orjson.dumps(payload))[0]
    assert (created["customer_id"], created["product"], created["fastlane"], created["severity"]) == (
        "60000123456", "Mobile", True, 3)
    assert "contract" not in created
    payload["ticket"].update(company="", group="")
    created = events("", None, orjson.dumps(payload))[0]
    assert (created["customer_id"], created["product"]) == ("60000123456", "support")


def test_a_reply_on_a_ticket_without_agent_names_the_mappings_engineer() -> None:
    payload = orjson.loads(body("agent_reply"))
    payload["ticket"]["agent"] = ""
    assert events("", payload=orjson.dumps(payload))[0]["engineer_id"] == "unassigned"


# --- authentication ------------------------------------------------------------------------------------------------

def headers(way: str) -> dict[str, str]:
    return {k.lower(): v for k, v in FD.json("auth_headers")[way].items()}


def call(hdrs: dict[str, str]) -> Request:
    return Request(headers=hdrs, body=body("created"), received_ms=ARRIVED)


def basic(user: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


@pytest.mark.parametrize("way", ["shared_header", "basic"])
def test_the_shared_secret_in_a_header_or_as_basic_password_is_accepted(way: str) -> None:
    adapter().authenticate(call(headers(way)))


@pytest.mark.parametrize(("hdrs", "why"), [
    ({"x-sla-webhook-secret": "guess"}, "wrong"),
    ({"x-sla-webhook-secret": SECRET + "x"}, "wrong"),
    ({"authorization": basic("freshdesk", "guess")}, "wrong"),
    ({"authorization": "Basic !!!"}, "unreadable"),
    ({"authorization": "Bearer " + SECRET}, "missing"),
    ({}, "missing"),
])
def test_a_wrong_or_missing_secret_is_refused(hdrs: dict[str, str], why: str) -> None:
    with pytest.raises(Unauthorized, match=why):
        adapter().authenticate(call(hdrs))


def test_the_basic_auth_user_is_checked_when_the_mapping_names_one() -> None:
    doc = shipped() | {"basic_auth_user": "freshdesk"}
    adapter(doc).authenticate(call(headers("basic")))
    with pytest.raises(Unauthorized):
        adapter(doc).authenticate(call({"authorization": basic("someone", SECRET)}))


def test_the_secret_header_name_comes_from_the_mapping() -> None:
    doc = shipped() | {"secret_header": "X-Our-Token"}
    adapter(doc).authenticate(call({"x-our-token": SECRET}))
    with pytest.raises(Unauthorized):
        adapter(doc).authenticate(call(headers("shared_header")))


# --- payloads that cannot be mapped ---------------------------------------------------------------------------------

mutated = FD.mutated


@pytest.mark.parametrize(("payload", "reason"), [
    (b'{"sla_event": "created", "ticket": {"id": "1042", "subject": "say "hi""}}', "malformed_json"),
    (b'"created"', "missing_field:ticket"),
    (mutated("created", lambda d: d.pop("sla_event")), "invalid_field:sla_event"),
    (mutated("created", lambda d: d.update(sla_event="note")), "invalid_field:sla_event"),
    (mutated("created", lambda d: d["ticket"].update(id="")), "missing_field:ticket.id"),
    (mutated("created", lambda d: d["ticket"].update(priority="Critical")), "invalid_field:ticket.priority"),
    (mutated("created", lambda d: d["ticket"].update(company="", requester_id="")), "missing_field:ticket.company"),
    (mutated("status_pending", lambda d: d["ticket"].pop("status")), "missing_field:ticket.status"),
    (mutated("created", lambda d: d.update(occurred_at="8 Jan 2025")), "invalid_field:occurred_at"),
])
def test_an_unmappable_payload_says_why(payload: bytes, reason: str) -> None:
    assert FD.unmappable(payload).reason == reason


# --- mapping mistakes ------------------------------------------------------------------------------------------------

@pytest.mark.parametrize(("change", "key"), [
    (lambda d: d["severity"].update(urgent=5), "severity.urgent"),
    (lambda d: d.update(severity=[]), "severity"),
    (lambda d: d.update(default_severity="high"), "default_severity"),
    (lambda d: d.update(ticket_prefix=7), "ticket_prefix"),
    (lambda d: d.update(default_product=""), "default_product"),
    (lambda d: d.update(secret_header="X SLA Secret"), "secret_header"),
    (lambda d: d.update(basic_auth_user=""), "basic_auth_user"),
    (lambda d: d.update(unassigned_engineer=[]), "unassigned_engineer"),
    (lambda d: d["status"].update(resolved="Resolved", closed=["closed", "resolved"]), "status.closed"),
    (lambda d: d["status"].update(waiting={"a": 1}), "status.waiting"),
    (lambda d: d["fields"].update(customer=""), "fields.customer"),
    (lambda d: d["fields"].update(product=1), "fields.product"),
    (lambda d: d["fields"].update(contract=True), "fields.contract"),
    (lambda d: d["fields"].update(fastlane=["x"]), "fields.fastlane"),
    (lambda d: d.update(secret="inline"), "secret"),
    (lambda d: d["fields"].update(group="x"), "fields.group"),
])
def test_every_mapping_mistake_names_its_key(change, key: str) -> None:
    assert FD.mapping_error(FD.changed(change)).key == f"freshdesk.toml: {key}"


def test_the_secret_is_required_and_named() -> None:
    assert FD.secret_error().key == "SLA_INGEST_FRESHDESK_SECRET_FILE"


def test_the_shipped_mapping_is_valid_toml_with_every_key_read() -> None:
    text = (Path(freshdesk.__file__).resolve().parents[2] / "resources" / "ingest" / "freshdesk.toml").read_text()
    assert tomllib.loads(text) == shipped()
    adapter()
