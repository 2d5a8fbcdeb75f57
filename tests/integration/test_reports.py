"""The support manager's reviews, read from the topics after a worker processed three simulated days: each
report's numbers equal those the pure core computes for the same period, counted to the same event-time
clock (the latest instant the pipeline judged, which the command line and the worker both read from the
topics), from the command line and from the worker's /reports pages, and each HTML report renders in a
real browser (headless Chromium) with no console error and every chart drawn. Screenshots go to
test-artifacts/reports/ (and, with SLA_UPDATE_SCREENSHOTS=1, to docs/reports/ for the README)."""

from __future__ import annotations

import asyncio
import hashlib
import os
import subprocess
import urllib.error
import urllib.request
from pathlib import Path

import orjson
import pytest
from aiokafka import AIOKafkaProducer

from pipeline.domain.policy import Policy
from pipeline.domain.timefmt import parse_rfc3339_ms
from pipeline.reports import build, debrief, period, source
from pipeline.simulate.generator import events
from pipeline.simulate.profile import load_profile
from tests.integration import browser
from tests.integration.conftest import CLI, ROOT, Broker, Topics, read_unique
from tests.scenario import core_records

START = parse_rfc3339_ms("2026-03-02T00:00:00Z")  # a Monday
DAY = 86_400_000
ZONE = "Europe/Berlin"
PERIODS = {"debrief": ("--date", "2026-03-03"), "dsat": ("--week", "2026-W10"), "monthly": ("--month", "2026-03")}
CHARTS = {"debrief": 1, "dsat": 3, "monthly": 1}
ARTIFACTS = ROOT / "test-artifacts" / "reports"


async def publish(bootstrap: str, topic: str, docs: list[dict], partitions: int = 4) -> None:
    """As an upstream system does: keyed by ticket, stamped with occurred_at; placed as core_records places
    them (heartbeats on every partition)."""
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all", linger_ms=20)
    await producer.start()
    try:
        pending = []
        for d in docs:
            key = d.get("ticket_id", "").encode()
            beat = d["type"] == "heartbeat" and "ticket_id" not in d
            for p in range(partitions) if beat else [int(hashlib.md5(key).hexdigest(), 16) % partitions]:
                pending.append(await producer.send(topic, orjson.dumps(d), key=key or None, partition=p,
                                                   timestamp_ms=parse_rfc3339_ms(d["occurred_at"])))
        await asyncio.gather(*pending)
    finally:
        await producer.stop()


def expected(kind: str, core, now: int) -> dict:  # noqa: ANN001
    span = period.parse({"debrief": "day", "dsat": "week", "monthly": "month"}[kind], PERIODS[kind][1], ZONE, now)
    if kind == "debrief":
        return debrief.debrief(span, core.events, core.outcomes, core.escalations, Policy())
    if kind == "dsat":
        return build.dsat_review(span, core.dsat)
    return build.monthly(span, core.outcomes, core.escalations, core.facts, Policy())


