"""Files the program reads at run time, shipped inside the package (``importlib.resources``): the runbooks
the worker serves, the default simulator profile, the policy example, the demo's Alertmanager routing, and
the generated Prometheus rules and Grafana boards. The checkout's ``docs/``, ``deploy/`` and ``grafana/``
link here, so each file has one home whether the program runs from a checkout or an installed wheel.
"""

from __future__ import annotations

from importlib.resources import as_file, files
from importlib.resources.abc import Traversable

RUNBOOKS = "runbooks.md"
DEFAULT_PROFILE = "profiles/default.toml"
POLICY_EXAMPLE = "policy.example.toml"
ALERTMANAGER = "alertmanager.yml"
RULES = "prometheus/sla.rules.yml"
BOARDS = "grafana"


def resource(name: str) -> Traversable:
    node = files(__name__)
    for part in name.split("/"):
        node = node / part
    return node


def read_text(name: str) -> str:
    return resource(name).read_text(encoding="utf-8")


def read_bytes(name: str) -> bytes:
    return resource(name).read_bytes()


__all__ = ["ALERTMANAGER", "BOARDS", "DEFAULT_PROFILE", "POLICY_EXAMPLE", "RULES", "RUNBOOKS", "as_file",
           "read_bytes", "read_text", "resource"]
