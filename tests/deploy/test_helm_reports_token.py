"""The chart gives the workers the token of their private pages (/stackrank, /reports/...): a Secret it makes
(a random token) or one that exists, mounted read-only as a file that SLA_REPORTS_TOKEN_FILE names; or,
when asked, no token and SLA_REPORTS_OPEN=true. Never the token as an environment value."""

from __future__ import annotations

import base64

import kubernetes_validate

from tests.deploy.conftest import CHART, KUBERNETES, helm, needs_helm, render

pytestmark = needs_helm
MOUNT = "/etc/sla-pipeline/secrets/reports-token"


def worker_pod(docs: list[dict]) -> tuple[dict, dict[str, str]]:
    [workers] = [doc for doc in docs if doc["kind"] == "StatefulSet"]
    pod = workers["spec"]["template"]["spec"]
    return pod, {e["name"]: e.get("value") for e in pod["containers"][0]["env"]}


def token_volume(pod: dict) -> tuple[str, str] | None:
    """(Secret name, mount path) of the token's volume, or None."""
    volumes = {v["name"]: v for v in pod["volumes"]}
    mounts = {m["name"]: m for m in pod["containers"][0]["volumeMounts"]}
    if "reports-token" not in volumes:
        assert "reports-token" not in mounts
        return None
    assert mounts["reports-token"]["readOnly"] is True and volumes["reports-token"]["secret"]["defaultMode"] == 0o400
    return volumes["reports-token"]["secret"]["secretName"], mounts["reports-token"]["mountPath"]


def test_by_default_the_chart_makes_a_random_token_and_mounts_it_as_the_workers_token_file() -> None:
    docs = render()
    [secret] = [doc for doc in docs if doc["kind"] == "Secret"]
    kubernetes_validate.validate(secret, KUBERNETES, strict=True)
    assert secret["metadata"]["name"] == "sla-reports-token"
    token = base64.b64decode(secret["data"]["token"]).decode()
    assert len(token) == 40 and token.isalnum()
    pod, env = worker_pod(docs)
    assert token_volume(pod) == ("sla-reports-token", MOUNT)
    assert env["SLA_REPORTS_TOKEN_FILE"] == f"{MOUNT}/token" and "SLA_REPORTS_OPEN" not in env
    assert all(token not in (value or "") for value in env.values())  # a file, never an environment value
    again = [doc for doc in render() if doc["kind"] == "Secret"][0]
    assert again["data"]["token"] != secret["data"]["token"]  # random per install (an upgrade keeps the live one)


def test_an_existing_secret_is_used_instead_of_making_one() -> None:
    docs = render(**{"workers.reportsToken.existingSecret": "support-reports", "workers.reportsToken.key": "bearer"})
    assert [doc for doc in docs if doc["kind"] == "Secret"] == []
    pod, env = worker_pod(docs)
    assert token_volume(pod) == ("support-reports", MOUNT)
    assert env["SLA_REPORTS_TOKEN_FILE"] == f"{MOUNT}/bearer"


def test_the_older_value_stackrank_token_secret_still_names_the_secret() -> None:
    docs = render(**{"workers.stackrankTokenSecret.name": "sla-pipeline-stackrank",
                     "workers.stackrankTokenSecret.key": "rank"})
    assert [doc for doc in docs if doc["kind"] == "Secret"] == []
    pod, env = worker_pod(docs)
    assert token_volume(pod) == ("sla-pipeline-stackrank", MOUNT)
    assert env["SLA_REPORTS_TOKEN_FILE"] == f"{MOUNT}/rank"


def test_open_pages_have_no_token_and_say_so_and_a_token_with_open_pages_is_refused() -> None:
    docs = render(**{"workers.reportsOpen": "true"})
    assert [doc for doc in docs if doc["kind"] == "Secret"] == []
    pod, env = worker_pod(docs)
    assert token_volume(pod) is None
    assert env["SLA_REPORTS_OPEN"] == "true" and "SLA_REPORTS_TOKEN_FILE" not in env
    done = helm("template", "sla", str(CHART), "--set", "workers.reportsOpen=true",
                "--set", "workers.reportsToken.existingSecret=support-reports")
    assert done.returncode != 0
    assert "workers.reportsOpen and workers.reportsToken.existingSecret exclude each other" in done.stderr
