"""The demo's live board: what it shows (a :class:`Snapshot` read from a worker's ``/metrics``, the
escalations topic and, under a policy with contracts, the outcomes topic) and how it reads (:func:`render`:
rich text that wraps long lines to the terminal's width instead of cutting them). Pure apart from
:func:`scrape`, so the text is testable.
"""

from __future__ import annotations

import dataclasses
import urllib.request

from prometheus_client.parser import text_string_to_metric_families
from rich.console import Group
from rich.padding import Padding
from rich.text import Text

from pipeline.cli.escalations import line as escalation_line
from pipeline.domain.bizcrit import BOARD_RUNGS
from pipeline.domain.contracts import DEFAULT
from pipeline.domain.policy import SEVERITIES, Policy
from pipeline.domain.records import Escalation
from pipeline.domain.timefmt import format_rfc3339_ms, parse_rfc3339_ms
from pipeline.domain.windows import BREACHED, MET
from pipeline.domain.words import metric_name, share_words

_RUNG_NAMES = dict(zip(BOARD_RUNGS, ("no rung yet", "tier 3", "management", "executive"), strict=True))
LATEST = 8  # escalations on the board


@dataclasses.dataclass
class Snapshot:
    """What the board shows, read from the worker's /metrics and the escalations topic."""

    sim_now_ms: int = 0
    speedup: float = 1.0
    events_total: float = 0.0
    events_per_s: float = 0.0
    met: dict[int, float] = dataclasses.field(default_factory=dict)
    breached: dict[int, float] = dataclasses.field(default_factory=dict)
    at_risk: dict[int, float] = dataclasses.field(default_factory=dict)
    paused: dict[int, float] = dataclasses.field(default_factory=dict)  # waiting for a calendar's hours
    bizcrit_by_rung: dict[str, float] = dataclasses.field(default_factory=dict)
    escalations: list[Escalation] = dataclasses.field(default_factory=list)
    pages_delivered: int = 0
    urls: dict[str, str] = dataclasses.field(default_factory=dict)
    goal: float = 0.99
    at_risk_share: float = 0.5  # the policy's at_risk_fraction
    # under contracts: the rows of the compliance per contract and metric, with their goals (see contract_goals),
    # and the judged outcomes read so far, (contract, metric, outcome) -> count
    contract_goals: dict[tuple[str, str], float] = dataclasses.field(default_factory=dict)
    judged: dict[tuple[str, str, str], int] = dataclasses.field(default_factory=dict)

    def read(self, samples: dict[tuple[str, tuple], float]) -> None:
        """Take the board's numbers from one scrape of a worker's /metrics."""
        for (name, labels), value in samples.items():
            lab = dict(labels)
            if name == "sla_events_total":
                self.events_total += value
            elif name == "sla_irt_window_tickets" and lab.get("window") == "24h":
                target = self.met if lab["outcome"] == "met" else self.breached
                target[int(lab["severity"])] = target.get(int(lab["severity"]), 0) + value
            elif name == "sla_irt_at_risk_tickets":
                self.at_risk[int(lab["severity"])] = value
            elif name == "sla_irt_paused_tickets":
                self.paused[int(lab["severity"])] = value
            elif name == "sla_bizcrit_open_tickets_by_rung":
                self.bizcrit_by_rung[lab["rung"]] = value


def contract_goals(policy: Policy) -> dict[tuple[str, str], float]:
    """(contract, metric) -> goal for every metric each contract judges, in the policy's order: the board's
    rows under contracts (none without them). The implicit default contract is a row too when the policy's
    rules or default can choose it."""
    names = list(policy.contracts)
    chosen = {policy.default_contract, *(rule.contract for rule in policy.contract_rules)}
    if names and DEFAULT in chosen and DEFAULT not in policy.contracts:
        names.append(DEFAULT)
    return {(name, metric): contract.goals[metric]
            for name in names for contract in (policy.contract(name),) for metric in contract.metrics}


def count_judged(judged: dict[tuple[str, str, str], int], contract: str | None, metric: str,
                 outcome: str | None) -> None:
    """Count one outcome record in ``judged`` if it is a judged one under contracts (met or breached, naming
    its contract); measurements (TTR, TTW: no outcome) and v2 records (no contract) are not counted."""
    if contract is not None and outcome in (MET, BREACHED):
        key = (contract, metric, outcome)
        judged[key] = judged.get(key, 0) + 1


