"""The demo is the same at any wall-clock time: it plays a fixed hour of the week, whose first escalation
comes within seconds at the demo's speed-up."""

from __future__ import annotations

import orjson
import pytest
import yaml

from pipeline import resources
from pipeline.cli.demo import DemoConfig, alertmanager_config, demo_start
from pipeline.domain.clock import EventPartitionClock, ManualClock
from pipeline.domain.policy import Policy
from pipeline.domain.records import Escalation
from pipeline.domain.timefmt import format_rfc3339_ms, parse_rfc3339_ms
from pipeline.metrics import Metrics
from pipeline.processing.io import Emit, Record
from pipeline.processing.processor import Processor
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
        proc = Processor(clock=EventPartitionClock(0), wall=ManualClock(start), metrics=Metrics.create(),
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
