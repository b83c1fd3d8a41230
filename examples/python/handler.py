#!/usr/bin/env python3
"""A swarm handler in Python (standard library only), for -codec json.

Run it with swarm:

    swarm -topics orders -output-topic out -dead-letter-topic dlq -- python3 examples/python/handler.py

Each record's value goes to -output-topic upper-cased, with its key and
headers. A record whose key is listed in FAIL_KEYS (comma-separated) is
answered {"error": ...}: swarm retries it after -retry-backoff with
"attempt" one more (logged here to stderr), then dead-letters it.

Answers stream: each os.read takes whatever swarm has sent so far (up to
64 KiB), and the answers to its whole lines leave in one write. So output
is flushed when the input is drained, not once per record.
"""
import json
import os
import sys

FAIL_KEYS = set(filter(None, os.environ.get("FAIL_KEYS", "").split(",")))


def answer(rec):
    """Returns the answer to one record (a dict, one JSON line)."""
    if rec["attempt"] > 1:
        print(f"retrying key {rec['key']} ({rec['topic']}/{rec['partition']}@{rec['offset']}), "
              f"attempt {rec['attempt']}", file=sys.stderr)
    if rec.get("key") in FAIL_KEYS:
        return {"error": f"refused key {rec['key']}"}
    out = {k: rec[k] for k in ("key", "key_b64", "headers", "value_b64") if k in rec}
    if rec.get("value") is not None:
        out["value"] = rec["value"].upper()
    return out


def main():
    out, rest = sys.stdout.buffer, b""
    while chunk := os.read(0, 1 << 16):
        *lines, rest = (rest + chunk).split(b"\n")
        out.write(b"".join(json.dumps(answer(json.loads(line)), separators=(",", ":")).encode() + b"\n"
                           for line in lines))
        out.flush()


if __name__ == "__main__":
    main()
