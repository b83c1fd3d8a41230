//go:build linux

package main

// Benchmarks of the supervisor's reactions, run against the real binary:
//
//	go test -run '^$' -bench . -benchtime 20x
//
// They report custom metrics (ms, MB); ns/op is meaningless here.

import (
	"context"
	"fmt"
	"os"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// BenchmarkRecovery: SIGKILL a node, with -node-restart-timeout=0, until
// its replacement runs our main (its own after_fork log line). Each kill
// hits a node that has run at least 10 s, so the crash-loop backoff (which
// would rightly slow down repeated quick deaths) stays out of the figure.
func BenchmarkRecovery(b *testing.B) {
	_, addr := newBroker(b, 4, "orders")
	const nodes = 4
	s := startSwarm(b, "-nodes=4", "-bootstrap="+addr, "-topics=orders", "-handler=discard",
		"-node-restart-timeout=0", "-report-interval=1s", "-node-report-timeout=5s", "-session-timeout=3s")
	pids := s.waitNodesReady(nodes, 0)
	started := map[int]time.Time{}
	for id := range pids {
		started[id] = time.Now()
	}
	var spawn, running []float64
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		id := i % nodes
		if wait := time.Until(started[id].Add(backoffWindow + 100*time.Millisecond)); wait > 0 {
			time.Sleep(wait) // pacing, not synchronisation: stay out of the backoff window
		}
		from := s.logCount()
		killed := time.Now()
		if err := syscall.Kill(pids[id], syscall.SIGKILL); err != nil {
			b.Fatal(err)
		}
		fork, _ := s.waitLog(10*time.Second, "replacement forked", from, afterFork(id))
		ready, _ := s.waitLog(10*time.Second, "replacement running", from, func(l logLine) bool {
			return l.msg() == "swarm.node.after_fork" && l.role() == "node" && l.int("node") == id
		})
		spawn = append(spawn, ms(fork.time().Sub(killed)))
		running = append(running, ms(ready.time().Sub(killed)))
		pids[id] = ready.int("pid")
		started[id] = ready.time()
	}
	b.StopTimer()
	reportSpread(b, "kill-to-fork", spawn)
	reportSpread(b, "kill-to-running", running)
}

// BenchmarkDeadlines: how late the report-timeout TERM, the shutdown-timeout
// KILL and the restart delay fire against their deadlines, from the
// supervisor's own late_ms log fields. A SIGSTOPped node exercises all
// three in one cycle.
func BenchmarkDeadlines(b *testing.B) {
	_, addr := newBroker(b, 4, "orders")
	const nodes = 4
	s := startSwarm(b, "-nodes=4", "-bootstrap="+addr, "-topics=orders", "-handler=discard",
		"-report-interval=100ms", "-node-report-timeout=500ms", "-shutdown-timeout=300ms",
		"-node-restart-timeout=200ms", "-session-timeout=1s")
	pids := s.waitNodesReady(nodes, 0)
	started := map[int]time.Time{}
	for id := range pids {
		started[id] = time.Now()
	}
	var term, kill, restart []float64
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		id := i % nodes
		// Pacing, not synchronisation: a node that dies within 10 s of its
		// start backs off, and the figure wanted is the configured delay.
		if wait := time.Until(started[id].Add(backoffWindow + 100*time.Millisecond)); wait > 0 {
			time.Sleep(wait)
		}
		from := s.logCount()
		if err := syscall.Kill(pids[id], syscall.SIGSTOP); err != nil {
			b.Fatal(err)
		}
		st, _ := s.waitLog(10*time.Second, "stopping -1", from, func(l logLine) bool {
			return l.msg() == "swarm.manager.stopping" && l.int("node") == id && l.int("status") == statusHanging
		})
		kl, _ := s.waitLog(10*time.Second, "terminating", from, msgIs("swarm.manager.terminating", id))
		bf, _ := s.waitLog(10*time.Second, "restart", from, msgIs("swarm.manager.before_fork", id))
		ready, _ := s.waitLog(10*time.Second, "running", from, func(l logLine) bool {
			return l.msg() == "swarm.node.after_fork" && l.role() == "node" && l.int("node") == id
		})
		term = append(term, num(st["late_ms"]))
		kill = append(kill, num(kl["late_ms"]))
		restart = append(restart, num(bf["late_ms"]))
		pids[id] = ready.int("pid")
		started[id] = ready.time()
	}
	b.StopTimer()
	reportSpread(b, "term-late", term)
	reportSpread(b, "kill-late", kill)
	reportSpread(b, "restart-late", restart)
}

// BenchmarkIdleMemory: RSS and PSS of the supervisor and of each node of
// an idle 1+3 swarm, once all nodes are in the group.
func BenchmarkIdleMemory(b *testing.B) {
	c, addr := newBroker(b, 3, "orders")
	s := startSwarm(b, "-nodes=3", "-bootstrap="+addr, "-topics=orders", "-handler=discard", "-group=idle",
		"-report-interval=1s", "-node-report-timeout=5s", "-session-timeout=3s")
	pids := s.waitNodesReady(3, 0)
	// Idle means: every node is in the group with its partitions, fetching
	// from an empty topic.
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, err := c.WaitGroupStable(ctx, "idle", 3); err != nil {
		b.Fatalf("group not stable: %v", err)
	}
	b.ResetTimer()
	var supRSS, supPSS, nodeRSS, nodePSS []float64
	for i := 0; i < b.N; i++ {
		r, p := memOf(b, s.cmd.Process.Pid)
		supRSS, supPSS = append(supRSS, r), append(supPSS, p)
		for _, pid := range pids {
			r, p := memOf(b, pid)
			nodeRSS, nodePSS = append(nodeRSS, r), append(nodePSS, p)
		}
	}
	b.StopTimer()
	reportSpread(b, "sup-RSS-MB", supRSS)
	reportSpread(b, "sup-PSS-MB", supPSS)
	reportSpread(b, "node-RSS-MB", nodeRSS)
	reportSpread(b, "node-PSS-MB", nodePSS)
}

// memOf reads Rss and Pss (MB) from /proc/PID/smaps_rollup.
func memOf(b *testing.B, pid int) (rss, pss float64) {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/smaps_rollup", pid))
	if err != nil {
		b.Fatal(err)
	}
	for _, line := range strings.Split(string(data), "\n") {
		f := strings.Fields(line)
		if len(f) < 2 {
			continue
		}
		kb, _ := strconv.ParseFloat(f[1], 64)
		switch f[0] {
		case "Rss:":
			rss = kb / 1024
		case "Pss:":
			pss = kb / 1024
		}
	}
	return rss, pss
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

func num(v any) float64 {
	f, _ := v.(float64)
	return f
}

// reportSpread reports median and max of xs as custom metrics.
func reportSpread(b *testing.B, name string, xs []float64) {
	if len(xs) == 0 {
		return
	}
	sort.Float64s(xs)
	b.ReportMetric(xs[len(xs)/2], name+"-median")
	b.ReportMetric(xs[len(xs)-1], name+"-max")
	b.Logf("%s: n=%d median=%.3f p90=%.3f max=%.3f", name, len(xs), xs[len(xs)/2], xs[len(xs)*9/10], xs[len(xs)-1])
}
