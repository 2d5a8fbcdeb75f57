"""``sla-pipeline generate [--check]``: write (or compare) the generated Prometheus rules and dashboards."""

from __future__ import annotations

from pathlib import Path

from pipeline.domain.policy import Policy
from pipeline.observability import dashboards, rules, yamlout
from pipeline.settings import DEFAULT_RUNBOOK_BASE_URL

ROOT = Path(__file__).resolve().parents[2]


def outputs(policy: Policy | None = None, runbook_base: str = DEFAULT_RUNBOOK_BASE_URL) -> dict[Path, str]:
    policy = policy or Policy()
    files = {Path("deploy/prometheus/rules/sla.rules.yml"): yamlout.dump(rules.rules_file(policy, runbook_base),
                                                                          rules.HEADER)}
    for name, text in dashboards.render(policy).items():
        files[Path("grafana/dashboards") / name] = text
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
