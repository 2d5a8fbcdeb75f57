"""GLPI 11 webhooks -> section 2 events: every fixture (written from GLPI's webhook code and its high-level
API schemas) maps to the events a support manager expects, state-only calls give events the worker applies
once however often they repeat, the X-GLPI-signature is checked, and every mapping mistake names its key."""

from __future__ import annotations

import copy
from typing import Any

import orjson
import pytest

from pipeline.ingest.adapter import Request, Unauthorized
from pipeline.ingest.sources import glpi
from tests.unit.ingest.common import Source, assert_valid_for_the_pipeline, fixture, signed_request

SIGNED = fixture("glpi", "signed_call")
GL = Source(glpi, SIGNED["secret"])
TECH = "tech.lea"

body, shipped, adapter, events = GL.body, GL.shipped, GL.build, GL.events


def ev(eid: str, etype: str, at: str, **fields: Any) -> dict[str, Any]:
    return {"event_id": f"glpi:42:{eid}", "type": etype, "ticket_id": "GLPI-42", "occurred_at": at, **fields}


def state(modified: str, at: str, etype: str, kind: str, severity: int = 1, **fields: Any) -> list[dict[str, Any]]:
    """What every ticket update says about the ticket as it is: its priority, its technician, its status."""
    return [ev(f"at:{modified}:severity", "ticket.severity_changed", at, severity=severity),
            ev(f"assignee:{TECH}:assigned", "ticket.assigned", at, engineer_id=TECH),
            ev(f"at:{modified}:{kind}", etype, at, **fields)]


EXPECTED = {
    "ticket_created": [ev("created:created", "ticket.created", "2026-03-02T08:15:04.000Z", severity=3,
                          customer_id="Root entity > Acme", product="Printing")],
    "assigned": state("2026-03-02T09:30:00+01:00", "2026-03-02T08:30:00.000Z", "ticket.reopened", "reopened",
                      severity=3),
    "priority_changed": state("2026-03-02T09:45:00+01:00", "2026-03-02T08:45:00.000Z", "ticket.reopened",
                              "reopened"),
    "followup_staff": [ev("followup:301:followup", "ticket.responded", "2026-03-02T08:50:00.000Z", engineer_id=TECH)],
    "followup_private": [],
    "waiting_on_customer": state("2026-03-02T10:00:00+01:00", "2026-03-02T09:00:00.000Z",
                                 "ticket.waiting_on_customer", "waiting"),
    "followup_customer": [ev("followup:303:followup", "ticket.customer_replied", "2026-03-02T10:00:00.000Z")],
    "resolved": state("2026-03-02T12:00:00+01:00", "2026-03-02T11:00:00.000Z", "ticket.resolved", "resolved",
                      engineer_id=TECH),
    "reopened": state("2026-03-03T08:00:00+01:00", "2026-03-03T07:00:00.000Z", "ticket.reopened", "reopened"),
    "closed": state("2026-03-05T12:00:00+01:00", "2026-03-05T11:00:00.000Z", "ticket.closed", "closed"),
}


def test_every_fixture_has_its_expected_events() -> None:
    assert GL.fixture_names(besides={"signed_call"}) == set(EXPECTED)


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_fixture_maps_to_the_expected_events(name: str) -> None:
    assert events(body(name)) == EXPECTED[name]


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_every_event_is_valid_under_the_contract(name: str) -> None:
    assert_valid_for_the_pipeline(events(body(name)))


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_a_resent_call_gives_the_same_event_ids(name: str) -> None:
    assert events(body(name), received_ms=1_000) == events(body(name), received_ms=9_000_000)


def test_an_observer_writing_is_the_customer_and_groups_are_never_the_technician() -> None:
    raw = orjson.loads(body("followup_customer"))
    raw["item"]["user"] = {"id": 9, "name": "pmartin"}
    assert [e["type"] for e in events(orjson.dumps(raw))] == ["ticket.customer_replied"]
    raw = orjson.loads(body("resolved"))
    raw["item"]["team"] = [m for m in raw["item"]["team"] if m["name"] != TECH]  # only the group "Level 2"
    assert events(orjson.dumps(raw))[-1]["engineer_id"] == "unassigned"


def test_dates_without_an_offset_are_in_the_mappings_time_zone() -> None:
    doc = copy.deepcopy(shipped())
    doc["timezone"] = "Europe/Paris"
    raw = orjson.loads(body("ticket_created"))
    raw["item"]["date"] = "2026-07-01 09:00:00"  # GLPI's database form, Paris summer time
    assert events(orjson.dumps(raw), doc)[0]["occurred_at"] == "2026-07-01T07:00:00.000Z"


