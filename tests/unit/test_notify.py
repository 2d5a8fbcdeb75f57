"""On-call delivery without a network: what Alertmanager is sent, and that nothing is lost on failure."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

import pytest
import yaml

from pipeline import resources
from pipeline.cli.escalations import line
from pipeline.domain import bizcrit
from pipeline.domain.policy import Policy
from pipeline.domain.records import Escalation
from pipeline.domain.timefmt import MINUTE_MS, format_rfc3339_ms, parse_rfc3339_ms
from pipeline.notify import ManualTimer, Notifier, NotifyConfig, Rejected, Result, Target, to_alert

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


class Recorder:
    """An Alertmanager stand-in: records each post; ``fail`` makes it unreachable, ``refuse`` makes it say 401."""

    def __init__(self, name: str = "am") -> None:
        self.name = name
        self.posts: list[list[dict]] = []
        self.fail = False
        self.refuse = False

    async def __call__(self, alerts: list[dict]) -> None:
        self.posts.append(alerts)
        if self.fail:
            raise ConnectionRefusedError("connection refused")
        if self.refuse:
            raise Rejected("HTTP 401: Unauthorized")

    def told(self, post: int = -1) -> list[tuple[str, str, str]]:
        """(ticket, level, firing|resolved) of one post."""
        return sorted((a["labels"]["ticket_id"], a["labels"]["level"],
                       "resolved" if a["endsAt"] <= format_rfc3339_ms(NOW) else "firing") for a in self.posts[post])


def notifier(*recorders: Recorder, timer: ManualTimer | None = None,
             **config: object) -> tuple[Notifier, list[Target]]:
    """A notifier on a timer that moves only when a test moves it."""
    targets = [Target(r.name, r) for r in recorders]
    return Notifier(NotifyConfig(**{"runbook_base_url": "http://noc.example/runbooks", **config}), targets,
                    clock=lambda: NOW, timer=timer or ManualTimer()), targets


async def test_exit_resolves_exactly_the_tickets_open_alerts() -> None:
    am = Recorder()
    n, [t] = notifier(am)
    await n.attempt(t)  # up to date (nothing open yet)
    n.take(esc("irt_at_risk", 1))
    n.take(esc("irt_at_risk", 2))
    n.take(esc("irt_at_risk", 1, ticket="T-2"))
    await n.attempt(t)
    n.take(esc("bizcrit_exited", 0))
    await n.attempt(t)
    assert am.told() == [("T-1", "1", "resolved"), ("T-1", "2", "resolved")]
    n.reassert()
    await n.attempt(t)
    assert am.told() == [("T-2", "1", "firing")]


def test_an_exit_with_no_known_alerts_resolves_every_rung_of_that_cycle() -> None:
    n, [t] = notifier(Recorder())
    n.take(esc("bizcrit_exited", 0, cycle=2))
    _, resolved = n.payload(t)
    assert len(resolved) == 6 and {a["labels"]["cycle"] for a in resolved.values()} == {"2"}


async def test_a_replayed_history_posts_nothing_but_is_reasserted() -> None:
    am = Recorder()
    n, [t] = notifier(am)
    n.remember(esc("irt_at_risk", 1))
    n.remember(esc("irt_at_risk", 1, ticket="T-9"))
    n.remember(esc("bizcrit_exited", 0, ticket="T-9"))
    assert am.posts == []
    n.reassert()
    await n.attempt(t)
    assert am.told() == [("T-1", "1", "firing")]


async def test_every_alertmanager_is_told_every_alert() -> None:
    a, b = Recorder("a"), Recorder("b")
    n, targets = notifier(a, b)
    n.take(esc("irt_at_risk", 2))
    for t in targets:
        assert await n.attempt(t) is Result.ACCEPTED
    assert a.told() == b.told() == [("T-1", "2", "firing")]


async def test_an_alertmanager_that_was_down_is_told_everything_firing_and_every_resolution_it_missed() -> None:
    up, down = Recorder("up"), Recorder("down")
    n, [tu, td] = notifier(up, down)
    await n.attempt(tu), await n.attempt(td)  # both up to date, nothing open (an empty post each)
    down.fail = True
    n.take(esc("irt_at_risk", 1))
    n.take(esc("irt_at_risk", 1, ticket="T-2"))
    assert await n.attempt(tu) is Result.ACCEPTED and await n.attempt(td) is Result.FAILED
    n.take(esc("bizcrit_exited", 0))  # T-1 answered while `down` is down
    n.take(esc("irt_at_risk", 2, ticket="T-2"))
    await n.attempt(tu)
    assert up.told() == [("T-1", "1", "resolved"), ("T-2", "2", "firing")]  # the others only hear the news
    assert td.behind and await n.attempt(td) is Result.FAILED  # still down: the resolution is kept
    down.fail = False
    assert await n.attempt(td) is Result.ACCEPTED and not td.behind
    assert down.told() == [("T-1", "1", "resolved"), ("T-2", "1", "firing"), ("T-2", "2", "firing")]
    assert await n.attempt(td) is None  # level: nothing more to say
    posts = n.metrics.posts
    assert posts.labels("down", "failed")._value.get() == 2 and posts.labels("down", "accepted")._value.get() == 2


@contextlib.asynccontextmanager
async def serving(n: Notifier, timer: ManualTimer) -> AsyncIterator[None]:
    """The targets' tasks running; stopped even when the test fails (time moves so a hung post gives up)."""
    tasks = n.start()
    try:
        yield
    finally:
        stopping = asyncio.ensure_future(n.stop(tasks))
        await timer.advance(3600)
        await stopping


