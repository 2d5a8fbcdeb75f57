"""The Helm chart: lint, render with default values and with a SASL_SSL cluster's values, every object valid
against the Kubernetes schema (kubernetes-validate), and the PrometheusRule exactly the generated rules."""

from __future__ import annotations

import base64
from pathlib import Path

import kubernetes_validate
import pytest
import yaml

from pipeline import resources
from tests.deploy.conftest import CHART, KUBERNETES, helm, needs_helm, render

pytestmark = needs_helm
CRDS = {"PodMonitor", "PrometheusRule"}  # the Prometheus operator's kinds: not in Kubernetes' own schema


BOARDS = len(list((CHART / "files" / "dashboards").glob("*.json")))  # a ConfigMap each
BASE = ["Service", "StatefulSet", "PodDisruptionBudget", "Deployment", "PodMonitor", "PrometheusRule",
        *["ConfigMap"] * BOARDS]  # the workers, the notifier, monitoring and the boards
# the gateway (ci/ingest-values.yaml): its Deployment, Service, PodDisruptionBudget, Ingress, NetworkPolicy
# and mapping files; its secrets are an existing Secret there
GATEWAY = ["Deployment", "Service", "PodDisruptionBudget", "Ingress", "NetworkPolicy", "ConfigMap"]


@pytest.mark.parametrize(("values", "kinds"), [
    ([], [*BASE, "Secret"]),  # the chart makes the reports' token; no gateway
    (["ci/sasl-ssl-values.yaml"], [*BASE, "ConfigMap"]),  # the policy; an existing Secret holds the token
    (["ci/ingest-values.yaml"], [*BASE, "Secret", *GATEWAY]),
    (["ci/sasl-ssl-values.yaml", "ci/ingest-values.yaml"], [*BASE, "ConfigMap", *GATEWAY]),
])
def test_the_chart_lints_and_every_object_is_valid(values: list[str], kinds: list[str]) -> None:
    done = helm("lint", "--strict", str(CHART), *(arg for v in values for arg in ("-f", str(CHART / v))))
    assert done.returncode == 0, done.stdout + done.stderr
    docs = render(*values)
    assert sorted(doc["kind"] for doc in docs) == sorted(kinds)
    for doc in docs:
        if doc["kind"] not in CRDS:
            kubernetes_validate.validate(doc, KUBERNETES, strict=True)


def test_the_prometheus_rule_holds_exactly_the_generated_rules() -> None:
    [rule] = [doc for doc in render() if doc["kind"] == "PrometheusRule"]
    assert rule["spec"] == yaml.safe_load(resources.read_text(resources.RULES))


def test_a_sasl_ssl_cluster_gets_its_password_and_ca_as_files_from_existing_secrets() -> None:
    [workers] = [doc for doc in render("ci/sasl-ssl-values.yaml") if doc["kind"] == "StatefulSet"]
    pod = workers["spec"]["template"]["spec"]
    env = {e["name"]: e.get("value") for e in pod["containers"][0]["env"]}
    # the other workers forward /tickets/<id> to this one at its pod's address
    assert env["SLA_WEB_ADVERTISED_URL"] == "http://$(POD_IP):6066"
    assert {"name": "POD_IP", "valueFrom": {"fieldRef": {"fieldPath": "status.podIP"}}} in pod["containers"][0]["env"]
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


# The ingest gateway (`sla-pipeline ingest`): off by default; ci/ingest-values.yaml turns it on behind an Ingress.
INGEST = "ci/ingest-values.yaml"
SECRETS = "/etc/sla-pipeline/secrets/ingest"


def one(docs: list[dict], kind: str, component: str | None = None) -> dict:
    """The one object of this kind (of this component, by its app.kubernetes.io/component label)."""
    found = [d for d in docs if d["kind"] == kind
             and component in (None, d["metadata"]["labels"].get("app.kubernetes.io/component"))]
    assert len(found) == 1, f"{len(found)} {kind} objects of {component}"
    return found[0]


