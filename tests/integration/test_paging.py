"""A paging path that keeps paging: the notifier against real Alertmanagers and the real broker.

Escalation records are produced straight to the escalations topic (the worker's side is tested elsewhere),
so each test controls exactly what on-call should be told.
"""

from __future__ import annotations

import asyncio
import base64
import json
import os
import ssl
import subprocess
import time
import urllib.request
from pathlib import Path

from aiokafka import AIOKafkaConsumer, TopicPartition

from pipeline.domain.records import Escalation
from pipeline.domain.timefmt import format_rfc3339_ms
from pipeline.kafka.admin import ensure_topics
from pipeline.notify import NotifierMetrics, NotifyConfig, run
from tests.integration.alerting import SHIPPED, Alertmanager, Webhook
from tests.integration.conftest import CLI, ROOT, Broker, Topics, free_port, produce
from tests.tls import make_pki

PASSWORD = "paging-secret"
PASSWORD_BCRYPT = "$2b$10$6Nhgr/R109WR1t7UbIogR.oZBBiDw0LqXs7jWzVUsnMJ7C5m72g36"  # of PASSWORD, cost 10


def escalation(ticket: str, kind: str = "irt_at_risk", level: int = 2, **fields: object) -> tuple[bytes, bytes]:
    now = format_rfc3339_ms(int(time.time() * 1000))
    esc = Escalation(**{
        "escalation_id": f"{ticket}:{kind}:{level}:1", "cycle": 1, "ticket_id": ticket, "kind": kind, "level": level,
        "severity": 1, "product": "automation", "customer_id": "C-17", "fastlane": False, "engineer_id": None,
        "deadline": now, "budget_used": 0.8 if kind.endswith("_at_risk") else None,
        "reason": f"Sev1 ticket {ticket} test escalation", "emitted_at": now, **fields})
    return ticket.encode(), esc.encode()


async def wait_for(hook: Webhook, path: str, status: str = "firing", timeout: float = 60, **labels: str) -> list[dict]:
    return await asyncio.to_thread(hook.wait_for, path, status, timeout, **labels)


def active_alerts(am: Alertmanager, notices: bool = False) -> list[dict]:
    """The ladder's alerts Alertmanager holds as active (or, with ``notices``, the contract notices)."""
    with urllib.request.urlopen(f"{am.url}/api/v2/alerts?active=true", timeout=5) as resp:
        return [a for a in json.load(resp)
                if (a["labels"].get("notice") == "true" if notices else a["labels"]["alertname"].startswith("BizCrit"))]


async def committed_everything(bootstrap: str, topic: str, group: str) -> bool:
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, group_id=group, enable_auto_commit=False)
    await consumer.start()
    try:
        tps = [TopicPartition(topic, p) for p in consumer.partitions_for_topic(topic) or ()]
        ends = await consumer.end_offsets(tps)
        committed = {tp: await consumer.committed(tp) or 0 for tp in tps}
        return committed == ends
    finally:
        await consumer.stop()


