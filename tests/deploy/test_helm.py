"""The Helm chart: lint, render with default values and with a SASL_SSL cluster's values, every object valid
against the Kubernetes schema (kubernetes-validate), and the PrometheusRule exactly the generated rules."""

from __future__ import annotations

from pathlib import Path

import kubernetes_validate
import pytest
import yaml

from pipeline import resources
from tests.deploy.conftest import CHART, KUBERNETES, helm, needs_helm, render

pytestmark = needs_helm
CRDS = {"PodMonitor", "PrometheusRule"}  # the Prometheus operator's kinds: not in Kubernetes' own schema


@pytest.mark.parametrize("values", [[], ["ci/sasl-ssl-values.yaml"]])
def test_the_chart_lints_and_every_object_is_valid(values: list[str]) -> None:
    done = helm("lint", "--strict", str(CHART), *(arg for v in values for arg in ("-f", str(CHART / v))))
    assert done.returncode == 0, done.stdout + done.stderr
    docs = render(*values)
    kinds = sorted(doc["kind"] for doc in docs)
    made_token = not values  # the SASL_SSL values name an existing Secret for the reports' token
    assert kinds == sorted(["Service", "StatefulSet", "PodDisruptionBudget", "Deployment", "PodMonitor",
                            "PrometheusRule", *(["ConfigMap"] * (4 + bool(values))), *(["Secret"] * made_token)])
    for doc in docs:
        if doc["kind"] not in CRDS:
            kubernetes_validate.validate(doc, KUBERNETES, strict=True)


def test_the_prometheus_rule_holds_exactly_the_generated_rules() -> None:
    [rule] = [doc for doc in render() if doc["kind"] == "PrometheusRule"]
    assert rule["spec"] == yaml.safe_load(resources.read_text(resources.RULES))


def test_a_sasl_ssl_cluster_gets_its_password_and_ca_as_files_from_existing_secrets() -> None:
    [workers] = [doc for doc in render("ci/sasl-ssl-values.yaml") if doc["kind"] == "StatefulSet"]
    pod = workers["spec"]["template"]["spec"]
    env = {e["name"]: e["value"] for e in pod["containers"][0]["env"]}
    assert env["KAFKA_SECURITY_PROTOCOL"] == "SASL_SSL" and env["KAFKA_SASL_MECHANISM"] == "SCRAM-SHA-512"
    assert env["KAFKA_SASL_PASSWORD_FILE"] == "/etc/sla-pipeline/secrets/kafka-password/password"
    assert "KAFKA_SASL_PASSWORD" not in env  # never a value in the pod spec
    secrets = {v["name"]: v["secret"]["secretName"] for v in pod["volumes"] if "secret" in v}
    assert secrets == {"kafka-password": "sla-pipeline-kafka", "kafka-ca": "kafka-ca",
                       "reports-token": "sla-pipeline-stackrank"}
    assert pod["securityContext"]["runAsNonRoot"] is True
    container = pod["containers"][0]
    assert container["readinessProbe"]["httpGet"]["path"] == "/readyz"
    assert container["livenessProbe"]["httpGet"]["path"] == "/healthz"
    assert workers["spec"]["volumeClaimTemplates"][0]["metadata"]["name"] == "data"


def test_more_workers_than_partitions_is_refused() -> None:
    done = helm("template", "sla", str(CHART), "--set", "workers.replicas=5", "--set", "workers.partitions=4")
    assert done.returncode != 0 and "workers.replicas (5) is more than workers.partitions (4)" in done.stderr


def test_a_policy_with_business_hours_calendars_reaches_the_workers_as_written(tmp_path: Path) -> None:
    from pipeline.domain.policy import load_policy
    from tests.business_hours import POLICY

    values = tmp_path / "values.yaml"
    values.write_text(yaml.safe_dump({"policy": POLICY}))
    done = helm("template", "sla", str(CHART), "--namespace", "support", "-f", str(values))
    assert done.returncode == 0, done.stderr
    docs = [doc for doc in yaml.safe_load_all(done.stdout) if doc]
    [config] = [d for d in docs if d["kind"] == "ConfigMap" and d["metadata"]["name"].endswith("-policy")]
    written = tmp_path / "policy.toml"
    written.write_text(config["data"]["policy.toml"])
    policy = load_policy(written)  # the TOML survives the chart: sub-tables, lists of rules
    assert policy.calendar_for(3, "plesk", False).name == "emea"
    [workers] = [d for d in docs if d["kind"] == "StatefulSet"]
    env = {e["name"]: e.get("value") for e in workers["spec"]["template"]["spec"]["containers"][0]["env"]}
    assert env["SLA_POLICY_FILE"].endswith("/policy.toml")
