"""Posting alerts to one or more Alertmanagers, each at its own pace, none able to hold up the others.

Every Alertmanager (a :class:`Target`) has its own task and its own state:

* *up to date*: it is sent each new alert as it comes;
* *behind* (at start, and after a failed post): it has missed something. Its next post carries every alert
  firing now plus the resolutions it missed, so one accepted post brings it level. Posting alerts it
  already has is harmless: Alertmanager deduplicates by labels and pages nobody twice. Retries back off
  from ``min_backoff_s`` to ``max_backoff_s``, doubling, on the notifier's :class:`~.timer.Timer`.

A refusal (HTTP 4xx other than 408 and 429: bad credentials, a malformed alert) is logged, counted as
``rejected`` and not retried: the same post would be refused again. The periodic re-assertion still
reaches that Alertmanager, so fixing it (e.g. its credentials) heals delivery without a restart.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import enum
import logging
import ssl
import time
from collections.abc import Awaitable, Callable, Sequence
from urllib.parse import urlsplit

import aiohttp
import orjson
from prometheus_client import CollectorRegistry, Counter, Gauge

from pipeline.domain.records import Escalation, MalformedRecord
from pipeline.notify.alerts import AlertmanagerAuth, NotifyConfig, OpenAlerts, to_alert
from pipeline.notify.timer import Timer

log = logging.getLogger(__name__)

Post = Callable[[list[dict]], Awaitable[None]]  # raises Rejected when retrying cannot help, anything else to retry


class Rejected(Exception):  # noqa: N818 - what Alertmanager did, not a programming error
    """Alertmanager refused the alerts (a 4xx other than 408 and 429): the same post would be refused again."""


class Result(enum.Enum):
    ACCEPTED = "accepted"
    FAILED = "failed"  # unreachable, timed out, 5xx, 408, 429: retried
    REJECTED = "rejected"  # other 4xx: not retried


def target_name(url: str) -> str:
    """The Alertmanager as its metrics label and in logs: the URL without any user information."""
    parts = urlsplit(url)
    return parts._replace(netloc=parts.hostname + (f":{parts.port}" if parts.port else "")).geturl()


class NotifierMetrics:
    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        reg = registry or CollectorRegistry()
        self.registry = reg
        self.posts = Counter("sla_notifier_posts", "Posts to each Alertmanager by result: accepted, failed "
                             "(retried) or rejected (4xx, not retried).", ["alertmanager", "result"], registry=reg)
        self.posted = Counter("sla_notifier_alerts_posted", "Alerts an Alertmanager accepted.", ["alertmanager"],
                              registry=reg)
        self.malformed = Counter("sla_notifier_malformed_records", "Records on sla.escalations that are not "
                                 "escalations: logged and skipped.", registry=reg)
        self.behind = Gauge("sla_notifier_alertmanager_behind", "1 while an Alertmanager has missed alerts "
                            "(its last post failed).", ["alertmanager"], registry=reg)
        self.open = Gauge("sla_notifier_open_alerts", "Escalation alerts currently firing.", registry=reg)


class Target:
    """One Alertmanager and what it has not been told yet."""

    def __init__(self, name: str, post: Post) -> None:
        self.name = name
        self.post = post
        self.behind = True  # nothing told yet: the first post carries everything firing
        self.reassert = False  # the next post carries everything firing (the periodic re-assertion)
        self.firing: list[dict] = []  # new alerts, for a target that is up to date
        self.resolved: dict[tuple, dict] = {}  # resolutions not yet told, by labels
        self.wakeup = asyncio.Event()
        self.retry_at = 0.0
        self.delay = 0.0


def _key(alert: dict) -> tuple:
    return tuple(sorted(alert["labels"].items()))


class Notifier:
    """Turns escalations into alerts and keeps every Alertmanager told of them."""

    def __init__(self, config: NotifyConfig, targets: Sequence[Target], clock: Callable[[], int] | None = None,
                 metrics: NotifierMetrics | None = None, timer: Timer | None = None) -> None:
        self.config = config
        self.targets = list(targets)
        self.open = OpenAlerts(config.notice_lifetime_s)
        self._now = clock or (lambda: time.time_ns() // 1_000_000)
        self.timer = timer or Timer()  # waits, post time limits and back-off run on it
        self.metrics = metrics or NotifierMetrics()
        self.metrics.open.set_function(lambda: len(self.open))
        for t in self.targets:
            self.metrics.behind.labels(t.name).set_function(lambda t=t: 1 if t.behind else 0)
            for result in Result:  # every series exists from the start, so rates and alerts see the first failure
                self.metrics.posts.labels(t.name, result.value)
        self._stopping = False

    # -- what is open -----------------------------------------------------------------------------

    def decode(self, value: bytes | None, where: str) -> Escalation | None:
        """The escalation in a record, or None (logged and counted) if the record is not one."""
        try:
            return Escalation.decode(value)
        except MalformedRecord as exc:
            self.metrics.malformed.inc()
            log.error("skipping %s: not an escalation (%s)", where, exc)
            return None

    def remember(self, esc: Escalation) -> None:
        """Replay of history: track what is open, tell nobody (a re-assertion follows)."""
        self.open.apply(esc, self._now())

    def forget(self) -> None:
        self.open.clear()

    def take(self, esc: Escalation) -> None:
        """A new escalation: queue its alerts for every Alertmanager."""
        now = self._now()
        firing, resolved = self.open.apply(esc, now)
        if not firing and not resolved:
            return
        new = [to_alert(e, self.config, now) for e in firing]
        ends = {_key(a): a for a in (to_alert(e, self.config, now, resolved=True) for e in resolved)}
        for t in self.targets:
            t.firing += new
            t.resolved.update(ends)
            t.wakeup.set()

    def reassert(self) -> None:
        """Send every Alertmanager everything firing (so nothing expires while its ticket is BizCrit, nor a
        notice before its news is over)."""
        for t in self.targets:
            t.reassert = True
            t.wakeup.set()

    # -- posting ----------------------------------------------------------------------------------

    def payload(self, t: Target) -> tuple[list[dict], dict[tuple, dict]]:
        """What the next post to ``t`` carries: (firing alerts, resolutions by labels); ``t`` forgets both."""
        if t.behind or t.reassert:
            now = self._now()
            firing = [to_alert(e, self.config, now) for e in self.open.firing(now)]
        else:
            firing = t.firing
        resolved = t.resolved
        t.firing, t.resolved, t.reassert = [], {}, False
        return firing, resolved

    async def attempt(self, t: Target) -> Result | None:
        """One post to ``t`` of what it has not been told; None if there was nothing to tell.

        A re-assertion or a retry posts even when nothing fires (an empty list, which Alertmanager accepts), so
        an Alertmanager that went away is noticed, counted and alerted on before a page needs it.
        """
        telling_all = t.behind or t.reassert  # even if nothing fires: an empty post shows it answers
        firing, resolved = self.payload(t)
        alerts = firing + list(resolved.values())
        if not alerts and not telling_all:
            return None
        try:
            await self.timer.limit(t.post(alerts), self.config.post_timeout_s)
        except Rejected as exc:
            result = Result.REJECTED
            t.behind = False  # nothing to retry: the same post would be refused again
            log.error("Alertmanager %s refused %d alerts and they are not retried: %s", t.name, len(alerts), exc)
        except Exception as exc:  # noqa: BLE001 - unreachable, timed out or 5xx: retried with everything firing
            result = Result.FAILED
            t.behind = True
            t.resolved = {**resolved, **t.resolved}  # (firing ones come again with everything firing)
            t.delay = min(max(t.delay * 2, self.config.min_backoff_s), self.config.max_backoff_s)
            t.retry_at = self.timer.monotonic() + t.delay
            log.warning("Alertmanager %s did not take %d alerts (%s); retrying in %.1f s with all that is firing",
                        t.name, len(alerts), exc or type(exc).__name__, t.delay)
        else:
            result = Result.ACCEPTED
            if t.behind:
                log.info("Alertmanager %s is up to date: %d alerts posted", t.name, len(alerts))
            t.behind, t.delay = False, 0.0
            self.metrics.posted.labels(t.name).inc(len(alerts))
        self.metrics.posts.labels(t.name, result.value).inc()
        return result

    async def serve(self, t: Target) -> None:
        """Keep ``t`` told until :meth:`stop`: post when there is news, back off while it fails."""
        while not self._stopping:
            timeout = max(0.0, t.retry_at - self.timer.monotonic()) if t.behind else None
            await self.timer.wait(t.wakeup, timeout)
            t.wakeup.clear()
            if self._stopping or (t.behind and self.timer.monotonic() < t.retry_at):
                continue
            await self.attempt(t)

    def start(self) -> list[asyncio.Task]:
        return [asyncio.create_task(self.serve(t), name=f"notify {t.name}") for t in self.targets]

    async def stop(self, tasks: list[asyncio.Task], grace_s: float = 5.0) -> None:
        """Stop the targets' tasks, then give each up-to-date one a last post of what is queued."""
        self._stopping = True
        for t in self.targets:
            t.wakeup.set()
        await asyncio.gather(*tasks, return_exceptions=True)
        last = [self.attempt(t) for t in self.targets if not t.behind and (t.firing or t.resolved)]
        if last:
            with contextlib.suppress(asyncio.TimeoutError):
                await self.timer.limit(asyncio.gather(*last, return_exceptions=True), grace_s)


def alertmanager_poster(session: aiohttp.ClientSession, base_url: str, auth: AlertmanagerAuth) -> Post:
    """POST /api/v2/alerts with the configured credentials; 4xx other than 408 and 429 raise :class:`Rejected`."""
    url = base_url.rstrip("/") + "/api/v2/alerts"
    headers = {"Content-Type": "application/json"}
    if auth.bearer_token is not None:
        headers["Authorization"] = f"Bearer {auth.bearer_token.reveal()}"
    elif auth.username is not None and auth.password is not None:
        pair = f"{auth.username}:{auth.password.reveal()}".encode()
        headers["Authorization"] = "Basic " + base64.b64encode(pair).decode("ascii")
    tls: ssl.SSLContext | bool = ssl.create_default_context(cafile=str(auth.ca_file)) if auth.ca_file else True

    async def post(alerts: list[dict]) -> None:
        async with session.post(url, data=orjson.dumps(alerts), headers=headers, ssl=tls,
                                allow_redirects=False) as resp:
            if resp.status < 300:
                return
            detail = f"HTTP {resp.status}: {(await resp.text())[:200].strip()}"
            if resp.status in (408, 429) or resp.status >= 500:
                raise RuntimeError(detail)
            raise Rejected(detail)

    return post
