"""IRT window buckets: each is deleted at the end of its keeping time, never before, also after a reload."""

from __future__ import annotations

from pipeline.domain.sla import BREACHED, MET
from pipeline.domain.timefmt import HOUR_MS
from pipeline.domain.windows import FINE_MS, IrtWindows

T0 = 1_767_225_600_000  # a whole hour


def test_a_bucket_row_is_deleted_when_its_keeping_time_ends_and_not_before() -> None:
    w = IrtWindows()
    rows = dict(w.add(0, 1, MET, T0 + 1000))
    fine, hourly = sorted(rows)  # b"0|f|..." sorts before b"0|h|..."
    fine_gone = T0 + FINE_MS + 2 * HOUR_MS
    assert w.expire(0, fine_gone - 1) == []
    assert w.expire(0, fine_gone) == [(fine, None)]
    hourly_gone = T0 + HOUR_MS + 30 * 24 * HOUR_MS + HOUR_MS
    assert w.expire(0, hourly_gone - 1) == []
    assert w.expire(0, hourly_gone) == [(hourly, None)]
    assert w.totals(lambda p: hourly_gone) == {}


def test_buckets_loaded_after_a_rebalance_still_expire() -> None:
    before = IrtWindows()
    rows = before.add(3, 2, BREACHED, T0)
    after = IrtWindows()
    after.load(rows)
    assert after.totals(lambda p: T0)[("1h", 2, BREACHED)] == 1
    assert sorted(after.expire(3, T0 + 40 * 24 * HOUR_MS)) == sorted((key, None) for key, _ in rows)
    assert after.expire(3, T0 + 41 * 24 * HOUR_MS) == []
