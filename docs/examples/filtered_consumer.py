#!/usr/bin/env python3
"""Reads clicktail's filtered topic and prints one JSON line per match.

Each record's value is the matched event, unchanged; its metadata is in
Kafka headers named `ct.*` with decimal text values (docs/filtered-topic.md).

    pip install confluent-kafka
    python3 docs/examples/filtered_consumer.py --brokers 127.0.0.1:9092 --topic clicks.filtered
"""

import argparse
import json
import sys

from confluent_kafka import Consumer

# The format this reader understands: skip (and say so) anything else.
FORMAT_VERSION = b"2"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--brokers", default="127.0.0.1:9092")
    parser.add_argument("--topic", default="clicks.filtered")
    parser.add_argument("--group", default="filtered-consumer-example")
    parser.add_argument("--filter", type=int, help="only this filter id")
    parser.add_argument("--from-beginning", action="store_true")
    parser.add_argument("--max-records", type=int, default=0, help="stop after N (0: never)")
    parser.add_argument("--idle-exit-s", type=float, default=0, help="stop after S seconds without a record (0: never)")
    args = parser.parse_args()

    consumer = Consumer(
        {
            "bootstrap.servers": args.brokers,
            "group.id": args.group,
            "auto.offset.reset": "earliest" if args.from_beginning else "latest",
        }
    )
    consumer.subscribe([args.topic])
    printed, idle_s = 0, 0.0
    try:
        while args.max_records == 0 or printed < args.max_records:
            message = consumer.poll(0.5)
            if message is None:
                idle_s += 0.5
                if args.idle_exit_s and idle_s >= args.idle_exit_s:
                    break
                continue
            idle_s = 0.0
            if message.error():
                print(f"kafka: {message.error()}", file=sys.stderr)
                continue
            # A list of (name, value) pairs; the last of a name wins.
            headers = {name: value or b"" for name, value in message.headers() or []}
            if headers.get("ct.version") != FORMAT_VERSION or headers.get("ct.kind") != b"event":
                print(f"skipped a record of another format: {headers}", file=sys.stderr)
                continue
            if args.filter is not None and int(headers["ct.filter"]) != args.filter:
                continue
            print(
                json.dumps(
                    {
                        "filter": int(headers["ct.filter"]),
                        "topic": headers["ct.topic"].decode(),
                        "partition": int(headers["ct.partition"]),
                        "offset": int(headers["ct.offset"]),
                        "ingest_us": int(headers["ct.ingest_us"]),
                        "match_us": int(headers["ct.match_us"]),
                        "history": headers["ct.history"] == b"1",
                        "event": json.loads(message.value()),
                    },
                    ensure_ascii=False,
                ),
                flush=True,
            )
            printed += 1
    finally:
        consumer.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
