"""SLA contracts in the policy file (contract v3 section 10): ``[contracts.NAME]`` and ``[contract_for]`` read
as the contract writes them, each mistake refused naming its full key, the choice of a ticket's contract,
targets under FastLane, the calendar each metric counts in, and the policy's digest."""

from __future__ import annotations

import hashlib
import re
from pathlib import Path

import pytest

from pipeline.domain.contracts import DEFAULT, IRT, NEXT_RESPONSE, RESOLUTION, WORKAROUND, Choice
from pipeline.domain.policy import MINUTE_MS, Policy, load_policy
from pipeline.errors import ConfigError
from tests.business_hours import POLICY as SECTION_9_EXAMPLE

ROOT = Path(__file__).resolve().parents[2]
GOLD = "[contracts.gold.targets_minutes]\nirt = { 1 = 10 }\n"


def policy_of(tmp_path: Path, text: str) -> Policy:
    path = tmp_path / "p.toml"
    path.write_text(text)
    return load_policy(path)


def test_the_contracts_own_example_reads_as_written(tmp_path: Path) -> None:
    """Section 10's example, verbatim from docs/contract.md, with section 9's emea calendar it names."""
    doc = (ROOT / "docs" / "contract.md").read_text()
    section = doc[doc.index("## 10."):]
    example = re.search(r"```toml\n(.*?)```", section, re.S)
    assert example is not None
    policy = policy_of(tmp_path, SECTION_9_EXAMPLE + example.group(1))
    gold, standard = policy.contracts["gold"], policy.contracts["standard"]
    assert policy.uses_contracts and list(policy.contracts) == ["gold", "standard"]
    assert gold.metrics == (IRT, NEXT_RESPONSE, WORKAROUND, RESOLUTION)
    assert gold.targets_ms[WORKAROUND] == {1: 240 * MINUTE_MS, 2: 1440 * MINUTE_MS}
    assert gold.goals == {IRT: 0.99, NEXT_RESPONSE: 0.99, WORKAROUND: 0.99, RESOLUTION: 0.95}
    assert gold.pause_while_waiting == {RESOLUTION} and gold.notify == {RESOLUTION, NEXT_RESPONSE}
    assert gold.calendar is not None and gold.calendar.name == "24x7"
    assert gold.fastlane_multiplier is None and gold.critical_incidents_per_month is None
    assert gold.critical_severities == {1}
    assert standard.metrics == (IRT, RESOLUTION) and not standard.judges(WORKAROUND)
    assert standard.calendar is not None and standard.calendar.name == "emea"
    assert standard.targets_ms[RESOLUTION] == {2: 7200 * MINUTE_MS, 3: 14400 * MINUTE_MS}
    assert policy.default_contract == "standard"
    assert policy.choose_contract(None, "C-0107", "desktop", False) == Choice("gold", None, "rule 0")
    assert policy.choose_contract(None, "C-0001", "service-provider", False) == Choice("gold", None, "rule 1")
    assert policy.choose_contract(None, "C-0001", "desktop", True) == Choice("standard", None, "default")


def test_goals_cover_every_judged_metric_and_default_to_the_irt_goal(tmp_path: Path) -> None:
    policy = policy_of(tmp_path, """
[irt]
goal = 0.97
[contracts.gold]
goal = 0.98
goals = { resolution = 0.9 }
[contracts.gold.targets_minutes]
next_response = { 1 = 30 }
resolution = { 1 = 1440 }
[contracts.plain]
""")
    assert policy.contracts["gold"].goals == {IRT: 0.98, NEXT_RESPONSE: 0.98, RESOLUTION: 0.9}
    assert policy.contracts["plain"].goals == {IRT: 0.97}  # judges IRT alone, against [irt] targets
    assert policy.contracts["plain"].metrics == (IRT,)


