"""The processor's outputs for a fixed simulated stream stay byte-identical across refactors.

Three simulated days of the default profile (seed 1) on four partitions: every output (DLQ records
with their headers, outcomes, escalations, engineer facts, DSAT reviews) in order. The full output is
about 4 MB, so ``golden/three_days.txt`` keeps, per output key (a ticket, or an engineer for facts), one
short digest per record in order, plus the digest and count of the whole output in order: any changed
byte changes a line there, and a failure names the first records that differ and prints what they are
now. After an intended change of the outputs, rewrite the file with ``SLA_GOLDEN_UPDATE=1`` and review
its diff.

The whole-output digest was taken from the processor before it was split into routing, outbox and
counting, and again when DSAT review records gained ``fastlane`` and ``comment`` (issue 16, an additive
contract change: with those two fields removed the outputs gave the previous digest, 3cbdf05d...ad8c0f9).
"""

from __future__ import annotations

import dataclasses
import hashlib
import os
from pathlib import Path

import orjson
import pytest

from pipeline.domain.clock import EventPartitionClock, ManualClock
from pipeline.domain.policy import Policy
from pipeline.domain.timefmt import DAY_MS
from pipeline.metrics import Metrics
from pipeline.processing.io import DeadLetter, Output, Record
from pipeline.processing.processor import Processor
from pipeline.simulate.generator import events
from pipeline.simulate.profile import load_profile
from tests.fakes import DictStore

T0 = 1_772_442_000_000  # 2026-03-02T09:00:00Z, a Monday
GOLDEN = Path(__file__).parent / "golden" / "three_days.txt"
_LETTERS = {"outcomes": "o", "escalations": "e", "facts": "f", "dsat": "d", None: "x"}  # x: a dead letter
SHOWN = 3  # differing keys described in a failure


@dataclasses.dataclass
class Summary:
    """What the golden file holds: the whole output's digest and count, and per key its records' digests."""

    digest: str
    count: int
    keys: dict[str, list[str]]  # key -> one token per record, in order: topic letter + 8 hex digits

    def text(self) -> str:
        head = ["# The processor's outputs for three simulated days: see tests/unit/test_golden.py.",
                "# Per output key, each record in order as <topic letter><sha256 of the record, 8 hex digits>;",
                "# letters: o outcomes, e escalations, f facts, d dsat, x dead letters.",
                f"all {self.digest} {self.count}"]
        return "\n".join([*head, *(f"{key} {' '.join(tokens)}" for key, tokens in self.keys.items())]) + "\n"

    @classmethod
    def parse(cls, text: str) -> Summary:
        lines = [line for line in text.splitlines() if line and not line.startswith("#")]
        _, digest, count = lines[0].split()
        keys = {}
        for line in lines[1:]:
            key, *tokens = line.split(" ")
            keys[key] = tokens
        return cls(digest, int(count), keys)


@dataclasses.dataclass
class Shown:
    """One output as compared: its bytes (the digested line) and a readable rendering."""

    key: str
    token: str
    text: str


def _shown(out: Output) -> tuple[bytes, Shown]:
    headers = out.headers() if isinstance(out, DeadLetter) else None
    topic = getattr(out, "topic", None)
    line = repr((type(out).__name__, topic, out.key, out.value, headers)).encode() + b"\n"
    key = (out.key or b"").decode("utf-8", "backslashreplace") or "-"
    value = out.value.decode("utf-8", "backslashreplace") if out.value is not None else "None"
    text = f"{topic or 'dlq'} key={key}: {value}" + (f" headers={headers}" if headers else "")
    return line, Shown(key, _LETTERS[topic] + hashlib.sha256(line).hexdigest()[:8], text)


def three_days() -> tuple[Summary, dict[str, list[Shown]]]:
    wall = ManualClock(T0)
    proc = Processor(clock=EventPartitionClock(wall), wall=wall, metrics=Metrics.create(), policy=Policy(),
                     orphan_timeout_ms=600_000, events_topic="tickets.events", ticks_topic="ticks")
    store = DictStore()
    digest, n, offsets = hashlib.sha256(), 0, [0, 0, 0, 0]
    by_key: dict[str, list[Shown]] = {}
    for doc in events(load_profile(), 1, T0, T0 + 3 * DAY_MS):
        key = doc.get("ticket_id", "").encode()
        p = int(hashlib.md5(key).hexdigest(), 16) % 4
        record = Record("tickets.events", p, offsets[p], key, orjson.dumps(doc), None)
        offsets[p] += 1
        for out in proc.handle(record, store):
            line, shown = _shown(out)
            digest.update(line)
            n += 1
            by_key.setdefault(shown.key, []).append(shown)
    return Summary(digest.hexdigest(), n, {k: [s.token for s in v] for k, v in by_key.items()}), by_key


def differences(expected: Summary, got: Summary, records: dict[str, list[Shown]]) -> str:
    """What differs, for a person: the first differing records of the first few keys, as they are now."""
    if expected == got:
        return ""
    lines = [f"the outputs differ from {GOLDEN.name}: {got.count} records now, {expected.count} expected"]
    differing = [k for k in [*expected.keys, *(k for k in got.keys if k not in expected.keys)]
                 if expected.keys.get(k) != got.keys.get(k)]
    for key in differing[:SHOWN]:
        was, now = expected.keys.get(key, []), got.keys.get(key, [])
        at = next((i for i, (a, b) in enumerate(zip(was, now, strict=False)) if a != b), min(len(was), len(now)))
        lines.append(f"- key {key}: record {at + 1} of {len(now)} differs ({len(was)} expected)")
        if at < len(now):
            lines.append(f"    now: {records[key][at].text}")
        else:
            lines.append(f"    missing now: {len(was) - at} records ({' '.join(was[at:at + 5])} ...)")
    if len(differing) > SHOWN:
        lines.append(f"- and {len(differing) - SHOWN} more keys")
    if not differing:
        lines.append("- every key has the same records: their order across keys changed")
    return "\n".join(lines)


def test_outputs_for_three_simulated_days_are_byte_identical_to_the_golden_sample() -> None:
    got, records = three_days()
    if os.environ.get("SLA_GOLDEN_UPDATE") == "1":
        GOLDEN.parent.mkdir(exist_ok=True)
        GOLDEN.write_text(got.text())
        pytest.skip(f"rewrote {GOLDEN}: review its diff")
    message = differences(Summary.parse(GOLDEN.read_text()), got, records)
    if message:
        pytest.fail(message, pytrace=False)


def test_a_difference_names_the_key_and_shows_the_record_as_it_is_now() -> None:
    def summary(*values: bytes) -> tuple[Summary, dict[str, list[Shown]]]:
        from pipeline.processing.io import Emit

        shown = [_shown(Emit("outcomes", b"T-1", v))[1] for v in values]
        return Summary("d", len(values), {"T-1": [s.token for s in shown]}), {"T-1": shown}

    expected, _ = summary(b'{"outcome":"met"}', b'{"outcome":"met","cycle":2}')
    got, records = summary(b'{"outcome":"met"}', b'{"outcome":"breached","cycle":2}')
    assert Summary.parse(expected.text()) == expected
    message = differences(expected, got, records)
    assert "key T-1: record 2 of 2 differs" in message
    assert 'now: outcomes key=T-1: {"outcome":"breached","cycle":2}' in message
    shorter, records = summary(b'{"outcome":"met"}')
    assert "missing now: 1 records" in differences(expected, shorter, records)
    assert differences(expected, expected, {}) == ""
