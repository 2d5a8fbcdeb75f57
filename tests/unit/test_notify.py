"""On-call delivery without a network: what Alertmanager is sent, and that nothing is lost on failure."""

from __future__ import annotations

import asyncio

from pipeline.cli.escalations import line
from pipeline.domain import bizcrit
from pipeline.domain.policy import MINUTE_MS, Policy
from pipeline.domain.records import Escalation
from pipeline.notify import Notifier, NotifyConfig, to_alert

CONFIG = NotifyConfig(runbook_base_url="http://noc.example/runbooks", reassert_s=60)
NOW = 1_772_442_600_000  # 09:10:00


def esc(kind: str, level: int, ticket: str = "T-1", cycle: int = 1, **extra: object) -> Escalation:
    return Escalation(**{
        "escalation_id": f"{ticket}:{kind}:{level}:{cycle}", "cycle": cycle, "ticket_id": ticket, "kind": kind,
        "level": level, "severity": 1, "product": "automation", "customer_id": "C-17", "fastlane": False,
            "engineer_id": None, "deadline": "2026-03-02T09:15:00.000Z", "budget_used": 0.8,
            "reason": "Sev1 ticket T-1 (automation, customer C-17) is unanswered after 12 min",
            "emitted_at": "2026-03-02T09:12:00.000Z", **extra})


def test_level_2_and_up_pages_and_lower_levels_warn() -> None:
    assert to_alert(esc("irt_at_risk", 2), CONFIG, NOW)["labels"]["severity"] == "page"
    assert to_alert(esc("irt_breached", 3), CONFIG, NOW)["labels"]["severity"] == "page"
    assert to_alert(esc("irt_at_risk", 1), CONFIG, NOW)["labels"]["severity"] == "warning"
    assert to_alert(esc("bizcrit_tier3", 1), CONFIG, NOW)["labels"]["severity"] == "warning"


def test_the_page_rule_is_the_ladders_for_every_rung() -> None:
    for kind, level in (*bizcrit.IRT_RUNGS, *bizcrit.BIZCRIT_RUNGS, (bizcrit.EXITED, 0)):
        if kind == bizcrit.EXITED:
            continue
        severity = to_alert(esc(kind, level), CONFIG, NOW)["labels"]["severity"]
        assert severity == ("page" if bizcrit.pages(kind, level) else "warning")
    assert not bizcrit.pages(bizcrit.EXITED, 0) and not bizcrit.pages(bizcrit.IRT_AT_RISK, 1)


def test_the_bizcrit_summaries_say_the_policys_rung_times() -> None:
    policy = Policy(bizcrit_rungs_ms=(45 * MINUTE_MS, 90 * MINUTE_MS, 300 * MINUTE_MS))
    config = NotifyConfig(policy=policy)
    summaries = [to_alert(esc(kind, level), config, NOW)["annotations"]["summary"]
                 for kind, level in bizcrit.BIZCRIT_RUNGS]
    assert summaries == ["Sev1 T-1: BizCrit 45 min without workaround, engage tier 3",
                         "Sev1 T-1: BizCrit 1 h 30 min without workaround, engage senior management",
                         "Sev1 T-1: BizCrit 5 h without workaround, engage an executive"]
    default = to_alert(esc(bizcrit.TIER3, 1), CONFIG, NOW)["annotations"]["summary"]
    assert default == "Sev1 T-1: BizCrit 30 min without workaround, engage tier 3"


def test_an_alert_carries_what_on_call_needs() -> None:
    alert = to_alert(esc("irt_at_risk", 2), CONFIG, NOW)
    assert alert["labels"] == {
        "alertname": "BizCritIrtAtRisk", "severity": "page", "ticket_id": "T-1", "kind": "irt_at_risk",
        "level": "2", "cycle": "1", "ticket_severity": "1", "product": "automation", "fastlane": "false"}
    notes = alert["annotations"]
    assert notes["summary"] == "Sev1 T-1 unanswered: 80% of IRT budget used"
    assert notes["runbook_url"] == "http://noc.example/runbooks#irt-at-risk"
    assert notes["description"].startswith("Sev1 ticket T-1") and notes["irt_deadline"] == "2026-03-02T09:15:00.000Z"
    assert alert["startsAt"] == "2026-03-02T09:10:00.000Z"  # never after now (09:10 here)
    assert notes["escalated_at"] == "2026-03-02T09:12:00.000Z"
    assert alert["endsAt"] == "2026-03-02T09:15:00.000Z"  # now + 5 reassert intervals: kept alive by reasserting


def test_exit_resolves_exactly_the_tickets_open_alerts() -> None:
    n = Notifier(CONFIG, post=None, clock=lambda: NOW)  # type: ignore[arg-type]
    n.alerts_for(esc("irt_at_risk", 1))
    n.alerts_for(esc("irt_at_risk", 2))
    n.alerts_for(esc("irt_at_risk", 1, ticket="T-2"))
    resolved = n.alerts_for(esc("bizcrit_exited", 0))
    assert sorted(a["labels"]["level"] for a in resolved) == ["1", "2"]
    assert all(a["endsAt"] == "2026-03-02T09:10:00.000Z" for a in resolved)
    assert [a["labels"]["ticket_id"] for a in n.reassert_alerts()] == ["T-2"]


def test_an_exit_with_no_known_alerts_resolves_every_rung_of_that_cycle() -> None:
    n = Notifier(CONFIG, post=None, clock=lambda: NOW)  # type: ignore[arg-type]
    resolved = n.alerts_for(esc("bizcrit_exited", 0, cycle=2))
    assert len(resolved) == 6 and {a["labels"]["cycle"] for a in resolved} == {"2"}


def test_a_replayed_history_posts_nothing_but_is_reasserted() -> None:
    n = Notifier(CONFIG, post=None, clock=lambda: NOW)  # type: ignore[arg-type]
    n.remember(esc("irt_at_risk", 1))
    n.remember(esc("irt_at_risk", 1, ticket="T-9"))
    n.remember(esc("bizcrit_exited", 0, ticket="T-9"))
    assert [a["labels"]["ticket_id"] for a in n.reassert_alerts()] == ["T-1"]


async def test_delivery_retries_until_alertmanager_takes_the_alerts() -> None:
    calls: list[int] = []

    async def flaky(alerts: list[dict]) -> None:
        calls.append(len(alerts))
        if len(calls) < 3:
            raise ConnectionError("connection refused")

    n = Notifier(NotifyConfig(max_backoff_s=0.01), flaky, clock=lambda: NOW)
    assert await n.deliver([to_alert(esc("irt_at_risk", 2), CONFIG, NOW)]) is True
    assert calls == [1, 1, 1] and n.posted == 1


async def test_delivery_gives_up_only_when_told_to_stop() -> None:
    async def down(alerts: list[dict]) -> None:
        raise ConnectionError("connection refused")

    stopping = asyncio.Event()
    n = Notifier(NotifyConfig(max_backoff_s=0.01), down, clock=lambda: NOW)
    task = asyncio.create_task(n.deliver([{"labels": {}}], stopping))
    await asyncio.sleep(0.1)
    assert not task.done()  # still trying: nothing is dropped
    stopping.set()
    assert await task is False and n.posted == 0


def test_terminal_line_shows_time_mark_rung_ticket_and_reason() -> None:
    text = line(esc("irt_at_risk", 2, fastlane=True, engineer_id="E-4"))
    assert text.startswith("2026-03-02T09:12:00Z  PAGE  irt_at_risk")
    assert "L2  T-1  FL Sev1 automation/C-17  eng E-4  Sev1 ticket T-1" in text
