"""On-call delivery: ``sla.escalations`` -> every configured Alertmanager (API v2, ``POST /api/v2/alerts``).

* Each escalation becomes one alert; ``bizcrit_exited`` resolves that ticket's alerts (``endsAt``).
* Contract notices (``<metric>_at_risk``, ``<metric>_breached``, ``allowance_exceeded``) are warnings marked
  ``notice="true"``, never pages; each ends by itself when its news is over (see :mod:`.alerts`).
* Alerts are re-asserted every ``reassert_s`` with ``endsAt`` a few intervals ahead, so they neither
  expire while the ticket is BizCrit nor linger for long if the notifier itself dies.
* :mod:`.alerts` says what an alert is; :mod:`.delivery` keeps each Alertmanager told, at its own pace;
  :mod:`.consume` reads the topic and rebuilds what is open on every assignment.
"""

from pipeline.notify.alerts import (
    ALERTNAMES,
    AlertmanagerAuth,
    NotifyConfig,
    OpenAlerts,
    labels,
    notice_ends_ms,
    summary,
    to_alert,
)
from pipeline.notify.consume import run
from pipeline.notify.delivery import (
    Notifier,
    NotifierMetrics,
    Rejected,
    Result,
    Target,
    alertmanager_poster,
    target_name,
)
from pipeline.notify.timer import ManualTimer, Timer

__all__ = ["ALERTNAMES", "AlertmanagerAuth", "ManualTimer", "Notifier", "NotifierMetrics", "NotifyConfig", "OpenAlerts",
           "Rejected", "Result", "Target", "Timer", "alertmanager_poster", "labels", "notice_ends_ms", "run", "summary",
           "target_name", "to_alert"]
