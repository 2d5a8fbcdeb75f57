# The two commands of the README. Each sets up what it needs first, and only that (scripts/bootstrap.sh LEVEL):
# demo and run need Java, Maven, Prometheus, Alertmanager and the venv; test adds the test tools.
.PHONY: demo run test unit deploy bench bench-quick bootstrap bootstrap-demo bootstrap-unit kafka-stop clean

# The live demo: Kafka 3.9 (from Maven Central), a worker, the notifier, Prometheus, Alertmanager and the
# simulator, with a board in the terminal. Ctrl-C stops everything.
demo: bootstrap-demo
	.venv/bin/sla-pipeline demo

# Just the embedded Kafka broker and one worker (publish your own events with `sla-pipeline produce`).
run: bootstrap-demo
	.venv/bin/sla-pipeline run

# Every test: unit and agent tests, integration tests on real Kafka 3.9.x and 4.x brokers the suite starts, then
# the deploy tier (helm, promtool, systemd-analyze and podman check the shipped deployment files).
test: bootstrap
	.venv/bin/ruff check pipeline tests
	.venv/bin/python -m pytest -ra --durations=15

unit: bootstrap-unit
	.venv/bin/python -m pytest -ra tests/unit

deploy: bootstrap
	.venv/bin/python -m pytest -ra tests/deploy

# Benchmarks (bench/): real numbers, written to bench/results/. Not part of `make test`.
bench: bootstrap-demo
	.venv/bin/python bench/core.py
	.venv/bin/python bench/escalation_latency.py
	.venv/bin/python bench/throughput.py
	.venv/bin/python bench/state_recovery.py
	.venv/bin/python bench/failover.py
	.venv/bin/python bench/reports.py
	.venv/bin/python bench/ingest.py

bench-quick: bootstrap-demo
	.venv/bin/python bench/core.py --events 10000 --repeat 1 --out /tmp/core.quick.json
	.venv/bin/python bench/escalation_latency.py --quick --out /tmp/escalation_latency.quick.json
	.venv/bin/python bench/throughput.py --quick --out /tmp/throughput.quick.json
	.venv/bin/python bench/state_recovery.py --quick --out /tmp/state_recovery.quick.json
	.venv/bin/python bench/failover.py --quick --out /tmp/failover.quick.json
	.venv/bin/python bench/reports.py --quick --out /tmp/reports.quick.json
	.venv/bin/python bench/ingest.py --quick --out /tmp/ingest.quick.json

bootstrap:
	@scripts/bootstrap.sh test

bootstrap-demo:
	@scripts/bootstrap.sh demo

bootstrap-unit:
	@scripts/bootstrap.sh unit

kafka-stop:
	.venv/bin/sla-pipeline kafka stop

clean:
	rm -rf .venv data .kafka .demo .pytest_cache .hypothesis *.egg-info
