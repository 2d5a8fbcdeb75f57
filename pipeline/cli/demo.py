"""``sla-pipeline demo``: everything on one machine, and a live board in the terminal.

It starts the embedded Kafka broker, a worker (event-time clock), the notifier, Alertmanager (with a
webhook receiver inside the demo standing in for on-call), Prometheus with the shipped rules, and the
simulator at a speed-up where breaches and escalations appear within a minute. It runs under
``SLA_POLICY_FILE`` if set, else under the shipped policy example (copied into its folder), whose SLA
contracts the simulator's customers name. The board shows IRT compliance per severity against the goal,
compliance per contract and metric (from the outcomes topic) beside each goal, tickets at risk, open
BizCrit tickets by rung, the latest escalations, pages delivered, events per second, and links to the
worker's pages. The private ones (stack rank, reports) need a token: the demo writes a random one to a
file only its user can read, gives it to the worker (``SLA_REPORTS_TOKEN_FILE``) and puts it in the
board's links (``?token=``: a browser cannot send a header from a link). Ctrl-C stops everything it started.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import dataclasses
import os
import secrets
import shutil
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import TextIO

import yaml
from aiohttp import web
from rich.console import Console
from rich.live import Live

from pipeline import resources
from pipeline.cli.board import Snapshot, contract_goals, count_judged, render, scrape
from pipeline.cli.ports import port_free
from pipeline.cli.signals import stop_on_signals
from pipeline.domain.calendar import local_day
from pipeline.domain.policy import Policy, load_policy
from pipeline.domain.records import Escalation, Outcome
from pipeline.errors import PipelineError
from pipeline.kafka.embedded import EmbeddedKafka
from pipeline.kafka.tail import Tail
from pipeline.observability import rules
from pipeline.settings import DEFAULT_KAFKA_VERSION, Settings
from pipeline.simulate.generator import events as simulated_events
from pipeline.simulate.player import PlayStats, play
from pipeline.simulate.profile import load_profile

HOUR = 3_600_000
DAY = 24 * HOUR


# What the demo runs, each on its own port of 127.0.0.1 (the demo's --NAME-port flags change them).
PORTS = {"kafka": 9092, "kafka-controller": 9192, "web": 6066, "notifier": 6067, "prometheus": 9090,
         "alertmanager": 9093, "webhook": 9095}


@dataclasses.dataclass(frozen=True)
class DemoConfig:
    workdir: Path = Path(".demo")
    kafka_version: str = DEFAULT_KAFKA_VERSION
    ports: dict[str, int] = dataclasses.field(default_factory=lambda: dict(PORTS))
    speedup: float = 300.0
    seed: int = 1
    profile: Path | None = None
    refresh_s: float = 1.0

    def addresses(self) -> dict[str, str]:
        return {name: f"127.0.0.1:{port}" for name, port in self.ports.items()}


def alertmanager_config(shipped: dict, webhook_port: int) -> dict:
    """The shipped routing, with its webhooks pointed at the demo's and notifications sent within a second."""
    shipped["route"]["group_wait"] = "1s"
    for receiver in shipped["receivers"]:
        for hook in receiver.get("webhook_configs", []):
            path = hook["url"].split("/", 3)[3]
            hook["url"] = f"http://127.0.0.1:{webhook_port}/{path}"
    return shipped


MARKER = ".sla-pipeline-demo"  # in every folder the demo made: only such a folder is wiped for a fresh run


