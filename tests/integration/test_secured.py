"""Secured Kafka (contract section 8): every client of the project on SASL_SSL (SCRAM-SHA-512 and PLAIN)
and on mutual TLS, against the embedded broker's secured listeners with a throw-away CA; and the two
mistakes people make (a wrong password, a plaintext client on the TLS port) end with one clear line."""

from __future__ import annotations

import asyncio
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import orjson
import pytest
from aiohttp import web

from pipeline.domain.records import Outcome
from pipeline.domain.timefmt import format_rfc3339_ms
from pipeline.kafka.embedded import EmbeddedKafka
from pipeline.kafka.secured import Secured
from pipeline.kafka.tail import Tail
from pipeline.settings import Settings
from tests.integration.conftest import CLI, ROOT, VERSIONS, Broker, Topics, Worker, free_port
from tests.tls import Pki, make_pki

PASSWORD = "s3cret-Pa55word-for-alice"
T0 = 1_772_442_000_000  # 2026-03-02T09:00:00Z
MIN = 60_000


class SecuredBroker:
    def __init__(self, kafka: EmbeddedKafka, pki: Pki, secrets: Path) -> None:
        self.kafka = kafka
        self.pki = pki
        self.secured = kafka.secured
        self.password_file = secrets / "alice-password"
        self.password_file.write_text(PASSWORD + "\n")

    def env(self, mode: str) -> dict[str, str]:
        sasl_ssl = f"127.0.0.1:{self.secured.sasl_ssl_port}"  # type: ignore[union-attr]
        if mode in ("scram", "plain"):
            return {"KAFKA_BOOTSTRAP_SERVERS": sasl_ssl, "KAFKA_SECURITY_PROTOCOL": "SASL_SSL",
                    "KAFKA_SASL_MECHANISM": "SCRAM-SHA-512" if mode == "scram" else "PLAIN",
                    "KAFKA_SASL_USERNAME": "alice", "KAFKA_SASL_PASSWORD_FILE": str(self.password_file),
                    "KAFKA_SSL_CA_FILE": str(self.pki.ca)}
        return {"KAFKA_BOOTSTRAP_SERVERS": f"127.0.0.1:{self.secured.ssl_port}",  # type: ignore[union-attr]
                "KAFKA_SECURITY_PROTOCOL": "SSL", "KAFKA_SSL_CA_FILE": str(self.pki.ca),
                "KAFKA_SSL_CERT_FILE": str(self.pki.client_cert), "KAFKA_SSL_KEY_FILE": str(self.pki.client_key),
                "KAFKA_SSL_KEY_PASSWORD_FILE": str(self.pki.client_key_password)}


@pytest.fixture(scope="module")
def secured(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SecuredBroker]:
    home = tmp_path_factory.mktemp("secured-kafka")
    pki = make_pki(home / "pki")
    port = free_port(4)
    kafka = EmbeddedKafka(home=home / "broker", version=VERSIONS[0], port=port, controller_port=port + 1,
                          secured=Secured(pki.ca, pki.broker_keystore, port + 2, port + 3, (("alice", PASSWORD),)))
    kafka.start()
    try:
        yield SecuredBroker(kafka, pki, home)
    finally:
        kafka.stop()


def run(args: list[str], env: dict[str, str], timeout: float = 120) -> subprocess.CompletedProcess:
    import os

    return subprocess.run([*CLI, *args], env={**os.environ, **env}, cwd=ROOT, capture_output=True, text=True,
                          timeout=timeout, check=False)


def events(ticket: str) -> list[bytes]:
    """A Sev1 nobody answers, assigned after its deadline: on its partition's event-time clock the deadline
    passes before the assignment applies, so it breaches and pages."""
    created = {"event_id": f"{ticket}-1", "type": "ticket.created", "ticket_id": ticket, "severity": 1,
               "product": "plesk", "customer_id": "C-1", "occurred_at": format_rfc3339_ms(T0)}
    assigned = {"event_id": f"{ticket}-2", "type": "ticket.assigned", "ticket_id": ticket, "engineer_id": "E-1",
                "occurred_at": format_rfc3339_ms(T0 + 16 * MIN)}
    return [orjson.dumps(created), orjson.dumps(assigned)]


async def alertmanager(port: int, received: list[dict]) -> web.AppRunner:
    async def alerts(request: web.Request) -> web.Response:
        received.extend(await request.json())
        return web.json_response({})

    app = web.Application()
    app.router.add_post("/api/v2/alerts", alerts)
    runner = web.AppRunner(app)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    return runner


