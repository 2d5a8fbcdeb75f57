"""What a user could pick instead of Faust: a quix-streams application doing the same I/O per event as the
Faust floor with I/O (``bench/faust_floor.py --with-io``): orjson-decode the record, one state get and one
state set (RocksDB with its changelog topic, keyed by the record's key, as quix-streams keeps state), one
produce. A reference figure beside the pipeline (issue 15, target 6), not a target.

quix-streams is a bench-only dependency: it runs in a virtualenv of its own (``.venv-quix``, pinned by
``bench/requirements-quix.txt``), made by ``bench/common.py`` ``quix_python()``; the pipeline's own
environment never imports it. It prints one JSON line when it has processed ``--events`` records:
``{"events": n, "seconds": s}`` measured from the first record to the last, as the Faust floor does.

    .venv-quix/bin/python bench/quix_reference.py --bootstrap 127.0.0.1:9092 --events 100000 --state-dir /tmp/q
"""

from __future__ import annotations

import argparse
import sys
import time

import orjson
from quixstreams import Application


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--bootstrap", required=True)
    parser.add_argument("--events", type=int, required=True)
    parser.add_argument("--topic", default="tickets.events")
    parser.add_argument("--state-dir", required=True)
    args = parser.parse_args()
    app = Application(broker_address=args.bootstrap, consumer_group="bench-quix-reference",
                      auto_offset_reset="earliest", state_dir=args.state_dir, loglevel="WARNING",
                      processing_guarantee="at-least-once", producer_extra_config={"linger.ms": 5})
    source = app.topic(args.topic, key_deserializer="bytes", value_deserializer="bytes")
    sink = app.topic("quix.outputs", key_serializer="bytes", value_serializer="bytes")
    seen = {"n": 0, "t0": 0.0}

    def step(value: bytes, state) -> bytes:  # type: ignore[no-untyped-def]
        doc = orjson.loads(value)
        state.get("last")
        state.set("last", value.decode())
        return orjson.dumps(doc)

    def count(_value: bytes) -> None:
        if seen["n"] == 0:
            seen["t0"] = time.monotonic()
        seen["n"] += 1
        if seen["n"] == args.events:
            print(orjson.dumps({"events": seen["n"], "seconds": time.monotonic() - seen["t0"]}).decode(), flush=True)
            app.stop()

    sdf = app.dataframe(source).apply(step, stateful=True)
    sdf = sdf.to_topic(sink)
    sdf.update(count)
    app.run()
    return 0


if __name__ == "__main__":
    sys.exit(main())
