"""The compose file for people with Docker. It cannot run here (no image registry is reachable), so it is
checked as far as it can be without one: services, health checks, volumes, every file it mounts, and the
Prometheus configuration it mounts (by promtool, with the generated rules)."""

from __future__ import annotations

import subprocess
import tomllib

import yaml

from tests.deploy.conftest import DEPLOY, ROOT, needs

COMPOSE = DEPLOY / "compose"


def compose() -> dict:
    return yaml.safe_load((COMPOSE / "compose.yml").read_text())


def test_every_part_is_there_with_a_health_check_and_its_state_on_a_volume() -> None:
    services = compose()["services"]
    assert set(services) == {"kafka", "worker-1", "worker-2", "notifier", "prometheus", "alertmanager", "grafana"}
    for name, service in services.items():
        assert service.get("healthcheck", {}).get("test"), f"{name} has no health check"
        assert service.get("restart") == "on-failure", name
    version = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["version"]
    for name in ("worker-1", "worker-2", "notifier"):
        assert services[name]["image"] == f"${{SLA_IMAGE:-localhost/sla-pipeline:{version}}}"  # build.sh's tag
        assert services[name]["depends_on"]["kafka"]["condition"] == "service_healthy"
    for name in ("worker-1", "worker-2"):
        assert services[name]["command"] == ["worker"]
        assert services[name]["healthcheck"]["test"] == ["CMD", "sla-pipeline", "health"]
        assert f"{name}-data:/var/lib/sla-pipeline" in services[name]["volumes"]
    assert services["notifier"]["environment"]["SLA_ALERTMANAGER_URL"] == "http://alertmanager:9093"
    named = set(compose()["volumes"])
    for service in services.values():
        for volume in service.get("volumes", []):
            source = volume.split(":")[0]
            if source.startswith("."):
                assert (COMPOSE / source).exists(), f"{source} is mounted but missing"
            else:
                assert source in named, f"volume {source} is not declared"


@needs("promtool")
def test_its_prometheus_scrapes_what_the_rules_expect_and_loads_the_generated_rules() -> None:
    done = subprocess.run(["promtool", "check", "config", str(COMPOSE / "prometheus.yml")], capture_output=True,
                          text=True, check=False)
    rules = (COMPOSE / "rules" / "sla.rules.yml").read_text()
    count = sum(len(group["rules"]) for group in yaml.safe_load(rules)["groups"])
    assert done.returncode == 0 and f"SUCCESS: {count} rules found" in done.stdout, done.stdout + done.stderr
    jobs = {job["job_name"] for job in yaml.safe_load((COMPOSE / "prometheus.yml").read_text())["scrape_configs"]}
    assert jobs == {"sla-pipeline", "sla-notifier"} and 'job="sla-pipeline"' in rules and 'job="sla-notifier"' in rules
