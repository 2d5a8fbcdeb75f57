"""Jira Service Management webhooks -> section 2 events: every fixture (written from Atlassian's documented
webhook payloads) maps to the events a support manager expects, a retry gives the same event ids, the
signature (and the optional shared-secret header) is checked, and every mapping mistake names its key."""

from __future__ import annotations

import copy
from typing import Any

import orjson
import pytest

from pipeline.ingest.adapter import Request, Unauthorized
from pipeline.ingest.sources import jira
from tests.unit.ingest.common import Source, assert_valid_for_the_pipeline, fixture, signed_request

SIGNED = fixture("jira", "signed_call")
JI = Source(jira, SIGNED["secret"])
AGENT = "5b10ac8d82e05b22cc7d4ef5"
CUSTOMER = "qm:1f2e3d4c-customer-emily"

body, shipped, adapter, events = JI.body, JI.shipped, JI.build, JI.events


def ev(eid: str, etype: str, at: str, **fields: Any) -> dict[str, Any]:
    return {"event_id": f"jira:10042:{eid}", "type": etype, "ticket_id": "JSM-SUP-42", "occurred_at": at, **fields}


EXPECTED = {
    "issue_created": [ev("created:created", "ticket.created", "2026-03-02T08:15:04.120Z",
                         severity=2, product="SUP", customer_id="Acme Corp")],
    "assigned": [ev("change:10510:assigned", "ticket.assigned", "2026-03-02T08:30:00.000Z", engineer_id=AGENT)],
    "priority_changed": [ev("change:10511:severity", "ticket.severity_changed", "2026-03-02T08:35:00.000Z",
                            severity=1)],
    "comment_staff": [ev("comment:10071:comment", "ticket.responded", "2026-03-02T08:40:00.000Z",
                         engineer_id=AGENT)],
    "waiting_on_customer": [ev("change:10512:waiting", "ticket.waiting_on_customer", "2026-03-02T08:45:00.000Z")],
    "comment_customer": [ev("comment:10072:comment", "ticket.customer_replied", "2026-03-02T09:00:00.000Z")],
    "comment_internal": [],  # jsdPublic false: the customer never saw it
    "resolved": [ev("change:10513:resolved", "ticket.resolved", "2026-03-02T09:45:00.000Z", engineer_id=AGENT)],
    "reopened": [ev("change:10514:reopened", "ticket.reopened", "2026-03-02T12:00:00.000Z")],
    "closed": [ev("change:10515:closed", "ticket.closed", "2026-03-03T12:00:00.000Z")],
}


def test_every_fixture_has_its_expected_events() -> None:
    assert JI.fixture_names(besides={"signed_call"}) == set(EXPECTED)


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_fixture_maps_to_the_expected_events(name: str) -> None:
    assert events(body(name)) == EXPECTED[name]


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_every_event_is_valid_under_the_contract(name: str) -> None:
    assert_valid_for_the_pipeline(events(body(name)))


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_a_retried_call_gives_the_same_event_ids(name: str) -> None:
    first = events(body(name), received_ms=1_000)
    again = events(body(name), received_ms=9_000_000)  # Jira retries later: ids and instants do not move
    assert first == again


def test_a_data_center_issue_commented_update_gives_the_comment_event_of_comment_created() -> None:
    doc = orjson.loads(body("comment_staff"))
    doc.update(webhookEvent="jira:issue_updated", issue_event_type_name="issue_commented")
    assert events(orjson.dumps(doc)) == EXPECTED["comment_staff"]


def test_a_comment_by_the_reporter_is_the_customers_even_from_a_licensed_account() -> None:
    doc = orjson.loads(body("comment_customer"))
    doc["comment"]["author"] = {"accountId": AGENT, "accountType": "atlassian"}
    doc["issue"]["fields"]["reporter"] = {"accountId": AGENT}
    assert [e["type"] for e in events(orjson.dumps(doc))] == ["ticket.customer_replied"]


def test_a_direct_close_in_a_workflow_that_closes_without_resolving_also_resolves() -> None:
    doc = copy.deepcopy(shipped())
    doc["status"]["resolved"] = ["Resolved", "Closed"]
    raw = orjson.loads(body("resolved"))
    raw["changelog"]["items"][0].update(toString="Closed")
    assert [e["type"] for e in events(orjson.dumps(raw), doc)] == ["ticket.resolved", "ticket.closed"]


def test_mapping_options_customer_contract_fastlane_and_ticket_key() -> None:
    doc = copy.deepcopy(shipped())
    doc["ticket_key"] = "id"
    doc["fields"].update(customer="requester", product="component", contract="customfield_10060",
                         fastlane="customfield_10061")
    (created,) = events(body("issue_created"), doc)
    assert created == {"event_id": "jira:10042:created:created", "type": "ticket.created",
                       "ticket_id": "JSM-10042", "occurred_at": "2026-03-02T08:15:04.120Z", "severity": 2,
                       "product": "Network", "customer_id": CUSTOMER, "contract": "gold", "fastlane": True}


