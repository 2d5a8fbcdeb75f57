# The two commands of the README. Both set up what is missing first (scripts/bootstrap.sh).
.PHONY: demo run test unit bench bench-quick bootstrap kafka-stop clean

# The live demo: Kafka 3.9 (from Maven Central), a worker, the notifier, Prometheus, Alertmanager and the
# simulator, with a board in the terminal. Ctrl-C stops everything.
demo: bootstrap
	.venv/bin/sla-pipeline demo

# Just the embedded Kafka broker and one worker (publish your own events with `sla-pipeline produce`).
run: bootstrap
	.venv/bin/sla-pipeline run

# Every test: unit tests, then integration tests on real Kafka 3.9.x and 4.x brokers the suite starts.
test: bootstrap
	.venv/bin/ruff check pipeline tests
	.venv/bin/python -m pytest -ra --durations=15

unit: bootstrap
	.venv/bin/python -m pytest -ra tests/unit

# Benchmarks (bench/): real numbers, written to bench/results/. Not part of `make test`.
bench: bootstrap
	.venv/bin/python bench/core.py
	.venv/bin/python bench/escalation_latency.py
	.venv/bin/python bench/throughput.py
	.venv/bin/python bench/state_recovery.py
	.venv/bin/python bench/failover.py
	.venv/bin/python bench/reports.py

bench-quick: bootstrap
	.venv/bin/python bench/core.py --events 10000 --repeat 1 --out /tmp/core.quick.json
	.venv/bin/python bench/escalation_latency.py --quick --out /tmp/escalation_latency.quick.json
	.venv/bin/python bench/throughput.py --quick --out /tmp/throughput.quick.json
	.venv/bin/python bench/state_recovery.py --quick --out /tmp/state_recovery.quick.json
	.venv/bin/python bench/failover.py --quick --out /tmp/failover.quick.json
	.venv/bin/python bench/reports.py --quick --out /tmp/reports.quick.json

bootstrap:
	@scripts/bootstrap.sh

kafka-stop:
	.venv/bin/sla-pipeline kafka stop

clean:
	rm -rf .venv data .kafka .demo .pytest_cache .hypothesis *.egg-info