def latest(escalations: list[Escalation], count: int = LATEST) -> list[Escalation]:
    """The ``count`` latest escalations in time order (by ``emitted_at``, then ``escalation_id``): they arrive
    in the order of the topic's partitions, not of time."""
    return sorted(escalations, key=lambda e: (parse_rfc3339_ms(e.emitted_at), e.escalation_id))[-count:]


def render(s: Snapshot) -> Group:
    """The board, for a rich console: each line wraps at the console's width, continued under its indent."""
    sim = format_rfc3339_ms(s.sim_now_ms)[:16].replace("T", " ") if s.sim_now_ms else "-"
    out = [f"sla-pipeline demo   simulated time {sim} UTC (x{s.speedup:g})   "
           f"events {s.events_total:,.0f} ({s.events_per_s:,.0f}/s)", ""]
    out.append(f"IRT compliance, last 24 h (goal {s.goal:.0%} of tickets):")
    for sev in SEVERITIES:
        met, breached = s.met.get(sev, 0), s.breached.get(sev, 0)
        decided = met + breached
        if decided:
            share = met / decided
            mark = "ok" if share >= s.goal else "BELOW GOAL"
            out.append(f"  Sev{sev}  {share:7.2%}  {mark:<10}  {met:,.0f} met, {breached:,.0f} breached")
        else:
            out.append(f"  Sev{sev}        -              no ticket decided yet")
    out.extend(_contract_lines(s))
    out.append("")
    risky = "  ".join(f"Sev{sev} {s.at_risk.get(sev, 0):,.0f}" for sev in SEVERITIES)
    out.append(f"At risk now (unanswered, {share_words(s.at_risk_share)} the budget used):  {risky}")
    if any(s.paused.values()):  # only with business-hours calendars
        waiting = "  ".join(f"Sev{sev} {s.paused.get(sev, 0):,.0f}" for sev in SEVERITIES)
        out.append(f"Waiting for business hours (calendar closed, IRT clock paused):  {waiting}")
    rungs = s.bizcrit_by_rung
    by_rung = ", ".join(f"{_RUNG_NAMES[r]} {rungs.get(r, 0):,.0f}" for r in BOARD_RUNGS)
    out.append(f"Open BizCrit tickets: {sum(rungs.values()):,.0f}   ({by_rung})")
    out.append(f"Pages delivered to on-call through Alertmanager: {s.pages_delivered}")
    out.append("")
    out.append("Latest escalations:")
    lines = [escalation_line(e) for e in latest(s.escalations)] or ["(none yet)"]
    width = max((len(name) for name in s.urls), default=0)
    links = [f"{name:>{width}}: {url}" for name, url in s.urls.items()]
    return Group(*(_line(text) for text in out), *(_line(text, indent=2) for text in lines), _line(""),
                 *(_line(text) for text in links), _line("Ctrl-C stops everything."))


def _contract_lines(s: Snapshot) -> list[str]:
    """Compliance per contract and metric since the demo started: met / (met + breached) beside the goal."""
    rows = list(s.contract_goals)
    rows += sorted({(c, m) for c, m, _ in s.judged} - set(rows))  # a contract the policy did not list
    if not rows:
        return []
    cw = max(len(c) for c, _ in rows)
    mw = max(len(metric_name(m)) for _, m in rows)
    out = ["", "Compliance per contract and metric, outcomes so far:"]
    for contract, metric in rows:
        met, breached = s.judged.get((contract, metric, MET), 0), s.judged.get((contract, metric, BREACHED), 0)
        goal = s.contract_goals.get((contract, metric))
        goal_text = f"goal {goal * 100:g}%" if goal is not None else "no goal in the policy"
        head = f"  {contract:<{cw}}  {metric_name(metric):<{mw}}"
        if met + breached:
            share = met / (met + breached)
            mark = "" if goal is None else "ok" if share >= goal else "BELOW GOAL"
            out.append(f"{head}  {share:7.2%}  {mark:<10}  {met:,} met, {breached:,} breached   {goal_text}")
        else:
            out.append(f"{head}        -              no outcome yet   {goal_text}")
    return out


def _line(text: str, indent: int = 0) -> Padding:
    return Padding(Text(text), (0, 0, 0, indent), expand=False)


def scrape(url: str) -> dict[tuple[str, tuple], float]:
    with urllib.request.urlopen(url, timeout=3) as resp:
        text = resp.read().decode()
    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for family in text_string_to_metric_families(text) for s in family.samples}