async def test_alertmanagers_down_for_longer_than_the_poll_interval_miss_nothing_and_page_once(
    broker: Broker, topics: Topics, tmp_path: Path,
) -> None:
    hook_a, hook_b = Webhook(), Webhook()
    am_a, am_b = Alertmanager(tmp_path / "a", hook_a), Alertmanager(tmp_path / "b", hook_b)
    await ensure_topics(broker.bootstrap, {topics.escalations: 2})
    metrics, stopping = NotifierMetrics(), asyncio.Event()
    group = f"{topics.app_id}-notifier"
    config = NotifyConfig(alertmanager_urls=(am_a.url, am_b.url), reassert_s=5, max_backoff_s=2)
    # aiokafka drops a consumer from its group when it does not poll for max_poll_interval_ms: 10 s here
    notifier = asyncio.create_task(run(broker.bootstrap, topics.escalations, group, config, stopping, metrics,
                                       max_poll_interval_ms=10_000))
    try:
        await produce(broker.bootstrap, topics.escalations,
                      [escalation("BC-10"), (b"BC-x", b"{not an escalation"), escalation("BC-11")])
        await asyncio.sleep(25)  # both Alertmanagers down for 2.5 poll intervals
        assert not notifier.done()
        assert await committed_everything(broker.bootstrap, topics.escalations, group)  # still in its group

        await asyncio.to_thread(am_a.start)
        await wait_for(hook_a, "/oncall", ticket_id="BC-10")
        await wait_for(hook_a, "/oncall", ticket_id="BC-11")
        await produce(broker.bootstrap, topics.escalations, [escalation("BC-10", "bizcrit_exited", 0)])
        await wait_for(hook_a, "/oncall", status="resolved", ticket_id="BC-10")

        await asyncio.to_thread(am_b.start)  # back after 40 s: told what is firing, and that BC-10 ended
        await wait_for(hook_b, "/oncall", ticket_id="BC-11")
        await produce(broker.bootstrap, topics.escalations, [escalation("BC-12")])
        await wait_for(hook_a, "/oncall", ticket_id="BC-12")
        await wait_for(hook_b, "/oncall", ticket_id="BC-12")
        await asyncio.sleep(7)  # past a re-assertion: any repeat would show now
        for hook in (hook_a, hook_b):
            assert len(hook.alerts("/oncall", ticket_id="BC-11")) == 1
            assert len(hook.alerts("/oncall", ticket_id="BC-12")) == 1
        assert hook_b.alerts("/oncall", ticket_id="BC-10") == []  # it ended before B was back: nobody paged
        assert {a["labels"]["ticket_id"] for a in active_alerts(am_b)} == {"BC-11", "BC-12"}
        assert metrics.malformed._value.get() == 1
        for am in (am_a, am_b):
            name = am.url
            assert metrics.posts.labels(name, "failed")._value.get() >= 2
            assert metrics.posts.labels(name, "accepted")._value.get() >= 2
            assert metrics.posts.labels(name, "rejected")._value.get() == 0
        assert not notifier.done()
    finally:
        stopping.set()
        await asyncio.wait_for(notifier, 30)  # a clean stop: no exception
        am_a.stop(), am_b.stop()
        hook_a.server.shutdown(), hook_b.server.shutdown()


async def test_a_notifier_that_takes_over_partitions_keeps_their_alerts_firing(
    broker: Broker, topics: Topics, tmp_path: Path,
) -> None:
    hook = Webhook()
    am = Alertmanager(tmp_path / "am", hook)
    await asyncio.to_thread(am.start)
    await ensure_topics(broker.bootstrap, {topics.escalations: 4})
    group = f"{topics.app_id}-notifier"
    # alerts end 6 s after the last re-assertion unless asserted again
    config = NotifyConfig(alertmanager_urls=(am.url,), reassert_s=2, ttl_intervals=3)
    first_stop, second_stop = asyncio.Event(), asyncio.Event()
    first = asyncio.create_task(run(broker.bootstrap, topics.escalations, group, config, first_stop))
    second = None
    tickets = {f"TO-{i}" for i in range(12)}
    try:
        records = await produce(broker.bootstrap, topics.escalations, [escalation(t) for t in sorted(tickets)])
        assert len({m.partition for m in records}) >= 3
        for t in tickets:
            await wait_for(hook, "/oncall", ticket_id=t)
        second = asyncio.create_task(run(broker.bootstrap, topics.escalations, group, config, second_stop))
        await asyncio.sleep(8)  # the group rebalances: each notifier rebuilds the alerts of its partitions
        first_stop.set()
        await asyncio.wait_for(first, 30)  # the second takes over every partition
        await asyncio.sleep(12)  # two alert lifetimes: whatever nobody re-asserts has ended by now
        assert {a["labels"]["ticket_id"] for a in active_alerts(am)} == tickets
        assert all(len(hook.alerts("/oncall", ticket_id=t)) == 1 for t in tickets)  # and no page came twice
        assert hook.alerts("/oncall", status="resolved") == []
    finally:
        first_stop.set(), second_stop.set()
        await asyncio.gather(first, *([second] if second else []), return_exceptions=True)
        am.stop()
        hook.server.shutdown()


def metric(port: int, name: str, **labels: str) -> float:
    from prometheus_client.parser import text_string_to_metric_families

    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as resp:
        text = resp.read().decode()
    return sum(s.value for f in text_string_to_metric_families(text) for s in f.samples
               if s.name == name and all(s.labels.get(k) == v for k, v in labels.items()))