async def test_a_refusal_is_counted_and_not_retried() -> None:
    am = Recorder()
    am.refuse = True
    timer = ManualTimer()
    n, [t] = notifier(am, min_backoff_s=0.01, max_backoff_s=0.01, timer=timer)
    async with serving(n, timer):
        n.take(esc("irt_at_risk", 2))
        await timer.advance(1.0)  # a retried post would have come 100 times by now
        assert len(am.posts) == 1 and not t.behind
    assert n.metrics.posts.labels("am", "rejected")._value.get() == 1
    am.refuse = False
    n.reassert()  # the next re-assertion reaches it again: fixed credentials heal without a restart
    assert await n.attempt(t) is Result.ACCEPTED and am.told() == [("T-1", "2", "firing")]


async def test_an_unreachable_alertmanager_is_retried_at_doubling_intervals_up_to_the_maximum() -> None:
    am = Recorder()
    am.fail = True
    timer = ManualTimer()
    n, [t] = notifier(am, min_backoff_s=1, max_backoff_s=8, timer=timer)
    tried: list[float] = []
    post = t.post

    async def timed(alerts: list[dict]) -> None:
        tried.append(timer.now)
        await post(alerts)

    t.post = timed
    async with serving(n, timer):
        n.take(esc("irt_at_risk", 2))
        await timer.advance(40)
        assert tried == [0, 1, 3, 7, 15, 23, 31, 39]  # 1, 2, 4, 8, then 8 s apart
        assert t.behind and n.metrics.posts.labels("am", "failed")._value.get() == 8
        am.fail = False
        await timer.advance(8)
        assert tried[-1] == 47 and not t.behind and am.told() == [("T-1", "2", "firing")]
        am.fail = True  # down again: the back-off starts over from the minimum
        n.take(esc("irt_at_risk", 2, ticket="T-2"))  # at 48 s
        await timer.advance(4)
        assert tried[-3:] == [48, 49, 51]  # at once, then 1 and 2 s later


async def test_a_hanging_alertmanager_holds_up_neither_the_others_nor_the_consumer() -> None:
    fine = Recorder("fine")
    tried: list[float] = []
    timer = ManualTimer()

    async def hangs(alerts: list[dict]) -> None:
        tried.append(timer.now)
        await asyncio.Event().wait()  # never answers

    targets = [Target("hangs", hangs), Target("fine", fine)]
    n = Notifier(NotifyConfig(post_timeout_s=0.05, min_backoff_s=0.05, max_backoff_s=0.2), targets,
                 clock=lambda: NOW, timer=timer)
    async with serving(n, timer):
        n.take(esc("irt_at_risk", 2))  # returns at once: posting is the targets' own business
        await timer.advance(0)
        assert fine.told() == [("T-1", "2", "firing")]
        await timer.advance(0.65)
        # each post given up after 0.05 s and retried after 0.05, 0.1, 0.2 s: not in a tight loop
        assert tried == pytest.approx([0, 0.1, 0.25, 0.5])
        assert n.metrics.posts.labels("hangs", "failed")._value.get() == 4
        assert targets[0].behind and len(fine.posts) == 1


