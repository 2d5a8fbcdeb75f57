"""``sla-pipeline demo``: everything on one machine, and a live board in the terminal.

It starts the embedded Kafka broker, a worker (event-time clock), the notifier, Alertmanager (with a
webhook receiver inside the demo standing in for on-call), Prometheus with the shipped rules, and the
simulator at a speed-up where breaches and escalations appear within a minute. The board shows IRT
compliance per severity against the goal, tickets at risk, open BizCrit tickets by rung, the latest
escalations, pages delivered, and events per second. Ctrl-C stops everything it started.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import dataclasses
import json
import os
import shutil
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import TextIO

import orjson
from aiohttp import web
from aiokafka import AIOKafkaConsumer, TopicPartition
from prometheus_client.parser import text_string_to_metric_families

from pipeline.cli.escalations import line as escalation_line
from pipeline.domain.policy import SEVERITIES, Policy
from pipeline.domain.timefmt import format_rfc3339_ms
from pipeline.errors import PipelineError
from pipeline.kafka.embedded import DEFAULT_VERSION, EmbeddedKafka
from pipeline.ports import port_free
from pipeline.signals import stop_on_signals
from pipeline.simulate.generator import events as simulated_events
from pipeline.simulate.player import PlayStats, play
from pipeline.simulate.profile import load_profile

ROOT = Path(__file__).resolve().parents[2]


@dataclasses.dataclass(frozen=True)
class DemoConfig:
    workdir: Path = Path(".demo")
    kafka_version: str = DEFAULT_VERSION
    kafka_port: int = 9092
    kafka_controller_port: int = 9192
    web_port: int = 6066
    notifier_port: int = 6067
    prometheus_port: int = 9090
    alertmanager_port: int = 9093
    webhook_port: int = 9095
    speedup: float = 300.0
    seed: int = 1
    profile: Path | None = None
    refresh_s: float = 1.0


@dataclasses.dataclass
class Snapshot:
    """What the board shows, read from the worker's /metrics and the escalations topic."""

    sim_now_ms: int = 0
    speedup: float = 1.0
    events_total: float = 0.0
    events_per_s: float = 0.0
    met: dict[int, float] = dataclasses.field(default_factory=dict)
    breached: dict[int, float] = dataclasses.field(default_factory=dict)
    at_risk: dict[int, float] = dataclasses.field(default_factory=dict)
    bizcrit_by_rung: dict[str, float] = dataclasses.field(default_factory=dict)
    escalations: list[dict] = dataclasses.field(default_factory=list)
    pages_delivered: int = 0
    urls: dict[str, str] = dataclasses.field(default_factory=dict)
    goal: float = 0.99


def render(s: Snapshot) -> str:
    """The board as text (pure, so it is testable)."""
    sim = format_rfc3339_ms(s.sim_now_ms)[:16].replace("T", " ") if s.sim_now_ms else "-"
    out = [f"sla-pipeline demo   simulated time {sim} UTC (x{s.speedup:g})   "
           f"events {s.events_total:,.0f} ({s.events_per_s:,.0f}/s)", ""]
    out.append(f"IRT compliance, last 24 h (goal {s.goal:.0%} of tickets):")
    for sev in SEVERITIES:
        met, breached = s.met.get(sev, 0), s.breached.get(sev, 0)
        decided = met + breached
        if decided:
            share = met / decided
            mark = "ok" if share >= s.goal else "BELOW GOAL"
            out.append(f"  Sev{sev}  {share:7.2%}  {mark:<10}  {met:,.0f} met, {breached:,.0f} breached")
        else:
            out.append(f"  Sev{sev}        -              no ticket decided yet")
    out.append("")
    risky = "  ".join(f"Sev{sev} {s.at_risk.get(sev, 0):,.0f}" for sev in SEVERITIES)
    out.append(f"At risk now (unanswered, half the budget used):  {risky}")
    rungs = s.bizcrit_by_rung
    out.append(f"Open BizCrit tickets: {sum(rungs.values()):,.0f}   (no rung yet {rungs.get('none', 0):,.0f}, "
               f"tier 3 {rungs.get('tier3', 0):,.0f}, management {rungs.get('management', 0):,.0f}, "
               f"executive {rungs.get('executive', 0):,.0f})")
    out.append(f"Pages delivered to on-call through Alertmanager: {s.pages_delivered}")
    out.append("")
    out.append("Latest escalations:")
    out += [f"  {escalation_line(e)[:150]}" for e in s.escalations[-8:]] or ["  (none yet)"]
    out.append("")
    out += [f"{name:>13}: {url}" for name, url in s.urls.items()]
    out.append("Ctrl-C stops everything.")
    return "\n".join(out)


