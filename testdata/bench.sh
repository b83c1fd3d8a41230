#!/usr/bin/env bash
# Runs every swarm benchmark (BENCHMARKS.md) and writes the results, after a
# description of the machine, to one file:
#
#   testdata/bench.sh [OUTPUT]      default OUTPUT: /tmp/swarm-bench-<UTC time>.txt
#   BENCH='Recovery|Memory' testdata/bench.sh   only some of them
#
# About 15 minutes on 2 cores; the broker is in-process (kfake) and holds
# 1 000 000 records in memory (~250 MB). Needs Go; strace is optional (the
# idle-cost benchmark counts the loop's wakeups with it, and says so when it
# is missing). UserFelt (crash, roll and stop figures side by side with N
# librdkafka consumers under supervisord, ~8 minutes) and Fight (memory and
# throughput against them, ~1 minute) need Debian's supervisor and
# python3-confluent-kafka, and skip loudly without them.
set -euo pipefail
cd "$(dirname "$0")/.."
out=${1:-${TMPDIR:-/tmp}/swarm-bench-$(date -u +%Y%m%dT%H%M%SZ).txt}
bench=${BENCH:-'SpawnFloor|Recovery|Deadlines|Memory|Throughput|Burn|IdleCost|UserFelt|Retry|StatsCost|ExactlyOnce|Fight'}
# BenchmarkPipe (pipe_bench_test.go) takes one sample per b.N: 3 of them.
pipe=${PIPE:-Pipe}

{
	echo "# swarm benchmarks"
	echo "date:    $(date -u '+%Y-%m-%d %H:%M:%S UTC')"
	echo "commit:  $(git rev-parse --short HEAD 2>/dev/null || echo '?') ($(git status --porcelain 2>/dev/null | wc -l) files changed)"
	echo "cpu:     $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//'), nproc $(nproc)"
	echo "kernel:  $(uname -srm)"
	echo "go:      $(go version)"
	echo "memory:"
	free -h
	echo "load before: $(uptime)"
	echo "command: go test -run '^\$' -bench '$bench' -benchtime 1x -timeout 60m ."
	echo "         go test -run '^\$' -bench '$pipe' -benchtime 3x -timeout 20m ."
	echo
} | tee "$out"

status=0
go test -run '^$' -bench "$bench" -benchtime 1x -timeout 60m . 2>&1 | tee -a "$out" || status=$?
if [ -n "$pipe" ]; then
	go test -run '^$' -bench "$pipe" -benchtime 3x -timeout 20m . 2>&1 | tee -a "$out" || status=$?
fi
echo "load after: $(uptime)" | tee -a "$out"
echo "results in $out"
exit $status
