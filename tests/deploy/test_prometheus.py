"""The shipped Prometheus configuration and rules, as promtool loads them, and the rules' own unit tests
(deploy/prometheus/tests: each alert fires, and stays silent, when its series say so)."""

from __future__ import annotations

import subprocess

import pytest

from tests.deploy.conftest import ROOT, needs


@needs("promtool")
@pytest.mark.parametrize("args", [["check", "config", "deploy/prometheus/prometheus.yml"],
                                  ["test", "rules", "deploy/prometheus/tests/sla-rules.test.yml"]],
                         ids=["config", "rule-tests"])
def test_shipped_prometheus_config_and_rules_pass_promtool(args: list[str]) -> None:
    done = subprocess.run(["promtool", *args], cwd=ROOT, capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stdout + done.stderr
