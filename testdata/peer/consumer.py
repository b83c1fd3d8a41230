#!/usr/bin/python3
"""The peer a team runs today: one plain librdkafka consumer per process,
under supervisord. Written as such a team would: static membership,
librdkafka's defaults otherwise, offsets stored only after a record is
handled (at-least-once, as swarm), a graceful close on SIGTERM.

Each handled record is written as kcat's and swarm's print handler write
it ("topic [p] at offset o: key k: value") to the FIFO in FLOW_FIFO, so the
benchmark reads both sides with one clock.

Usage: consumer.py BOOTSTRAP GROUP TOPIC INSTANCE_ID
"""
import os
import signal
import sys

from confluent_kafka import Consumer, KafkaException

bootstrap, group, topic, instance = sys.argv[1:5]
running = True


def stop(signum, frame):
    global running
    running = False


signal.signal(signal.SIGTERM, stop)
signal.signal(signal.SIGINT, stop)

out = os.open(os.environ["FLOW_FIFO"], os.O_WRONLY)
c = Consumer({
    "bootstrap.servers": bootstrap,
    "group.id": group,
    "group.instance.id": instance,
    "auto.offset.reset": "earliest",
    "enable.auto.offset.store": False,
})
c.subscribe([topic])
try:
    while running:
        msgs = c.consume(num_messages=500, timeout=0.1)
        if not msgs:
            continue
        lines = []
        for m in msgs:
            if m.error():
                continue
            key = m.key() or b""
            lines.append(b"%s [%d] at offset %d: key %s: %s\n" % (
                m.topic().encode(), m.partition(), m.offset(), key, m.value() or b""))
        # One write per batch of whole lines, each write at most PIPE_BUF
        # bytes, so processes sharing the FIFO never interleave mid-line.
        buf = b""
        for line in lines:
            if len(buf) + len(line) > 4096:
                os.write(out, buf)
                buf = b""
            buf += line
        if buf:
            os.write(out, buf)
        for m in msgs:
            if not m.error():
                c.store_offsets(message=m)
finally:
    c.close()
