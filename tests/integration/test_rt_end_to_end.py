"""Request Tracker 5 end to end (issue 27, contract v3 section 11): a real RT (tests/integration/rt.py) with
the project's scrip posting every transaction to ``sla-pipeline ingest``, a worker judging what arrives.

* Tickets opened over REST 2 by the customer, a customer reply by mail (rt-mailgate-5), staff replies,
  assignment, priority and status changes: the outcomes on ``sla.outcomes`` are exactly those the pure core
  decides for the events read back from ``tickets.events``.
* RT's own SLA (``%ServiceAgreements``, the same business hours as the pipeline's calendar) against the
  pipeline's IRT deadline: to the second, and where they differ (a deadline that falls on a closing
  instant), exactly as Business::Hours counts.
* The gateway down: a staff reply is lost (RT's scrip posts once); ``sla-pipeline ingest catchup --source rt
  --ticket N`` publishes it, and a second run repeats it only by id.

Event-time clock: RT stamps every transaction in whole seconds, and the worker and the pure core then judge
the same records on the same clock, so the comparison is exact (with the wall clock a deadline would be
decided whenever the test happens to look). A final heartbeat moves every partition past the deadlines.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import signal
import subprocess
import time
import urllib.request
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import orjson
import pytest

from pipeline.domain import calendar
from pipeline.domain.policy import load_policy
from pipeline.domain.timefmt import parse_rfc3339_ms
from pipeline.kafka.tail import Tail
from tests import scenario
from tests.integration import rt as rtlib
from tests.integration.conftest import (
    CLI,
    ROOT,
    VERSIONS,
    Broker,
    Topics,
    collect_unique,
    free_port,
    partition_count,
    produce,
)

SECOND, MINUTE = 1000, 60_000
DAY_NAMES = ("mon", "tue", "wed", "thu", "fri")
SCRIP = ROOT / "pipeline/resources/ingest/rt-scrip-data.pl"


def rt_calendar() -> calendar.Calendar:
    """The pipeline's calendar for RT's business hours (built from the same constants as RT's config)."""
    start, end = rtlib.HOURS
    return calendar.parse("rt", {"timezone": rtlib.ZONE, "hours": {d: [f"{start}-{end}"] for d in DAY_NAMES},
                                 "holidays": list(rtlib.HOLIDAYS)})


def local(text: str) -> int:
    """Epoch ms of a wall-clock time in RT's zone, e.g. ``2026-12-04T16:30``."""
    return int(datetime.fromisoformat(text).replace(tzinfo=ZoneInfo(rtlib.ZONE)).timestamp() * 1000)


def business_seconds_rule(cal: calendar.Calendar, start_ms: int, amount_ms: int) -> int:
    """RT's Due as Business::Hours computes it: business time is a set of whole seconds (a range 08:00-17:00
    is the seconds 08:00:00 .. 16:59:59) and ``add_seconds(start, n)`` is the n-th of them after ``start``
    (counting from 0), i.e. the second *after* the n counted ones: one second more of calendar time, less
    that second. It equals the pipeline's deadline except when that is a closing instant: RT then gives
    the next opening."""
    return calendar.reached(cal, start_ms, amount_ms + SECOND) - SECOND


@dataclasses.dataclass(frozen=True)
class Instance:
    """The module's RT and what its scrip was told: where the gateway listens, the secret it signs with."""

    rt: rtlib.RT
    gateway_port: int
    secret_file: Path


@pytest.fixture(scope="module")
def rt_instance(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Instance]:
    """One RT for the module, its scrip pointed at a gateway port the end-to-end test serves on."""
    reason = rtlib.available()
    if reason is not None:
        pytest.fail(reason)
    workdir = tmp_path_factory.mktemp("rt")
    gateway_port = free_port()
    secret_file = workdir / "rt-secret"
    secret_file.write_text("rt-webhook-secret-for-the-test")
    settings = {"SLAIngestURL": f"http://127.0.0.1:{gateway_port}/v1/webhooks/rt",
                "SLAIngestSecret": secret_file.read_text(), "SLAIngestTimeout": "5"}
    with rtlib.running_rt(workdir / "instance", free_port(), settings, scrip=SCRIP) as rt:
        yield Instance(rt, gateway_port, secret_file)


# Instants in RT's zone; each is a Gold ticket's creation (a response due within 60 business minutes).
CREATED = {
    "inside the hours": "2026-12-03T10:15:00",
    "Friday afternoon, over the weekend": "2026-12-04T16:30:00",
    "Saturday: counting starts Monday 08:00": "2026-12-05T10:00:00",
    "half a minute before opening": "2026-12-07T07:59:30",
    "a second before the last hour": "2026-12-07T15:59:59",
    "a second into the last hour": "2026-12-07T16:00:01",
    "before the Christmas holidays and a weekend": "2026-12-23T16:30:00",
    "across the end of summer time": "2026-10-23T16:45:00",
    "the last hour exactly (due on a closing instant)": "2026-12-07T16:00:00",
}


def test_rt_due_and_the_pipeline_irt_deadline_agree_to_the_second(rt_instance: Instance) -> None:
    cal = rt_calendar()
    target = rtlib.GOLD_RESPONSE_MINUTES * MINUTE
    starts = {name: local(at) for name, at in CREATED.items()}
    # RT's own SLA code, through its Perl API, for every instant in one run (RT::SLA->Due as SLA_SetDue calls it)
    code = "".join(f'print RT::SLA->Due(Level => "Gold", Type => "Response", Time => {ms // SECOND}), "\\n";'
                   for ms in starts.values())
    rt_due = dict(zip(starts, (int(line) * SECOND for line in rt_instance.rt.perl(code).split()), strict=True))
    pipeline_due = {name: calendar.reached(cal, ms, target) for name, ms in starts.items()}

    assert rt_due["Friday afternoon, over the weekend"] == local("2026-12-07T08:30:00")  # RT-NOTES, measured
    assert rt_due["Saturday: counting starts Monday 08:00"] == local("2026-12-07T09:00:00")
    assert rt_due["before the Christmas holidays and a weekend"] == local("2026-12-28T08:30:00")
    assert rt_due["across the end of summer time"] == local("2026-10-26T08:45:00")
    closing = "the last hour exactly (due on a closing instant)"
    agree = {name: (rt_due[name], pipeline_due[name]) for name in starts if name != closing}
    assert {n: a for n, a in agree.items() if a[0] != a[1]} == {}, "RT's Due and the pipeline's deadline differ"
    # the one difference: the pipeline is due at 17:00:00 (the contract's section 9: the end of the range),
    # RT at the next opening, since it counts the 3,600 business seconds 16:00:00 .. 16:59:59 and answers the
    # second after them, which is Tuesday 08:00:00
    assert pipeline_due[closing] == local("2026-12-07T17:00:00")
    assert rt_due[closing] == local("2026-12-08T08:00:00")
    # and RT's rule, written against the pipeline's calendar, gives every one of RT's answers
    assert {n: business_seconds_rule(cal, ms, target) for n, ms in starts.items()} == rt_due


# --- the gateway, and the end to end test ------------------------------------------------------------------
POLICY = """
# RT's business hours as a pipeline calendar, for Sev2 (RT priorities 70-89 in the shipped rt.toml): their
# IRT target, 60 minutes, is RT's Gold response time
[calendars.rt]
timezone = "%(zone)s"
holidays = [%(holidays)s]
[calendars.rt.hours]
%(hours)s

[calendar_for]
rules = [ { severity = [2], calendar = "rt" } ]
"""
PRIORITY = {1: 95, 2: 75, 3: 50, 4: 10}  # an RT priority in each range of the shipped rt.toml's [severity]


def write_policy(directory: Path) -> Path:
    start, end = rtlib.HOURS
    path = directory / "policy.toml"
    path.write_text(POLICY % {"zone": rtlib.ZONE, "holidays": ", ".join(f'"{h}"' for h in rtlib.HOLIDAYS),
                              "hours": "\n".join(f'{d} = ["{start}-{end}"]' for d in DAY_NAMES)})
    return path


class Gateway:
    """``sla-pipeline ingest`` serving RT's webhook, and its catch-up, as subprocesses."""

    def __init__(self, broker: Broker, topics: Topics, instance: Instance, workdir: Path) -> None:
        password = workdir / "rt-password"
        password.write_text(rtlib.ROOT_PASSWORD)
        self.port = instance.gateway_port
        self.log_path = workdir / "gateway.log"
        self.env = {**os.environ, **topics.env(), "KAFKA_BOOTSTRAP_SERVERS": broker.bootstrap,
                    "SLA_INGEST_PORT": str(self.port), "SLA_INGEST_SOURCES": "rt",
                    "SLA_INGEST_RT_SECRET_FILE": str(instance.secret_file), "SLA_INGEST_RT_URL": instance.rt.url,
                    "SLA_INGEST_RT_USER": "root", "SLA_INGEST_RT_PASSWORD_FILE": str(password)}
        self.proc: subprocess.Popen | None = None

    def start(self) -> Gateway:
        with open(self.log_path, "ab") as log:
            self.proc = subprocess.Popen([*CLI, "ingest"], env=self.env, cwd=ROOT, stdout=log,
                                         stderr=subprocess.STDOUT, start_new_session=True)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise AssertionError(f"sla-pipeline ingest exited {self.proc.returncode}:\n{self.log()}")
            with contextlib.suppress(OSError):
                if urllib.request.urlopen(f"http://127.0.0.1:{self.port}/readyz", timeout=2).status == 200:
                    return self
            time.sleep(0.3)
        raise AssertionError(f"the gateway was not ready within 60 s:\n{self.log()}")

    def stop(self) -> int | None:
        """SIGTERM (it drains and exits), SIGKILL only if it hangs; its exit code (None: it was not running)."""
        if self.proc is None or self.proc.poll() is not None:
            return None
        os.killpg(self.proc.pid, signal.SIGTERM)
        try:
            return self.proc.wait(30)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait()
            return -signal.SIGKILL

    def catchup(self, *tickets: int) -> subprocess.CompletedProcess:
        args = [arg for n in tickets for arg in ("--ticket", str(n))]
        done = subprocess.run([*CLI, "ingest", "catchup", "--source", "rt", *args], env=self.env, cwd=ROOT,
                              capture_output=True, text=True, timeout=120, check=False)
        assert done.returncode == 0, f"catchup exited {done.returncode}:\n{done.stdout}\n{done.stderr}"
        return done

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")[-4000:] if self.log_path.exists() else "(no log)"


async def read_all(bootstrap: str, topic: str) -> list:
    async with Tail(bootstrap, topic) as tail:
        return await tail.read_to_end(60)


def by_ticket(records: list) -> dict[str, list[dict]]:
    """Each ticket's distinct events (by event_id, first copy), in occurred_at and then RT's transaction
    order (event ids are ``rt:<ticket>:<transaction>:<type>``; RT stamps whole seconds)."""
    seen: dict[str, dict] = {}
    for r in records:
        doc = orjson.loads(r.value)
        if doc["type"] != "heartbeat":
            seen.setdefault(doc["event_id"], doc)
    out: dict[str, list[dict]] = {}
    for doc in sorted(seen.values(), key=lambda d: (d["occurred_at"], int(d["event_id"].split(":")[2]))):
        out.setdefault(doc["ticket_id"], []).append(doc)
    return out


def types(docs: list[dict]) -> list[str]:
    return [d["type"] for d in docs]


@pytest.mark.parametrize("broker", [VERSIONS[0]], indirect=True)  # RT's path does not depend on Kafka's version
async def test_rt_tickets_are_judged_as_the_pure_core_judges_them(
    broker: Broker, topics: Topics, worker_factory, rt_instance: Instance, tmp_path: Path,
) -> None:
    rt, cal = rt_instance.rt, rt_calendar()
    policy_file = write_policy(tmp_path)
    policy = load_policy(policy_file)
    worker_factory(SLA_CLOCK="event", SLA_POLICY_FILE=str(policy_file)).start()
    gateway = Gateway(broker, topics, rt_instance, tmp_path)
    alice, bob = rtlib.STAFF
    customer = rtlib.CUSTOMER[1]
    try:
        gateway.start()
        # A: answered, a mail from the customer, resolved with a reply, reopened by the customer's mail,
        # resolved again, then rejected (closed)
        a = rt.create_ticket("VPN drops every hour", "Since this morning.", Priority=PRIORITY[3])
        rt.correspond(a, alice, "Which client version do you run?")
        rt.mailgate(a, customer, "Version 5.2, on Windows.")
        rt.correspond(a, alice, "Fixed in 5.3: please update.", Status="resolved")
        rt.mailgate(a, customer, "5.3 drops too.")
        rt.correspond(a, alice, "Configuration changed on our side.", Status="resolved")
        rt.update(a, alice, Status="rejected")
        # B: assigned, waiting on the customer, who answers by mail (RT keeps it stalled), an internal
        # comment, a lower priority, then a reply by another engineer
        b = rt.create_ticket("Invoice address", "Please change it.", Priority=PRIORITY[2])
        rt.update(b, alice, Owner=alice[0])
        rt.update(b, alice, Status="stalled")
        rt.comment(b, alice, "Asked billing.")
        rt.mailgate(b, customer, "The new address is attached.")
        rt.update(b, alice, Priority=PRIORITY[3])
        rt.correspond(b, bob, "Done.")
        # C: never answered, on business hours (Sev2): RT's Due against the pipeline's breach
        c = rt.create_ticket("Portal login fails", "Since the update.", Priority=PRIORITY[2])
        # D: its staff reply is made while the gateway is down: lost, until the catch-up
        d = rt.create_ticket("Feature question", "Can it export CSV?", Priority=PRIORITY[4])
        assert gateway.stop() == 0, f"the gateway drains and exits 0 on SIGTERM:\n{gateway.log()}"
        rt.correspond(d, alice, "Yes: Reports, Export.")
        assert f" of ticket {d} not delivered" in rt.log(), "RT's scrip logs the post it could not make"
        webhooks = by_ticket(await read_all(broker.bootstrap, topics.events))
        assert types(webhooks[f"RT-{d}"]) == ["ticket.created"], "the reply made while the gateway was down"
        gateway.catchup(d)
        gateway.catchup(d)
    finally:
        gateway.stop()

    records = await read_all(broker.bootstrap, topics.events)
    events = by_ticket(records)
    assert types(events[f"RT-{a}"]) == [
        "ticket.created", "ticket.responded", "ticket.customer_replied", "ticket.responded", "ticket.resolved",
        "ticket.customer_replied", "ticket.reopened", "ticket.responded", "ticket.resolved", "ticket.closed"]
    assert types(events[f"RT-{b}"]) == [
        "ticket.created", "ticket.assigned", "ticket.waiting_on_customer", "ticket.customer_replied",
        "ticket.severity_changed", "ticket.responded"]
    assert types(events[f"RT-{c}"]) == ["ticket.created"]
    assert types(events[f"RT-{d}"]) == ["ticket.created", "ticket.responded"]
    created = {t: docs[0] for t, docs in events.items()}
    assert {t: (e["severity"], e["product"], e["customer_id"]) for t, e in created.items()} == {
        f"RT-{a}": (3, rtlib.QUEUE, "ACME"), f"RT-{b}": (2, rtlib.QUEUE, "ACME"),
        f"RT-{c}": (2, rtlib.QUEUE, "ACME"), f"RT-{d}": (4, rtlib.QUEUE, "ACME")}
    assert [e["engineer_id"] for e in events[f"RT-{b}"] if "engineer_id" in e] == ["alice", "bob"]
    # the catch-up: D's events once more per run, each copy the same document under the same id
    copies: dict[str, list[bytes]] = {}
    for r in records:
        doc = orjson.loads(r.value)
        if doc.get("ticket_id") == f"RT-{d}":
            copies.setdefault(doc["event_id"], []).append(r.value)
    assert sorted(len(v) for v in copies.values()) == [2, 3], "created: webhook + 2 catch-ups; reply: 2 catch-ups"
    assert all(len(set(v)) == 1 for v in copies.values()), "a repeat is the same record"

    # every deadline passes in event time: a heartbeat on every partition just after C's
    c_created = parse_rfc3339_ms(created[f"RT-{c}"]["occurred_at"])
    assert policy.calendar_for(2, rtlib.QUEUE, False) == cal
    deadline = calendar.reached(cal, c_created, policy.irt_target_ms(2, False))  # the pipeline's IRT deadline
    placed: dict[int, list] = {}
    for r in records:
        placed.setdefault(r.partition, []).append((r.offset, r.key, r.value))
    for p in range(await partition_count(broker.bootstrap, topics.events)):
        beat = (None, orjson.dumps(scenario.heartbeat(deadline + MINUTE, f"end-{p}")))
        (meta,) = await produce(broker.bootstrap, topics.events, [beat], partition=p)
        placed.setdefault(p, []).append((meta.offset, *beat))

    expected, _ = scenario.expected_outputs(placed, topics.events, policy, wall_ms=int(time.time() * 1000))
    irt = {o["ticket_id"]: o for o in expected.values() if o["metric"] == "irt"}
    assert {t: o["outcome"] for t, o in irt.items()} == {
        f"RT-{a}": "met", f"RT-{b}": "met", f"RT-{c}": "breached", f"RT-{d}": "met"}
    assert sorted((o["metric"], o["cycle"]) for o in expected.values() if o["ticket_id"] == f"RT-{a}") == [
        ("irt", 1), ("ttr", 1), ("ttr", 2), ("ttw", 1), ("ttw", 2)], "A's two resolution cycles"
    actual, published = await collect_unique(broker.bootstrap, topics.outcomes, "outcome_id", want=len(expected),
                                             timeout=60)
    assert set(actual) == set(expected), sorted(set(actual) ^ set(expected))
    differing = {k: (expected[k], docs) for k, docs in published.items() if any(doc != expected[k] for doc in docs)}
    assert differing == {}, "outcomes that differ from the pure core's"

    # RT's own SLA on C, a real ticket: its Due beside the deadline the worker judged C's IRT breach at
    rt_due = parse_rfc3339_ms(rt.ticket(c)["Due"])
    breach = actual[irt[f"RT-{c}"]["outcome_id"]]
    assert (breach["calendar"], parse_rfc3339_ms(breach["decided_at"])) == ("rt", deadline)
    assert rt_due == business_seconds_rule(cal, c_created, rtlib.GOLD_RESPONSE_MINUTES * MINUTE)
    if calendar.is_open(cal, deadline):  # always, unless C was opened exactly 60 business minutes before closing
        assert rt_due == deadline, "RT's Due and the pipeline's IRT deadline for the same ticket"
