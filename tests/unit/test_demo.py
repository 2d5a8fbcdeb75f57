"""The demo is the same at any wall-clock time: it plays a fixed hour of the week, whose first escalation
comes within seconds at the demo's speed-up. Its board lists escalations in time order, wraps long lines,
and links to the private pages with the token the demo gave its worker."""

from __future__ import annotations

import io
import stat
from pathlib import Path

import orjson
import pytest
import yaml
from rich.console import Console

from pipeline import resources
from pipeline.cli.board import Snapshot, render
from pipeline.cli.demo import DemoConfig, alertmanager_config, board_links, demo_start, write_token
from pipeline.domain.clock import EventPartitionClock, ManualClock
from pipeline.domain.policy import Policy
from pipeline.domain.records import Escalation
from pipeline.domain.timefmt import format_rfc3339_ms, parse_rfc3339_ms
from pipeline.metrics import Metrics
from pipeline.processing.io import Emit, Record
from pipeline.processing.processor import Processor
from pipeline.settings import Settings
from pipeline.simulate.generator import events
from pipeline.simulate.profile import load_profile
from tests.fakes import DictStore


@pytest.mark.parametrize("now", ["2026-11-28T03:10:00Z", "2026-11-29T23:59:59Z", "2026-12-01T09:00:00Z",
                                 "2026-12-01T08:59:59Z", "2026-12-03T14:00:00Z"])