def gateway(docs: list[dict]) -> tuple[dict, dict, dict[str, str]]:
    """The gateway's pod spec, its container and the container's environment."""
    pod = one(docs, "Deployment", "ingest")["spec"]["template"]["spec"]
    [container] = pod["containers"]
    assert all("valueFrom" not in e for e in container["env"])  # secrets are files, never env values
    return pod, container, {e["name"]: e["value"] for e in container["env"]}


def selects(selector: dict, labels: dict[str, str]) -> bool:
    """A label selector (matchLabels only: the chart writes no other kind) matches these labels."""
    assert set(selector) <= {"matchLabels"}, selector
    return all(labels.get(k) == v for k, v in selector.get("matchLabels", {}).items())


def admits(policy: dict, namespace: str, pod: dict[str, str], port: str = "http") -> bool:
    """NetworkPolicy semantics for a connection from a pod (its namespace's name and its labels) to this port
    of a pod the policy selects; a namespace carries its kubernetes.io/metadata.name label, as on every cluster."""
    own = policy["metadata"].get("namespace", "support")
    for rule in policy["spec"].get("ingress", []):
        if not any(p.get("port") == port for p in rule.get("ports", [{"port": port}])):
            continue
        for peer in rule.get("from", []):
            assert "ipBlock" not in peer, peer
            in_namespace = (selects(peer["namespaceSelector"], {"kubernetes.io/metadata.name": namespace})
                            if "namespaceSelector" in peer else namespace == own)
            if in_namespace and selects(peer.get("podSelector", {}), pod):
                return True
    return False


NGINX = ("ingress-nginx", {"app.kubernetes.io/name": "ingress-nginx"})
PROMETHEUS = ("monitoring", {"app.kubernetes.io/name": "prometheus"})


def test_without_ingest_the_chart_renders_no_part_of_the_gateway() -> None:
    docs = render()
    assert [d["metadata"]["name"] for d in docs if "ingest" in d["metadata"]["name"]] == []
    assert not any(d["kind"] in ("Ingress", "NetworkPolicy") for d in docs)


def test_the_gateway_runs_ingest_on_6068_with_probes_and_the_workers_security_and_kafka_settings() -> None:
    docs = render("ci/sasl-ssl-values.yaml", INGEST)
    pod, container, env = gateway(docs)
    assert one(docs, "Deployment", "ingest")["spec"]["replicas"] == 3
    assert container["args"] == ["ingest"]
    assert container["ports"] == [{"name": "http", "containerPort": 6068}] and env["SLA_INGEST_PORT"] == "6068"
    assert container["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": "http"}
    assert container["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": "http"}
    assert container["resources"]["limits"]["memory"]
    workers = one(docs, "StatefulSet")["spec"]["template"]["spec"]
    [worker] = workers["containers"]
    assert pod["securityContext"] == workers["securityContext"]
    assert container["securityContext"] == worker["securityContext"]
    kafka = {e["name"]: e["value"] for e in worker["env"] if e["name"].startswith("KAFKA_")}
    assert kafka and {k: env[k] for k in kafka} == kafka  # the same brokers, SASL and CA as the workers
    for name in ("kafka-password", "kafka-ca", "tmp"):  # and the same files for them
        assert [v for v in pod["volumes"] if v["name"] == name] == [v for v in workers["volumes"] if v["name"] == name]
    service = one(docs, "Service", "ingest")
    pod_labels = one(docs, "Deployment", "ingest")["spec"]["template"]["metadata"]["labels"]
    assert service["spec"]["ports"] == [{"name": "http", "port": 6068, "targetPort": "http"}]
    assert selects({"matchLabels": service["spec"]["selector"]}, pod_labels)
    worker_labels = one(docs, "StatefulSet")["spec"]["template"]["metadata"]["labels"]
    assert not selects({"matchLabels": service["spec"]["selector"]}, worker_labels)
    assert selects(one(docs, "PodDisruptionBudget", "ingest")["spec"]["selector"], pod_labels)


