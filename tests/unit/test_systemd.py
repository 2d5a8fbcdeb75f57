"""The systemd units for a host install pass ``systemd-analyze verify`` (as systemd would load them)."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
UNITS = ROOT / "deploy" / "systemd"
CLI = Path(sys.executable).parent / "sla-pipeline"


def verify(folder: Path, *units: str) -> subprocess.CompletedProcess:
    return subprocess.run(["systemd-analyze", "verify", *(str(folder / u) for u in units)], capture_output=True,
                          text=True, check=False)


def installed(tmp_path: Path) -> Path:
    """The units as installed, with ExecStart pointing at this checkout's command (verify checks it exists)."""
    for unit in UNITS.glob("*.service"):
        text = unit.read_text().replace("/opt/sla-pipeline/bin/sla-pipeline", str(CLI))
        (tmp_path / unit.name).write_text(text)
    shutil.copy(tmp_path / "sla-pipeline-worker@.service", tmp_path / "sla-pipeline-worker@1.service")
    return tmp_path


@pytest.mark.skipif(shutil.which("systemd-analyze") is None, reason="systemd-analyze is not installed")
def test_the_units_verify_cleanly_and_restart_on_failure(tmp_path: Path) -> None:
    folder = installed(tmp_path)
    done = verify(folder, "sla-pipeline-worker@1.service", "sla-pipeline-notifier.service")
    assert done.returncode == 0 and done.stdout + done.stderr == "", done.stdout + done.stderr
    for unit in ("sla-pipeline-worker@.service", "sla-pipeline-notifier.service"):
        text = (UNITS / unit).read_text()
        assert "Restart=on-failure" in text and "User=sla-pipeline" in text
    assert "SLA_DATA_DIR=/var/lib/sla-pipeline/worker-%i" in (UNITS / "sla-pipeline-worker@.service").read_text()
    # the check can fail: a unit systemd would half-ignore is reported
    broken = folder / "sla-pipeline-notifier.service"
    broken.write_text(broken.read_text().replace("Restart=on-failure", "Restart=sometimes"))
    assert "Failed to parse" in verify(folder, "sla-pipeline-notifier.service").stderr