async def test_an_alertmanager_behind_tls_and_basic_auth_gets_pages_and_a_wrong_password_is_not_retried(
    broker: Broker, topics: Topics, tmp_path: Path,
) -> None:
    pki = make_pki(tmp_path / "pki")
    web = tmp_path / "web.yml"
    web.write_text(f"tls_server_config:\n  cert_file: {pki.ca.parent / 'broker.pem'}\n"
                   f"  key_file: {pki.ca.parent / 'broker.key'}\nbasic_auth_users:\n  sla: '{PASSWORD_BCRYPT}'\n")
    hook = Webhook()
    am = Alertmanager(tmp_path / "am", hook, web_config=web)
    await asyncio.to_thread(am.start)
    (tmp_path / "right").write_text(PASSWORD + "\n")
    (tmp_path / "wrong").write_text("not-" + PASSWORD + "\n")
    await produce(broker.bootstrap, topics.escalations, [escalation("TLS-1")])
    procs: list[subprocess.Popen] = []

    def notifier(password: Path, app_id: str) -> int:
        port = free_port()
        env = {**os.environ, **topics.env(), "KAFKA_BOOTSTRAP_SERVERS": broker.bootstrap, "SLA_APP_ID": app_id,
               "SLA_ALERTMANAGER_URLS": am.url, "SLA_ALERTMANAGER_BASIC_AUTH_USERNAME": "sla",
               "SLA_ALERTMANAGER_BASIC_AUTH_PASSWORD_FILE": str(password), "SLA_ALERTMANAGER_CA_FILE": str(pki.ca),
               "SLA_NOTIFIER_PORT": str(port)}
        log = open(tmp_path / f"{app_id}.log", "ab")  # noqa: SIM115 - handed to the child
        procs.append(subprocess.Popen([*CLI, "notify"], env=env, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT))
        log.close()
        return port

    try:
        right = notifier(tmp_path / "right", f"{topics.app_id}-right")
        page = await wait_for(hook, "/oncall", ticket_id="TLS-1")
        assert page[0]["labels"]["severity"] == "page"
        assert metric(right, "sla_notifier_posts_total", result="accepted") >= 1

        wrong = notifier(tmp_path / "wrong", f"{topics.app_id}-wrong")
        wrong_log = tmp_path / f"{topics.app_id}-wrong.log"
        deadline = time.monotonic() + 60
        while "refused 1 alerts and they are not retried: HTTP 401" not in wrong_log.read_text():  # TLS-1's post
            assert time.monotonic() < deadline, wrong_log.read_text()
            await asyncio.sleep(0.5)
        refused = metric(wrong, "sla_notifier_posts_total", result="rejected")
        await asyncio.sleep(5)  # a retried post would have come again by now (backoff starts at 0.5 s)
        # no retry came (they would within 5 s: 0.5, 1, 2 s); the refused posts before were TLS-1's and the start's
        # empty one, and on a slow machine a re-assertion after the consumer's first rebalance
        assert metric(wrong, "sla_notifier_posts_total", result="rejected") == refused >= 1
        assert metric(wrong, "sla_notifier_posts_total", result="failed") == 0
        log = wrong_log.read_text()
        assert PASSWORD not in log and base64.b64encode(f"sla:not-{PASSWORD}".encode()).decode() not in log
        with_ca = ssl.create_default_context(cafile=str(pki.ca))
        request = urllib.request.Request(f"{am.url}/api/v2/alerts", headers={
            "Authorization": "Basic " + base64.b64encode(f"sla:{PASSWORD}".encode()).decode()})
        with urllib.request.urlopen(request, context=with_ca, timeout=5) as resp:
            assert [a["labels"]["ticket_id"] for a in json.load(resp)] == ["TLS-1"]
    finally:
        for proc in procs:
            proc.terminate()
            proc.wait(30)
        am.stop()
        hook.server.shutdown()


