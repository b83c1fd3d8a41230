//go:build linux

package main

// BenchmarkPipe: records per second through one node, with the built-in
// discard handler and through the handler command pipe (testdata/answer,
// which answers every record "done"), side by side in one run:
//
//	go test -run '^$' -bench Pipe .
//
// The rates are the node's own, from its log: records done over the time
// from its start to its last batch (app.batch debug lines), so the commit
// interval stays out of the figure; and the same after its first batch,
// the cost of handling alone.

import (
	"fmt"
	"sort"
	"testing"
	"time"
)

// pipeBenchRecords is how many 100-byte records each mode works through.
const pipeBenchRecords = 200_000

// BenchmarkPipe runs discard, the json pipe and the lines pipe over the
// same records, each with a group of its own, b.N times, and reports the
// medians and their ratios to discard.
func BenchmarkPipe(b *testing.B) {
	_, answer := handlerPrograms(b)
	_, addr := newBroker(b, 4, "orders")
	produce(b, addr, "orders", pipeBenchRecords)
	modes := []struct {
		name string
		args []string
	}{
		{"discard", []string{"-handler=discard"}},
		{"pipe-json", []string{"--", answer}},
		{"pipe-lines", []string{"-codec=lines", "--", answer}},
	}
	total, handle := map[string][]float64{}, map[string][]float64{}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		for _, m := range modes {
			t, h := pipeRate(b, addr, fmt.Sprintf("bench-%s-%d", m.name, i), m.args)
			total[m.name] = append(total[m.name], t)
			handle[m.name] = append(handle[m.name], h)
		}
	}
	b.StopTimer()
	median := func(xs []float64) float64 {
		xs = append([]float64(nil), xs...)
		sort.Float64s(xs)
		return xs[len(xs)/2]
	}
	dTotal, dHandle := median(total["discard"]), median(handle["discard"])
	b.ReportMetric(dTotal, "discard-rec/s")
	for _, m := range modes[1:] {
		t, h := median(total[m.name]), median(handle[m.name])
		b.ReportMetric(t, m.name+"-rec/s")
		b.ReportMetric(t/dTotal, m.name+"/discard")
		b.ReportMetric(h/dHandle, m.name+"/discard-handling")
		b.Logf("%s: %.0f records/s start to end = %.2fx discard (%.0f); handling alone %.0f records/s = %.2fx discard (%.0f)",
			m.name, t, t/dTotal, dTotal, h, h/dHandle, dHandle)
	}
}

// pipeRate runs one node of group over the whole topic. total is records
// per second from the node's start (its after_fork line: group join, fetch
// and handling) to its last batch; handle leaves out everything up to the
// end of its first batch, which with the in-process broker is also the
// fetching: what remains is the handler's own cost.
func pipeRate(b *testing.B, addr, group string, handlerArgs []string) (total, handle float64) {
	args := append([]string{"-nodes=1", "-bootstrap=" + addr, "-topics=orders", "-group=" + group,
		"-log-level=debug", "-report-interval=1s", "-node-report-timeout=10s", "-session-timeout=3s"}, handlerArgs...)
	s := startSwarm(b, args...)
	ready, _ := s.waitLog(30*time.Second, "node running", 0, logged("swarm.node.after_fork", "role", "node"))
	var first, last logLine
	done := 0
	s.waitLog(120*time.Second, "every record done", 0, func(l logLine) bool {
		if l.msg() != "app.batch" {
			return false
		}
		if first == nil {
			first = l
		}
		last = l
		done += l.int("done")
		return done >= pipeBenchRecords
	})
	if done != pipeBenchRecords {
		b.Fatalf("%s: %d records done, want %d", group, done, pipeBenchRecords)
	}
	all, after := last.time().Sub(ready.time()), last.time().Sub(first.time())
	total = float64(done) / all.Seconds()
	handle = float64(done-first.int("done")) / after.Seconds()
	b.Logf("%s: %d records in %s from the node's start (%.0f/s); %d in %s after its first batch (%.0f/s)", group,
		done, all.Round(time.Millisecond), total, done-first.int("done"), after.Round(time.Millisecond), handle)
	s.cleanup()
	return total, handle
}