async def test_reports_from_the_topics_equal_the_pure_core_and_render_in_a_browser(
    broker: Broker, topics: Topics, worker_factory, tmp_path: Path,
) -> None:
    docs = list(events(load_profile(), 3, START, START + 3 * DAY))
    surveys = [d for d in docs if d["type"] == "ticket.survey_submitted"]
    for i, d in enumerate(surveys[::3]):  # the customer's words on a third of the surveys (our contract addition)
        d["comment"] = f"comment {i}: <not markup> & more"
    end = {"event_id": "end", "type": "heartbeat", "occurred_at": "2026-03-09T00:00:00Z"}  # every deadline passed
    docs.append(end)
    core = core_records(docs)
    token = tmp_path / "token"
    token.write_text("s3cret-token\n")
    worker = worker_factory(SLA_CLOCK="event", SLA_REPORT_TIMEZONE=ZONE, SLA_STACKRANK_TOKEN_FILE=str(token)).start()
    await publish(broker.bootstrap, topics.events, docs)
    for topic, field, records in ((topics.outcomes, "outcome_id", core.outcomes),
                                  (topics.escalations, "escalation_id", core.escalations),
                                  (topics.dsat, "review_id", core.dsat),
                                  (f"{topics.app_id}-engineer-facts", "fact_id", core.facts)):
        want = len({getattr(r, field) for r in records})
        got = await read_unique(broker.bootstrap, topic, field, want=want, timeout=240)
        assert len(got) == want, f"{topic}: {len(got)} of {want}"

    # the clock that judges: the latest instant the core decided, which the reports find on the topics
    judged = max([parse_rfc3339_ms(o.decided_at) for o in core.outcomes] + [f.at for f in core.facts]
                 + [parse_rfc3339_ms(e.emitted_at) for e in core.escalations])
    facts = f"{topics.app_id}-engineer-facts"
    assert await source.judged_until(broker.bootstrap, {topics.outcomes: "decided_at", facts: "at",
                                                        topics.escalations: "emitted_at"}) == judged
    env = {**os.environ, **topics.env(), "KAFKA_BOOTSTRAP_SERVERS": broker.bootstrap, "SLA_REPORT_TIMEZONE": ZONE,
           "SLA_CLOCK": "event"}
    out = tmp_path / "reports"
    for kind, (flag, value) in PERIODS.items():
        want = expected(kind, core, judged)
        assert want["report"] == kind
        for fmt in ("json", "html", "csv"):
            done = subprocess.run([*CLI, "report", kind, flag, value, "--format", fmt, "--out", str(out)], env=env,
                                  cwd=ROOT, capture_output=True, text=True, timeout=180, check=False)
            assert done.returncode == 0, done.stdout + done.stderr
            assert "made in" in done.stderr
        got = orjson.loads((out / f"{kind}-{value}.json").read_bytes())
        assert got == want, f"{kind}: the report from the topics differs from the pure core's"
        # the same from the worker's page, behind the token
        url = f"http://127.0.0.1:{worker.port}/reports/{kind}?{flag[2:]}={value}&format=json"
        with pytest.raises(urllib.error.HTTPError) as refused:
            urllib.request.urlopen(url, timeout=60)
        assert refused.value.code == 401
        request = urllib.request.Request(url, headers={"Authorization": "Bearer s3cret-token"})
        with urllib.request.urlopen(request, timeout=120) as resp:
            assert orjson.loads(resp.read()) == want
    day_report = orjson.loads((out / "debrief-2026-03-03.json").read_bytes())
    assert day_report["period"]["complete"] and not want["period"]["complete"]  # the month is not over
    assert day_report["summary"]["tickets"] > 0 and day_report["summary"]["irt_breaches"] > 0  # a day worth debriefing
    assert any(r["comment"] for r in orjson.loads((out / "dsat-2026-W10.json").read_bytes())["reviews"])
    assert (out / "monthly-2026-03.irt_compliance.csv").read_text().startswith("scope,key,tickets,met,breached")

    if browser.chromium() is None:
        pytest.fail("chromium is missing: scripts/bootstrap.sh test installs it")
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    for kind, (_, value) in PERIODS.items():
        page = out / f"{kind}-{value}.html"
        seen = await browser.view(page.as_uri())
        assert seen.errors == [], f"{kind}: {seen.errors}"
        assert len(seen.charts) == CHARTS[kind], f"{kind}: {seen.charts}"
        assert all(c["width"] > 100 and c["height"] > 50 and c["paths"] > 0 for c in seen.charts), seen.charts
        assert seen.screenshot.startswith(b"\x89PNG")
        shot = ARTIFACTS / f"{kind}.png"
        shot.write_bytes(seen.screenshot)
        if os.environ.get("SLA_UPDATE_SCREENSHOTS") == "1":  # the README's, in 256 colours (a third the size)
            from PIL import Image

            (ROOT / "docs" / "reports").mkdir(parents=True, exist_ok=True)
            Image.open(shot).convert("P", palette=Image.Palette.ADAPTIVE, colors=256).save(
                ROOT / "docs" / "reports" / f"{kind}.png", optimize=True)


def test_an_empty_period_is_an_honest_empty_report_not_an_error(broker: Broker, topics: Topics,
                                                                 tmp_path: Path) -> None:
    env = {**os.environ, **topics.env(), "KAFKA_BOOTSTRAP_SERVERS": broker.bootstrap}
    for kind, (flag, value) in PERIODS.items():
        done = subprocess.run([*CLI, "report", kind, flag, value, "--format", "json", "--out", str(tmp_path)],
                              env=env, cwd=ROOT, capture_output=True, text=True, timeout=120, check=False)
        assert done.returncode == 0, done.stdout + done.stderr
        got = orjson.loads((tmp_path / f"{kind}-{value}.json").read_bytes())
        assert got["report"] == kind
    assert orjson.loads((tmp_path / "debrief-2026-03-03.json").read_bytes())["tickets"] == []
    wrong = subprocess.run([*CLI, "report", "dsat", "--date", "2026-03-03"], env=env, cwd=ROOT,
                           capture_output=True, text=True, timeout=60, check=False)
    assert wrong.returncode == 2 and "--date: belongs to the debrief report, not dsat" in wrong.stderr