def test_a_malformed_record_is_counted_and_skipped(caplog: pytest.LogCaptureFixture) -> None:
    n, _ = notifier(Recorder())
    assert n.decode(b"{not json", "sla.escalations[2]@17") is None
    assert n.decode(b'{"kind": "irt_at_risk"}', "sla.escalations[2]@18") is None
    assert n.metrics.malformed._value.get() == 2
    assert "skipping sla.escalations[2]@17: not an escalation" in caplog.text
    assert n.decode(esc("irt_at_risk", 2).encode(), "sla.escalations[2]@19") == esc("irt_at_risk", 2)


def test_terminal_line_shows_time_mark_rung_ticket_and_reason() -> None:
    text = line(esc("irt_at_risk", 2, fastlane=True, engineer_id="E-4"))
    assert text.startswith("2026-03-02T09:12:00Z  PAGE  irt_at_risk")
    assert "L2  T-1  FL Sev1 automation/C-17  eng E-4  Sev1 ticket T-1" in text
    # a contract's notice at level 3 is marked a note, not a page, and the longest kind keeps the columns
    notice = line(esc("next_response_breached", 3))
    assert notice.startswith("2026-03-02T09:12:00Z  note  next_response_breached L3  T-1")


async def test_the_poster_sends_the_credentials_and_tells_a_refusal_from_a_failure(tmp_path) -> None:
    from aiohttp import ClientSession, web

    from pipeline.kafka.client import Secret
    from pipeline.notify import AlertmanagerAuth, alertmanager_poster

    seen: list[str] = []
    answers = iter([200, 401, 429, 503, 400])

    async def alerts(request: web.Request) -> web.Response:
        seen.append(request.headers.get("Authorization", ""))
        return web.Response(status=next(answers), text="nope")

    app = web.Application()
    app.router.add_post("/api/v2/alerts", alerts)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    url = f"http://127.0.0.1:{runner.addresses[0][1]}"
    try:
        async with ClientSession() as session:
            bearer = alertmanager_poster(session, url, AlertmanagerAuth(bearer_token=Secret("t0ken")))
            await bearer([{"labels": {}}])  # 200
            with pytest.raises(Rejected, match="HTTP 401"):
                await bearer([])
            for _ in range(2):  # 429 and 503 are worth retrying
                with pytest.raises(RuntimeError, match="HTTP (429|503)"):
                    await bearer([])
            basic = alertmanager_poster(session, url, AlertmanagerAuth(username="sla", password=Secret("pw")))
            with pytest.raises(Rejected, match="HTTP 400: nope"):
                await basic([])
    finally:
        await runner.cleanup()
    assert seen[:4] == ["Bearer t0ken"] * 4 and seen[4] == "Basic c2xhOnB3"  # base64 of sla:pw


async def test_with_nothing_firing_a_reassertion_still_finds_out_that_alertmanager_is_gone() -> None:
    am = Recorder()
    n, [t] = notifier(am)
    assert await n.attempt(t) is Result.ACCEPTED and am.posts == [[]]  # an empty post: it answers
    am.fail = True
    assert await n.attempt(t) is None  # nothing new, no post
    n.reassert()
    assert await n.attempt(t) is Result.FAILED and t.behind
    assert n.metrics.posts.labels("am", "failed")._value.get() == 1


# -- contract notices (contract v3 section 10): warnings, never pages ----------------------------------------

NOTICE = {"severity": 2, "budget_used": None, "contract": "gold", "deadline": "2026-03-02T09:05:00.000Z",
          "reason": "Sev2 ticket T-1: the customer has waited 31 min for a next response (target 30 min)",
          "emitted_at": "2026-03-02T09:05:00.000Z"}


def allowance(ticket: str, customer: str = "C-17", month: str = "2026-03") -> Escalation:
    return esc("allowance_exceeded", 1, ticket=ticket, **{
        **NOTICE, "escalation_id": f"{customer}:allowance_exceeded:{month}", "customer_id": customer, "severity": 1,
        "deadline": None, "reason": f"Customer {customer} opened its 11th critical incident of {month} (allowance 10)"})