def test_mapping_options_customer_contract_and_fastlane() -> None:
    doc = copy.deepcopy(shipped())
    doc["fields"].update(customer="requester", product="request_type.name", contract="location.name",
                         fastlane="is_deleted")
    raw = orjson.loads(body("ticket_created"))
    raw["item"]["location"] = {"id": 2, "name": "gold"}
    (created,) = events(orjson.dumps(raw), doc)
    assert created == ev("created:created", "ticket.created", "2026-03-02T08:15:04.000Z", severity=3,
                         customer_id="jdupont", product="Helpdesk", contract="gold", fastlane=False)


def test_tasks_deletions_and_followup_edits_give_nothing() -> None:
    task = {"event": "new", "item": {"id": 9, "tickets_id": 42, "content": "call back", "is_private": False}}
    assert events(orjson.dumps(task)) == []
    assert events(body("closed").replace(b'"update"', b'"delete"')) == []
    assert events(body("followup_staff").replace(b'"event": "new"', b'"event": "update"')) == []


# -- authentication ---------------------------------------------------------------------------------------


def signed(raw: bytes | None = None, **headers: str) -> Request:
    return signed_request(SIGNED["headers"], body("ticket_created") if raw is None else raw, **headers)


def test_the_documented_signature_is_accepted() -> None:
    adapter().authenticate(signed())


@pytest.mark.parametrize("request_", [
    signed(raw=body("ticket_created").replace(b'"priority": 3', b'"priority": 5')),
    signed(**{"X-GLPI-signature": "0" * 64}),
    signed(**{"X-GLPI-timestamp": "1772439999"}),  # the signature covers the timestamp
    signed(**{"X-GLPI-signature": ""}),
    signed(**{"X-GLPI-timestamp": ""}),
], ids=["tampered", "wrong", "other-timestamp", "missing-signature", "missing-timestamp"])
def test_a_bad_or_missing_signature_is_refused(request_: Request) -> None:
    with pytest.raises(Unauthorized):
        adapter().authenticate(request_)


# -- what cannot be mapped --------------------------------------------------------------------------------


mutated = GL.mutated


@pytest.mark.parametrize(("raw", "reason"), [
    (b'{"event": "new", "item": ', "malformed_json"),
    (b"42", "malformed_json"),
    (mutated("ticket_created", lambda d: d.pop("event")), "missing_field:event"),
    (mutated("ticket_created", lambda d: d.pop("item")), "missing_field:item"),
    (mutated("ticket_created", lambda d: d["item"].update(priority=9)), "invalid_field:item.priority"),
    (mutated("ticket_created", lambda d: d["item"].pop("entity")), "missing_field:item.entity"),
    (mutated("ticket_created", lambda d: d["item"].update(date="soon", date_creation=None)),
     "invalid_field:item.date"),
    (mutated("assigned", lambda d: d["item"].pop("date_mod")), "missing_field:item.date_mod"),
    (mutated("followup_staff", lambda d: d.pop("parent_item")), "missing_field:parent_item.team"),
    (mutated("followup_staff", lambda d: d["item"].pop("user")), "missing_field:item.user.name"),
])
def test_an_unmappable_payload_says_why(raw: bytes, reason: str) -> None:
    assert GL.unmappable(raw).reason == reason


# -- the mapping file -------------------------------------------------------------------------------------


@pytest.mark.parametrize(("change", "key"), [
    (lambda d: d["severity"].update({"5": 0}), "severity.5"),
    (lambda d: d.update(default_severity="high"), "default_severity"),
    (lambda d: d.update(timezone="Mars/Olympus"), "timezone"),
    (lambda d: d["status"].update(waiting=["4", "5"]), "status.waiting"),
    (lambda d: d["fields"].update(customer=""), "fields.customer"),
    (lambda d: d["staff"].update(customer_roles=[1]), "staff.customer_roles"),
    (lambda d: d["staff"].update(unasigned="x"), "staff.unasigned"),
])
def test_every_mapping_mistake_names_its_key(change: Any, key: str) -> None:
    assert GL.mapping_error(GL.changed(change)).key == f"glpi.toml: {key}"


def test_no_secret_stops_start_up_naming_its_setting() -> None:
    assert GL.secret_error().key == "SLA_INGEST_GLPI_SECRET_FILE"
