"""What Alertmanager is told: one alert per escalation, and the set of alerts firing now (no I/O here)."""

from __future__ import annotations

import dataclasses
from pathlib import Path

from pipeline.domain.bizcrit import (
    BIZCRIT_RUNGS,
    EXECUTIVE,
    EXITED,
    IRT_AT_RISK,
    IRT_BREACHED,
    IRT_RUNGS,
    MANAGEMENT,
    TIER3,
)
from pipeline.domain.policy import Policy
from pipeline.domain.records import Escalation
from pipeline.domain.timefmt import format_rfc3339_ms, parse_rfc3339_ms
from pipeline.domain.words import bizcrit_rung_title
from pipeline.kafka.client import Secret
from pipeline.settings import DEFAULT_RUNBOOK_BASE_URL

ALERTNAMES = {
    IRT_AT_RISK: "BizCritIrtAtRisk",
    IRT_BREACHED: "BizCritIrtBreached",
    TIER3: "BizCritTier3Engaged",
    MANAGEMENT: "BizCritManagementEngaged",
    EXECUTIVE: "BizCritExecutiveEngaged",
}


@dataclasses.dataclass(frozen=True)
class AlertmanagerAuth:
    """How the notifier proves itself to Alertmanager (contract section 8): a bearer token or basic-auth
    credentials (read from files by the settings), and the CA that signs an https:// Alertmanager."""

    bearer_token: Secret | None = None
    username: str | None = None
    password: Secret | None = None
    ca_file: Path | None = None


@dataclasses.dataclass(frozen=True)
class NotifyConfig:
    alertmanager_urls: tuple[str, ...] = ("http://127.0.0.1:9093",)  # every alert goes to each
    auth: AlertmanagerAuth = dataclasses.field(default_factory=AlertmanagerAuth)
    runbook_base_url: str = DEFAULT_RUNBOOK_BASE_URL
    reassert_s: float = 60.0
    ttl_intervals: int = 5  # endsAt = now + ttl_intervals * reassert_s for a firing alert
    min_backoff_s: float = 0.5
    max_backoff_s: float = 30.0
    post_timeout_s: float = 10.0
    policy: Policy = dataclasses.field(default_factory=Policy)  # the rungs' times in the summaries


def summary(esc: Escalation, policy: Policy) -> str:
    """The alert's one-line summary; the BizCrit rungs' times come from the policy, like the ladder's."""
    sev = f"Sev{esc.severity}{' FastLane' if esc.fastlane else ''} {esc.ticket_id}"
    if esc.kind == IRT_AT_RISK:
        return f"{sev} unanswered: {esc.budget_used or 0:.0%} of IRT budget used"
    if esc.kind == IRT_BREACHED:
        return f"{sev} breached its initial response target"
    return f"{sev}: {bizcrit_rung_title(esc.kind, policy)}"


def to_alert(esc: Escalation, config: NotifyConfig, now_ms: int, *, resolved: bool = False) -> dict:
    """The Alertmanager alert for one escalation (ticket ids are fine as labels here: not Prometheus)."""
    labels = {
        "alertname": ALERTNAMES[esc.kind],
        "severity": "page" if esc.paged else "warning",
        "ticket_id": esc.ticket_id,
        "kind": esc.kind,
        "level": str(esc.level),
        "cycle": str(esc.cycle),
        "ticket_severity": str(esc.severity),
        "product": str(esc.product),
        "fastlane": "true" if esc.fastlane else "false",
    }
    annotations = {
        "summary": summary(esc, config.policy),
        "description": esc.reason,
        "runbook_url": f"{config.runbook_base_url}#{esc.kind.replace('_', '-')}",
        "escalation_id": esc.escalation_id,
        "customer_id": str(esc.customer_id),
        "engineer_id": str(esc.engineer_id or "unassigned"),
    }
    if esc.deadline:
        annotations["irt_deadline"] = esc.deadline
    annotations["escalated_at"] = esc.emitted_at
    ends = now_ms if resolved else now_ms + int(config.ttl_intervals * config.reassert_s * 1000)
    # A replay or a simulation stamps escalations in its own (possibly future) time; Alertmanager
    # refuses an alert that starts after it ends, so it starts no later than now.
    starts = min(parse_rfc3339_ms(esc.emitted_at), now_ms)
    return {"labels": labels, "annotations": annotations, "startsAt": format_rfc3339_ms(starts),
            "endsAt": format_rfc3339_ms(ends)}


class OpenAlerts:
    """What is firing now: ticket -> {(kind, level, cycle): escalation}."""

    def __init__(self) -> None:
        self._open: dict[str, dict[tuple[str, int, int], Escalation]] = {}

    def apply(self, esc: Escalation) -> tuple[list[Escalation], list[Escalation]]:
        """Take one escalation; returns (escalations now firing, escalations now resolved)."""
        if esc.kind == EXITED:
            closing = self._open.pop(esc.ticket_id, {})
            if not closing:  # nothing known (e.g. the ladder started before our history): resolve every rung
                closing = {(k, lvl, esc.cycle): dataclasses.replace(esc, kind=k, level=lvl)
                           for k, lvl in (*IRT_RUNGS, *BIZCRIT_RUNGS)}
            return [], list(closing.values())
        self._open.setdefault(esc.ticket_id, {})[(esc.kind, esc.level, esc.cycle)] = esc
        return [esc], []

    def firing(self) -> list[Escalation]:
        return [esc for rungs in self._open.values() for esc in rungs.values()]

    def clear(self) -> None:
        self._open.clear()

    def __len__(self) -> int:
        return sum(len(r) for r in self._open.values())