CONTRACT_MISTAKES = [
    # targets
    (GOLD.replace("10", "-5"), "contracts.gold.targets_minutes.irt.1", "must be a number greater than 0, got -5"),
    (GOLD.replace("10", "0"), "contracts.gold.targets_minutes.irt.1", "must be a number greater than 0, got 0"),
    (GOLD.replace("10", "'an hour'"), "contracts.gold.targets_minutes.irt.1", "must be a number"),
    (GOLD.replace("1 = 10", "5 = 10"), "contracts.gold.targets_minutes.irt.5", "is not a severity"),
    (GOLD + "first_response = { 1 = 10 }\n", "contracts.gold.targets_minutes.first_response", "is not a metric"),
    (GOLD + "resolution = {}\n", "contracts.gold.targets_minutes.resolution", "must be a table of severity"),
    (GOLD + "resolution = 60\n", "contracts.gold.targets_minutes.resolution", "must be a table of severity"),
    ("[contracts.gold]\ntargets_minutes = 10\n", "contracts.gold.targets_minutes", "must be a table"),
    # goals
    ("[contracts.gold]\ngoal = 0\n", "contracts.gold.goal", "greater than 0 and at most 1, got 0"),
    ("[contracts.gold]\ngoal = 1.5\n", "contracts.gold.goal", "greater than 0 and at most 1, got 1.5"),
    ("[contracts.gold]\ngoals = { irt = -0.1 }\n", "contracts.gold.goals.irt", "greater than 0 and at most 1"),
    ("[contracts.gold]\ngoals = { workaround = 0.9 }\n", "contracts.gold.goals.workaround",
     "judges no workaround: it has no targets_minutes.workaround"),
    ("[contracts.gold]\ngoals = { speed = 0.9 }\n", "contracts.gold.goals.speed", "is not a metric"),
    # calendars
    ("[contracts.gold]\ncalendar = 'apac'\n", "contracts.gold.calendar",
     "names no calendar defined under [calendars] (defined: 24x7), got 'apac'"),
    ("[contracts.gold]\ncalendar = 7\n", "contracts.gold.calendar", "must name a calendar"),
    ("[contracts.gold]\ncalendar_for_severity = { 1 = 'apac' }\n", "contracts.gold.calendar_for_severity.1",
     "names no calendar"),
    ("[contracts.gold]\ncalendar_for_severity = { 0 = '24x7' }\n", "contracts.gold.calendar_for_severity.0",
     "is not a severity"),
    # pauses and notices
    ("[contracts.gold]\npause_while_waiting = ['irt']\n", "contracts.gold.pause_while_waiting[0]",
     "irt never pauses: only workaround and resolution may be listed"),
    (GOLD.replace("irt = { 1 = 10 }", "next_response = { 1 = 10 }\nresolution = { 1 = 60 }")
     + "[contracts.gold]\npause_while_waiting = ['resolution', 'next_response']\n",
     "contracts.gold.pause_while_waiting[1]", "next_response never pauses"),
    ("[contracts.gold]\npause_while_waiting = ['workaround']\n", "contracts.gold.pause_while_waiting[0]",
     "judges no workaround"),
    ("[contracts.gold]\npause_while_waiting = 'resolution'\n", "contracts.gold.pause_while_waiting",
     "must be a list of metrics"),
    ("[contracts.gold]\nnotify = ['irt']\n", "contracts.gold.notify[0]",
     "irt has the BizCrit rungs as its notices"),
    ("[contracts.gold]\nnotify = ['breaches']\n", "contracts.gold.notify[0]", "is not a metric"),
    # FastLane and allowances
    ("[contracts.gold]\nfastlane_multiplier = 0\n", "contracts.gold.fastlane_multiplier",
     "greater than 0 and at most 1"),
    ("[contracts.gold]\nfastlane_multiplier = 1.5\n", "contracts.gold.fastlane_multiplier",
     "greater than 0 and at most 1"),
    ("[contracts.gold]\ncritical_incidents_per_month = -1\n", "contracts.gold.critical_incidents_per_month",
     "must be an integer at least 0"),
    ("[contracts.gold]\ncritical_incidents_per_month = 2.5\n", "contracts.gold.critical_incidents_per_month",
     "must be an integer"),
    ("[contracts.gold]\ncritical_severities = [1, 5]\n", "contracts.gold.critical_severities",
     "must be a severity from 1 to 4"),
    ("[contracts.gold]\ncritical_severities = []\n", "contracts.gold.critical_severities", "must be a severity"),
    # typos and shapes
    ("[contracts.gold]\npause_while_wating = ['resolution']\n", "contracts.gold.pause_while_wating",
     "is not a contract setting (a typo?)"),
    ("[contracts]\ngold = 5\n", "contracts.gold", "must be a table"),
    ("contracts = 5\n", "contracts", "must be a table"),
    ("[contracts.' gold']\n", "contracts. gold", "a contract's name must be 1-64 printable characters"),
    (f"[contracts.{'g' * 65}]\n", f"contracts.{'g' * 65}", "must be 1-64"),
]

