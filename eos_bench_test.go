//go:build linux

package main

// BenchmarkExactlyOnce: what -exactly-once costs (issue 13), side by side
// in one run on one kfake broker. One node drains a backlog of
// eosBenchTotal records on 8 partitions through the test handler
// (testdata/handler -answer=tag: one output record per input), producing
// to an output topic, per round and per batch size (-max-poll-records):
//
//   - at-least-once: outputs produced as answered, offsets autocommitted;
//   - exactly-once: each batch one transaction (outputs, offsets, commit).
//
// Figure: records handled per second, from the end of the node's first
// batch to the end of its last (app.batch), and per batch size the ratio
// exactly-once / at-least-once of the medians. A transaction costs a few
// round trips per batch whatever its size, so the ratio rises with it.
//
// go test -run '^$' -bench BenchmarkExactlyOnce -benchtime 1x .

import (
	"fmt"
	"strconv"
	"testing"
	"time"
)

const (
	eosBenchTotal  = 100_000
	eosBenchRounds = 5
)

// eosBenchBatches are the -max-poll-records the benchmark compares.
var eosBenchBatches = []int{100, 500, 2000}

func BenchmarkExactlyOnce(b *testing.B) {
	noteLoad(b)
	h, _ := handlerPrograms(b)
	runs := eosBenchRounds * len(eosBenchBatches) * 2
	topics := []string{"eos-in"}
	for run := 0; run < runs; run++ {
		topics = append(topics, fmt.Sprintf("eos-out-%d", run))
	}
	_, addr := newBroker(b, 8, topics...)
	produce(b, addr, "eos-in", eosBenchTotal)
	rates := map[string][]float64{}
	run := 0
	for round := 0; round < eosBenchRounds; round++ {
		for _, batch := range eosBenchBatches {
			for _, eos := range []bool{round%2 == 1, round%2 == 0} { // alternate which goes first
				side := eosSide(eos, batch)
				rate := eosBenchRun(b, addr, h, batch, eos, run)
				run++
				note(b, "round %d %-22s %8.0f records/s", round, side, rate)
				rates[side] = append(rates[side], rate)
			}
		}
	}
	for _, batch := range eosBenchBatches {
		alo, eos := rates[eosSide(false, batch)], rates[eosSide(true, batch)]
		reportSpread(b, eosSide(false, batch)+"-rec/s", alo)
		reportSpread(b, eosSide(true, batch)+"-rec/s", eos)
		a, _, _, _ := spread(alo)
		e, _, _, _ := spread(eos)
		b.ReportMetric(e/a, "eos/alo-batch-"+strconv.Itoa(batch))
		note(b, "batch %d: exactly-once / at-least-once %.2fx (medians %.0f / %.0f records/s)", batch, e/a, e, a)
	}
}

// eosSide names one side of the benchmark.
func eosSide(eos bool, batch int) string {
	if eos {
		return "exactly-once-" + strconv.Itoa(batch)
	}
	return "at-least-once-" + strconv.Itoa(batch)
}

// eosBenchRun drains the backlog in a fresh group with one node, and
// returns its records per second.
func eosBenchRun(b *testing.B, addr, h string, batch int, eos bool, run int) float64 {
	group, out := fmt.Sprintf("eos-%d", run), fmt.Sprintf("eos-out-%d", run)
	args := []string{"-nodes=1", "-bootstrap=" + addr, "-topics=eos-in", "-group=" + group, "-output-topic=" + out,
		"-max-poll-records=" + strconv.Itoa(batch), "-log-level=debug", "-session-timeout=3s", "-shutdown-timeout=5s",
		"-transaction-timeout=2s"}
	if eos {
		args = append(args, "-exactly-once")
	}
	s := startSwarm(b, append(args, "--", h, "-answer=tag")...)
	defer s.stop()
	var first, last logLine
	var sum int
	s.waitLog(5*time.Minute, "every record handled", 0, func(l logLine) bool {
		if l.msg() != "app.batch" {
			return false
		}
		if first == nil {
			first = l
		}
		sum += l.int("done")
		last = l
		return sum >= eosBenchTotal
	})
	if aborted := len(s.matching(logged("transaction.aborted"))); aborted != 0 {
		note(b, "run %d: %d transactions aborted", run, aborted)
	}
	return float64(sum-first.int("done")) / last.time().Sub(first.time()).Seconds()
}
