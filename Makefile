# The two commands of the README. Both set up what is missing first (scripts/bootstrap.sh).
.PHONY: run test unit bootstrap kafka-stop clean

# Start the embedded Kafka broker (Apache Kafka 3.9 from Maven Central) and a pipeline worker.
run: bootstrap
	.venv/bin/sla-pipeline run

# Every test: unit tests, then integration tests on real Kafka 3.9.x and 4.x brokers the suite starts.
test: bootstrap
	.venv/bin/ruff check pipeline tests
	.venv/bin/python -m pytest -ra

unit: bootstrap
	.venv/bin/python -m pytest -ra tests/unit

bootstrap:
	@scripts/bootstrap.sh

kafka-stop:
	.venv/bin/sla-pipeline kafka stop

clean:
	rm -rf .venv data .kafka .pytest_cache .hypothesis *.egg-info
