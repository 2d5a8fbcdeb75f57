"""Compose and the systemd units give every worker the token of its private pages as a file (never as a
value in the environment), and the notifier, which serves no private page, none."""

from __future__ import annotations

import subprocess

import yaml

from tests.deploy.conftest import DEPLOY


def test_compose_mounts_the_token_file_as_a_secret_into_each_worker() -> None:
    compose = yaml.safe_load((DEPLOY / "compose" / "compose.yml").read_text())
    services = compose["services"]
    assert compose["secrets"]["reports-token"] == {"file": "./reports-token"}
    for name in ("worker-1", "worker-2"):
        assert services[name]["secrets"] == ["reports-token"], name
        assert services[name]["environment"]["SLA_REPORTS_TOKEN_FILE"] == "/run/secrets/reports-token", name
    assert "secrets" not in services["notifier"] and "SLA_REPORTS_TOKEN_FILE" not in services["notifier"]["environment"]
    # the token file the operator makes beside compose.yml never reaches git
    ignored = subprocess.run(["git", "check-ignore", "-q", str(DEPLOY / "compose" / "reports-token")], check=False)
    assert ignored.returncode == 0


def test_the_worker_unit_loads_the_token_as_a_systemd_credential() -> None:
    unit = (DEPLOY / "systemd" / "sla-pipeline-worker@.service").read_text().splitlines()
    assert "LoadCredential=reports-token:/etc/sla-pipeline/reports-token" in unit
    assert "Environment=SLA_REPORTS_TOKEN_FILE=%d/reports-token" in unit  # %d: the unit's credentials folder
    notifier = (DEPLOY / "systemd" / "sla-pipeline-notifier.service").read_text()
    assert "REPORTS" not in notifier and "LoadCredential" not in notifier
