"""The deploy tier: the shipped deployment files checked by the tools that will load them (helm, promtool,
systemd-analyze, podman). Each test skips, saying why, where its tool is missing; ``make test`` installs them
all (scripts/bootstrap.sh test).

Helpers shared by these tests live here: where the deploy files are, the tools, and for the container test
one broker of the default Kafka version (started as the integration tier starts its brokers).
"""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from pipeline.settings import DEFAULT_KAFKA_VERSION
from tests.integration.conftest import Broker, Topics, new_topics, running_broker

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
CHART = DEPLOY / "helm" / "sla-pipeline"
KUBERNETES = "1.33"  # the Kubernetes version the chart's objects are rendered for and validated against


def needs(*tools: str) -> pytest.MarkDecorator:
    """Skip unless every tool is on the PATH (``make test`` installs them)."""
    missing = [tool for tool in tools if shutil.which(tool) is None]
    return pytest.mark.skipif(bool(missing), reason=f"{', '.join(missing)} not installed (scripts/bootstrap.sh test)")


def _helm() -> str:
    """helm on the PATH, or where scripts/bootstrap.sh builds it: $(go env GOPATH)/bin/helm."""
    found = shutil.which("helm")
    if found or shutil.which("go") is None:
        return found or "helm"
    gopath = subprocess.run(["go", "env", "GOPATH"], capture_output=True, text=True, check=False).stdout.strip()
    return str(Path(gopath) / "bin" / "helm")


HELM = _helm()
needs_helm = pytest.mark.skipif(shutil.which(HELM) is None,
                                reason="helm is not installed (scripts/bootstrap.sh test builds it with Go)")


def helm(command: str, *args: str) -> subprocess.CompletedProcess:
    """``helm COMMAND`` for the Kubernetes version the objects are validated against."""
    return subprocess.run([HELM, command, "--kube-version", f"{KUBERNETES}.0", *args], capture_output=True,
                          text=True, check=False)


def render(*values: str | Path, **sets: str) -> list[dict]:
    """The chart's objects from ``helm template`` with these values files (relative to the chart, or paths)
    and ``--set key=value`` pairs; asserts that it renders."""
    flags = [arg for v in values for arg in ("-f", str(CHART / v))]
    flags += [arg for key, value in sets.items() for arg in ("--set", f"{key}={value}")]
    done = helm("template", "sla", str(CHART), "--namespace", "support", *flags)
    assert done.returncode == 0, done.stderr
    return [doc for doc in yaml.safe_load_all(done.stdout) if doc]


@pytest.fixture(scope="session")
def broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Broker]:
    """One broker of the default Kafka version for the whole tier (the image test needs one, not each)."""
    with running_broker(DEFAULT_KAFKA_VERSION, tmp_path_factory.mktemp("deploy-kafka")) as b:
        yield b


@pytest.fixture
def topics() -> Topics:
    return new_topics()
