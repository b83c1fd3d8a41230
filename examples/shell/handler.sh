#!/bin/sh
# A swarm handler in POSIX sh, for -codec lines (no JSON: a line is a value).
#
# Run it with swarm:
#
#   swarm -topics orders -output-topic out -dead-letter-topic dlq -codec lines -- sh examples/shell/handler.sh
#
# Each value goes to -output-topic as "handled <value>" (a lines answer is a
# bare value: the output record has no key and no headers). A value starting
# with "skip" is answered with an empty line: done, nothing produced.
#
# -codec lines has no "failed" answer and no "attempt": a handler that must
# fail records uses -codec json. swarm itself fails a value holding a
# newline (it cannot be framed as a line): it is retried, then dead-lettered.
#
# The read and printf builtins need no process per record. The shell keeps no
# output buffer, so each answer is its own write, at once: nothing waits for
# a flush. read takes a byte at a time from a pipe, which suits light loads;
# for heavy ones, use one of the other examples.

while IFS= read -r value; do
  case $value in
    skip*) echo ;;
    *) printf 'handled %s\n' "$value" ;;
  esac
done
