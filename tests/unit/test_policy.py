"""The policy file: defaults are the contract's, every number can be changed, mistakes name their key."""

from __future__ import annotations

import dataclasses
import tomllib
from pathlib import Path

import pytest

from pipeline.domain.contracts import (
    CONTRACT_FOR_KEYS,
    CONTRACT_KEYS,
    DEFAULT,
    IRT,
    METRICS,
    NEXT_RESPONSE,
    RESOLUTION,
    WORKAROUND,
    Choice,
)
from pipeline.domain.policy import MINUTE_MS, Policy, load_policy
from pipeline.errors import ConfigError

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "deploy" / "policy.example.toml"


def test_defaults_are_the_contracts() -> None:
    p = load_policy(None)
    assert [p.irt_target_ms(s, False) // MINUTE_MS for s in (1, 2, 3, 4)] == [15, 60, 240, 1440]
    assert p.irt_target_ms(1, True) == 7.5 * MINUTE_MS
    assert p.is_bizcrit_severity(1, False) and p.is_bizcrit_severity(2, True) and not p.is_bizcrit_severity(2, False)


def test_the_shipped_example_states_the_defaults_besides_its_contracts() -> None:
    example = load_policy(EXAMPLE)
    assert example.contracts and example.digest != "builtin"
    assert dataclasses.replace(example, contracts={}, contract_rules=(), default_contract=DEFAULT,
                               digest="builtin") == Policy()


def test_the_shipped_example_puts_service_providers_on_gold_and_everyone_else_on_standard() -> None:
    example = load_policy(EXAMPLE)
    gold, standard = example.contracts["gold"], example.contracts["standard"]
    assert list(example.contracts) == ["gold", "standard"] and example.default_contract == "standard"
    assert example.choose_contract(None, "serv-cust-00003", "service-provider", True).contract == "gold"
    assert example.choose_contract(None, "desk-cust-00042", "desktop", False).contract == "gold"
    assert example.choose_contract(None, "desk-cust-00043", "desktop", False).contract == "standard"
    assert example.choose_contract("platinum-legacy", "desk-cust-00043", "desktop", False) == Choice(
        "standard", "platinum-legacy", "default")
    assert gold.metrics == (IRT, NEXT_RESPONSE, WORKAROUND, RESOLUTION) and standard.metrics == (IRT, RESOLUTION)
    assert example.target_ms(gold, WORKAROUND, 1, True) == 120 * MINUTE_MS  # FastLane halves gold's 240
    assert example.target_ms(standard, RESOLUTION, 1, False) is None
    assert example.calendar_under(gold, 3, "service-provider", False).name == "24x7"
    assert example.calendar_under(standard, 3, "desktop", False).name == "emea"
    assert example.calendar_under(standard, 1, "desktop", False).name == "24x7"
    assert gold.critical_incidents_per_month == 10 and gold.notify == {NEXT_RESPONSE, RESOLUTION}


def test_the_shipped_example_shows_every_contract_setting() -> None:
    doc = tomllib.loads(EXAMPLE.read_text())
    used = {key for table in doc["contracts"].values() for key in table}
    assert used == set(CONTRACT_KEYS)
    assert set(doc["contract_for"]) == set(CONTRACT_FOR_KEYS)
    assert set(doc["contracts"]["gold"]["targets_minutes"]) == set(METRICS)


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
        ("irt = [\n", "is not valid TOML"),
    ],
)
def test_mistakes_name_their_key(tmp_path: Path, text: str, key: str) -> None:
    path = tmp_path / "p.toml"
    path.write_text(text)
    with pytest.raises(ConfigError) as caught:
        load_policy(path)
    assert f"p.toml: {key}" in str(caught.value)


def test_the_shipped_examples_calendar_rules_work_when_uncommented(tmp_path: Path) -> None:
    text = EXAMPLE.read_text()
    start = text.index("\n# [calendar_for]\n") + 1
    end = text.index("\n\n", start)
    section = "\n".join(line.removeprefix("# ") for line in text[start:end].splitlines())
    path = tmp_path / "p.toml"
    path.write_text(text[:start] + section + text[end:])
    policy = load_policy(path)
    assert policy.calendar_for(3, "plesk", True).name == "emea"
    assert policy.calendar_for(2, "desktop", False).name == "emea"
    assert policy.calendar_for(2, "desktop", True).name == "24x7"
    # the contracts name their calendars, which come first
    assert policy.calendar_under(policy.contracts["gold"], 3, "desktop", False).name == "24x7"
    assert policy.calendar_under(policy.contract("no such contract"), 3, "desktop", False).name == "emea"