def prepare_workdir(workdir: Path) -> None:
    """A fresh, empty folder for this run. A folder the demo did not make is never deleted: it might be
    anything (``--dir .`` once deleted the checkout it was given)."""
    if workdir.exists() and any(workdir.iterdir()):
        if not (workdir / MARKER).exists():
            raise PipelineError(f"{workdir} exists and was not made by the demo; choose another --dir (the demo "
                                "empties its folder at every start)")
        shutil.rmtree(workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    (workdir / MARKER).write_text("made by `sla-pipeline demo`; emptied at its next start\n")


def write_token(workdir: Path) -> tuple[Path, str]:
    """A random token for the worker's private pages, in a file only this user can read (0600 from the start)."""
    token = secrets.token_urlsafe(24)
    path = workdir / "reports-token"
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as out:
        out.write(token + "\n")
    return path, token


def board_links(at: dict[str, str], token: str, judged_ms: int, zone: str) -> dict[str, str]:
    """The board's links. The private pages carry the token; the debrief is that of the day the judging clock
    is in (the simulated time the demo has played to every partition: the worker's event-time clocks), in
    the reports' zone, so it follows the simulation across midnight."""
    worker = f"http://{at['web']}"
    return {"metrics": f"{worker}/metrics",
            "stack rank": f"{worker}/stackrank?window=30d&token={token}",
            "today's Sev1 debrief": f"{worker}/reports/debrief?date={local_day(judged_ms, zone)}&token={token}",
            "Prometheus": f"http://{at['prometheus']}",
            "Alertmanager": f"http://{at['alertmanager']}"}


def demo_policy_file(settings: Settings, workdir: Path) -> Path:
    """The policy the demo runs under: ``SLA_POLICY_FILE`` if set, else a copy of the shipped example in the
    demo's folder (it defines SLA contracts, so the demo shows them; the copy has the example's bytes, so
    outcomes name the example's digest)."""
    if settings.policy_file is not None:
        return settings.policy_file
    path = workdir / "policy.toml"
    path.write_bytes(resources.read_bytes(resources.POLICY_EXAMPLE))
    return path


def demo_policy(settings: Settings) -> Policy:
    """The policy :func:`demo_policy_file` names, read before anything starts (a bad file stops the demo)."""
    if settings.policy_file is not None:
        return load_policy(settings.policy_file)
    with resources.as_file(resources.resource(resources.POLICY_EXAMPLE)) as example:
        return load_policy(example)


def demo_start(now_ms: int) -> int:
    """The simulated start: the latest Tuesday 09:00 UTC before ``now_ms``. A fixed hour of the week makes
    the demo the same at any wall-clock time (seed and profile fixed): a busy morning, whose first Sev1
    is at risk within 20 s at x300, under the shipped example (about 16 s) and under a policy without
    contracts (about 9 s). Started at night, the first came after a minute."""
    week = 7 * DAY
    tuesday_9 = 5 * DAY + 9 * HOUR  # 1970-01-01 was a Thursday: +5 days is a Tuesday
    return now_ms - (now_ms - tuesday_9) % week


class Demo:
    def __init__(self, config: DemoConfig, settings: Settings, out: TextIO = sys.stdout) -> None:
        self.config = config
        self.settings = settings
        self.policy = demo_policy(settings)
        self.out = out
        self.procs: dict[str, subprocess.Popen] = {}
        self.broker: EmbeddedKafka | None = None
        self.stopping = asyncio.Event()
        self.pages = 0
        self.escalations: collections.deque[Escalation] = collections.deque(maxlen=50)
        self.judged: dict[tuple[str, str, str], int] = {}  # (contract, metric, outcome) -> outcomes read
        self.stats = PlayStats()
        self.token = ""  # of the worker's private pages: made at start

    def say(self, text: str) -> None:
        print(text, file=self.out, flush=True)

    # --- start -------------------------------------------------------------------------------
    def _check_tools_and_ports(self) -> None:
        for tool in ("java", "prometheus", "prometheus-alertmanager"):
            if shutil.which(tool) is None:
                raise PipelineError(f"{tool} is not installed; `make demo` (scripts/bootstrap.sh) installs it")
        c = self.config
        for name, port in c.ports.items():
            if not port_free(port):
                raise PipelineError(f"port {port} ({name}) on 127.0.0.1 is in use; stop what uses it or pick "
                                    f"another with the demo's --{name}-port flag")

    def _spawn(self, name: str, cmd: list[str], env: dict[str, str] | None = None) -> None:
        log = open(self.config.workdir / f"{name}.log", "ab")  # noqa: SIM115 - the child owns it
        self.procs[name] = subprocess.Popen(cmd, env=env, stdout=log, stderr=subprocess.STDOUT,
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
        at = c.addresses()
        self._check_tools_and_ports()
        prepare_workdir(c.workdir)
        token_file, self.token = write_token(c.workdir)
        policy_file = demo_policy_file(self.settings, c.workdir)
        self.policy = load_policy(policy_file)  # the bytes the worker reads
        self.say(f"starting Kafka {c.kafka_version} on {at['kafka']} ...")
        self.broker = EmbeddedKafka(home=c.workdir / "kafka", version=c.kafka_version, port=c.ports["kafka"],
                                    controller_port=c.ports["kafka-controller"])
        await asyncio.to_thread(self.broker.start)
        bootstrap = self.broker.bootstrap
        env = {**os.environ, "KAFKA_BOOTSTRAP_SERVERS": bootstrap, "SLA_CLOCK": "event",
               "SLA_DATA_DIR": str(c.workdir / "worker"), "SLA_WEB_PORT": str(c.ports["web"]),
               "SLA_RUNBOOK_BASE_URL": f"http://{at['web']}/runbooks", "SLA_REPORTS_TOKEN_FILE": str(token_file),
               "SLA_POLICY_FILE": str(policy_file.resolve())}
        for older in ("SLA_STACKRANK_TOKEN_FILE", "SLA_REPORTS_OPEN"):  # the demo's token decides, alone
            env.pop(older, None)
        self.say("starting a worker (event-time clock, driven by the simulator's heartbeats) ...")
        self._spawn("worker", [sys.executable, "-m", "pipeline.cli", "worker"], env)
        await self._wait_http("worker", f"http://{at['web']}/metrics")
        self.say("starting Alertmanager, the notifier and Prometheus ...")
        await self._start_webhook()
        am_config = c.workdir / "alertmanager.yml"
        am_config.write_text(yaml.safe_dump(alertmanager_config(
            yaml.safe_load(resources.read_text(resources.ALERTMANAGER)), c.ports["webhook"]), sort_keys=False))
        # The shipped rules, as the demo's policy has them. Prometheus reads a relative rule_files entry
        # against its config file's folder: an absolute path works from any --dir and any working directory.
        rules_file = (c.workdir / "sla.rules.yml").resolve()
        rules_file.write_text(rules.as_yaml(self.policy, f"http://{at['web']}/runbooks"))
        self._spawn("alertmanager", ["prometheus-alertmanager", f"--config.file={am_config}",
                                     f"--storage.path={c.workdir / 'alertmanager'}",
                                     f"--web.listen-address={at['alertmanager']}",
                                     "--cluster.listen-address="])
        self._spawn("notifier", [sys.executable, "-m", "pipeline.cli", "notify", "--alertmanager-url",
                                 f"http://{at['alertmanager']}", "--metrics-port", str(c.ports["notifier"])],
                    env)
        prom_config = c.workdir / "prometheus.yml"
        prom_config.write_text(yaml.safe_dump({
            "global": {"scrape_interval": "5s", "evaluation_interval": "5s"},
            "rule_files": [str(rules_file)],
            "alerting": {"alertmanagers": [{"static_configs": [{"targets": [at['alertmanager']]}]}]},
            "scrape_configs": [
                {"job_name": "sla-pipeline", "static_configs": [{"targets": [at['web']]}]},
                {"job_name": "sla-notifier", "static_configs": [{"targets": [at['notifier']]}]},
            ],
        }, sort_keys=False))
        self._spawn("prometheus", ["prometheus", f"--config.file={prom_config}",
                                   f"--storage.tsdb.path={c.workdir / 'prometheus'}",
                                   f"--web.listen-address={at['prometheus']}",
                                   "--enable-feature=exemplar-storage"])
        await self._wait_http("alertmanager", f"http://{at['alertmanager']}/-/ready")
        await self._wait_http("prometheus", f"http://{at['prometheus']}/-/ready")
        self.say(f"starting the simulator (x{c.speedup:g}: one simulated hour every {3600 / c.speedup:g} s) ...")

    async def _start_webhook(self) -> None:
        async def hook(request: web.Request) -> web.Response:
            body = await request.json()
            self.pages += sum(1 for a in body.get("alerts", []) if a.get("status") == "firing")
            return web.Response(text="ok")

        app = web.Application()
        app.router.add_post("/oncall", hook)  # pages: counted on the board
        app.router.add_post("/noc", _ok)      # warnings: the NOC sees them on the board already
        app.router.add_post("/deadmansswitch", _ok)  # the always-firing watchdog
        app.router.add_post("/{receiver}", _ok)  # any other receiver of the shipped routing (notices: warnings)
        self._webhook = web.AppRunner(app)
        await self._webhook.setup()
        await web.TCPSite(self._webhook, "127.0.0.1", self.config.ports["webhook"]).start()

    # --- run ---------------------------------------------------------------------------------
    async def _follow_escalations(self, bootstrap: str) -> None:
        async with Tail(bootstrap, self.settings.topic_escalations) as tail:
            while not self.stopping.is_set():
                self.escalations.extend(Escalation.decode(r.value) for r in await tail.records())

    async def _follow_outcomes(self, bootstrap: str) -> None:
        async with Tail(bootstrap, self.settings.topic_outcomes) as tail:
            while not self.stopping.is_set():
                for record in await tail.records():
                    outcome = Outcome.decode(record.value)
                    count_judged(self.judged, outcome.contract, outcome.metric, outcome.outcome)

    async def run(self) -> None:
        c = self.config
        at = c.addresses()
        assert self.broker is not None
        profile = load_profile(c.profile)
        start = demo_start(time.time_ns() // 1_000_000)
        source = simulated_events(profile, c.seed, start, policy=self.policy)
        sim = asyncio.create_task(play(self.broker.bootstrap, self.settings.topic_events, source, start_ms=start,
                                       speedup=c.speedup, stopping=self.stopping, stats=self.stats))
        followers = [asyncio.create_task(self._follow_escalations(self.broker.bootstrap))]
        if self.policy.uses_contracts:  # v2 outcomes name no contract: nothing to count
            followers.append(asyncio.create_task(self._follow_outcomes(self.broker.bootstrap)))
        last = (time.monotonic(), 0.0)
        # On a terminal rich redraws the board in place, wrapped to its width; elsewhere (a log, a test) each
        # frame is appended, its lines whole.
        tty = self.out.isatty()
        console = Console(file=self.out) if tty else Console(file=self.out, width=10_000)
        live = Live(console=console, auto_refresh=False) if tty else None
        try:
            if live is not None:
                live.start()
            while not self.stopping.is_set():
                links = board_links(at, self.token, self.stats.sim_now_ms or start, self.settings.report_timezone)
                snap = await asyncio.to_thread(self._snapshot, links)
                now = time.monotonic()
                snap.events_per_s = (snap.events_total - last[1]) / max(now - last[0], 1e-6)
                last = (now, snap.events_total)
                frame = render(snap)
                if live is not None:
                    live.update(frame, refresh=True)
                else:
                    console.print("\n" + "=" * 40)
                    console.print(frame)
                    self.out.flush()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self.stopping.wait(), c.refresh_s)
                if sim.done() and sim.exception():
                    raise sim.exception()  # type: ignore[misc]
        finally:
            if live is not None:
                live.stop()
            self.stopping.set()
            for task in (sim, *followers):
                with contextlib.suppress(Exception, asyncio.CancelledError):
                    await asyncio.wait_for(task, 10)

    def _snapshot(self, urls: dict[str, str]) -> Snapshot:
        snap = Snapshot(sim_now_ms=self.stats.sim_now_ms, speedup=self.config.speedup, urls=urls,
                        escalations=list(self.escalations), pages_delivered=self.pages, goal=self.policy.irt_goal,
                        at_risk_share=self.policy.at_risk_fraction, contract_goals=contract_goals(self.policy),
                        judged=dict(self.judged))
        with contextlib.suppress(OSError):
            snap.read(scrape(urls["metrics"]))
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


async def main(config: DemoConfig, settings: Settings, out: TextIO = sys.stdout) -> int:
    demo = Demo(config, settings, out)
    stop_on_signals(demo.stopping)
    try:
        await demo.start()
        if not demo.stopping.is_set():
            await demo.run()
        return 0
    finally:
        await demo.stop()
