"""``sla-pipeline generate [--check]``: write (or compare) the generated Prometheus rules and dashboards.

They are written into the package's resources (``pipeline/resources/prometheus`` and ``.../grafana``),
which the checkout's ``deploy/prometheus/rules`` and ``grafana/dashboards`` link to, so an installed
package carries the same files. The boards need the ``dashboards`` extra (grafana-foundation-sdk).

The checked-in files are generated from the shipped example policy (``policy.example.toml``: its gold and
standard contracts get their own rules and board panels). A deployment whose policy defines other
contracts or goals generates its own from its policy file (``SLA_POLICY_FILE``).
"""

from __future__ import annotations

from pathlib import Path

from pipeline import resources
from pipeline.domain.policy import Policy, load_policy
from pipeline.errors import PipelineError
from pipeline.observability import rules
from pipeline.settings import DEFAULT_RUNBOOK_BASE_URL

ROOT = Path(resources.__file__).resolve().parent


def example_policy() -> Policy:
    """The shipped example policy, which the checked-in rules and boards are generated from."""
    with resources.as_file(resources.resource(resources.POLICY_EXAMPLE)) as path:
        return load_policy(path)


def outputs(policy: Policy | None = None, runbook_base: str = DEFAULT_RUNBOOK_BASE_URL) -> dict[Path, str]:
    try:
        from pipeline.observability import dashboards
    except ImportError as exc:
        raise PipelineError(f"the Grafana boards are generated with grafana-foundation-sdk ({exc.name} is missing): "
                            "pip install 'sla-pipeline[dashboards]'") from None
    policy = policy or example_policy()
    files = {Path(resources.RULES): rules.as_yaml(policy, runbook_base)}
    for name, text in dashboards.render(policy).items():
        files[Path(resources.BOARDS) / name] = text
    return files


def write(root: Path = ROOT, **kwargs: object) -> list[Path]:
    written = []
    for rel, text in outputs(**kwargs).items():  # type: ignore[arg-type]
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        if not path.exists() or path.read_text() != text:
            path.write_text(text)
            written.append(rel)
    return written


def stale(root: Path = ROOT, **kwargs: object) -> list[Path]:
    """Generated files whose checked-in copy differs from what the code generates now."""
    return [rel for rel, text in outputs(**kwargs).items()  # type: ignore[arg-type]
            if not (root / rel).exists() or (root / rel).read_text() != text]
