"""The shipped Prometheus configuration and rules, as promtool loads them, and the rules' own unit tests
(deploy/prometheus/tests: each alert fires, and stays silent, when its series say so; the contracts' rules
as generated from the shipped example policy)."""

from __future__ import annotations

import subprocess

import pytest

from tests.deploy.conftest import DEPLOY, ROOT, needs

RULE_TESTS = sorted(p.name for p in (DEPLOY / "prometheus" / "tests").glob("*.test.yml"))


def test_both_rule_test_files_are_found() -> None:
    assert RULE_TESTS == ["sla-contract-rules.test.yml", "sla-rules.test.yml"]


@needs("promtool")
@pytest.mark.parametrize("args", [["check", "config", "deploy/prometheus/prometheus.yml"],
                                  ["check", "rules", "deploy/prometheus/rules/sla.rules.yml"],  # duplicate rules
                                  *(["test", "rules", f"deploy/prometheus/tests/{name}"] for name in RULE_TESTS)],
                         ids=["config", "rules-lint", *(name.removesuffix(".test.yml") for name in RULE_TESTS)])
def test_shipped_prometheus_config_and_rules_pass_promtool(args: list[str]) -> None:
    done = subprocess.run(["promtool", *args], cwd=ROOT, capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stdout + done.stderr
