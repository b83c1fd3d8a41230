#!/usr/bin/python3
"""The peer in the fair fight (fight_bench_test.go): the same trivial work
as examples/python/handler.py under swarm, done the way a team runs it
today: one plain librdkafka consumer and producer per process, under
supervisord. Each record's value goes to OUT_TOPIC upper-cased, with its
key and headers; a batch's offsets are stored (at-least-once, as swarm)
only once its outputs are acknowledged. Static membership and librdkafka's
defaults otherwise, as consumer.py; a graceful close on SIGTERM.

Usage: forward.py BOOTSTRAP GROUP TOPIC INSTANCE_ID OUT_TOPIC
"""
import signal
import sys

from confluent_kafka import Consumer, Producer

bootstrap, group, topic, instance, out_topic = sys.argv[1:6]
running = True


def stop(signum, frame):
    global running
    running = False


signal.signal(signal.SIGTERM, stop)
signal.signal(signal.SIGINT, stop)

c = Consumer({
    "bootstrap.servers": bootstrap,
    "group.id": group,
    "group.instance.id": instance,
    "auto.offset.reset": "earliest",
    "enable.auto.offset.store": False,
})
p = Producer({"bootstrap.servers": bootstrap})
c.subscribe([topic])
try:
    while running:
        msgs = c.consume(num_messages=500, timeout=0.1)
        done = [m for m in msgs if not m.error()]
        if not done:
            continue
        for m in done:
            p.produce(out_topic, (m.value() or b"").upper(), m.key(), headers=m.headers())
        p.flush()
        for m in done:
            c.store_offsets(message=m)
finally:
    c.close()
    p.flush(5)
