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
    done = verify(folder, "sla-pipeline-worker@1.service", "sla-pipeline-notifier.service",
                  "sla-pipeline-ingest.service")
    assert done.returncode == 0 and about_ours(done.stdout + done.stderr) == [], done.stdout + done.stderr
    for unit in ("sla-pipeline-worker@.service", "sla-pipeline-notifier.service", "sla-pipeline-ingest.service"):
        text = (UNITS / unit).read_text()
        assert "Restart=on-failure" in text and "User=sla-pipeline" in text
    assert "SLA_DATA_DIR=/var/lib/sla-pipeline/worker-%i" in (UNITS / "sla-pipeline-worker@.service").read_text()
    # the check can fail: a unit systemd would half-ignore is reported
    broken = folder / "sla-pipeline-notifier.service"
    broken.write_text(broken.read_text().replace("Restart=on-failure", "Restart=sometimes"))
    assert any("Failed to parse" in line for line in about_ours(verify(folder, "sla-pipeline-notifier.service").stderr))


def directives(unit: str) -> list[str]:
    """The unit's lines that are not comments or blank."""
    return [line for line in (UNITS / unit).read_text().splitlines() if line and not line.startswith("#")]


def test_the_ingest_unit_is_hardened_as_the_others_and_gets_its_token_as_a_credential() -> None:
    ingest = directives("sla-pipeline-ingest.service")
    hardening = [line for line in directives("sla-pipeline-notifier.service")
                 if line.startswith(("NoNewPrivileges", "ProtectSystem", "ProtectHome", "PrivateTmp", "User=",
                                     "Group="))]
    assert len(hardening) == 6 and set(hardening) <= set(ingest)
    assert "ExecStart=/opt/sla-pipeline/bin/sla-pipeline ingest" in ingest
    assert "EnvironmentFile=/etc/sla-pipeline/sla-pipeline.env" in ingest  # the Kafka settings every command shares
    assert "LoadCredential=ingest-token:/etc/sla-pipeline/ingest-token" in ingest
    assert "Environment=SLA_INGEST_TOKEN_FILE=%d/ingest-token" in ingest
    # every secret is a file in the credentials folder, never a value in the unit
    assert all(line.split("=", 2)[2].startswith("%d/") for line in ingest
               if line.startswith("Environment=") and "_FILE=" in line)


def documented_drop_in() -> str:
    """The drop-in the unit's comments show for a source's secret (the indented comment lines)."""
    lines = [line.removeprefix("#   ") for line in (UNITS / "sla-pipeline-ingest.service").read_text().splitlines()
             if line.startswith("#   ") and not line.startswith("#    ")]
    return "\n".join(lines) + "\n"


@needs("systemd-analyze")
def test_the_drop_in_its_comments_show_for_a_source_secret_verifies(tmp_path: Path) -> None:
    drop_in = documented_drop_in()
    assert drop_in.splitlines() == ["[Service]", "LoadCredential=zendesk:/etc/sla-pipeline/ingest-zendesk-secret",
                                    "Environment=SLA_INGEST_ZENDESK_SECRET_FILE=%d/zendesk"]
    folder = installed(tmp_path)
    (folder / "sla-pipeline-ingest.service.d").mkdir()
    conf = folder / "sla-pipeline-ingest.service.d" / "zendesk.conf"
    conf.write_text(drop_in)
    done = verify(folder, "sla-pipeline-ingest.service")
    assert done.returncode == 0 and about_ours(done.stdout + done.stderr) == [], done.stdout + done.stderr
    # the check can fail: verify reads the drop-in, and a misspelt key in it is reported
    conf.write_text(drop_in.replace("LoadCredential=", "LoadCredentials="))
    done = verify(folder, "sla-pipeline-ingest.service")
    assert any("LoadCredentials" in line for line in about_ours(done.stdout + done.stderr)), done.stderr
