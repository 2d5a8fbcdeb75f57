"""Decoding and validation of ticket events: every contract rejection reason, and never an exception."""

from __future__ import annotations

import json

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pipeline.domain.events import MAX_EVENT_BYTES, Event, Rejection, decode
from pipeline.domain.timefmt import format_rfc3339_ms, parse_rfc3339_ms

CREATED = {
    "event_id": "e-1", "type": "ticket.created", "ticket_id": "T-1", "occurred_at": "2026-03-02T09:00:00Z",
    "severity": 1, "product": "desktop", "customer_id": "C-9",
}


def enc(doc: object) -> bytes:
    return orjson.dumps(doc)


def with_(**changes: object) -> dict:
    doc = dict(CREATED)
    for key, value in changes.items():
        if value is ...:
            doc.pop(key)
        else:
            doc[key] = value
    return doc


def reason(value: bytes | None, key: bytes | None = b"T-1") -> str:
    result = decode(value, key)
    assert isinstance(result, Rejection), f"expected a rejection, got {result}"
    return result.reason


def test_a_valid_creation_decodes_with_defaults() -> None:
    event = decode(enc(CREATED), b"T-1")
    assert isinstance(event, Event)
    assert (event.type, event.ticket_id, event.severity, event.fastlane, event.tier) == (
        "ticket.created", "T-1", 1, False, 1)
    assert event.occurred_at == parse_rfc3339_ms("2026-03-02T09:00:00Z")


@pytest.mark.parametrize(
    ("value", "key", "expected"),
    [
        (b"\xff\xfe not utf-8", b"T-1", "malformed_json"),
        (b'{"event_id": "e-1", "type": ', b"T-1", "malformed_json"),
        (None, b"T-1", "malformed_json"),
        (b"[1, 2, 3]", b"T-1", "not_an_object"),
        (b'"just a string"', b"T-1", "not_an_object"),
        (b" " * (MAX_EVENT_BYTES + 1), b"T-1", "too_large"),
        (enc(with_(type="ticket.exploded")), b"T-1", "unknown_type"),
        (enc(with_(type=...)), b"T-1", "missing_field:type"),
        (enc(with_(type=7)), b"T-1", "invalid_field:type"),
        (enc(with_(event_id=...)), b"T-1", "missing_field:event_id"),
        (enc(with_(event_id="")), b"T-1", "invalid_field:event_id"),
        (enc(with_(event_id="x" * 129)), b"T-1", "invalid_field:event_id"),
        (enc(with_(ticket_id=...)), b"T-1", "missing_field:ticket_id"),
        (enc(with_(occurred_at=...)), b"T-1", "missing_field:occurred_at"),
        (enc(with_(occurred_at="2026-03-02T09:00:00")), b"T-1", "invalid_field:occurred_at"),  # naive
        (enc(with_(occurred_at="2026-03-02")), b"T-1", "invalid_field:occurred_at"),
        (enc(with_(occurred_at="2026-02-30T09:00:00Z")), b"T-1", "invalid_field:occurred_at"),
        (enc(with_(occurred_at=1772442000)), b"T-1", "invalid_field:occurred_at"),
        (enc(with_(severity=...)), b"T-1", "missing_field:severity"),
        (enc(with_(severity=5)), b"T-1", "invalid_field:severity"),
        (enc(with_(severity=True)), b"T-1", "invalid_field:severity"),
        (enc(with_(severity="1")), b"T-1", "invalid_field:severity"),
        (enc(with_(severity=1.0)), b"T-1", "invalid_field:severity"),
        (enc(with_(product=...)), b"T-1", "missing_field:product"),
        (enc(with_(customer_id=None)), b"T-1", "invalid_field:customer_id"),
        (enc(with_(fastlane="yes")), b"T-1", "invalid_field:fastlane"),
        (enc(with_(tier=4)), b"T-1", "invalid_field:tier"),
        (enc(CREATED), b"T-2", "key_mismatch"),
        (enc(CREATED), None, "key_mismatch"),
        (enc(CREATED), b"\xff", "key_mismatch"),
    ],
)
def test_each_rejection_reason(value: bytes | None, key: bytes | None, expected: str) -> None:
    assert reason(value, key) == expected


@pytest.mark.parametrize(
    ("doc", "expected"),
    [
        ({"type": "ticket.assigned"}, "missing_field:engineer_id"),
        ({"type": "ticket.responded", "engineer_id": 12}, "invalid_field:engineer_id"),
        ({"type": "ticket.severity_changed", "severity": 0}, "invalid_field:severity"),
        ({"type": "ticket.workaround_provided"}, "missing_field:engineer_id"),
        ({"type": "ticket.resolved"}, "missing_field:engineer_id"),
        ({"type": "ticket.survey_submitted", "rating": "meh"}, "invalid_field:rating"),
        ({"type": "ticket.survey_submitted"}, "missing_field:rating"),
        ({"type": "ticket.survey_submitted", "rating": "neutral", "dsat_reason": 3}, "invalid_field:dsat_reason"),
        ({"type": "ticket.survey_submitted", "rating": "neutral", "comment": ["no"]}, "invalid_field:comment"),
        ({"type": "ticket.survey_submitted", "rating": "neutral", "comment": "x" * 4001}, "invalid_field:comment"),
        ({"type": "ticket.quality_reviewed", "engineer_id": "E1", "score": 101}, "invalid_field:score"),
        ({"type": "ticket.quality_reviewed", "engineer_id": "E1", "score": False}, "invalid_field:score"),
        ({"type": "ticket.quality_reviewed", "engineer_id": "E1"}, "missing_field:score"),
    ],
)
def test_type_specific_fields(doc: dict, expected: str) -> None:
    base = {"event_id": "e", "ticket_id": "T-1", "occurred_at": "2026-03-02T09:00:00+02:00"}
    assert reason(enc({**base, **doc})) == expected


