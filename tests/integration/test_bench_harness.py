"""The benchmark harness still runs (small sizes). It asserts what was measured, never how fast."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from tests.integration.conftest import ROOT, VERSIONS


def test_core_bench_measures_the_core_beside_its_baseline(tmp_path: Path) -> None:
    out = tmp_path / "core.json"
    done = subprocess.run([sys.executable, "bench/core.py", "--events", "3000", "--repeat", "1", "--out", str(out)],
                          cwd=ROOT, capture_output=True, text=True, timeout=300, check=False)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    result = json.loads(out.read_text())
    assert result["events"] == 3000 and result["outputs"] > 0
    assert result["core_us_per_event"] > 0 and result["baseline_orjson_loads_us_per_event"] > 0
    assert result["business_hours_core_us_per_event"] > 0  # the same events, with calendars
    assert result["engineer_facts"] > 0 and result["engineer_fold_us_per_fact"] > 0


def test_escalation_latency_bench_measures_every_escalation(tmp_path: Path) -> None:
    out = tmp_path / "latency.json"
    done = subprocess.run(
        [sys.executable, "bench/escalation_latency.py", "--quick", "--tickets", "20", "--spread", "5",
         "--kafka-version", VERSIONS[0], "--out", str(out)],
        cwd=ROOT, capture_output=True, text=True, timeout=600, check=False)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    result = json.loads(out.read_text())
    assert result["escalations"] == 40  # both rungs of all 20 tickets
    assert result["p50_s"] <= result["p99_s"] <= result["max_s"]
    assert result["p50_s"] >= 0  # published after falling due, never before


def test_throughput_bench_measures_the_pipeline_and_its_baseline(tmp_path: Path) -> None:
    out = tmp_path / "throughput.json"
    done = subprocess.run(
        [sys.executable, "bench/throughput.py", "--events", "3000", "--kafka-version", VERSIONS[0], "--out", str(out)],
        cwd=ROOT, capture_output=True, text=True, timeout=600, check=False)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    result = json.loads(out.read_text())
    assert result["events"] == 3000
    assert result["baseline_events_per_s"] > 0 and result["pipeline_events_per_s"] > 0
    assert result["ratio"] == round(result["pipeline_events_per_s"] / result["baseline_events_per_s"], 3) or \
        abs(result["ratio"] - result["pipeline_events_per_s"] / result["baseline_events_per_s"]) < 0.01
    assert result["faust_floor_events_per_s"] > 0 and result["faust_floor_with_io_events_per_s"] > 0
    assert result["quix_reference_events_per_s"] > 0  # the reference ran in its own environment and finished
    assert (ROOT / ".venv-quix" / ".installed").exists()
    for fifth in ("pipeline_first_fifth_events_per_s", "pipeline_last_fifth_events_per_s"):
        assert result[fifth] is None or result[fifth] > 0  # None: a run too short to have fifths
    scale = result["scale_out"]
    assert scale["events"] == 3000
    assert scale["one_worker_events_per_s"] > 0 and scale["two_workers_events_per_s"] > 0


def test_state_recovery_bench_rebuilds_every_ticket_cold_and_warm(tmp_path: Path) -> None:
    out = tmp_path / "state.json"
    done = subprocess.run(
        [sys.executable, "bench/state_recovery.py", "--tickets", "300", "--kafka-version", VERSIONS[0],
         "--out", str(out)],
        cwd=ROOT, capture_output=True, text=True, timeout=600, check=False)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    result = json.loads(out.read_text())
    assert result["open_tickets"] == 300
    sizes = result["state_bytes"]
    assert 0 < sizes["mean"] <= sizes["p99"] <= sizes["max"]
    # both restarts found every ticket the changelog holds (each open ticket has a deadline ahead)
    for run in ("worker_without_local_rocksdb", "worker_with_local_rocksdb"):
        assert result[run]["log"].startswith("300 tickets with a timer"), result[run]
        assert result[run]["seconds"] > 0 and result[run]["rss_mib"] > 0
    assert result["worker_with_no_tickets"]["log"].startswith("0 tickets with a timer")


def test_failover_bench_times_the_takeover_of_a_killed_workers_deadlines(tmp_path: Path) -> None:
    out = tmp_path / "failover.json"
    done = subprocess.run(
        [sys.executable, "bench/failover.py", "--open", "500", "--kafka-version", VERSIONS[0], "--out", str(out)],
        cwd=ROOT, capture_output=True, text=True, timeout=600, check=False)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    result = json.loads(out.read_text())
    assert result["open_tickets"] == 500
    # the dead worker's first breach is published at its deadline or later, never before
    assert result["kill_to_first_dead_partition_breach_s"] >= result["probe_deadline_after_kill_s"] > 0


def test_reports_bench_times_each_report_beside_a_bare_read_of_its_topics(tmp_path: Path) -> None:
    out = tmp_path / "reports.json"
    done = subprocess.run([sys.executable, "bench/reports.py", "--quick", "--kafka-version", VERSIONS[0],
                           "--out", str(out)], cwd=ROOT, capture_output=True, text=True, timeout=600, check=False)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    result = json.loads(out.read_text())
    assert result["tickets_in_month"] > 0 and all(n > 0 for n in result["records"].values())
    assert result["baseline_read_all_topics_seconds"] > 0
    assert set(result["report_seconds"]) == {"monthly", "debrief", "dsat"}
    assert all(s > 0 for s in result["report_seconds"].values())


def test_ingest_bench_measures_the_gateway_beside_a_bare_producer_and_loses_nothing_on_kill(tmp_path: Path) -> None:
    out = tmp_path / "ingest.json"
    done = subprocess.run([sys.executable, "bench/ingest.py", "--quick", "--seconds", "1", "--kafka-version",
                           VERSIONS[0], "--out", str(out)], cwd=ROOT, capture_output=True, text=True, timeout=600,
                          check=False)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    result = json.loads(out.read_text())
    assert {(r["senders"], r["batch"]) for r in result["phases"]} == {(1, 1), (1, 100), (10, 1), (10, 100)}
    for row in result["phases"]:
        for side in ("gateway", "bare_producer"):
            m = row[side]
            assert m["events"] == m["requests"] * row["batch"] > 0 and not m["failures"], (row, side)
            assert 0 < m["p50_ms"] <= m["p99_ms"] and m["cpu_us_per_event"] > 0
        assert row["events_per_s_ratio"] > 0
    assert set(result["batch_100_events_per_s_ratio"]) == {"1", "10"}
    # every request answered 200 is on the topic, and the gateway counted each one
    assert result["rate_phases_records_on_topic"] >= result["rate_phases_events_answered"]
    assert result["gateway_accepted_metric"] >= sum(r["gateway"]["requests"] for r in result["phases"])
    assert result["gateway_exit_code_on_sigterm"] == 0
    kill = result["kill"]
    assert kill["requests_answered_2xx"] > 0 and kill["answered_events_missing_after_kill"] == 0
    assert kill["resent_requests_answered_2xx"] == kill["requests_unanswered"]
    assert kill["events_missing_after_resend"] == 0 and kill["records_keyed_otherwise_than_ticket_id"] == 0


def test_whatif_bench_judges_the_period_from_a_file_and_the_topic_in_one_and_two_processes(tmp_path: Path) -> None:
    out = tmp_path / "whatif.json"
    done = subprocess.run([sys.executable, "bench/whatif.py", "--quick", "--kafka-version", VERSIONS[0],
                           "--out", str(out)], cwd=ROOT, capture_output=True, text=True, timeout=600, check=False)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    result = json.loads(out.read_text())
    assert result["events_on_topic"] > 0 and result["baseline_bare_consumer_events_per_s"] > 0
    runs = result["runs"]
    assert {(r["source"], r["processes"]) for r in runs} == {("file", 1), ("file", 2), ("topic", 1), ("topic", 2)}
    # every run judged the same period's events to the same comparison
    assert len({(r["events"], r["tickets"], r["flips"]) for r in runs}) == 1
    assert runs[0]["events"] > 0 and runs[0]["flips"] > 0
    assert all(r["events_per_s"] > 0 and abs(r["judgements_per_s"] - 2 * r["events_per_s"]) <= 2 for r in runs)
