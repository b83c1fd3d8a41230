#!/usr/bin/env python3
"""The fight's handler for -codec lines (fight_bench_test.go): each record's
value upper-cased to -output-topic, the work of examples/python/handler.py
without JSON (the value only: the lines codec carries no key or headers).
As there, each os.read takes what swarm sent so far and the answers to its
whole lines leave in one write; each value is upper-cased by itself, as
the peer does per message.
"""
import os
import sys


def main():
    out, rest = sys.stdout.buffer, b""
    while chunk := os.read(0, 1 << 16):
        *lines, rest = (rest + chunk).split(b"\n")
        out.write(b"".join(line.upper() + b"\n" for line in lines))
        out.flush()


if __name__ == "__main__":
    main()