def route(alert: dict) -> str:
    """The receiver the shipped Alertmanager routing picks for an alert: the first matching route, depth first.
    Only ``name="value"`` matchers are understood (amtool checks the real thing in tests/integration)."""
    def matches(node: dict) -> bool:
        for matcher in node.get("matchers", []):
            name, _, value = matcher.partition("=")
            assert value.startswith('"') and value.endswith('"') and name.isidentifier(), matcher
            if alert["labels"].get(name) != value.strip('"'):
                return False
        return True

    def walk(node: dict, receiver: str) -> str:
        for child in node.get("routes", []):
            if matches(child):
                return walk(child, child.get("receiver", receiver))
        return receiver

    tree = yaml.safe_load(resources.read_text(resources.ALERTMANAGER))["route"]
    return walk(tree, tree["receiver"])


def test_a_next_response_breach_is_a_warning_notice_for_the_team_never_a_page() -> None:
    breach = esc("next_response_breached", 3, cycle=2, **NOTICE)
    assert not breach.paged  # level 3, yet no page: the ladder's rule pages only the ladder
    alert = to_alert(breach, CONFIG, NOW)
    assert alert["labels"] == {
        "alertname": "NextResponseBreached", "severity": "warning", "notice": "true", "kind": "next_response_breached",
        "level": "3", "contract": "gold", "metric": "next_response", "ticket_id": "T-1", "cycle": "2",
        "ticket_severity": "2", "product": "automation", "fastlane": "false"}
    notes = alert["annotations"]
    assert notes["summary"] == "Sev2 T-1 breached its next response target (gold contract)"
    assert notes["runbook_url"] == "http://noc.example/runbooks#next-response-breached"
    assert notes["deadline"] == "2026-03-02T09:05:00.000Z" and "irt_deadline" not in notes
    assert route(alert) == "notices"
    assert route(to_alert(esc("irt_breached", 3), CONFIG, NOW)) == "oncall"  # the ladder still pages


def test_every_notice_kind_at_every_level_warns_and_is_routed_apart_from_pages() -> None:
    assert bizcrit.NOTICE_KINDS and all(bizcrit.is_notice(kind) for kind in bizcrit.NOTICE_KINDS)
    for kind in (*bizcrit.NOTICE_KINDS, bizcrit.ALLOWANCE_EXCEEDED):
        for level in (1, 2, 3):
            alert = to_alert(esc(kind, level, **NOTICE), CONFIG, NOW)
            assert alert["labels"]["severity"] == "warning" and alert["labels"]["notice"] == "true", (kind, level)
            assert route(alert) == ("account-team" if kind == "allowance_exceeded" else "notices"), (kind, level)
    forged = to_alert(esc("resolution_breached", 3, **NOTICE), CONFIG, NOW)
    forged["labels"]["severity"] = "page"  # even a notice mislabelled as a page is matched as a notice first
    assert route(forged) == "notices"


def test_an_at_risk_notice_says_how_much_of_which_target_is_used() -> None:
    alert = to_alert(esc("resolution_at_risk", 1, **{**NOTICE, "budget_used": 0.8, "contract": None}), CONFIG, NOW)
    assert alert["annotations"]["summary"] == "Sev2 T-1: 80% of its resolution target used"
    assert "contract" not in alert["labels"] and alert["labels"]["metric"] == "resolution"


def test_allowance_exceeded_goes_to_the_account_team_once_per_customer_and_month() -> None:
    alert = to_alert(allowance("T-9"), CONFIG, NOW)
    assert alert["labels"] == {"alertname": "AllowanceExceeded", "severity": "warning", "notice": "true",
                               "kind": "allowance_exceeded", "level": "1", "contract": "gold",
                               "customer_id": "C-17", "month": "2026-03"}
    assert route(alert) == "account-team"
    notes = alert["annotations"]
    assert notes["ticket_id"] == "T-9" and notes["runbook_url"].endswith("#allowance-exceeded")
    assert notes["summary"] == ("Customer C-17 is over its critical-incident allowance for 2026-03 (gold contract): "
                                "Sev1 T-9")
    # the same notice naming another ticket (arrival order decides which) is the same alert: told once
    assert to_alert(allowance("T-10"), CONFIG, NOW)["labels"] == alert["labels"]
    assert to_alert(allowance("T-9", month="2026-04"), CONFIG, NOW)["labels"]["month"] == "2026-04"