def test_a_request_without_an_organisation_is_its_reporters() -> None:
    raw = orjson.loads(body("issue_created"))
    raw["issue"]["fields"]["customfield_10002"] = []
    assert events(orjson.dumps(raw))[0]["customer_id"] == CUSTOMER


# -- authentication ---------------------------------------------------------------------------------------


def signed(raw: bytes | None = None, **headers: str) -> Request:
    return signed_request(SIGNED["headers"], body("issue_created") if raw is None else raw, **headers)


def test_the_documented_signature_is_accepted() -> None:
    adapter().authenticate(signed())


@pytest.mark.parametrize("request_", [
    signed(raw=body("issue_created").replace(b"High", b"Highest")),  # tampered body
    signed(**{"X-Hub-Signature": "sha256=" + "0" * 64}),  # wrong signature
    signed(**{"X-Hub-Signature": ""}),  # missing
    signed(**{"X-Hub-Signature": SIGNED["headers"]["X-Hub-Signature"].replace("sha256=", "sha1=")}),
], ids=["tampered", "wrong", "missing", "other-algorithm"])
def test_a_bad_or_missing_signature_is_refused(request_: Request) -> None:
    with pytest.raises(Unauthorized):
        adapter().authenticate(request_)


def test_a_shared_secret_header_counts_only_when_the_mapping_names_it() -> None:
    call = signed(**{"X-Hub-Signature": "", "X-SLA-Webhook-Secret": SIGNED["secret"]})
    with pytest.raises(Unauthorized):
        adapter().authenticate(call)
    doc = copy.deepcopy(shipped())
    doc["auth"] = {"shared_secret_header": "X-SLA-Webhook-Secret"}
    adapter(doc).authenticate(call)
    with pytest.raises(Unauthorized):
        adapter(doc).authenticate(signed(**{"X-Hub-Signature": "", "X-SLA-Webhook-Secret": "guess"}))


# -- what cannot be mapped --------------------------------------------------------------------------------


mutated = JI.mutated


@pytest.mark.parametrize(("raw", "reason"), [
    (b'{"webhookEvent": "jira:issue_created", ', "malformed_json"),
    (b"[1, 2]", "malformed_json"),
    (mutated("issue_created", lambda d: d.pop("webhookEvent")), "missing_field:webhookEvent"),
    (mutated("issue_created", lambda d: d.pop("issue")), "missing_field:issue"),
    (mutated("issue_created", lambda d: d["issue"]["fields"]["priority"].update(name="Blocker")),
     "invalid_field:issue.fields.priority"),
    (mutated("issue_created", lambda d: d["issue"]["fields"].update(created="yesterday")),
     "invalid_field:issue.fields.created"),
    (mutated("priority_changed", lambda d: d["changelog"].pop("id")), "missing_field:changelog.id"),
    (mutated("comment_staff", lambda d: d["comment"].pop("author")), "missing_field:comment.author.accountId"),
    (mutated("resolved", lambda d: (d["issue"]["fields"].update(assignee=None), d.pop("user"))),
     "missing_field:issue.fields.assignee"),
])
def test_an_unmappable_payload_says_why(raw: bytes, reason: str) -> None:
    assert JI.unmappable(raw).reason == reason


def test_events_the_sla_does_not_judge_give_nothing() -> None:
    assert events(mutated("comment_staff", lambda d: d.update(webhookEvent="comment_updated"))) == []
    assert events(mutated("assigned", lambda d: d["changelog"]["items"][0].update(fieldId="labels"))) == []


# -- the mapping file -------------------------------------------------------------------------------------


@pytest.mark.parametrize(("change", "key"), [
    (lambda d: d["severity"].update(High=7), "severity.High"),
    (lambda d: d.update(severity={}), "severity"),
    (lambda d: d.update(default_severity=0), "default_severity"),
    (lambda d: d.update(ticket_key="number"), "ticket_key"),
    (lambda d: d.update(ticket_prefix=""), "ticket_prefix"),
    (lambda d: d["status"].update(waiting=["Resolved"]), "status.waiting"),
    (lambda d: d["status"].update(closed=[3]), "status.closed"),
    (lambda d: d["fields"].update(customer=1), "fields.customer"),
    (lambda d: d["staff"].update(reporter_is_customer="yes"), "staff.reporter_is_customer"),
    (lambda d: d["staff"].update(acount_types=["atlassian"]), "staff.acount_types"),
    (lambda d: d.update(auth={"shared_secret_header": ""}), "auth.shared_secret_header"),
])
def test_every_mapping_mistake_names_its_key(change: Any, key: str) -> None:
    assert JI.mapping_error(JI.changed(change)).key == f"jira.toml: {key}"


def test_no_secret_stops_start_up_naming_its_setting() -> None:
    assert JI.secret_error().key == "SLA_INGEST_JIRA_SECRET_FILE"
