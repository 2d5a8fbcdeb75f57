"""The policy file: defaults are the contract's, every number can be changed, mistakes name their key."""

from __future__ import annotations

from pathlib import Path

import pytest

from pipeline.domain.policy import MINUTE_MS, Policy, load_policy
from pipeline.errors import ConfigError

ROOT = Path(__file__).resolve().parents[2]


def test_defaults_are_the_contracts() -> None:
    p = load_policy(None)
    assert [p.irt_target_ms(s, False) // MINUTE_MS for s in (1, 2, 3, 4)] == [15, 60, 240, 1440]
    assert p.irt_target_ms(1, True) == 7.5 * MINUTE_MS
    assert p.is_bizcrit_severity(1, False) and p.is_bizcrit_severity(2, True) and not p.is_bizcrit_severity(2, False)


def test_the_shipped_example_is_the_defaults() -> None:
    assert load_policy(ROOT / "deploy" / "policy.example.toml") == Policy()


def test_a_file_overrides_only_what_it_names(tmp_path: Path) -> None:
    path = tmp_path / "p.toml"
    path.write_text("[irt]\ntargets_minutes = { 1 = 10 }\nfastlane_multiplier = 0.25\n")
    p = load_policy(path)
    assert p.irt_target_ms(1, False) == 10 * MINUTE_MS and p.irt_target_ms(2, False) == 60 * MINUTE_MS
    assert p.irt_target_ms(1, True) == 2.5 * MINUTE_MS
    assert 150.0 in p.irt_bucket_edges_s()  # a histogram edge at the new FastLane Sev1 target


@pytest.mark.parametrize(
    ("text", "key"),
    [
        ("[irt]\ntargets_minutes = { 1 = -5 }\n", "irt.targets_minutes.1"),
        ("[irt]\ntargets_minutes = { 2 = 'an hour' }\n", "irt.targets_minutes.2"),
        ("[irt]\ngoal = 1.5\n", "irt.goal"),
        ("[irt]\ntargest_minutes = { 1 = 10 }\n", "irt.targest_minutes"),
        ("[bizcrit]\nirt_rungs = [0.8, 0.5, 1.0]\n", "bizcrit.irt_rungs"),
        ("[bizcrit]\nrungs_minutes = [30, 20, 240]\n", "bizcrit.rungs_minutes"),
        ("[stack_rank]\nweights = { vsat = 0.5, quality = 0.5, art = 0.5 }\n", "stack_rank.weights"),
        ("[stack_rank]\nmin_surveys = 2.5\n", "stack_rank.min_surveys"),
        ("irt = [\n", "p.toml"),
    ],
)
def test_mistakes_name_their_key(tmp_path: Path, text: str, key: str) -> None:
    path = tmp_path / "p.toml"
    path.write_text(text)
    with pytest.raises(ConfigError) as caught:
        load_policy(path)
    assert key in str(caught.value)


def test_the_shipped_examples_calendar_section_works_when_uncommented(tmp_path: Path) -> None:
    text = (ROOT / "deploy" / "policy.example.toml").read_text()
    section = text[text.index("# [calendars.emea]"):]
    path = tmp_path / "p.toml"
    path.write_text("\n".join(line.removeprefix("# ").removeprefix("#") for line in section.splitlines()))
    policy = load_policy(path)
    assert policy.calendar_for(3, "plesk", True).name == "emea"
    assert policy.calendar_for(2, "desktop", False).name == "emea"
    assert policy.calendar_for(2, "desktop", True).name == "24x7"