def test_shipped_routing_sends_notices_apart_from_pages() -> None:
    """Notices go to their own receivers, matched before pages: no label a notice carries can page."""

    def route(*labels: str) -> str:
        done = subprocess.run(["amtool", "config", "routes", "test", f"--config.file={SHIPPED}", *labels],
                              capture_output=True, text=True, check=True)
        return done.stdout.strip()

    for kind in ("next_response_at_risk", "next_response_breached", "workaround_breached", "resolution_breached"):
        assert route("notice=true", "severity=warning", f"kind={kind}", "contract=gold") == "notices"
    assert route("notice=true", "severity=page", "kind=resolution_breached") == "notices"  # never the pager
    assert route("notice=true", "severity=warning", "kind=allowance_exceeded", "customer_id=C-17") == "account-team"
    assert route("severity=page", "kind=irt_breached") == "oncall"  # the ladder still pages
    assert route("severity=warning", "kind=irt_at_risk") == "noc"


async def test_notices_reach_their_receivers_as_warnings_once_and_never_the_pager(
    broker: Broker, topics: Topics, tmp_path: Path,
) -> None:
    hook = Webhook()
    am = Alertmanager(tmp_path / "am", hook)
    await asyncio.to_thread(am.start)
    stopping = asyncio.Event()
    config = NotifyConfig(alertmanager_urls=(am.url,), reassert_s=2)
    notifier = asyncio.create_task(run(broker.bootstrap, topics.escalations, f"{topics.app_id}-notifier", config,
                                       stopping))
    in_an_hour = format_rfc3339_ms(int(time.time() * 1000) + 3_600_000)
    try:
        await produce(broker.bootstrap, topics.escalations, [
            escalation("NT-1", "next_response_breached", 3, severity=2, contract="gold"),
            escalation("NT-2", "resolution_at_risk", 1, contract="gold", deadline=in_an_hour),
            escalation("NT-3", "allowance_exceeded", 1, contract="gold",
                       escalation_id="C-17:allowance_exceeded:2026-03"),
            escalation("PG-1"),  # a page beside them
        ])
        breach = (await wait_for(hook, "/notices", ticket_id="NT-1"))[0]
        assert {k: breach["labels"][k] for k in ("severity", "notice", "metric", "contract", "level")} == {
            "severity": "warning", "notice": "true", "metric": "next_response", "contract": "gold", "level": "3"}
        await wait_for(hook, "/notices", ticket_id="NT-2", kind="resolution_at_risk")
        over = (await wait_for(hook, "/account-team", customer_id="C-17", month="2026-03"))[0]
        assert over["labels"]["severity"] == "warning" and over["annotations"]["ticket_id"] == "NT-3"
        await wait_for(hook, "/oncall", ticket_id="PG-1")  # the pager still gets pages

        await produce(broker.bootstrap, topics.escalations, [escalation("NT-2", "resolution_breached", 3,
                                                                        contract="gold")])
        await wait_for(hook, "/notices", ticket_id="NT-2", kind="resolution_breached")
        deadline = time.monotonic() + 30
        while ("resolution_at_risk", "NT-2") in {(a["labels"]["kind"], a["labels"].get("ticket_id"))
                                                 for a in active_alerts(am, notices=True)}:
            assert time.monotonic() < deadline, "the breach did not end the clock's at-risk notice"
            await asyncio.sleep(0.5)
        await asyncio.sleep(5)  # past two re-assertions and many group intervals: a repeat would show now
        told = {(a["labels"]["kind"], a["labels"].get("ticket_id")) for a in active_alerts(am, notices=True)}
        assert told == {("next_response_breached", "NT-1"), ("resolution_breached", "NT-2"),
                        ("allowance_exceeded", None)}
        assert [a["labels"]["ticket_id"] for a in hook.alerts("/oncall")] == ["PG-1"]  # no notice ever paged
        assert hook.alerts("/noc") == []
        for path, labels in (("/notices", {"ticket_id": "NT-1"}), ("/notices", {"kind": "resolution_at_risk"}),
                             ("/notices", {"kind": "resolution_breached"}), ("/account-team", {"customer_id": "C-17"})):
            assert len(hook.alerts(path, **labels)) == 1, (path, labels)  # each told once
    finally:
        stopping.set()
        await asyncio.wait_for(notifier, 30)
        am.stop()
        hook.server.shutdown()
