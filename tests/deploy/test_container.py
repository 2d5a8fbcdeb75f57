"""The container image, built and run for real with podman: a worker in a container (non-root, state on a
volume, a health check) processes events from the test broker and publishes an outcome."""

from __future__ import annotations

import os
import shutil
import subprocess
import time
import uuid
from pathlib import Path

import orjson
import pytest

from pipeline.domain.records import Outcome
from pipeline.domain.timefmt import format_rfc3339_ms
from pipeline.kafka.tail import Tail
from tests.business_hours import write_policy
from tests.deploy.conftest import ROOT
from tests.integration.conftest import Broker, Topics, free_port, produce

PODMAN = ["podman", "--runtime", "runc", "--cgroup-manager=cgroupfs"]
T0 = 1_772_442_000_000
MIN = 60_000


def podman_usable() -> str | None:
    """None if podman can build and run here; else why not (the test then skips, saying so)."""
    for tool in ("podman", "runc", "mmdebstrap"):
        if shutil.which(tool) is None:
            return f"{tool} is not installed (scripts/bootstrap.sh test installs it as root)"
    done = subprocess.run([*PODMAN, "info"], capture_output=True, text=True, check=False, env=_env())
    return None if done.returncode == 0 else f"podman cannot run here: {done.stderr.strip()[:300]}"


def _env() -> dict[str, str]:
    conf = ROOT / "build" / "containers.conf"
    conf.parent.mkdir(exist_ok=True)
    conf.write_text("[containers]\ndefault_ulimits = []\n")
    return {**os.environ, "CONTAINERS_CONF": str(conf)}


def podman(*args: str, timeout: float = 120) -> subprocess.CompletedProcess:
    return subprocess.run([*PODMAN, *args], capture_output=True, text=True, timeout=timeout, check=False,
                          env=_env())


@pytest.mark.timeout(1200)  # the image build alone may take up to 900 s on a busy 2-core machine
async def test_a_worker_container_publishes_an_outcome(broker: Broker, topics: Topics, tmp_path: Path) -> None:
    why = podman_usable()
    if why is not None:
        pytest.skip(why)
    tag = f"localhost/sla-pipeline-test:{uuid.uuid4().hex[:8]}"
    built = subprocess.run(["deploy/container/build.sh", tag], cwd=ROOT, capture_output=True, text=True,
                           timeout=900, check=False, env={**_env(), "BASE": "local"})
    assert built.returncode == 0, built.stdout[-3000:] + built.stderr[-3000:]
    volume, port = f"sla-test-{uuid.uuid4().hex[:8]}", free_port()
    image = orjson.loads(podman("image", "inspect", tag).stdout)[0]
    config = image["Config"]
    assert config["User"] == "10001:10001" and config["Entrypoint"] == ["sla-pipeline"]
    assert image["Healthcheck"]["Test"] == ["CMD", "sla-pipeline", "health"]
    assert "/var/lib/sla-pipeline" in config["Volumes"]
    # a policy with a business-hours calendar in Europe/Berlin: the image must carry the IANA zones
    policy_dir = tmp_path / "policy"
    policy_dir.mkdir(mode=0o755)
    tmp_path.chmod(0o755)
    write_policy(policy_dir).chmod(0o644)
    env = {**topics.env(), "KAFKA_BOOTSTRAP_SERVERS": broker.bootstrap, "SLA_WEB_PORT": str(port),
           "SLA_CLOCK": "event", "SLA_PARTITIONS": "2", "SLA_POLICY_FILE": "/etc/sla-pipeline/policy.toml"}
    flags = [arg for key, value in env.items() for arg in ("-e", f"{key}={value}")]
    started = podman("run", "-d", "--network=host", "-v", f"{volume}:/var/lib/sla-pipeline",
                     "-v", f"{policy_dir}:/etc/sla-pipeline:ro", *flags, tag, "worker")
    assert started.returncode == 0, started.stderr
    container = started.stdout.strip()
    try:
        deadline = time.monotonic() + 120
        while podman("healthcheck", "run", container).returncode != 0:
            assert time.monotonic() < deadline, podman("logs", container).stdout[-3000:]
            assert podman("container", "exists", container).returncode == 0, "the worker container exited"
            time.sleep(1)
        created = {"event_id": "C-1", "type": "ticket.created", "ticket_id": "CTR-1", "severity": 1,
                   "product": "plesk", "customer_id": "C", "occurred_at": format_rfc3339_ms(T0)}
        assigned = {"event_id": "C-2", "type": "ticket.assigned", "ticket_id": "CTR-1", "engineer_id": "E",
                    "occurred_at": format_rfc3339_ms(T0 + 16 * MIN)}
        await produce(broker.bootstrap, topics.events, [(b"CTR-1", orjson.dumps(created)),
                                                         (b"CTR-1", orjson.dumps(assigned))])
        outcome = None
        async with Tail(broker.bootstrap, topics.outcomes) as tail:
            deadline = time.monotonic() + 90
            while outcome is None and time.monotonic() < deadline:
                for r in await tail.records():
                    outcome = Outcome.decode(r.value)
        assert outcome is not None, podman("logs", container).stdout[-3000:]
        assert (outcome.ticket_id, outcome.outcome, outcome.calendar) == ("CTR-1", "breached", "24x7")
        # state is written under the volume, as the image's user
        listed = podman("exec", container, "sh", "-c", "ls /var/lib/sla-pipeline/data && id -u")
        assert listed.returncode == 0 and listed.stdout.strip().endswith("10001"), listed.stdout + listed.stderr
    finally:
        podman("rm", "-f", "-t", "10", container)
        podman("volume", "rm", "-f", volume)
        podman("rmi", "-f", tag)
