"""docs/filtered-topic.md against the real services (run with run.sh).

One standing filter and one worker on fresh topics; three raw events, two
of which match. The filtered topic is then read the two ways the page
shows, kcat and docs/examples/filtered_consumer.py, and every header and
the value (the event's exact bytes) are checked.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest
from confluent_kafka import Consumer, Producer
from confluent_kafka.admin import AdminClient, NewTopic

REPO = Path(__file__).resolve().parents[2]
DOC = REPO / "docs" / "filtered-topic.md"
EXAMPLE = REPO / "docs" / "examples" / "filtered_consumer.py"
DEADLINE_S = 90

# Bytes a re-encoding would change: spacing, key order, escapes, UTF-8.
MATCHING = [
    '{"user":{"id":"u-42"},  "type":"booking", "city":"Z\u00fcrich"}'.encode(),
    b'{"type":"click","user":{"id":"u-42"},"s":"\\u00e9\\"q\\""}',
]
OTHER = b'{"user":{"id":"u-1"},"type":"click"}'
HEADER_NAMES = [
    "ct.version",
    "ct.kind",
    "ct.filter",
    "ct.topic",
    "ct.partition",
    "ct.offset",
    "ct.ingest_us",
    "ct.match_us",
    "ct.history",
]


def env(name: str) -> str:
    value = os.environ.get(name)
    if not value:
        pytest.fail(f"{name} is not set: run `scripts/services.sh up` and `source .cache/services/env`")
    return value


def clicktail(*args: str) -> str:
    result = subprocess.run(
        [env("CLICKTAIL_BIN"), *args], capture_output=True, text=True, timeout=120, check=False
    )
    assert result.returncode == 0, f"clicktail {args}: {result.stderr}"
    return result.stdout


@pytest.fixture(scope="module")
def pipeline():
    """Topics, a standing filter, a worker and the produced events."""
    brokers = env("CLICKTAIL_KAFKA_BROKERS")
    env("CLICKTAIL_DATABASE_URL")
    run = uuid.uuid4().hex[:12]
    raw, filtered, schema = f"ft-raw-{run}", f"ft-filtered-{run}", f"ft_{run}"
    admin = AdminClient({"bootstrap.servers": brokers})
    for future in admin.create_topics([NewTopic(raw, 2, 1), NewTopic(filtered, 3, 1)]).values():
        future.result(timeout=60)
    worker = None
    try:
        database = ["--database-schema", schema]
        clicktail("migrate", *database)
        filter_id = int(clicktail("filters", *database, "add", 'user.id == "u-42"').strip())

        # Produced before the worker starts: a new group reads from the
        # earliest record, so nothing depends on timing.
        producer = Producer({"bootstrap.servers": brokers})
        delivered = {}

        def on_delivery(error, message):
            assert error is None, error
            delivered[message.value()] = (message.partition(), message.offset(), message.timestamp()[1])

        for n, event in enumerate([MATCHING[0], OTHER, MATCHING[1]]):
            producer.produce(raw, value=event, key=f"k{n}", partition=n % 2, on_delivery=on_delivery)
        assert producer.flush(60) == 0

        worker = subprocess.Popen(
            [
                env("CLICKTAIL_BIN"), "worker", "--brokers", brokers, *database,
                "--raw-topic", raw, "--filtered-topic", filtered, "--group", f"ft-workers-{run}",
                "--threads", "1", "--no-pin", "--metrics-addr", "",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )
        yield {
            "brokers": brokers,
            "raw": raw,
            "filtered": filtered,
            "filter_id": filter_id,
            "delivered": delivered,
            "worker": worker,
        }
    finally:
        if worker is not None:
            worker.terminate()
            try:
                worker.wait(30)
            except subprocess.TimeoutExpired:
                worker.kill()
        for future in admin.delete_topics([raw, filtered]).values():
            try:
                future.result(timeout=60)
            except Exception as error:  # noqa: BLE001 - cleanup only
                print(f"could not delete a test topic: {error}", file=sys.stderr)


def expected_headers(pipeline, event: bytes) -> dict[str, str]:
    partition, offset, timestamp_ms = pipeline["delivered"][event]
    return {
        "ct.version": "2",
        "ct.kind": "event",
        "ct.filter": str(pipeline["filter_id"]),
        "ct.topic": pipeline["raw"],
        "ct.partition": str(partition),
        "ct.offset": str(offset),
        "ct.ingest_us": str(timestamp_ms * 1000),
        "ct.history": "0",
    }


def check_headers(pipeline, names: list[str], headers: dict[str, str], event: bytes):
    assert names == HEADER_NAMES
    match_us = int(headers.pop("ct.match_us"))
    assert match_us >= int(headers["ct.ingest_us"])
    assert headers == expected_headers(pipeline, event)


def test_kcat_shows_the_headers_and_the_event_as_sent(pipeline):
    documented = "kcat -C -b 127.0.0.1:9092 -t clicks.filtered -f '%h %s\\n'"
    assert documented in DOC.read_text(encoding="utf-8"), "the page shows the command this test runs"
    command = [
        "kcat", "-C", "-b", pipeline["brokers"], "-t", pipeline["filtered"], "-f", "%h %s\n",
        "-o", "beginning", "-e", "-q",
    ]
    started, lines = time.monotonic(), []
    while len(lines) < 2 and time.monotonic() - started < DEADLINE_S:
        output = subprocess.run(command, capture_output=True, timeout=60, check=True).stdout
        lines = output.splitlines()
        if len(lines) < 2:
            time.sleep(0.5)
    assert len(lines) == 2, f"kcat read {lines!r}"
    seen = set()
    for line in lines:
        # `%h` prints name=value pairs joined by commas; no value has a space.
        header_text, event = line.split(b" ", 1)
        pairs = [pair.split("=", 1) for pair in header_text.decode().split(",")]
        assert event in MATCHING, f"the value is an event exactly as produced: {event!r}"
        check_headers(pipeline, [name for name, _ in pairs], dict(pairs), event)
        seen.add(event)
    assert seen == set(MATCHING)


def test_the_python_example_reads_every_match_with_its_metadata(pipeline):
    assert EXAMPLE.read_text(encoding="utf-8") in DOC.read_text(encoding="utf-8"), (
        "docs/filtered-topic.md quotes docs/examples/filtered_consumer.py verbatim"
    )
    command = [
        sys.executable, str(EXAMPLE), "--brokers", pipeline["brokers"], "--topic", pipeline["filtered"],
        "--group", f"ft-example-{uuid.uuid4().hex[:8]}", "--from-beginning", "--max-records", "2",
        "--idle-exit-s", str(DEADLINE_S),
    ]
    result = subprocess.run(command, capture_output=True, text=True, timeout=DEADLINE_S + 30, check=False)
    assert result.returncode == 0, result.stderr
    printed = [json.loads(line) for line in result.stdout.splitlines()]
    assert len(printed) == 2, result.stdout
    for record in printed:
        event = next(e for e in MATCHING if json.loads(e) == record["event"])
        expected = expected_headers(pipeline, event)
        assert record["match_us"] >= record["ingest_us"]
        assert record == {
            "filter": pipeline["filter_id"],
            "topic": pipeline["raw"],
            "partition": int(expected["ct.partition"]),
            "offset": int(expected["ct.offset"]),
            "ingest_us": int(expected["ct.ingest_us"]),
            "match_us": record["match_us"],
            "history": False,
            "event": json.loads(event),
        }
    assert sorted(r["offset"] for r in printed) == sorted(pipeline["delivered"][e][1] for e in MATCHING)


def test_key_partition_and_value_bytes(pipeline):
    consumer = Consumer(
        {
            "bootstrap.servers": pipeline["brokers"],
            "group.id": f"ft-check-{uuid.uuid4().hex[:8]}",
            "auto.offset.reset": "earliest",
        }
    )
    consumer.subscribe([pipeline["filtered"]])
    messages, started = [], time.monotonic()
    try:
        while len(messages) < 2 and time.monotonic() - started < DEADLINE_S:
            message = consumer.poll(0.5)
            if message is not None and not message.error():
                messages.append(message)
    finally:
        consumer.close()
    assert sorted(m.value() for m in messages) == sorted(MATCHING)
    filter_id = pipeline["filter_id"]
    for message in messages:
        assert message.key() == str(filter_id).encode()
        assert message.partition() == filter_id % 3
        assert re.fullmatch(rb"\d+", dict(message.headers())["ct.match_us"])
        assert message.timestamp()[1] == int(dict(message.headers())["ct.match_us"]) // 1000
