"""What Alertmanager is told: one alert per escalation, and the set of alerts firing now (no I/O here).

Two families of escalation become alerts:

* the BizCrit ladder's rungs (contract section 4): a page (``severity="page"``) or a warning to the NOC, about
  one ticket's rung; they fire until the ticket leaves BizCrit (``bizcrit_exited`` resolves them);
* notices (section 10): ``<metric>_at_risk``/``<metric>_breached`` about one clock of a contract, and
  ``allowance_exceeded`` about one customer's month. Always ``severity="warning"``, marked ``notice="true"``
  so the shipped routing sends them to their own receivers and never to the pager. Nothing in the topic says
  when a notice's news is over, so each ends by itself: an at-risk notice at its clock's deadline (or when
  that clock's breach notice comes, which replaces it), the others ``notice_lifetime_s`` after they were
  emitted. A notice already over when it is read (a replay of old history) is told to nobody.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

from pipeline.domain import bizcrit
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
from pipeline.domain.timefmt import DAY_MS, format_rfc3339_ms, parse_rfc3339_ms
from pipeline.domain.words import bizcrit_rung_title
from pipeline.kafka.client import Secret
from pipeline.settings import DEFAULT_RUNBOOK_BASE_URL

_AT_RISK, _BREACHED = "_at_risk", "_breached"

ALERTNAMES = {
    IRT_AT_RISK: "BizCritIrtAtRisk",
    IRT_BREACHED: "BizCritIrtBreached",
    TIER3: "BizCritTier3Engaged",
    MANAGEMENT: "BizCritManagementEngaged",
    EXECUTIVE: "BizCritExecutiveEngaged",
    # notices: next_response_breached -> NextResponseBreached, allowance_exceeded -> AllowanceExceeded
    **{kind: "".join(word.capitalize() for word in kind.split("_"))
       for kind in (*bizcrit.NOTICE_KINDS, bizcrit.ALLOWANCE_EXCEEDED)},
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
    notice_lifetime_s: float = DAY_MS / 1000  # a breach or allowance notice fires this long after emission


def notice_metric(kind: str) -> str | None:
    """The judged metric a clock's notice is about (``next_response_breached`` -> ``next_response``); None for
    ``allowance_exceeded``, which is about a customer's month."""
    if kind not in bizcrit.NOTICE_KINDS:
        return None
    return kind.removesuffix(_AT_RISK).removesuffix(_BREACHED)


def notice_ends_ms(esc: Escalation, lifetime_s: float) -> int:
    """When a notice's news is over: an at-risk notice at its clock's deadline, any other (or one without a
    deadline) ``lifetime_s`` after it was emitted."""
    if esc.kind.endswith(_AT_RISK) and esc.deadline:
        return parse_rfc3339_ms(esc.deadline)
    return parse_rfc3339_ms(esc.emitted_at) + int(lifetime_s * 1000)


def _month(esc: Escalation) -> str:
    """An allowance notice's month, the last part of its id ``<customer_id>:allowance_exceeded:<YYYY-MM>``."""
    return esc.escalation_id.rsplit(":", 1)[-1]


def summary(esc: Escalation, policy: Policy) -> str:
    """The alert's one-line summary; the BizCrit rungs' times come from the policy, like the ladder's."""
    sev = f"Sev{esc.severity}{' FastLane' if esc.fastlane else ''} {esc.ticket_id}"
    if esc.kind == IRT_AT_RISK:
        return f"{sev} unanswered: {esc.budget_used or 0:.0%} of IRT budget used"
    if esc.kind == IRT_BREACHED:
        return f"{sev} breached its initial response target"
    if not bizcrit.is_notice(esc.kind):
        return f"{sev}: {bizcrit_rung_title(esc.kind, policy)}"
    plan = f" ({esc.contract} contract)" if esc.contract else ""
    metric = notice_metric(esc.kind)
    if metric is None:
        return f"Customer {esc.customer_id} is over its critical-incident allowance for {_month(esc)}{plan}: {sev}"
    if esc.kind.endswith(_AT_RISK):
        return f"{sev}: {esc.budget_used or 0:.0%} of its {metric.replace('_', ' ')} target used{plan}"
    return f"{sev} breached its {metric.replace('_', ' ')} target{plan}"


