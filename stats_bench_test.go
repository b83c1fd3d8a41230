//go:build linux

package main

// BenchmarkStatsCost: what the node's stats cost (issue 12), side by side
// in one run on one kfake broker. One node drains a backlog of
// statsBenchTotal records on 8 partitions with the discard handler (the
// cheapest records, so the stats' share is the largest), per round once
// per side:
//
//   - off: -stats-interval=0 -stall-ttl=0 (no collecting at all);
//   - on: -stats-interval=1s (what a supervisor with -http passes), with
//     the default -stall-ttl;
//   - on-100ms: -stats-interval=100ms, the shortest allowed: ten times the
//     writes, an upper bound for on, whose one write a second a run of
//     about a second sees once at most.
//
// The node gets a stats pipe on fd 4 (startStatsNode: the supervisor does
// not make one yet) drained into a file. Figure: records per node CPU-
// second (utime+stime from /proc/<pid>/stat, from the moment the fetch
// gate opens to the last record handled), and the ratio of each "on" side
// to off: per round (its median; a run is ~0.8 CPU-s, measured in 10 ms
// ticks, so one round's ratio is good to a few percent) and pooled over
// all rounds (every side's records over its CPU seconds); goal >= 0.97x.
//
// go test -run '^$' -bench BenchmarkStatsCost -benchtime 1x .

import (
	"fmt"
	"strings"
	"testing"

	"github.com/twmb/franz-go/pkg/kfake"
)

const (
	statsBenchTotal  = 2_000_000
	statsBenchRounds = 11
)

// statsBenchSides are the sides of BenchmarkStatsCost and their flags.
var statsBenchSides = []struct{ name, args string }{
	{"off", "-stats-interval=0 -stall-ttl=0"},
	{"on", "-stats-interval=1s"},
	{"on-100ms", "-stats-interval=100ms"},
}

func BenchmarkStatsCost(b *testing.B) {
	noteLoad(b)
	c, addr := newBroker(b, 8, "stats")
	produce(b, addr, "stats", statsBenchTotal)
	eff, cpu := map[string][]float64{}, map[string]float64{}
	b.ResetTimer()
	for r := 0; r < statsBenchRounds; r++ {
		for i := range statsBenchSides {
			side := statsBenchSides[(i+r)%len(statsBenchSides)]
			var run tpRun
			for attempt := 0; attempt < 3; attempt++ {
				if run = statsRun(b, c, addr, fmt.Sprintf("stats-%d-%s-%d", r, side.name, attempt), side.args); !run.rebal {
					break
				}
			}
			e := statsBenchTotal / run.cpu
			note(b, "round %d %-8s %9.0f records/node-CPU-s  %9.0f records/s  node CPU %.2f s, test process (broker) %.2f s, other work %.2f s",
				r, side.name, e, run.rate, run.cpu, run.brokerCPU, run.otherCPU)
			eff[side.name] = append(eff[side.name], e)
			cpu[side.name] += run.cpu
		}
	}
	b.StopTimer()
	for _, side := range statsBenchSides {
		reportSpread(b, side.name+"-rec/node-cpu-s", eff[side.name])
	}
	for _, side := range statsBenchSides[1:] {
		var ratios []float64
		for r := range statsBenchRounds {
			ratios = append(ratios, eff[side.name][r]/eff["off"][r])
		}
		reportSpread(b, side.name+"/off", ratios)
		pooled := cpu["off"] / cpu[side.name]
		note(b, "%s/off pooled over %d rounds: %.3f", side.name, statsBenchRounds, pooled)
		b.ReportMetric(pooled, side.name+"/off-pooled")
	}
}

// statsRun is one node with the given flags draining the backlog in a
// fresh group: the clock and the CPU count start when the fetch gate opens
// (group stable, first fetch held) and stop at the batch that brings the
// handled count to the total.
func statsRun(b *testing.B, c *kfake.Cluster, addr, group, flags string) tpRun {
	b.Helper()
	g := closeFetches(c)
	args := append([]string{"-bootstrap=" + addr, "-topics=stats", "-group=" + group, "-handler=discard",
		"-log-level=debug", "-session-timeout=3s"}, strings.Fields(flags)...)
	node, _ := startStatsNode(b, args...)
	defer node.stop()
	epoch := waitGateHeld(b, c, g, group, 1, len(c.PartitionInfos("stats")))
	r := measureGated(b, c, g, node, group, []int{node.pid()}, statsBenchTotal, epoch)
	return r
}