def test_every_type_has_a_valid_form() -> None:
    base = {"event_id": "e", "ticket_id": "T-1", "occurred_at": "2026-03-02T09:00:00.5-05:00"}
    extra = {
        "ticket.assigned": {"engineer_id": "E1", "tier": 2},
        "ticket.responded": {"engineer_id": "E1"},
        "ticket.severity_changed": {"severity": 3},
        "ticket.workaround_provided": {"engineer_id": "E1"},
        "ticket.resolved": {"engineer_id": "E1"},
        "ticket.survey_submitted": {"rating": "very_satisfied"},
        "ticket.quality_reviewed": {"engineer_id": "E1", "score": 87.5},
    }
    for etype in ("ticket.waiting_on_customer", "ticket.customer_replied", "ticket.reopened",
                  "ticket.closed", *extra):
        assert isinstance(decode(enc({**base, "type": etype, **extra.get(etype, {})}), b"T-1"), Event), etype


def test_a_survey_may_carry_the_customers_comment() -> None:
    doc = {"event_id": "e", "type": "ticket.survey_submitted", "ticket_id": "T-1", "rating": "neutral",
           "occurred_at": "2026-03-02T09:00:00Z", "comment": "Took three days; nobody called back."}
    event = decode(enc(doc), b"T-1")
    assert isinstance(event, Event) and event.comment == "Took three days; nobody called back."


def test_heartbeat_needs_no_ticket_and_no_key() -> None:
    beat = decode(enc({"event_id": "hb-1", "type": "heartbeat", "occurred_at": "2026-03-02T09:00:00Z"}), None)
    assert isinstance(beat, Event)
    assert beat.ticket_id is None


def test_unknown_extra_fields_are_allowed() -> None:
    assert isinstance(decode(enc(with_(channel="phone", nested={"a": [1]})), b"T-1"), Event)


def test_offsets_and_fractions_are_exact() -> None:
    assert parse_rfc3339_ms("2026-03-02T10:00:00.123456789+01:00") == parse_rfc3339_ms("2026-03-02T09:00:00.123Z")
    assert format_rfc3339_ms(parse_rfc3339_ms("2026-03-02T09:00:00.007Z")) == "2026-03-02T09:00:00.007Z"


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner, max_size=6),
    max_leaves=20,
)
field_values = st.sampled_from(["ticket.created", "ticket.responded", "heartbeat", "T-1", "2026-03-02T09:00:00Z",
                                "neutral", "E1"]) | json_values
event_like = st.fixed_dictionaries(
    {}, optional={name: field_values for name in (
        "event_id", "type", "ticket_id", "occurred_at", "severity", "product", "customer_id", "fastlane",
        "tier", "engineer_id", "rating", "dsat_reason", "score")},
)


@settings(max_examples=400, deadline=None)
@given(value=st.one_of(st.none(), st.binary(max_size=300)), key=st.one_of(st.none(), st.binary(max_size=20)))
def test_any_bytes_give_an_event_or_a_rejection(value: bytes | None, key: bytes | None) -> None:
    result = decode(value, key)
    assert isinstance(result, Event | Rejection)
    if isinstance(result, Rejection):
        assert result.reason and result.reason != "internal_error"


@settings(max_examples=600, deadline=None)
@given(doc=event_like, key=st.sampled_from([b"T-1", None, b"other"]))
def test_any_json_object_gives_an_event_or_a_contract_reason(doc: dict, key: bytes | None) -> None:
    result = decode(json.dumps(doc).encode(), key)  # stdlib: it also writes ints beyond 64 bits
    assert isinstance(result, Event | Rejection)
    if isinstance(result, Rejection):
        prefix = result.reason.split(":")[0]
        assert prefix in {"malformed_json", "not_an_object", "too_large", "unknown_type", "missing_field",
                          "invalid_field", "key_mismatch"}, result
    else:
        assert result.ticket_id is None or result.ticket_id.encode() == key


def _slow_only(value: bytes, key: bytes | None) -> Event | Rejection:
    from pipeline.domain import events

    fast, events._fast = events._fast, lambda *args: None
    try:
        return decode(value, key)
    finally:
        events._fast = fast


valid_like = st.fixed_dictionaries(
    {"event_id": st.sampled_from(["e1", "", "x" * 129]) | field_values,
     "type": st.sampled_from(["ticket.created", "ticket.responded", "ticket.survey_submitted", "heartbeat",
                              "ticket.quality_reviewed", "ticket.assigned"]),
     "ticket_id": st.sampled_from(["T-1", "T-2", None]) | field_values,
     "occurred_at": st.sampled_from(["2026-03-02T09:00:00.000Z", "2026-03-02T09:00:00+02:00", "2026-03-02"])},
    optional={"severity": st.sampled_from([1, 4, 5, True, None]), "product": st.sampled_from(["a", None, 3]),
              "customer_id": st.just("C-1"), "fastlane": st.sampled_from([True, 1, None]),
              "tier": st.sampled_from([2, 4]), "engineer_id": st.sampled_from(["E1", ""]),
              "rating": st.sampled_from(["neutral", "meh"]), "score": st.sampled_from([50, 101, "9"])},
)


@settings(max_examples=1500, deadline=None)
@given(doc=valid_like | event_like, key=st.sampled_from([b"T-1", None, b"T-2", b"\xff"]))
def test_the_fast_path_decides_exactly_as_the_field_by_field_path(doc: dict, key: bytes | None) -> None:
    value = json.dumps(doc).encode()
    assert decode(value, key) == _slow_only(value, key)