def labels(esc: Escalation) -> dict[str, str]:
    """What the alert is: Alertmanager deduplicates and routes by these (ticket ids are fine as labels here:
    not Prometheus). A notice is ``notice="true"`` and never ``severity="page"``; an allowance notice is one
    per customer and month, whichever ticket went over."""
    common = {"alertname": ALERTNAMES[esc.kind], "severity": "page" if esc.paged else "warning",
              "kind": esc.kind, "level": str(esc.level)}
    if bizcrit.is_notice(esc.kind):
        common = {**common, "notice": "true", **({"contract": esc.contract} if esc.contract else {})}
        metric = notice_metric(esc.kind)
        if metric is None:
            return {**common, "customer_id": str(esc.customer_id), "month": _month(esc)}
        common["metric"] = metric
    return {**common, "ticket_id": esc.ticket_id, "cycle": str(esc.cycle), "ticket_severity": str(esc.severity),
            "product": str(esc.product), "fastlane": "true" if esc.fastlane else "false"}


def to_alert(esc: Escalation, config: NotifyConfig, now_ms: int, *, resolved: bool = False) -> dict:
    """The Alertmanager alert for one escalation."""
    notice = bizcrit.is_notice(esc.kind)
    annotations = {
        "summary": summary(esc, config.policy),
        "description": esc.reason,
        "runbook_url": f"{config.runbook_base_url}#{esc.kind.replace('_', '-')}",
        "escalation_id": esc.escalation_id,
        "ticket_id": esc.ticket_id,
        "customer_id": str(esc.customer_id),
        "engineer_id": str(esc.engineer_id or "unassigned"),
    }
    if esc.deadline:
        annotations["deadline" if notice else "irt_deadline"] = esc.deadline
    annotations["escalated_at"] = esc.emitted_at
    ends = now_ms if resolved else now_ms + int(config.ttl_intervals * config.reassert_s * 1000)
    if notice and not resolved:  # Alertmanager ends it by itself when its news is over
        ends = min(ends, notice_ends_ms(esc, config.notice_lifetime_s))
    # A replay or a simulation stamps escalations in its own (possibly future) time; Alertmanager
    # refuses an alert that starts after it ends, so it starts no later than now (nor than its end).
    starts = min(parse_rfc3339_ms(esc.emitted_at), now_ms, ends)
    return {"labels": labels(esc), "annotations": annotations, "startsAt": format_rfc3339_ms(starts),
            "endsAt": format_rfc3339_ms(ends)}


class OpenAlerts:
    """What is firing now: the ladder's rungs by ticket, {(kind, level, cycle): escalation}, and the notices
    by what each is about (a clock, or a customer's month), each until its news is over."""

    def __init__(self, notice_lifetime_s: float = NotifyConfig.notice_lifetime_s) -> None:
        self._open: dict[str, dict[tuple[str, int, int], Escalation]] = {}
        self._notices: dict[tuple[str, ...], Escalation] = {}
        self.notice_lifetime_s = notice_lifetime_s

    def apply(self, esc: Escalation, now_ms: int) -> tuple[list[Escalation], list[Escalation]]:
        """Take one escalation; returns (escalations now firing, escalations now resolved)."""
        if bizcrit.is_notice(esc.kind):
            return self._notice(esc, now_ms)
        if esc.kind == EXITED:  # the ladder's alerts only: a notice is about a clock, not about BizCrit
            closing = self._open.pop(esc.ticket_id, {})
            if not closing:  # nothing known (e.g. the ladder started before our history): resolve every rung
                closing = {(k, lvl, esc.cycle): dataclasses.replace(esc, kind=k, level=lvl)
                           for k, lvl in (*IRT_RUNGS, *BIZCRIT_RUNGS)}
            return [], list(closing.values())
        self._open.setdefault(esc.ticket_id, {})[(esc.kind, esc.level, esc.cycle)] = esc
        return [esc], []

    def _notice(self, esc: Escalation, now_ms: int) -> tuple[list[Escalation], list[Escalation]]:
        metric = notice_metric(esc.kind)
        about = (esc.ticket_id, metric, str(esc.cycle)) if metric else (str(esc.customer_id), _month(esc))
        held = self._notices.get(about)
        if held is not None and held.level > esc.level:  # an at-risk notice after its clock's breach: stale
            return [], []
        replaced = [held] if held is not None and held.level < esc.level else []  # the breach ends the at-risk
        if notice_ends_ms(esc, self.notice_lifetime_s) <= now_ms:
            self._notices.pop(about, None)
            return [], replaced
        self._notices[about] = esc
        return [esc], replaced

    def firing(self, now_ms: int) -> list[Escalation]:
        """Everything firing at ``now_ms``; notices whose news is over are dropped (Alertmanager has ended them)."""
        self._notices = {k: e for k, e in self._notices.items()
                         if notice_ends_ms(e, self.notice_lifetime_s) > now_ms}
        return [*(esc for rungs in self._open.values() for esc in rungs.values()), *self._notices.values()]

    def clear(self) -> None:
        self._open.clear()
        self._notices.clear()

    def __len__(self) -> int:
        return sum(len(r) for r in self._open.values()) + len(self._notices)