STATEMENT_POLICY = """\
[contracts.gold]
goal = 0.99
goals = { resolution = 0.95 }
pause_while_waiting = ["resolution"]
critical_incidents_per_month = 2
[contracts.gold.targets_minutes]
irt           = { 1 = 10, 2 = 30, 3 = 120, 4 = 480 }
next_response = { 1 = 30, 2 = 120, 3 = 480 }
workaround    = { 1 = 240, 2 = 1440 }
resolution    = { 1 = 1440, 2 = 4320, 3 = 10080 }

[contracts.standard]
fastlane_multiplier = 1
goals = { resolution = 0.9 }
[contracts.standard.targets_minutes]
irt        = { 1 = 15, 2 = 60 }
resolution = { 2 = 7200, 3 = 14400 }

[contract_for]
default = "standard"
"""


async def test_a_customer_statement_from_the_topics_equals_the_pure_one_and_opens_in_a_browser(
    broker: Broker, topics: Topics, worker_factory, tmp_path: Path,
) -> None:
    from pipeline.domain.policy import load_policy
    from pipeline.reports import statement
    from tests.integration.conftest import produce
    from tests.unit.test_statement import march

    policy_file = tmp_path / "policy.toml"
    policy_file.write_text(STATEMENT_POLICY)
    policy = load_policy(policy_file)
    token = tmp_path / "token"
    token.write_text("s3cret-token\n")
    worker = worker_factory(SLA_CLOCK="event", SLA_POLICY_FILE=str(policy_file),
                            SLA_REPORTS_TOKEN_FILE=str(token)).start()  # it makes the topics, as in production
    records = march()  # hand-made outcome records of customer GOLD-1 (and others), published as the pipeline does
    for o in records:
        await produce(broker.bootstrap, topics.outcomes, [(o.ticket_id.encode(), o.encode())],
                      timestamp_ms=parse_rfc3339_ms(o.decided_at))
    judged = max(parse_rfc3339_ms(o.decided_at) for o in records)  # the clock that judges, as the topics show it
    want = statement.statement(period.parse("month", "2026-03", "UTC", judged), "GOLD-1", records, policy)
    assert [c["contract"] for c in want["contracts"]] == ["gold", "standard"] and want["summary"]["breaches"] == 4

    env = {**os.environ, **topics.env(), "KAFKA_BOOTSTRAP_SERVERS": broker.bootstrap, "SLA_CLOCK": "event",
           "SLA_POLICY_FILE": str(policy_file)}
    files = {}
    for fmt in ("json", "csv", "html"):
        files[fmt] = tmp_path / f"GOLD-1-2026-03.{fmt}"
        done = subprocess.run([*CLI, "report", "statement", "--customer", "GOLD-1", "--month", "2026-03",
                               "--format", fmt, "--out", str(files[fmt])], env=env, cwd=ROOT, capture_output=True,
                              text=True, timeout=180, check=False)
        assert done.returncode == 0, done.stdout + done.stderr
    assert orjson.loads(files["json"].read_bytes()) == want
    assert files["csv"].read_text().startswith("customer_id,month,line,contract,metric,severity,ticket_id,")

    # the same from the worker's page, behind the reports token
    url = f"http://127.0.0.1:{worker.port}/reports/statement?customer=GOLD-1&month=2026-03&format=json"
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(url, timeout=60)
    assert refused.value.code == 401
    with urllib.request.urlopen(f"{url}&token=s3cret-token", timeout=120) as resp:
        assert orjson.loads(resp.read()) == want

    if browser.chromium() is None:
        pytest.fail("chromium is missing: scripts/bootstrap.sh test installs it")
    seen = await browser.view(files["html"].as_uri(), probe="""
        ({h2: Array.from(document.querySelectorAll('h2')).map(h => h.textContent),
          breaches: Array.from(document.querySelectorAll('table')).filter(t => t.rows[0].cells[0].textContent
                      === 'ticket').map(t => t.rows.length - 1),
          widest: Math.max(...Array.from(document.querySelectorAll('table')).map(t => t.scrollWidth)),
          page: document.documentElement.clientWidth})""")
    assert seen.errors == [], seen.errors
    assert seen.title == "SLA statement: GOLD-1, 2026-03"
    assert seen.probe["h2"] == ["Contract gold", "Contract standard"]
    assert seen.probe["breaches"] == [4]  # standard had none: its section says so instead of an empty table
    assert seen.probe["widest"] <= seen.probe["page"]  # nothing runs off the page
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    shot = ARTIFACTS / "statement.png"
    shot.write_bytes(seen.screenshot)
    if os.environ.get("SLA_UPDATE_SCREENSHOTS") == "1":
        from PIL import Image

        Image.open(shot).convert("P", palette=Image.Palette.ADAPTIVE, colors=256).save(
            ROOT / "docs" / "reports" / "statement.png", optimize=True)