def test_the_simulated_start_is_the_latest_tuesday_9_utc(now: str) -> None:
    start = demo_start(parse_rfc3339_ms(now))
    assert start <= parse_rfc3339_ms(now) < start + 7 * 86_400_000
    assert format_rfc3339_ms(start).endswith("T09:00:00.000Z")
    assert (start // 86_400_000 + 3) % 7 == 1  # Tuesday (1970-01-01 was a Thursday; Monday = 0)


def test_the_first_escalation_comes_within_a_minute_of_wall_time_at_any_hour() -> None:
    """What the demo's worker will decide, computed by the core over the same simulated events."""
    speedup = DemoConfig().speedup
    for now in ("2026-11-28T03:10:00Z", "2026-12-02T20:00:00Z"):  # a Saturday night, a Wednesday evening
        start = demo_start(parse_rfc3339_ms(now))
        wall = ManualClock(start)
        proc = Processor(clock=EventPartitionClock(wall), wall=wall, metrics=Metrics.create(),
                         policy=Policy(), orphan_timeout_ms=600_000, events_topic="e", ticks_topic="t")
        store, first = DictStore(), None
        for offset, doc in enumerate(events(load_profile(), DemoConfig().seed, start, start + 3_600_000)):
            outs = proc.handle(Record("e", 0, offset, doc.get("ticket_id", "").encode(), orjson.dumps(doc)), store)
            found = [Escalation.decode(o.value) for o in outs if isinstance(o, Emit) and o.topic == "escalations"]
            if found:
                first = found[0]
                break
        assert first is not None and first.kind == "irt_at_risk"
        wall_s = (parse_rfc3339_ms(first.emitted_at) - start) / speedup / 1000
        assert wall_s < 20, f"first escalation {wall_s:.1f} s into the demo"


def test_the_demo_routes_the_shipped_alertmanager_config_to_its_own_webhook() -> None:
    shipped = yaml.safe_load(resources.read_text(resources.ALERTMANAGER))
    config = alertmanager_config(shipped, 19095)
    urls = [h["url"] for r in config["receivers"] for h in r["webhook_configs"]]
    assert urls == ["http://127.0.0.1:19095/deadmansswitch", "http://127.0.0.1:19095/oncall",
                    "http://127.0.0.1:19095/noc"]
    assert config["route"]["group_wait"] == "1s" and config["inhibit_rules"] == shipped["inhibit_rules"]


def _escalation(ticket: str, kind: str, emitted_at: str, reason: str = "a reason") -> Escalation:
    return Escalation(f"{ticket}:{kind}:1:1", 1, ticket, kind, 1, 1, "desktop", "C-17", False, "E1", None, None,
                      reason, emitted_at)


def _board(snap: Snapshot, width: int) -> str:
    out = io.StringIO()
    Console(file=out, width=width, color_system=None).print(render(snap))
    return out.getvalue()


def test_the_board_lists_escalations_in_time_order_whatever_order_they_arrived_in() -> None:
    arrived = [_escalation("T-3", "irt_at_risk", "2026-03-02T09:20:00.000Z"),   # partition 1 first
               _escalation("T-1", "irt_breached", "2026-03-02T09:05:00.000Z"),
               _escalation("T-2", "bizcrit_tier3", "2026-03-02T09:10:00.000Z"),
               _escalation("T-0", "irt_at_risk", "2026-03-02T09:10:00.000Z"),     # same instant: by id
               *(_escalation(f"T-9{i}", "irt_at_risk", f"2026-03-02T08:0{i}:00.000Z") for i in range(6))]
    board = _board(Snapshot(escalations=arrived), 200)
    shown = [line.split()[4] for line in board.splitlines() if line.startswith("  2026-")]
    assert shown == ["T-92", "T-93", "T-94", "T-95", "T-1", "T-0", "T-2", "T-3"]  # the 8 latest, oldest first


def test_a_long_escalation_wraps_on_a_narrow_terminal_and_nothing_of_its_reason_is_cut() -> None:
    reason = ("raised to Sev1 4 h 40 min after creation, still unanswered; customer C-17 (desktop) has "
              "waited past its 15 min IRT target and the on-call engineer was paged at the management rung")
    snap = Snapshot(escalations=[_escalation("SIM-1-0000158", "irt_breached", "2026-03-02T09:05:00.000Z", reason)],
                    urls={"today's Sev1 debrief": "http://127.0.0.1:6066/reports/debrief?date=2026-03-02&token=t"})
    board = _board(snap, 60)
    assert max(len(line.rstrip()) for line in board.splitlines()) <= 60  # nothing runs off the terminal
    assert " ".join(reason.split()) in " ".join(board.split())  # ... and all of it is there, wrapped
    wrapped = [line for line in board.splitlines() if line.startswith("  ")]
    assert len(wrapped) > 2  # it took several lines, each under the escalations' indent


def test_the_board_links_carry_the_token_and_the_debrief_follows_the_simulated_day_across_midnight() -> None:
    at = DemoConfig().addresses()
    before = board_links(at, "tok-1", parse_rfc3339_ms("2026-12-01T23:59:59Z"), "UTC")
    after = board_links(at, "tok-1", parse_rfc3339_ms("2026-12-02T00:00:01Z"), "UTC")
    assert before["today's Sev1 debrief"] == "http://127.0.0.1:6066/reports/debrief?date=2026-12-01&token=tok-1"
    assert after["today's Sev1 debrief"] == "http://127.0.0.1:6066/reports/debrief?date=2026-12-02&token=tok-1"
    assert after["stack rank"] == "http://127.0.0.1:6066/stackrank?window=30d&token=tok-1"
    assert "token" not in after["metrics"] + after["Prometheus"] + after["Alertmanager"]  # open pages: no token
    # the reports' days are local to SLA_REPORT_TIMEZONE: 23:30 UTC is already tomorrow in Berlin
    berlin = board_links(at, "tok-1", parse_rfc3339_ms("2026-12-01T23:30:00Z"), "Europe/Berlin")
    assert "date=2026-12-02&" in berlin["today's Sev1 debrief"]


def test_the_demos_token_is_random_and_readable_by_its_user_only(tmp_path: Path) -> None:
    path, token = write_token(tmp_path)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert path.read_text() == token + "\n" and len(token) >= 32
    settings = Settings.from_env({"SLA_REPORTS_TOKEN_FILE": str(path)})  # what the demo's worker reads
    assert settings.reports_token is not None and settings.reports_token.reveal() == token
    other = tmp_path / "other"
    other.mkdir()
    assert write_token(other)[1] != token