def test_the_gateway_secrets_are_files_from_an_existing_secret() -> None:
    docs = render(INGEST)
    assert [d for d in docs if d["kind"] == "Secret" and "ingest" in d["metadata"]["name"]] == []
    pod, container, env = gateway(docs)
    volumes = {v["name"]: v for v in pod["volumes"]}
    mounts = {m["name"]: m for m in container["volumeMounts"]}
    assert volumes["ingest-secrets"]["secret"] == {"secretName": "sla-ingest-secrets", "defaultMode": 0o400}
    assert mounts["ingest-secrets"] == {"name": "ingest-secrets", "mountPath": SECRETS, "readOnly": True}
    assert {k: v for k, v in env.items() if k.startswith("SLA_INGEST_") and k.endswith("_FILE")} == {
        "SLA_INGEST_TOKEN_FILE": f"{SECRETS}/token",
        "SLA_INGEST_ZENDESK_SECRET_FILE": f"{SECRETS}/zendesk",
        "SLA_INGEST_RT_SECRET_FILE": f"{SECRETS}/rt",
        "SLA_INGEST_RT_PASSWORD_FILE": f"{SECRETS}/rt-password",
    }
    assert env["SLA_INGEST_SOURCES"] == "zendesk,rt"
    assert env["SLA_INGEST_RT_URL"] == "https://rt.example.com" and env["SLA_INGEST_RT_USER"] == "sla-pipeline"


def test_the_chart_makes_the_gateway_secret_from_values_and_never_puts_one_in_the_environment() -> None:
    given = {"zendesk": "zendesk-signing-secret", "freshdesk": "shared-header-value"}
    docs = render(**{"ingest.enabled": "true", "ingest.sources": "{zendesk,freshdesk}",
                     **{f"ingest.secrets.{k}": v for k, v in given.items()}})
    secret = one(docs, "Secret", "ingest")
    kubernetes_validate.validate(secret, KUBERNETES, strict=True)
    data = {k: base64.b64decode(v).decode() for k, v in secret["data"].items()}
    token = data.pop("token")
    assert data == given  # the sources served, nothing else (no RT password without the catch-up)
    assert len(token) == 40 and token.isalnum()  # random when not given
    pod, _, env = gateway(docs)
    assert {v["name"]: v.get("secret", {}).get("secretName") for v in pod["volumes"]}["ingest-secrets"] == "sla-ingest"
    assert env["SLA_INGEST_FRESHDESK_SECRET_FILE"] == f"{SECRETS}/freshdesk"
    assert not any(s in value for s in [token, *given.values()] for value in env.values())
    assert "SLA_INGEST_MAPPING_DIR" not in env  # the shipped mappings, no ConfigMap
    assert not any(d["kind"] == "ConfigMap" and "ingest" in d["metadata"]["name"] for d in docs)
    assert not any(d["kind"] == "Ingress" for d in docs)  # off unless asked


@pytest.mark.parametrize(("sets", "message"), [
    ({"ingest.sources": "{zendesk}"}, "ingest.secrets.zendesk: the zendesk webhook's secret"),
    ({"ingest.sources": "{servicenow}"}, 'ingest.sources: "servicenow" is not a source the gateway knows'),
    ({"ingest.rtCatchup.url": "https://rt.example.com", "ingest.rtCatchup.user": "u"}, "ingest.secrets.rtPassword"),
    ({"ingest.ingress.enabled": "true"}, "ingest.ingress.host"),
    ({"ingest.mappings.servicenow\\.toml": "x"}, 'ingest.mappings: "servicenow.toml" is not <source>.toml'),
    ({"ingest.mappings.rt": "x"}, 'ingest.mappings: "rt" is not <source>.toml'),
    ({"ingest.networkPolicy.ingressController.namespaceSelector": "null",
      "ingest.networkPolicy.ingressController.podSelector": "null"},
     "ingest.networkPolicy.ingressController: set namespaceSelector or podSelector"),
])
def test_a_gateway_misconfiguration_is_refused_naming_its_value(sets: dict[str, str], message: str) -> None:
    flags = [arg for key, value in {"ingest.enabled": "true", **sets}.items() for arg in ("--set", f"{key}={value}")]
    done = helm("template", "sla", str(CHART), *flags)
    assert done.returncode != 0 and message in done.stderr, done.stderr


