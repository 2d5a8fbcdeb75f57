"""The systemd units for a host install pass ``systemd-analyze verify`` (as systemd would load them).

verify also loads the units ours pull in (multi-user.target and what it wants), so on a host with other
software it prints those units' warnings too (Debian's request-tracker5.service: "Failed to add dependency
on mysql, ignoring"). Only what it says about ours is judged."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

from tests.deploy.conftest import DEPLOY, needs

UNITS = DEPLOY / "systemd"
CLI = Path(sys.executable).parent / "sla-pipeline"
OURS = "sla-pipeline-"
# "/lib/systemd/system/x.service:8: ..." or "x.service: ...": a line about the unit it starts with
ABOUT_UNIT = re.compile(r"^(?:\S*/)?([^\s/:]+\.(?:service|socket|target|timer|mount|automount|path|slice|scope|"
                        r"device|swap))(?::\d+)?: ")


def about_ours(output: str) -> list[str]:
    """The lines of verify's output that are not about another package's unit (so also any line naming no
    unit: nothing of ours is let through by the filter)."""
    lines = []
    for line in output.splitlines():
        unit = ABOUT_UNIT.match(line)
        if line.strip() and (unit is None or unit.group(1).startswith(OURS)):
            lines.append(line)
    return lines


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


def test_other_packages_units_are_not_ours_to_judge() -> None:
    seen = (  # verify's output on a host with Request Tracker, around two problems of ours
        "/lib/systemd/system/request-tracker5.service:8: Failed to add dependency on mysql, ignoring: Invalid\n"
        "/tmp/x/sla-pipeline-notifier.service:12: Failed to parse service restart specifier, ignoring: sometimes\n"
        "request-tracker5.service: Command /usr/bin/x is not executable: No such file or directory\n"
        "sla-pipeline-worker@1.service: Command /opt/x is not executable: No such file or directory\n"
        "Something went wrong that names no unit\n"
    )
    assert about_ours(seen) == [
        "/tmp/x/sla-pipeline-notifier.service:12: Failed to parse service restart specifier, ignoring: sometimes",
        "sla-pipeline-worker@1.service: Command /opt/x is not executable: No such file or directory",
        "Something went wrong that names no unit",
    ]


@needs("systemd-analyze")
def test_the_units_verify_cleanly_and_restart_on_failure(tmp_path: Path) -> None:
    folder = installed(tmp_path)
    done = verify(folder, "sla-pipeline-worker@1.service", "sla-pipeline-notifier.service")
    assert done.returncode == 0 and about_ours(done.stdout + done.stderr) == [], done.stdout + done.stderr
    for unit in ("sla-pipeline-worker@.service", "sla-pipeline-notifier.service"):
        text = (UNITS / unit).read_text()
        assert "Restart=on-failure" in text and "User=sla-pipeline" in text
    assert "SLA_DATA_DIR=/var/lib/sla-pipeline/worker-%i" in (UNITS / "sla-pipeline-worker@.service").read_text()
    # the check can fail: a unit systemd would half-ignore is reported
    broken = folder / "sla-pipeline-notifier.service"
    broken.write_text(broken.read_text().replace("Restart=on-failure", "Restart=sometimes"))
    assert any("Failed to parse" in line for line in about_ours(verify(folder, "sla-pipeline-notifier.service").stderr))
