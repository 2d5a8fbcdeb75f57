"""The compose file for people with Docker. It cannot run here (no image registry is reachable), so it is
checked as far as it can be without one: against the Compose Specification's JSON schema (what `docker
compose config` checks), services, health checks, volumes, secrets as files, every file it mounts, and the
Prometheus configuration it mounts (by promtool, with the generated rules).

compose-spec.json beside this file is schema/compose-spec.json of github.com/compose-spec/compose-spec
(Apache License 2.0) at commit 170098ba07d9f53c383a41bfd4c5166b0a4529a6."""

from __future__ import annotations

import json
import subprocess
import tomllib

import jsonschema
import yaml

from tests.deploy.conftest import DEPLOY, ROOT, needs

COMPOSE = DEPLOY / "compose"


def compose() -> dict:
    return yaml.safe_load((COMPOSE / "compose.yml").read_text())


def test_every_part_is_there_with_a_health_check_and_its_state_on_a_volume() -> None:
    services = compose()["services"]
    assert set(services) == {"kafka", "worker-1", "worker-2", "notifier", "ingest", "prometheus", "alertmanager",
                             "grafana"}
    for name, service in services.items():
        assert service.get("healthcheck", {}).get("test"), f"{name} has no health check"
        assert service.get("restart") == "on-failure", name
    version = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["version"]
    for name in ("worker-1", "worker-2", "notifier", "ingest"):
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
    assert jobs == {"sla-pipeline", "sla-notifier", "sla-ingest"}
    assert 'job="sla-pipeline"' in rules and 'job="sla-notifier"' in rules


def test_it_is_a_valid_compose_file() -> None:
    schema = json.loads((ROOT / "tests" / "deploy" / "compose-spec.json").read_text())
    validator = jsonschema.Draft7Validator(schema)
    assert [error.message for error in validator.iter_errors(compose())] == []
    # the check can fail: a misspelt key is reported
    broken = compose()
    broken["services"]["ingest"]["healtcheck"] = broken["services"]["ingest"].pop("healthcheck")
    assert any("healtcheck" in error.message for error in validator.iter_errors(broken))


def test_the_ingest_gateway_serves_on_6068_with_its_secrets_as_files() -> None:
    spec = compose()
    ingest = spec["services"]["ingest"]
    assert ingest["command"] == ["ingest"] and ingest["ports"] == ["6068:6068"]
    assert ingest["environment"]["SLA_INGEST_PORT"] == "6068" and ingest["environment"]["SLA_WEB_HOST"] == "0.0.0.0"
    assert ingest["healthcheck"]["test"] == ["CMD", "sla-pipeline", "health", "--port", "6068", "--path", "/readyz"]
    files = {k: v for k, v in ingest["environment"].items() if k.startswith("SLA_INGEST_") and k.endswith("_FILE")}
    assert files == {"SLA_INGEST_TOKEN_FILE": "/run/secrets/ingest-token",
                     "SLA_INGEST_RT_SECRET_FILE": "/run/secrets/ingest-rt-secret"}
    # each names a secret the service is given, which compose mounts at /run/secrets/<name>
    assert sorted(ingest["secrets"]) == sorted(path.removeprefix("/run/secrets/") for path in files.values())
    assert not any(k.startswith("SLA_INGEST_") and k.endswith("_SECRET") for k in ingest["environment"])


def test_every_secret_is_a_file_that_git_ignores_and_every_one_used_is_declared() -> None:
    spec = compose()
    declared = spec["secrets"]
    for name, service in spec["services"].items():
        assert set(service.get("secrets", [])) <= set(declared), name
    for name, secret in declared.items():
        assert set(secret) == {"file"}, name  # a file made by the operator, never an environment value
        ignored = subprocess.run(["git", "check-ignore", "-q", str(COMPOSE / secret["file"])], check=False)
        assert ignored.returncode == 0, f"{secret['file']} would reach git: add it to deploy/compose/.gitignore"