def clocked(*recorders: Recorder, **config: object) -> tuple[Notifier, list[Target], list[int]]:
    """A notifier whose wall clock (``now[0]``, ms) moves only when a test moves it."""
    now = [NOW]
    targets = [Target(r.name, r) for r in recorders]
    n = Notifier(NotifyConfig(**{"runbook_base_url": "http://noc.example/runbooks", **config}), targets,
                 clock=lambda: now[0], timer=ManualTimer())
    return n, targets, now


def kinds(post: list[dict], now: list[int]) -> list[tuple[str, str]]:
    """(kind, firing|resolved) of one post, as Alertmanager reads it at ``now[0]``."""
    return sorted((a["labels"]["kind"], "resolved" if a["endsAt"] <= format_rfc3339_ms(now[0]) else "firing")
                  for a in post)


async def test_a_clocks_breach_notice_ends_its_at_risk_notice_and_an_exit_leaves_notices_alone() -> None:
    am = Recorder()
    n, [t], now = clocked(am)
    await n.attempt(t)  # up to date
    n.take(esc("workaround_at_risk", 1, **{**NOTICE, "deadline": "2026-03-02T09:20:00.000Z"}))
    await n.attempt(t)
    assert kinds(am.posts[-1], now) == [("workaround_at_risk", "firing")]
    n.take(esc("workaround_breached", 3, **{**NOTICE, "emitted_at": "2026-03-02T09:10:00.000Z"}))
    await n.attempt(t)
    assert kinds(am.posts[-1], now) == [("workaround_at_risk", "resolved"), ("workaround_breached", "firing")]
    n.take(esc("workaround_at_risk", 1, **NOTICE))  # a late copy of the at-risk notice changes nothing
    n.take(esc("bizcrit_exited", 0))  # the ticket leaves BizCrit: its ladder ends, its clocks' notices do not
    n.reassert()
    await n.attempt(t)
    assert ("workaround_breached", "firing") in kinds(am.posts[-1], now)
    assert ("workaround_at_risk", "firing") not in kinds(am.posts[-1], now)


async def test_a_notice_ends_by_itself_when_its_news_is_over() -> None:
    am = Recorder()
    n, [t], now = clocked(am, notice_lifetime_s=3600)
    at_risk = esc("resolution_at_risk", 1, ticket="T-2", **{**NOTICE, "deadline": "2026-03-02T09:12:00.000Z"})
    n.take(at_risk)
    n.take(esc("next_response_breached", 3, **NOTICE))  # emitted 09:05: ends at 10:05
    await n.attempt(t)
    ends = {a["labels"]["kind"]: a["endsAt"] for a in am.posts[-1]}
    assert ends == {"resolution_at_risk": "2026-03-02T09:12:00.000Z",  # its deadline, before now + 5 min
                    "next_response_breached": "2026-03-02T09:15:00.000Z"}  # re-asserted while it lasts
    now[0] = parse_rfc3339_ms("2026-03-02T09:13:00.000Z")
    n.reassert()
    await n.attempt(t)
    assert kinds(am.posts[-1], now) == [("next_response_breached", "firing")]  # the at-risk one has ended
    now[0] = parse_rfc3339_ms("2026-03-02T10:04:00.000Z")
    n.reassert()
    await n.attempt(t)
    assert am.posts[-1][0]["endsAt"] == "2026-03-02T10:05:00.000Z"  # not a minute past its lifetime
    now[0] = parse_rfc3339_ms("2026-03-02T10:05:00.000Z")
    n.reassert()
    await n.attempt(t)
    assert am.posts[-1] == [] and len(n.open) == 0


async def test_a_notice_read_after_its_news_is_over_is_told_to_nobody() -> None:
    am = Recorder()
    n, [t], _ = clocked(am, notice_lifetime_s=60)
    await n.attempt(t)
    n.take(esc("resolution_breached", 3, **NOTICE))  # emitted 09:05, over at 09:06; now is 09:10
    assert await n.attempt(t) is None and len(n.open) == 0
