"""How the pipeline says durations, shares and the BizCrit rungs to people: the one home of that text.

Pages, escalation reasons, alert rules, dashboards, the board and the policy command all word them the
same way because they all ask this module. It imports nothing of the ladder (the ladder imports it).
"""

from __future__ import annotations

from pipeline.domain.policy import Policy

# The BizCrit rungs by name (a ``bizcrit_<name>`` escalation kind), in ladder order, the order of the
# policy's ``bizcrit.rungs_minutes``: who is engaged when a ticket reaches it, and what its page asks for.
_RUNGS = {
    "tier3": ("engineering (tier 3) engaged", "engage tier 3"),
    "management": ("senior management engaged", "engage senior management"),
    "executive": ("executive engaged", "engage an executive"),
}
RUNG_NAMES = tuple(_RUNGS)


def rung_name(kind: str) -> str:
    """``tier3`` for ``bizcrit_tier3``: the rung's name on boards, in metric labels and in reports."""
    return kind.removeprefix("bizcrit_")


def engaged(kind: str) -> str:
    """``engineering (tier 3) engaged``: who a BizCrit rung brings in, as its escalation's reason says."""
    return _RUNGS[rung_name(kind)][0]


def bizcrit_rung_title(kind: str, policy: Policy) -> str:
    """``BizCrit 30 min without workaround, engage tier 3``: the rung's time from the policy."""
    name = rung_name(kind)
    after = policy.bizcrit_rungs_ms[RUNG_NAMES.index(name)]
    return f"BizCrit {duration(after)} without workaround, {_RUNGS[name][1]}"


def share_words(share: float) -> str:
    """A share of a budget as a support manager says it: "half", or "80 %"."""
    return "half" if share == 0.5 else f"{share:.0%}"


def duration(ms: int) -> str:
    """``2 h``, ``1 h 30 min``, ``7 min 30 s``."""
    minutes, seconds = divmod(max(0, ms) // 1000, 60)
    hours, minutes = divmod(minutes, 60)
    if hours:
        return f"{hours} h {minutes} min" if minutes else f"{hours} h"
    return f"{minutes} min {seconds} s" if seconds else f"{minutes} min"


# The judged metrics of contract section 10, as a support manager names them.
METRIC_NAMES = {"irt": "first response", "next_response": "next response", "workaround": "workaround",
                "resolution": "resolution"}


def metric_name(metric: str) -> str:
    """``next response`` for ``next_response``: in notices, reports, the policy command and boards."""
    return METRIC_NAMES.get(metric, metric)
