"""The lag gauge the NOC's "consumer lag" alert reads: a partition never fetched from still shows its backlog."""

from __future__ import annotations

from pipeline.agents.offsets import records_behind


def test_lag_is_the_high_water_mark_minus_what_was_processed() -> None:
    got = records_behind([0, 1], {}, fetched={0: 500, 1: 80}, done={0: 200, 1: 80})
    assert got == {0: 300, 1: 0}


def test_a_partition_never_fetched_from_shows_its_whole_backlog_from_the_brokers_offsets() -> None:
    # owned, nothing fetched (no high-water mark in the consumer), nothing processed or committed
    got = records_behind([2], {2: (100, 5000)}, fetched={2: None}, done={2: None})
    assert got == {2: 4900}


def test_the_brokers_end_offset_counts_when_it_is_newer_than_the_last_fetch() -> None:
    got = records_behind([0], {0: (0, 900)}, fetched={0: 700}, done={0: 650})
    assert got == {0: 250}


def test_without_any_offsets_a_partition_is_left_out_rather_than_reported_as_zero() -> None:
    assert records_behind([3], {}, fetched={3: None}, done={3: None}) == {}
