"""Timestamps: the fast formatter writes exactly what strftime would."""

from __future__ import annotations

import random
from datetime import timedelta

from pipeline.domain.timefmt import _EPOCH, format_rfc3339_ms, parse_rfc3339_ms


def strftime_form(ms: int) -> str:
    return (_EPOCH + timedelta(milliseconds=ms)).strftime("%Y-%m-%dT%H:%M:%S.") + f"{ms % 1000:03d}Z"


def test_formatting_equals_strftime_from_year_1_to_9999() -> None:
    rng = random.Random(7)
    samples = [rng.randint(-62_135_596_800_000, 253_402_300_799_999) for _ in range(20_000)]
    for ms in [0, -1, 86_399_999, 86_400_000, 1_772_442_000_000, *samples]:
        assert format_rfc3339_ms(ms) == strftime_form(ms)


def test_formatting_and_parsing_are_inverse() -> None:
    for ms in (0, 1_772_442_000_123, 253_402_300_799_999):
        assert parse_rfc3339_ms(format_rfc3339_ms(ms)) == ms