CONTRACT_FOR_MISTAKES = [
    (GOLD + "[contract_for]\nrules = [ { product = 'desktop', contract = 'platinum' } ]\n",
     "contract_for.rules[0].contract",
     "names no contract defined under [contracts] (defined: gold; \"default\" is the [irt] targets), got "
     "'platinum'"),
    ("[contract_for]\nrules = [ { product = 'desktop', contract = 'gold' } ]\n", "contract_for.rules[0].contract",
     "(defined: none;"),
    (GOLD + "[contract_for]\nrules = [ { product = 'desktop' } ]\n", "contract_for.rules[0].contract",
     "is missing"),
    (GOLD + "[contract_for]\ndefault = 'platinum'\n", "contract_for.default", "names no contract"),
    (GOLD + "[contract_for]\nrules = [ { cust = 'C-1', contract = 'gold' } ]\n", "contract_for.rules[0].cust",
     "is not a rule setting"),
    (GOLD + "[contract_for]\nrules = [ { customer = [], contract = 'gold' } ]\n",
     "contract_for.rules[0].customer", "must be a customer id or a list of them"),
    (GOLD + "[contract_for]\nrules = [ { customer = 42, contract = 'gold' } ]\n",
     "contract_for.rules[0].customer", "must be a customer id"),
    (GOLD + "[contract_for]\nrules = [ { product = ['desktop', 7], contract = 'gold' } ]\n",
     "contract_for.rules[0].product", "must be a product name or a list of them"),
    (GOLD + "[contract_for]\nrules = [ { fastlane = 'yes', contract = 'gold' } ]\n",
     "contract_for.rules[0].fastlane", "must be true or false"),
    (GOLD + "[contract_for]\nrules = [ { contract = 'gold' }, 'gold' ]\n", "contract_for.rules[1]",
     "must be a table"),
    (GOLD + "[contract_for]\nrules = { contract = 'gold' }\n", "contract_for.rules", "must be a list of rules"),
    (GOLD + "[contract_for]\ndefualt = 'gold'\n", "contract_for.defualt", "is not a [contract_for] setting"),
]


@pytest.mark.parametrize(("text", "key", "why"), CONTRACT_MISTAKES + CONTRACT_FOR_MISTAKES)
def test_each_mistake_names_its_full_key(tmp_path: Path, text: str, key: str, why: str) -> None:
    with pytest.raises(ConfigError) as caught:
        policy_of(tmp_path, text)
    message = str(caught.value)
    assert message.startswith(f"p.toml: {key}: "), message
    assert why in message


