//go:build linux

package main

// A node's memory: what its franz-go client may buffer, and how small the
// Go heap may stay. A node under a steady load holds well under 1 MiB of
// live heap (a batch of at most maxPollRecords records and the client's
// own state), so what it costs is set by the GC's pacing and the client's
// buffers, not by what it keeps.

import (
	"os"
	"runtime"
	"runtime/debug"
	"runtime/metrics"

	"github.com/twmb/franz-go/pkg/kgo"
)

const (
	// nodeFetchMaxBytes bounds one fetch response (Java's fetch.max.bytes;
	// franz-go's default is 50 MiB), which franz-go holds per broker,
	// decompressed and decoded at once (a kgo.Record is ~170 bytes besides
	// key and value), while the node hands its handler maxPollRecords
	// records at a time. Each partition's part stays at franz-go's and
	// Java's 1 MiB (max.partition.fetch.bytes): 256 KiB measured 10-20 %
	// fewer records/s draining a backlog, even on loopback, and a real
	// broker's round trips are longer. A record batch larger than either
	// limit still comes whole (Kafka returns the first batch of a fetch
	// whatever its size, KIP-74): big records are never stuck.
	nodeFetchMaxBytes = 4 << 20
	// nodeHeapFloor is the smallest heap goal (see tuneNodeGC).
	nodeHeapFloor = 1 << 20
	// goHeapMinimum is the Go runtime's minimum heap goal at GOGC=100
	// (runtime/mgcpacer.go, defaultHeapMinimum); it scales with GOGC.
	goHeapMinimum = 4 << 20
)

// nodeMemoryOpts are the franz-go options that bound a node's client
// buffers; clientOpts appends them.
func nodeMemoryOpts() []kgo.Opt {
	return []kgo.Opt{kgo.FetchMaxBytes(nodeFetchMaxBytes)}
}

// tuneNodeGC lowers the Go runtime's minimum heap goal from 4 MiB to
// nodeHeapFloor, unless the user set GOGC (theirs wins, as the runtime's
// own rule is). A node's live heap under a steady load is well under
// 1 MiB, so at GOGC=100 the 4 MiB minimum, not what the node keeps, sets
// its footprint. After each GC the percent is set anew (gcPercentFor).
func tuneNodeGC() {
	if _, set := os.LookupEnv("GOGC"); set {
		return
	}
	sample := []metrics.Sample{{Name: "/gc/heap/live:bytes"}}
	percent := 100
	var rearm func()
	rearm = func() {
		metrics.Read(sample)
		// SetGCPercent stops the world: only on a change.
		if want := gcPercentFor(int64(sample[0].Value.Uint64())); want != percent {
			percent = want
			debug.SetGCPercent(want)
		}
		afterNextGC(rearm)
	}
	// From the first GC on, not before: a node that has not yet
	// allocated 4 MiB (idle, just started) has never run the GC, so its
	// mark metadata is not yet resident; collecting it at 1 MiB would make
	// it so, and cost an idle node more than it saves.
	afterNextGC(rearm)
}

// gcPercentFor is the GOGC that makes the heap goal max(2 x live,
// nodeHeapFloor). The runtime's goal is max(live x (1+GOGC/100), 4 MiB x
// GOGC/100): from 2 MiB of live heap up that is GOGC=100 exactly, so a
// node under load paces its GC as before; below, only the minimum is
// lower, and the extra cycles each scan a heap of under 2 MiB. In 5%
// steps, so the percent does not change at every cycle.
func gcPercentFor(live int64) int {
	goal := max(2*live, nodeHeapFloor)
	if goal >= goHeapMinimum {
		return 100
	}
	return max(5, int(goal*100/goHeapMinimum)/5*5)
}

// gcSentinel is an object made garbage on purpose; its cleanup runs after
// the GC that finds it unreachable.
type gcSentinel struct{ _ *int } // a pointer: never in the tiny allocator

// afterNextGC runs fn (on the runtime's cleanup goroutine) after the next
// GC cycle.
func afterNextGC(fn func()) {
	runtime.AddCleanup(&gcSentinel{}, func(f func()) { f() }, fn)
}