@pytest.mark.parametrize("mode", ["scram", "plain", "mtls"])
async def test_every_client_works_on_a_secured_broker(secured: SecuredBroker, topics: Topics, tmp_path: Path,
                                                      mode: str) -> None:
    env = {**secured.env(mode), **topics.env(), "SLA_CLOCK": "event", "SLA_PARTITIONS": "2"}
    kafka = Settings.from_env(env).kafka
    broker = Broker(VERSIONS[0], env["KAFKA_BOOTSTRAP_SERVERS"], 0, tmp_path)
    worker = Worker(broker, topics, tmp_path, env).start()
    received: list[dict] = []
    am_port = free_port()
    runner = await alertmanager(am_port, received)
    notifier = subprocess.Popen([*CLI, "notify", "--metrics-port", "0"], cwd=ROOT, stdout=subprocess.PIPE,
                                stderr=subprocess.STDOUT,
                                env={**__import__("os").environ, **env,
                                     "SLA_ALERTMANAGER_URL": f"http://127.0.0.1:{am_port}"})
    try:
        replayed, produced = tmp_path / "export.jsonl", tmp_path / "events.jsonl"
        replayed.write_bytes(b"\n".join(events("SEC-REPLAYED")) + b"\n")
        produced.write_bytes(b"\n".join(events("SEC-PRODUCED")) + b"\n")
        done = await asyncio.to_thread(run, ["replay", str(replayed), "--fast"], env)
        assert done.returncode == 0, done.stdout + done.stderr
        done = await asyncio.to_thread(run, ["produce", str(produced)], env)
        assert done.returncode == 0 and "sent 2 records" in done.stdout, done.stdout + done.stderr
        breached: dict[str, Outcome] = {}
        async with Tail(kafka, topics.outcomes) as tail:
            deadline = time.monotonic() + 90
            while len(breached) < 2 and time.monotonic() < deadline:
                for r in await tail.records():
                    outcome = Outcome.decode(r.value)
                    breached[outcome.ticket_id] = outcome
        assert {t: o.outcome for t, o in breached.items()} == {"SEC-REPLAYED": "breached",
                                                                "SEC-PRODUCED": "breached"}
        shown = await asyncio.to_thread(run, ["escalations"], env)
        assert shown.returncode == 0 and shown.stdout.count("irt_breached") == 2, shown.stdout + shown.stderr
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            pages = {a["labels"]["ticket_id"] for a in received if a["labels"]["kind"] == "irt_breached"}
            if pages == {"SEC-REPLAYED", "SEC-PRODUCED"}:
                break
            await asyncio.sleep(0.5)
        assert pages == {"SEC-REPLAYED", "SEC-PRODUCED"}, received
    finally:
        notifier.terminate()
        out = notifier.communicate(timeout=30)[0].decode(errors="replace")
        await runner.cleanup()
        worker.stop()
    log = worker.log_path.read_text(errors="replace")
    for text in (log, out, shown.stdout, shown.stderr):
        assert PASSWORD not in text and "client-key-passphrase" not in text
    if mode != "mtls":
        assert "config KAFKA_SASL_PASSWORD='***'" in log  # the start-up log shows that it is set, not what


@pytest.mark.parametrize("mistake, expected", [
    ("wrong password", "(SASL_SSL, SCRAM-SHA-512 as alice): authentication failed"),
    ("plaintext on the TLS port",
     "(PLAINTEXT): the broker dropped the PLAINTEXT connection (is it a TLS listener?"),
])
@pytest.mark.parametrize("command", [["produce", "-"], ["escalations"], ["notify", "--metrics-port", "0"],
                                     ["worker"]])
def test_a_mistake_ends_with_one_clear_line_and_no_secret(secured: SecuredBroker, tmp_path: Path, mistake: str,
                                                          expected: str, command: list[str]) -> None:
    env = {**secured.env("scram"), "SLA_DATA_DIR": str(tmp_path / "data"), "SLA_WEB_PORT": str(free_port())}
    wrong = "not-the-password-of-alice"
    if mistake == "wrong password":
        (tmp_path / "wrong").write_text(wrong)
        env["KAFKA_SASL_PASSWORD_FILE"] = str(tmp_path / "wrong")
        where = env["KAFKA_BOOTSTRAP_SERVERS"]
    else:
        where = f"127.0.0.1:{secured.secured.ssl_port}"  # type: ignore[union-attr]
        env = {"KAFKA_BOOTSTRAP_SERVERS": where, "SLA_DATA_DIR": env["SLA_DATA_DIR"],
               "SLA_WEB_PORT": env["SLA_WEB_PORT"]}
    done = run(command, env, timeout=90)
    assert done.returncode == 1, done.stdout + done.stderr
    errors = [line for line in done.stderr.splitlines() if line.startswith("sla-pipeline:")]
    assert len(errors) == 1, done.stderr
    assert errors[0].startswith(f"sla-pipeline: cannot connect to Kafka at {where} {expected}"), done.stderr
    if command[0] != "worker":  # the worker logs its start-up settings before it connects
        assert done.stderr.strip().splitlines() == errors, done.stderr
    for text in (done.stdout, done.stderr):
        assert wrong not in text and PASSWORD not in text
