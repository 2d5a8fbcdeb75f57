"""Escalations end to end: worker -> sla.escalations -> notifier -> a real Alertmanager -> on-call's webhook.

Alertmanager (Debian's prometheus-alertmanager) runs on 127.0.0.1 with the shipped routing file, only its
receiver URL and wait times changed; the webhook receiver is a small HTTP server inside the test.
"""

from __future__ import annotations

import os
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from pipeline.domain.timefmt import format_rfc3339_ms
from tests.builders import EventFactory, keyed
from tests.integration.alerting import SHIPPED, Alertmanager, Webhook
from tests.integration.conftest import CLI, ROOT, Broker, Topics, collect_unique, free_port, produce

MIN = 60_000


@pytest.fixture
def webhook() -> Iterator[Webhook]:
    hook = Webhook()
    yield hook
    hook.server.shutdown()


@pytest.fixture
def alertmanager(tmp_path: Path, webhook: Webhook) -> Iterator[Alertmanager]:
    am = Alertmanager(tmp_path, webhook).start()
    yield am
    am.stop()


@pytest.fixture
def notifier_factory(broker: Broker, topics: Topics, tmp_path: Path):
    procs: list[subprocess.Popen] = []

    def start(am: Alertmanager) -> subprocess.Popen:
        env = {**os.environ, **topics.env(), "KAFKA_BOOTSTRAP_SERVERS": broker.bootstrap}
        log = open(tmp_path / "notifier.log", "ab")  # noqa: SIM115 - handed to the child
        proc = subprocess.Popen([*CLI, "notify", "--alertmanager-url", am.url, "--metrics-port", str(free_port())],
                                env=env, cwd=ROOT, stdout=log,
                                stderr=subprocess.STDOUT, start_new_session=True)
        log.close()
        procs.append(proc)
        return proc

    yield start
    for proc in procs:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGTERM)
            proc.wait(15)


def now_ms() -> int:
    return int(time.time() * 1000)


async def test_an_unanswered_sev1_pages_on_call_and_resolves_after_the_workaround(
    broker: Broker, topics: Topics, worker_factory, alertmanager: Alertmanager, webhook: Webhook, notifier_factory,
    events: EventFactory,
) -> None:
    worker_factory().start()
    notifier_factory(alertmanager)
    created = events.created("BC-1", now_ms() - 13 * MIN, customer_id="C-17")  # 80 % of its 15 min already used
    await produce(broker.bootstrap, topics.events, [keyed(created)])

    page = webhook.wait_for("/oncall", ticket_id="BC-1", kind="irt_at_risk", level="2")[0]
    assert page["labels"]["severity"] == "page" and page["labels"]["alertname"] == "BizCritIrtAtRisk"
    assert page["annotations"]["runbook_url"].endswith("/runbooks#irt-at-risk")
    assert "unanswered after 12 min" in page["annotations"]["description"]
    warning = webhook.wait_for("/noc", ticket_id="BC-1", kind="irt_at_risk", level="1")[0]
    assert warning["labels"]["severity"] == "warning"
    assert webhook.alerts("/noc", kind="irt_at_risk", level="2") == []  # pages go to on-call only

    await produce(broker.bootstrap, topics.events, [keyed(events.event("ticket.workaround_provided", now_ms(),
                                                                       "BC-1", engineer_id="E-4"))])
    webhook.wait_for("/oncall", status="resolved", ticket_id="BC-1", kind="irt_at_risk", level="2")

    shown = subprocess.run([*CLI, "escalations"], env={**os.environ, **topics.env(),
                           "KAFKA_BOOTSTRAP_SERVERS": broker.bootstrap}, cwd=ROOT, capture_output=True, text=True,
                           timeout=60, check=True).stdout.splitlines()
    assert [row.split()[2] for row in shown] == ["irt_at_risk", "irt_at_risk", "bizcrit_exited"]
    assert "PAGE" in shown[1] and "BC-1" in shown[1]


async def test_alertmanager_down_for_30_s_the_escalation_still_arrives_once(
    broker: Broker, topics: Topics, worker_factory, alertmanager: Alertmanager, webhook: Webhook, notifier_factory,
    events: EventFactory,
) -> None:
    worker_factory().start()
    notifier_factory(alertmanager)
    alertmanager.stop()
    await produce(broker.bootstrap, topics.events, [keyed(events.created("BC-2", now_ms() - 13 * MIN))])
    await collect_unique(broker.bootstrap, topics.escalations, "escalation_id", want=2, timeout=60)
    time.sleep(30)  # Alertmanager is down while the page is due
    alertmanager.start()
    webhook.wait_for("/oncall", ticket_id="BC-2", kind="irt_at_risk", level="2", timeout=90)
    time.sleep(8)  # long enough for any repeat to show up
    assert len(webhook.alerts("/oncall", ticket_id="BC-2", kind="irt_at_risk", level="2")) == 1


async def test_kill_9_between_two_rungs_each_escalation_appears_once(
    broker: Broker, topics: Topics, worker_factory, tmp_path: Path, events: EventFactory,
) -> None:
    policy = tmp_path / "policy.toml"
    policy.write_text("[irt]\ntargets_minutes = { 1 = 1 }\n")  # rungs at 30 s, 48 s and 60 s
    worker = worker_factory(SLA_POLICY_FILE=str(policy)).start()
    created = now_ms() - 25_000
    await produce(broker.bootstrap, topics.events, [keyed(events.created("BC-3", created))])
    await collect_unique(broker.bootstrap, topics.escalations, "escalation_id", want=1, timeout=60)
    time.sleep(4)  # past Faust's commit interval: the first rung's source record is committed
    worker.kill()
    assert now_ms() < created + 48_000, "the kill must fall between the first and the second rung"
    worker.start()
    _, copies = await collect_unique(broker.bootstrap, topics.escalations, "escalation_id", want=3, timeout=120)
    time.sleep(3)
    _, copies = await collect_unique(broker.bootstrap, topics.escalations, "escalation_id", want=3, timeout=10)
    assert {k: len(v) for k, v in copies.items()} == {
        "BC-3:irt_at_risk:1:1": 1, "BC-3:irt_at_risk:2:1": 1, "BC-3:irt_breached:3:1": 1}
    assert copies["BC-3:irt_at_risk:2:1"][0]["emitted_at"] == format_rfc3339_ms(created + 48_000)


def test_shipped_routing_is_valid_and_sends_pages_to_on_call() -> None:
    check = subprocess.run(["amtool", "check-config", str(SHIPPED)], capture_output=True, text=True, check=False)
    assert check.returncode == 0 and "SUCCESS" in check.stdout, check.stdout + check.stderr

    def route(*labels: str) -> str:
        done = subprocess.run(["amtool", "config", "routes", "test", f"--config.file={SHIPPED}", *labels],
                              capture_output=True, text=True, check=True)
        return done.stdout.strip()

    assert route("severity=page", "kind=irt_breached") == "oncall"
    assert route("severity=page", "kind=bizcrit_executive") == "oncall"
    assert route("severity=warning", "kind=irt_at_risk") == "noc"
    assert route("severity=warning", "kind=bizcrit_tier3") == "noc"
    assert route("alertname=SLAWatchdog", "severity=none") == "deadmansswitch"
    assert route("alertname=SLAInputSilent", "severity=warning") == "noc"