def test_the_example_error_reads_in_full(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as caught:
        policy_of(tmp_path, "[contracts.gold.targets_minutes]\nirt = { 1 = -5 }\n")
    assert str(caught.value) == "p.toml: contracts.gold.targets_minutes.irt.1: must be a number greater than 0, got -5"


CHOOSING = """
[contracts.gold]
[contracts.partner]
[contracts.standard]
[contract_for]
rules = [ { customer = ["C-1", "C-2"], contract = "gold" },
          { product = "service-provider", fastlane = true, contract = "partner" },
          { product = ["service-provider", "automation"], contract = "standard" } ]
default = "gold"
"""


@pytest.mark.parametrize(
    ("requested", "customer", "product", "fastlane", "choice"),
    [
        ("partner", "C-1", "desktop", False, Choice("partner", None, "requested")),  # defined: it wins
        ("platinum", "C-9", "service-provider", True, Choice("partner", "platinum", "rule 1")),  # unknown: rules
        (None, "C-2", "service-provider", True, Choice("gold", None, "rule 0")),  # the first match wins
        (None, "C-9", "service-provider", True, Choice("partner", None, "rule 1")),
        (None, "C-9", "service-provider", False, Choice("standard", None, "rule 2")),  # every key must match
        (None, "C-9", "automation", True, Choice("standard", None, "rule 2")),
        (None, "C-9", "desktop", True, Choice("gold", None, "default")),
        ("platinum", None, None, False, Choice("gold", "platinum", "default")),
    ],
)
def test_the_contract_is_the_requested_one_else_the_first_matching_rule_else_the_default(
        tmp_path: Path, requested: str | None, customer: str | None, product: str | None, fastlane: bool,
        choice: Choice) -> None:
    assert policy_of(tmp_path, CHOOSING).choose_contract(requested, customer, product, fastlane) == choice


def test_without_a_default_the_implicit_contract_judges_irt_against_the_irt_targets(tmp_path: Path) -> None:
    policy = policy_of(tmp_path, """
[irt]
targets_minutes = { 4 = 2000 }
goal = 0.95
[contracts.gold]
[contract_for]
rules = [ { product = "desktop", contract = "default" } ]
""")
    assert policy.default_contract == DEFAULT
    assert policy.choose_contract(None, "C-1", "plesk", False) == Choice(DEFAULT, None, "default")
    assert policy.choose_contract("gold", "C-1", "desktop", False) == Choice("gold", None, "requested")
    assert policy.choose_contract(None, "C-1", "desktop", False) == Choice(DEFAULT, None, "rule 0")
    implicit = policy.contract(DEFAULT)
    assert implicit.name == DEFAULT and DEFAULT not in policy.contracts
    assert implicit.metrics == (IRT,) and implicit.goals == {IRT: 0.95}
    assert implicit.targets_ms == {IRT: policy.irt_targets_ms} and policy.irt_targets_ms[4] == 2000 * MINUTE_MS
    assert policy.contract("platinum") == implicit and policy.contract(None) == implicit


def test_a_contract_may_be_named_default_and_then_replaces_the_implicit_one(tmp_path: Path) -> None:
    policy = policy_of(tmp_path, """
[contracts.default.targets_minutes]
irt = { 1 = 5 }
resolution = { 1 = 600 }
[contracts.gold]
[contract_for]
rules = [ { product = "desktop", contract = "default" } ]
""")
    assert policy.choose_contract(None, "C-1", "desktop", False) == Choice(DEFAULT, None, "rule 0")
    assert policy.choose_contract(None, "C-1", "plesk", False) == Choice(DEFAULT, None, "default")
    assert policy.contract(DEFAULT).metrics == (IRT, RESOLUTION)
    assert policy.target_ms(policy.contract(DEFAULT), IRT, 1, False) == 5 * MINUTE_MS


def test_a_policy_without_contracts_is_v2(tmp_path: Path) -> None:
    policy = policy_of(tmp_path, "[irt]\ngoal = 0.95\n")
    assert not policy.uses_contracts and policy.contracts == {} and policy.contract_rules == ()
    assert policy.choose_contract("gold", "C-1", "desktop", True) == Choice(DEFAULT, "gold", "default")
    assert policy.contract(None).metrics == (IRT,)
    assert not Policy().uses_contracts


FASTLANE = """
[irt]
targets_minutes = { 1 = 20, 2 = 60, 3 = 240, 4 = 1440 }
fastlane_multiplier = 0.25
[contracts.plain.targets_minutes]
irt = { 1 = 10 }
resolution = { 1 = 1000 }
[contracts.half]
fastlane_multiplier = 0.5
[contracts.half.targets_minutes]
irt = { 1 = 10 }
resolution = { 1 = 1000 }
[contracts.none]
fastlane_multiplier = 1
[contracts.none.targets_minutes]
irt = { 1 = 10 }
resolution = { 1 = 1000 }
"""


@pytest.mark.parametrize(
    ("contract", "metric", "severity", "fastlane", "minutes"),
    [
        ("plain", IRT, 1, False, 10),
        ("plain", IRT, 1, True, 2.5),  # the policy's [irt] fastlane_multiplier, for every metric
        ("plain", RESOLUTION, 1, True, 250),
        ("plain", IRT, 2, False, 60),  # IRT severities the contract leaves out: [irt] targets_minutes
        ("plain", IRT, 2, True, 15),
        ("plain", RESOLUTION, 2, True, None),  # other metrics have no fallback: not judged
        ("plain", WORKAROUND, 1, False, None),
        ("half", IRT, 1, True, 5),  # the contract's multiplier replaces the policy's
        ("half", RESOLUTION, 1, True, 500),
        ("half", IRT, 3, True, 120),  # ... on the fallback too
        ("none", IRT, 1, True, 10),  # 1: FastLane changes nothing under this contract
        ("none", RESOLUTION, 1, True, 1000),
        ("none", IRT, 4, True, 1440),
    ],
)
def test_targets_under_fastlane(tmp_path: Path, contract: str, metric: str, severity: int, fastlane: bool,
                                minutes: float | None) -> None:
    policy = policy_of(tmp_path, FASTLANE)
    expected = None if minutes is None else int(minutes * MINUTE_MS)
    assert policy.target_ms(policy.contracts[contract], metric, severity, fastlane) == expected


CALENDARS = """
[calendars.a]
timezone = "UTC"
hours = { mon = ["08:00-18:00"] }
[calendars.b]
timezone = "UTC"
hours = { tue = ["08:00-18:00"] }
[calendars.c]
timezone = "UTC"
hours = { wed = ["08:00-18:00"] }
[calendar_for]
rules = [ { severity = [3], calendar = "c" } ]
[contracts.both]
calendar = "b"
calendar_for_severity = { 1 = "a", 4 = "24x7" }
[contracts.plain]
"""


@pytest.mark.parametrize(
    ("contract", "severity", "calendar"),
    [
        ("both", 1, "a"),  # calendar_for_severity first
        ("both", 4, "24x7"),
        ("both", 2, "b"),  # then the contract's calendar
        ("both", 3, "b"),  # ... which beats [calendar_for]
        ("plain", 3, "c"),  # then [calendar_for] rules
        ("plain", 2, "24x7"),  # then round the clock
        (DEFAULT, 3, "c"),  # the implicit contract follows [calendar_for] as v2 did
    ],
)
def test_the_calendar_is_the_contracts_for_the_severity_else_its_own_else_calendar_for_else_24x7(
        tmp_path: Path, contract: str, severity: int, calendar: str) -> None:
    policy = policy_of(tmp_path, CALENDARS)
    assert policy.calendar_under(policy.contract(contract), severity, "desktop", False).name == calendar


def test_the_digest_is_of_the_files_bytes(tmp_path: Path) -> None:
    text = GOLD
    path = tmp_path / "p.toml"
    path.write_text(text)
    digest = load_policy(path).digest
    assert digest == hashlib.sha256(text.encode()).hexdigest()[:12] and re.fullmatch(r"[0-9a-f]{12}", digest)
    path.write_text("# a comment changes the file, so the digest\n" + text)
    assert load_policy(path).digest != digest
    assert load_policy(None).digest == "builtin" == Policy().digest


def test_a_file_that_is_not_utf8_is_refused_naming_it(tmp_path: Path) -> None:
    path = tmp_path / "p.toml"
    path.write_bytes(b"[irt]\ngoal = 0.9 # \xff\n")
    with pytest.raises(ConfigError, match="p.toml: is not valid TOML"):
        load_policy(path)