def _scrape(url: str) -> dict[tuple[str, tuple], float]:
    with urllib.request.urlopen(url, timeout=3) as resp:
        text = resp.read().decode()
    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for family in text_string_to_metric_families(text) for s in family.samples}



class Demo:
    def __init__(self, config: DemoConfig, out: TextIO = sys.stdout) -> None:
        self.config = config
        self.out = out
        self.procs: dict[str, subprocess.Popen] = {}
        self.broker: EmbeddedKafka | None = None
        self.stopping = asyncio.Event()
        self.pages = 0
        self.escalations: collections.deque = collections.deque(maxlen=50)
        self.stats = PlayStats()

    def say(self, text: str) -> None:
        print(text, file=self.out, flush=True)

    # --- start -------------------------------------------------------------------------------
    def _check_tools_and_ports(self) -> None:
        for tool in ("java", "prometheus", "prometheus-alertmanager"):
            if shutil.which(tool) is None:
                raise PipelineError(f"{tool} is not installed; `make demo` (scripts/bootstrap.sh) installs it")
        c = self.config
        for name, port in (("Kafka", c.kafka_port), ("Kafka controller", c.kafka_controller_port),
                           ("worker web", c.web_port), ("notifier", c.notifier_port),
                           ("Prometheus", c.prometheus_port), ("Alertmanager", c.alertmanager_port),
                           ("webhook", c.webhook_port)):
            if not port_free(port):
                raise PipelineError(f"port {port} ({name}) on 127.0.0.1 is in use; stop what uses it or pick "
                                    "another with the demo's --*-port flags")

    def _spawn(self, name: str, cmd: list[str], env: dict[str, str] | None = None) -> None:
        log = open(self.config.workdir / f"{name}.log", "ab")  # noqa: SIM115 - the child owns it
        self.procs[name] = subprocess.Popen(cmd, env=env, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT,
                                            stdin=subprocess.DEVNULL, start_new_session=True)
        log.close()

    async def _wait_http(self, name: str, url: str, timeout: float = 120) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            proc = self.procs.get(name)
            if proc is not None and proc.poll() is not None:
                raise PipelineError(f"{name} exited during start-up; see {self.config.workdir / (name + '.log')}")
            try:
                await asyncio.to_thread(lambda: urllib.request.urlopen(url, timeout=1).read())
                return
            except OSError:
                await asyncio.sleep(0.3)
        raise PipelineError(f"{name} did not answer at {url} within {timeout:g} s")

    async def start(self) -> None:
        c = self.config
        self._check_tools_and_ports()
        shutil.rmtree(c.workdir, ignore_errors=True)  # a fresh demo every time
        c.workdir.mkdir(parents=True)
        self.say(f"starting Kafka {c.kafka_version} on 127.0.0.1:{c.kafka_port} ...")
        self.broker = EmbeddedKafka(home=c.workdir / "kafka", version=c.kafka_version, port=c.kafka_port,
                                    controller_port=c.kafka_controller_port)
        await asyncio.to_thread(self.broker.start)
        bootstrap = self.broker.bootstrap
        env = {**os.environ, "KAFKA_BOOTSTRAP_SERVERS": bootstrap, "SLA_CLOCK": "event",
               "SLA_DATA_DIR": str(c.workdir / "worker"), "SLA_WEB_PORT": str(c.web_port),
               "SLA_RUNBOOK_BASE_URL": f"http://127.0.0.1:{c.web_port}/runbooks"}
        self.say("starting a worker (event-time clock, driven by the simulator's heartbeats) ...")
        self._spawn("worker", [sys.executable, "-m", "pipeline.cli", "worker"], env)
        await self._wait_http("worker", f"http://127.0.0.1:{c.web_port}/metrics")
        self.say("starting Alertmanager, the notifier and Prometheus ...")
        await self._start_webhook()
        am_config = c.workdir / "alertmanager.yml"
        am_config.write_text((ROOT / "deploy/alertmanager/alertmanager.yml").read_text()
                             .replace("http://127.0.0.1:9095", f"http://127.0.0.1:{c.webhook_port}")
                             .replace("group_wait: 10s", "group_wait: 1s"))
        self._spawn("alertmanager", ["prometheus-alertmanager", f"--config.file={am_config}",
                                     f"--storage.path={c.workdir / 'alertmanager'}",
                                     f"--web.listen-address=127.0.0.1:{c.alertmanager_port}",
                                     "--cluster.listen-address="])
        self._spawn("notifier", [sys.executable, "-m", "pipeline.cli", "notify", "--alertmanager-url",
                                 f"http://127.0.0.1:{c.alertmanager_port}", "--metrics-port", str(c.notifier_port)],
                    env)
        prom_config = c.workdir / "prometheus.yml"
        prom_config.write_text(json.dumps({
            "global": {"scrape_interval": "5s", "evaluation_interval": "5s"},
            "rule_files": [str(ROOT / "deploy/prometheus/rules/sla.rules.yml")],
            "alerting": {"alertmanagers": [{"static_configs": [{"targets": [f"127.0.0.1:{c.alertmanager_port}"]}]}]},
            "scrape_configs": [
                {"job_name": "sla-pipeline", "static_configs": [{"targets": [f"127.0.0.1:{c.web_port}"]}]},
                {"job_name": "sla-notifier", "static_configs": [{"targets": [f"127.0.0.1:{c.notifier_port}"]}]},
            ],
        }))
        self._spawn("prometheus", ["prometheus", f"--config.file={prom_config}",
                                   f"--storage.tsdb.path={c.workdir / 'prometheus'}",
                                   f"--web.listen-address=127.0.0.1:{c.prometheus_port}",
                                   "--enable-feature=exemplar-storage"])
        await self._wait_http("alertmanager", f"http://127.0.0.1:{c.alertmanager_port}/-/ready")
        await self._wait_http("prometheus", f"http://127.0.0.1:{c.prometheus_port}/-/ready")
        self.say(f"starting the simulator (x{c.speedup:g}: one simulated hour every {3600 / c.speedup:g} s) ...")

    async def _start_webhook(self) -> None:
        async def hook(request: web.Request) -> web.Response:
            body = await request.json()
            self.pages += sum(1 for a in body.get("alerts", []) if a.get("status") == "firing")
            return web.Response(text="ok")

        app = web.Application()
        app.router.add_post("/oncall", hook)  # pages: counted on the board
        app.router.add_post("/noc", _ok)      # warnings: the NOC sees them on the board already
        self._webhook = web.AppRunner(app)
        await self._webhook.setup()
        await web.TCPSite(self._webhook, "127.0.0.1", self.config.webhook_port).start()

    # --- run ---------------------------------------------------------------------------------
    async def _follow_escalations(self, bootstrap: str) -> None:
        consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, group_id=None, enable_auto_commit=False)
        await consumer.start()
        try:
            while not consumer.partitions_for_topic("sla.escalations") and not self.stopping.is_set():
                await consumer._client.force_metadata_update()
                await asyncio.sleep(0.5)
            tps = [TopicPartition("sla.escalations", p) for p in consumer.partitions_for_topic("sla.escalations")]
            consumer.assign(tps)
            await consumer.seek_to_beginning(*tps)
            while not self.stopping.is_set():
                for records in (await consumer.getmany(timeout_ms=500)).values():
                    for r in records:
                        self.escalations.append(orjson.loads(r.value))
        finally:
            await consumer.stop()

    async def run(self) -> None:
        c = self.config
        assert self.broker is not None
        profile = load_profile(c.profile)
        start = time.time_ns() // 1_000_000
        source = simulated_events(profile, c.seed, start)
        sim = asyncio.create_task(play(self.broker.bootstrap, "tickets.events", source, start_ms=start,
                                       speedup=c.speedup, stopping=self.stopping, stats=self.stats))
        follower = asyncio.create_task(self._follow_escalations(self.broker.bootstrap))
        urls = {"metrics": f"http://127.0.0.1:{c.web_port}/metrics",
                "stack rank": f"http://127.0.0.1:{c.web_port}/stackrank?window=30d",
                "Prometheus": f"http://127.0.0.1:{c.prometheus_port}",
                "Alertmanager": f"http://127.0.0.1:{c.alertmanager_port}"}
        tty = self.out.isatty()
        last = (time.monotonic(), 0.0)
        try:
            while not self.stopping.is_set():
                snap = await asyncio.to_thread(self._snapshot, urls)
                now = time.monotonic()
                snap.events_per_s = (snap.events_total - last[1]) / max(now - last[0], 1e-6)
                last = (now, snap.events_total)
                frame = render(snap)
                self.out.write(("\x1b[H\x1b[2J" if tty else "\n" + "=" * 40 + "\n") + frame + "\n")
                self.out.flush()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self.stopping.wait(), c.refresh_s)
                if sim.done() and sim.exception():
                    raise sim.exception()  # type: ignore[misc]
        finally:
            self.stopping.set()
            for task in (sim, follower):
                with contextlib.suppress(Exception, asyncio.CancelledError):
                    await asyncio.wait_for(task, 10)

    def _snapshot(self, urls: dict[str, str]) -> Snapshot:
        snap = Snapshot(sim_now_ms=self.stats.sim_now_ms, speedup=self.config.speedup, urls=urls,
                        escalations=list(self.escalations), pages_delivered=self.pages, goal=Policy().irt_goal)
        try:
            samples = _scrape(urls["metrics"])
        except OSError:
            return snap
        for (name, labels), value in samples.items():
            lab = dict(labels)
            if name == "sla_events_total":
                snap.events_total += value
            elif name == "sla_irt_window_tickets" and lab.get("window") == "24h":
                target = snap.met if lab["outcome"] == "met" else snap.breached
                target[int(lab["severity"])] = target.get(int(lab["severity"]), 0) + value
            elif name == "sla_irt_at_risk_tickets":
                snap.at_risk[int(lab["severity"])] = value
            elif name == "sla_bizcrit_open_tickets_by_rung":
                snap.bizcrit_by_rung[lab["rung"]] = value
        return snap

    # --- stop --------------------------------------------------------------------------------
    async def stop(self) -> None:
        self.stopping.set()
        for proc in reversed(list(self.procs.values())):
            if proc.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.pid, signal.SIGTERM)
        for proc in self.procs.values():
            try:
                await asyncio.to_thread(proc.wait, 20)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
        if getattr(self, "_webhook", None) is not None:
            await self._webhook.cleanup()
        if self.broker is not None:
            await asyncio.to_thread(self.broker.stop)
        names = [*self.procs, "kafka"] if self.broker is not None else list(self.procs)
        self.say(f"stopped: {', '.join(names)}. Logs are in {self.config.workdir}/")


async def _ok(request: web.Request) -> web.Response:
    return web.Response(text="ok")


async def main(config: DemoConfig, out: TextIO = sys.stdout) -> int:
    demo = Demo(config, out)
    stop_on_signals(demo.stopping)
    try:
        await demo.start()
        if not demo.stopping.is_set():
            await demo.run()
        return 0
    finally:
        await demo.stop()
