"""The floor Faust itself sets on this machine: one agent that only orjson-decodes each record, or, with
``--with-io``, decodes, writes one table key (RocksDB and its changelog) and sends one output per record:
"the Faust floor with the same I/O" as the pipeline's (issue 15).

Run by ``bench/throughput.py`` beside the raw-consumer baseline and the full pipeline, in the same
run and on the same topic. It uses the pipeline's Faust settings (concurrency 1, RocksDB store, same
producer and consumer settings), so the pipeline can be no faster than the bare floor. It prints one
JSON line when it has read ``--events`` records: ``{"events": n, "seconds": s}`` measured from the
first record to the last.

    .venv/bin/python bench/faust_floor.py --bootstrap 127.0.0.1:9092 --events 100000 --data-dir /tmp/x
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time

import faust
import orjson


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--bootstrap", required=True)
    parser.add_argument("--events", type=int, required=True)
    parser.add_argument("--topic", default="tickets.events")
    parser.add_argument("--data-dir", required=True)
    parser.add_argument("--web-port", type=int, default=6099)
    parser.add_argument("--with-io", action="store_true", help="one table write and one send per record")
    args = parser.parse_args()
    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    name = "bench-faust-floor-io" if args.with_io else "bench-faust-floor"
    app = faust.App(name, broker=f"kafka://{args.bootstrap}", store="rocksdb://",
                    datadir=args.data_dir, web_port=args.web_port, web_host="127.0.0.1", web_bind="127.0.0.1",
                    producer_linger_ms=5, consumer_auto_offset_reset="earliest", autodiscover=False)
    topic = app.topic(args.topic, key_type=bytes, value_type=bytes)
    table = app.Table("floor", partitions=4, key_type=bytes, value_type=bytes) if args.with_io else None
    out = app.topic("floor.outputs", key_type=bytes, value_type=bytes) if args.with_io else None
    seen = {"n": 0, "t0": 0.0}

    @app.agent(topic, concurrency=1)
    async def floor(stream: faust.StreamT) -> None:
        async for event in stream.events():
            doc = orjson.loads(event.message.value)
            if table is not None and out is not None:
                key = event.message.key or b""
                table[key] = event.message.value
                await out.send(key=key, value=orjson.dumps(doc))
            if seen["n"] == 0:
                seen["t0"] = time.monotonic()
            seen["n"] += 1
            if seen["n"] == args.events:
                print(orjson.dumps({"events": seen["n"], "seconds": time.monotonic() - seen["t0"]}).decode(),
                      flush=True)

    worker = faust.Worker(app, loop=loop, loglevel="WARNING", redirect_stdouts=False)
    worker.spinner = None
    worker.execute_from_commandline()
    return 0


if __name__ == "__main__":
    sys.exit(main())