def test_mapping_files_reach_the_gateway_as_its_mapping_dir() -> None:
    docs = render(INGEST)
    config = one(docs, "ConfigMap", "ingest")
    assert config["data"] == {"rt.toml": 'ticket_prefix = "RT-"\ndefault_severity = 3\n'}
    pod, container, env = gateway(docs)
    [mount] = [m for m in container["volumeMounts"] if m["name"] == "ingest-mappings"]
    assert env["SLA_INGEST_MAPPING_DIR"] == mount["mountPath"] and mount["readOnly"] is True
    assert {v["name"]: v for v in pod["volumes"]}["ingest-mappings"]["configMap"]["name"] == config["metadata"]["name"]
    existing = render(INGEST, **{"ingest.mappings": "null", "ingest.mappingsConfigMap": "our-mappings"})
    assert not any(d["kind"] == "ConfigMap" and "ingest" in d["metadata"]["name"] for d in existing)
    pod, _, env = gateway(existing)
    assert {v["name"]: v for v in pod["volumes"]}["ingest-mappings"]["configMap"]["name"] == "our-mappings"


def test_the_ingress_routes_only_the_gateway_v1_paths_with_tls() -> None:
    docs = render(INGEST)
    ingress = one(docs, "Ingress")
    spec = ingress["spec"]
    assert spec["ingressClassName"] == "nginx"
    assert spec["tls"] == [{"hosts": ["sla-ingest.example.com"], "secretName": "sla-ingest-tls"}]
    [rule] = spec["rules"]
    assert rule["host"] == "sla-ingest.example.com"
    # /v1/webhooks/<source> and /v1/events; /metrics, /healthz and /readyz are not reachable from outside
    assert [(p["path"], p["pathType"]) for p in rule["http"]["paths"]] == [("/v1", "Prefix")]
    backend = rule["http"]["paths"][0]["backend"]["service"]
    assert backend == {"name": one(docs, "Service", "ingest")["metadata"]["name"], "port": {"name": "http"}}
    assert ingress["metadata"]["annotations"] == {"nginx.ingress.kubernetes.io/proxy-body-size": "1m"}


def test_the_network_policy_admits_only_the_ingress_controller_and_prometheus_to_the_gateway() -> None:
    docs = render(INGEST)
    policy = one(docs, "NetworkPolicy")
    gateway_labels = one(docs, "Deployment", "ingest")["spec"]["template"]["metadata"]["labels"]
    worker_labels = one(docs, "StatefulSet")["spec"]["template"]["metadata"]["labels"]
    assert selects(policy["spec"]["podSelector"], gateway_labels)
    assert not selects(policy["spec"]["podSelector"], worker_labels)  # the workers are not its business
    assert policy["spec"]["policyTypes"] == ["Ingress"]  # egress (Kafka, DNS) stays open
    assert admits(policy, *NGINX) and admits(policy, *PROMETHEUS)
    assert not admits(policy, *NGINX, port="9999")
    assert not admits(policy, "tenant-a", NGINX[1])  # the same labels in another namespace
    assert not admits(policy, "ingress-nginx", {"app.kubernetes.io/name": "something-else"})
    assert not admits(policy, "support", worker_labels)  # not even the release's own pods
    assert not admits(policy, "support", {})
    # without the PodMonitor, Prometheus has no business there either
    quiet = one(render(INGEST, **{"prometheus.podMonitor.enabled": "false"}), "NetworkPolicy")
    assert admits(quiet, *NGINX) and not admits(quiet, *PROMETHEUS)


def test_the_network_policy_follows_the_configured_ingress_controller() -> None:
    traefik = {"app.kubernetes.io/name": "traefik"}
    docs = render(INGEST, **{
        "ingest.networkPolicy.ingressController.namespaceSelector.matchLabels.kubernetes\\.io/metadata\\.name":
            "traefik",
        "ingest.networkPolicy.ingressController.podSelector.matchLabels.app\\.kubernetes\\.io/name": "traefik"})
    policy = one(docs, "NetworkPolicy")
    kubernetes_validate.validate(policy, KUBERNETES, strict=True)
    assert admits(policy, "traefik", traefik) and not admits(policy, *NGINX)
    same_namespace = one(render(INGEST, **{"ingest.networkPolicy.ingressController.namespaceSelector": "null"}),
                         "NetworkPolicy")
    assert admits(same_namespace, "support", NGINX[1]) and not admits(same_namespace, *NGINX)
