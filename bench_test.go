//go:build linux

package main

// The benchmarks behind BENCHMARKS.md, run against the real binary and an
// in-process kfake broker on loopback:
//
//	testdata/bench.sh     (machine description + every benchmark, into a file)
//	go test -run '^$' -bench 'SpawnFloor|Recovery|Deadlines|Memory|Throughput|Burn|IdleCost' -benchtime 1x -timeout 60m
//
// Each benchmark takes its whole sample in one call (50 kills, 7 rounds of
// throughput, 60 s of idle...), so -benchtime 1x is all they need; a larger
// b.N only adds samples where samples are counted. They report custom
// metrics (ms, MB, records/s, ratios; ns/op is meaningless here) and print
// their details (per run, median, p90, min, max) as indented lines on
// stdout. None of them runs without -bench, so `go test ./...` stays fast.

import (
	"fmt"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kmsg"
	"golang.org/x/sys/unix"
)

// BenchmarkSpawnFloor: the bare floor under every restart on this machine,
// fork+exec of the static swarm binary (with CLONE_PIDFD, as the supervisor
// spawns) until its main has printed its first line (-version), read from
// a pipe with the same clock as the other figures.
func BenchmarkSpawnFloor(b *testing.B) {
	noteLoad(b)
	n := max(b.N, 200)
	var xs []float64
	buf := make([]byte, 256)
	env := os.Environ()
	for i := 0; i < n; i++ {
		var p [2]int
		if err := unix.Pipe2(p[:], unix.O_CLOEXEC); err != nil {
			b.Fatal(err)
		}
		pidfd := -1
		start := time.Now()
		_, err := syscall.ForkExec(swarmBin, []string{"swarm", "-version"}, &syscall.ProcAttr{
			Env: env, Files: []uintptr{0, uintptr(p[1]), 2}, Sys: &syscall.SysProcAttr{PidFD: &pidfd},
		})
		unix.Close(p[1])
		if err != nil {
			b.Fatal(err)
		}
		k, err := unix.Read(p[0], buf) // blocks until the child's first write
		d := time.Since(start)
		unix.Close(p[0])
		if err != nil || k == 0 || !strings.HasPrefix(string(buf[:k]), "swarm ") {
			b.Fatalf("read -version output: %q, %v", buf[:max(k, 0)], err)
		}
		var info siginfoChld
		if err := waitidPidfd(pidfd, &info, unix.WEXITED); err != nil {
			b.Fatal(err)
		}
		unix.Close(pidfd)
		xs = append(xs, ms(d))
	}
	reportSpread(b, "fork-exec-to-main-ms", xs)
}

// BenchmarkRecovery: SIGKILL a node, with -node-restart-timeout=0, and time
// from the kill to: the supervisor's swarm.node.exited line (it noticed and
// reaped), its swarm.manager.after_fork line (the replacement is forked) and
// the replacement's own swarm.node.after_fork line (it runs our main, has
// its signal handlers and has reported once). Log times are slog's, cut to
// the millisecond; kill-to-running-recv is the same event by the time the
// test read the line (a microsecond upper bound, pipe and parsing
// included). Kills go round-robin over 8 nodes and each hits a node that
// has run at least 10 s, so the crash-loop backoff (which would rightly
// slow down repeated quick deaths) stays out of the figure: 50 kills take
// about 75 s.
func BenchmarkRecovery(b *testing.B) {
	noteLoad(b)
	const nodes = 8
	kills := max(b.N, 50)
	_, addr := newBroker(b, nodes, "orders")
	s := startSwarm(b, "-nodes=8", "-bootstrap="+addr, "-topics=orders", "-handler=discard",
		"-node-restart-timeout=0", "-report-interval=1s", "-node-report-timeout=5s", "-session-timeout=3s")
	pids := s.waitNodesReady(nodes, 0)
	started := startedNow(pids)
	var exited, forked, running, runningRecv []float64
	b.ResetTimer()
	for i := 0; i < kills; i++ {
		id := i % nodes
		pastBackoff(started[id])
		from := s.logCount()
		killed := time.Now()
		if err := syscall.Kill(pids[id], syscall.SIGKILL); err != nil {
			b.Fatal(err)
		}
		ex, _ := s.waitLog(10*time.Second, "node exited", from, logged("swarm.node.exited", "node", id))
		if d := ex.int("restart_in"); d != 0 {
			b.Fatalf("node %d restarts in %d ns: the kill hit the crash-loop backoff", id, d)
		}
		fork, _ := s.waitLog(10*time.Second, "replacement forked", from, logged("swarm.manager.after_fork", "node", id))
		ready, _ := s.waitLog(10*time.Second, "replacement running", from, logged("swarm.node.after_fork", "role", "node", "node", id))
		exited = append(exited, ms(ex.time().Sub(killed)))
		forked = append(forked, ms(fork.time().Sub(killed)))
		running = append(running, ms(ready.time().Sub(killed)))
		runningRecv = append(runningRecv, ms(recvTime(ready).Sub(killed)))
		pids[id] = ready.int("pid")
		started[id] = recvTime(ready)
	}
	b.StopTimer()
	reportSpread(b, "kill-to-exited-ms", exited)
	reportSpread(b, "kill-to-forked-ms", forked)
	reportSpread(b, "kill-to-running-ms", running)
	reportSpread(b, "kill-to-running-recv-ms", runningRecv)
}

// startedNow maps each node of pids to now: when the benchmark takes it as
// started.
func startedNow(pids map[int]int) map[int]time.Time {
	started := map[int]time.Time{}
	for id := range pids {
		started[id] = time.Now()
	}
	return started
}

// pastBackoff sleeps until a node started at started has run past the
// crash-loop backoff window. Pacing, not synchronisation: a node that dies
// within 10 s of its start backs off, and the figures wanted are for the
// configured delay.
func pastBackoff(started time.Time) {
	if wait := time.Until(started.Add(backoffWindow + 100*time.Millisecond)); wait > 0 {
		time.Sleep(wait)
	}
}

// BenchmarkDeadlines: how late the report-timeout TERM, the shutdown-timeout
// KILL and the restart delay fire against their deadlines, from the
// supervisor's own late_ms log fields (microsecond resolution). A
// SIGSTOPped node exercises all three in one cycle; 24 cycles over 8 nodes,
// each node stopped only once it has run 10 s (out of the backoff window).
func BenchmarkDeadlines(b *testing.B) {
	noteLoad(b)
	const nodes = 8
	cycles := max(b.N, 24)
	_, addr := newBroker(b, nodes, "orders")
	s := startSwarm(b, "-nodes=8", "-bootstrap="+addr, "-topics=orders", "-handler=discard",
		"-report-interval=100ms", "-node-report-timeout=500ms", "-shutdown-timeout=300ms",
		"-node-restart-timeout=200ms", "-session-timeout=1s")
	pids := s.waitNodesReady(nodes, 0)
	started := startedNow(pids)
	var term, kill, restart []float64
	b.ResetTimer()
	for i := 0; i < cycles; i++ {
		id := i % nodes
		pastBackoff(started[id])
		from := s.logCount()
		if err := syscall.Kill(pids[id], syscall.SIGSTOP); err != nil {
			b.Fatal(err)
		}
		st, _ := s.waitLog(10*time.Second, "stopping -1", from, logged("swarm.manager.stopping", "node", id, "status", statusHanging))
		kl, _ := s.waitLog(10*time.Second, "terminating", from, logged("swarm.manager.terminating", "node", id))
		bf, _ := s.waitLog(10*time.Second, "restart", from, logged("swarm.manager.before_fork", "node", id))
		ready, _ := s.waitLog(10*time.Second, "running", from, logged("swarm.node.after_fork", "role", "node", "node", id))
		term = append(term, num(st["late_ms"]))
		kill = append(kill, num(kl["late_ms"]))
		restart = append(restart, num(bf["late_ms"]))
		pids[id] = ready.int("pid")
		started[id] = time.Now()
	}
	b.StopTimer()
	reportSpread(b, "term-late-ms", term)
	reportSpread(b, "kill-late-ms", kill)
	reportSpread(b, "restart-late-ms", restart)
}

// BenchmarkMemory: PSS and RSS (from /proc/PID/smaps_rollup) of the
// supervisor and of each node, idle (every node in the group, fetching from
// an empty topic) and while consuming 1 000 000 records of 100 bytes with
// the discard handler (sampled every 100 ms between the first and the last
// handled batch), for 1+3 and 1+8 processes.
func BenchmarkMemory(b *testing.B) {
	for _, nodes := range []int{3, 8} {
		b.Run(fmt.Sprintf("1+%d", nodes), func(b *testing.B) { benchMemory(b, nodes) })
	}
}

// memSample is one reading of every process of a swarm.
type memSample struct {
	supRSS, supPSS   float64
	nodeRSS, nodePSS []float64
}

func (m memSample) totalPSS() float64 {
	t := m.supPSS
	for _, p := range m.nodePSS {
		t += p
	}
	return t
}

func benchMemory(b *testing.B, nodes int) {
	noteLoad(b)
	const total = 1_000_000
	c, addr := newBroker(b, 8, "mem")
	s := startSwarm(b, fmt.Sprintf("-nodes=%d", nodes), "-bootstrap="+addr, "-topics=mem",
		"-handler=discard", "-group=mem", "-log-level=debug", "-session-timeout=3s")
	pids := slices.Collect(maps.Values(s.waitNodesReady(nodes, 0)))
	sup := s.pid()
	waitGroupStable(b, c, "mem", nodes, 60*time.Second)
	sample := func() (memSample, bool) {
		var m memSample
		var err error
		if m.supRSS, m.supPSS, err = memOf(sup); err != nil {
			return m, false
		}
		for _, pid := range pids {
			rss, pss, err := memOf(pid)
			if err != nil {
				return m, false
			}
			m.nodeRSS, m.nodePSS = append(m.nodeRSS, rss), append(m.nodePSS, pss)
		}
		return m, true
	}
	b.ResetTimer()
	// Idle: a few readings a second apart once the group is stable.
	var idle []memSample
	for i := 0; i < 5; i++ {
		time.Sleep(time.Second) // pacing between readings
		if m, ok := sample(); ok {
			idle = append(idle, m)
		}
	}
	// Consuming: produce the records and read every 100 ms while some
	// records are handled and some are not. The sampler only reads; it
	// never calls into b from its goroutine.
	var handled atomic.Int64
	stop := make(chan struct{})
	var busy []memSample
	var sampler sync.WaitGroup
	sampler.Add(1)
	go func() {
		defer sampler.Done()
		tick := time.NewTicker(100 * time.Millisecond)
		defer tick.Stop()
		next, sum := 0, 0
		for {
			select {
			case <-stop:
				return
			case <-tick.C:
			}
			next, sum = s.countHandled(next, sum)
			handled.Store(int64(sum))
			if sum == 0 || sum >= total {
				continue
			}
			if m, ok := sample(); ok {
				busy = append(busy, m)
			}
		}
	}()
	produce(b, addr, "mem", total)
	waitFor(b, 5*time.Minute, "every record handled", func() bool { return handled.Load() >= total })
	close(stop)
	sampler.Wait()
	b.StopTimer()
	reportMem(b, "idle", idle)
	reportMem(b, "busy", busy)
}

// reportMem reports, over all samples: the supervisor's PSS, every node's
// PSS (median and max over nodes and samples), and the total PSS of the
// swarm per sample; RSS is logged for comparison.
func reportMem(b *testing.B, phase string, ms []memSample) {
	if len(ms) == 0 {
		b.Errorf("%s: no memory samples", phase)
		return
	}
	var supPSS, supRSS, nodePSS, nodeRSS, total []float64
	for _, m := range ms {
		supPSS, supRSS = append(supPSS, m.supPSS), append(supRSS, m.supRSS)
		nodePSS, nodeRSS = append(nodePSS, m.nodePSS...), append(nodeRSS, m.nodeRSS...)
		total = append(total, m.totalPSS())
	}
	note(b, "%s: %d samples", phase, len(ms))
	reportSpread(b, phase+"-sup-PSS-MB", supPSS)
	reportSpread(b, phase+"-node-PSS-MB", nodePSS)
	reportSpread(b, phase+"-total-PSS-MB", total)
	logSpread(b, phase+"-sup-RSS-MB", supRSS)
	logSpread(b, phase+"-node-RSS-MB", nodeRSS)
}

// fetchGate holds every Fetch the broker receives until it is opened, so a
// throughput run starts with every record in the broker and every member
// in the group: neither producing nor joining is in the figure. franz-go
// sends fetches on a connection of their own, so a held fetch delays
// nothing else (see kfake's SleepControl).
type fetchGate struct {
	c    *kfake.Cluster
	open chan struct{}
	held atomic.Int32
}

func closeFetches(c *kfake.Cluster) *fetchGate {
	g := &fetchGate{c: c, open: make(chan struct{})}
	c.ControlKey(kmsg.Fetch.Int16(), func(kmsg.Request) (kmsg.Response, error, bool) {
		select {
		case <-g.open:
		default:
			g.held.Add(1)
			c.SleepControl(func() { <-g.open })
		}
		c.DropControl() // open: the broker serves fetches as usual from now on
		return nil, nil, false
	})
	return g
}

// baselineBin builds testdata/baseline (the plain franz-go consumer) next
// to the swarm binary, once.
var baselineBin = sync.OnceValues(func() (string, error) {
	bin := filepath.Join(filepath.Dir(swarmBin), "baseline")
	cmd := exec.Command("go", "build", "-o", bin, "./testdata/baseline")
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("build baseline: %v\n%s", err, out)
	}
	return bin, nil
})

// tpRun is one throughput measurement.
type tpRun struct {
	rate      float64 // records/s, gate open to the last record handled
	secs      float64
	cpu       float64 // CPU seconds of the consumer processes during the run
	brokerCPU float64 // CPU seconds of this test process (the kfake broker, mostly) during the run
	otherCPU  float64 // CPU seconds used on the machine by everything else (other users' work) during the run
	rebal     bool    // the group's generation changed during the run
}

// runThroughput consumes topic (total records) from the start with a fresh
// group: nodes = 0 runs the baseline consumer, else a swarm of that many
// nodes with handler. The clock starts when the fetch gate opens (group
// stable, every member's first fetch held) and stops at the node's own log
// time of the batch that brings the handled count to total. The count is
// exact: every node logs each batch it handled ("app.batch", done), and
// the run checks that the group did not rebalance (so nothing was handled
// twice) and that the committed offsets reach the end of every partition
// (so nothing was skipped).
func runThroughput(b *testing.B, c *kfake.Cluster, addr, topic string, total, nodes int, handler, group string) tpRun {
	b.Helper()
	g := closeFetches(c)
	var s *swarmProc
	if nodes == 0 {
		bin, err := baselineBin()
		if err != nil {
			b.Fatal(err)
		}
		s = startArgv(b, nil, []string{bin, "-bootstrap=" + addr, "-topics=" + topic, "-group=" + group, "-instance-id=test",
			"-session-timeout=3s"})
	} else {
		s = startSwarm(b, fmt.Sprintf("-nodes=%d", nodes), "-bootstrap="+addr, "-topics="+topic,
			"-handler="+handler, "-group="+group, "-log-level=debug", "-session-timeout=3s")
	}
	defer s.stop()
	members := max(nodes, 1)
	pids := []int{s.cmd.Process.Pid}
	if nodes > 0 {
		for _, pid := range s.waitNodesReady(nodes, 0) {
			pids = append(pids, pid)
		}
	}
	parts := c.PartitionInfos(topic)
	epoch := waitGateHeld(b, c, g, group, members, len(parts))
	r := measureGated(b, c, g, s, group, pids, total, epoch)
	waitFor(b, 10*time.Second, "commits at the end of every partition", func() bool {
		gi := c.GroupInfo(group)
		if gi == nil {
			return false
		}
		for _, p := range parts {
			if gi.Commits[topic][p.Partition].Offset != p.HighWatermark {
				return false
			}
		}
		return true
	})
	return r
}

// measureThroughput is runThroughput, run again (up to 3 times in all) when
// the group rebalanced during the run: a rebalance is a pause that is not
// throughput.
func measureThroughput(b *testing.B, c *kfake.Cluster, addr, topic string, total, nodes int, handler, group string) tpRun {
	var r tpRun
	for attempt := 0; attempt < 3; attempt++ {
		if r = runThroughput(b, c, addr, topic, total, nodes, handler, fmt.Sprintf("%s-%d", group, attempt)); !r.rebal {
			break
		}
	}
	return r
}

// BenchmarkThroughput: records/s to consume 1 000 000 records of 100 bytes
// with the discard handler: the baseline (testdata/baseline, a plain
// single-process franz-go group consumer with the nodes' client settings)
// and swarms of 1, 2 and 4 nodes, 7 rounds interleaved (the order rotates
// each round), all against one broker holding the records. Ratios are
// taken within a round, side by side, then the median over rounds.
func BenchmarkThroughput(b *testing.B) {
	noteLoad(b)
	const total = 1_000_000
	rounds := max(b.N, 7)
	c, addr := newBroker(b, 8, "tp")
	produce(b, addr, "tp", total)
	configs := []int{0, 1, 2, 4} // 0: the baseline
	name := func(n int) string {
		if n == 0 {
			return "baseline"
		}
		return fmt.Sprintf("swarm%d", n)
	}
	runs := map[int][]tpRun{}
	b.ResetTimer()
	for r := 0; r < rounds; r++ {
		for i := range configs {
			n := configs[(i+r)%len(configs)]
			run := measureThroughput(b, c, addr, "tp", total, n, "discard", fmt.Sprintf("tp-%d-%s", r, name(n)))
			note(b, "round %d %-8s %9.0f records/s  %.2f s  CPU: consumers %.2f s, test process (broker) %.2f s, other work on the machine %.2f s",
				r, name(n), run.rate, run.secs, run.cpu, run.brokerCPU, run.otherCPU)
			runs[n] = append(runs[n], run)
		}
	}
	b.StopTimer()
	for _, n := range configs {
		var rates, eff []float64
		for _, run := range runs[n] {
			rates = append(rates, run.rate)
			eff = append(eff, float64(total)/run.cpu)
		}
		reportSpread(b, name(n)+"-rec/s", rates)
		logSpread(b, name(n)+"-rec/consumer-cpu-s", eff)
	}
	for _, n := range configs[1:] {
		var ratios []float64
		for r := range rounds {
			ratios = append(ratios, runs[n][r].rate/runs[0][r].rate)
		}
		reportSpread(b, name(n)+"/baseline", ratios)
	}
}

// BenchmarkBurn: the CPU-bound case, -handler=burn=1000 (1000 rounds of
// SHA-256 per record), 1 node against 2 on this machine, 7 rounds
// interleaved; the ratio is taken within each round. Each run also notes
// the cores the consumers got (their CPU seconds over the wall time) and
// the cores other work on the machine took meanwhile (/proc/stat): on a
// shared 2-core machine two nodes get two cores only when nothing else
// runs, so the ratio is also reported over the quiet rounds alone.
func BenchmarkBurn(b *testing.B) {
	noteLoad(b)
	const total = 40_000
	rounds := max(b.N, 7)
	c, addr := newBroker(b, 8, "burn")
	produce(b, addr, "burn", total)
	runs := map[int][]tpRun{}
	b.ResetTimer()
	for r := 0; r < rounds; r++ {
		for i := range 2 {
			n := 1 + (i+r)%2
			run := measureThroughput(b, c, addr, "burn", total, n, "burn=1000", fmt.Sprintf("burn-%d-%d", r, n))
			note(b, "round %d burn swarm%d %7.0f records/s  %.2f s  consumer CPU %.2f s = %.2f cores; other work on the machine %.2f cores",
				r, n, run.rate, run.secs, run.cpu, run.cpu/run.secs, run.otherCPU/run.secs)
			runs[n] = append(runs[n], run)
		}
	}
	b.StopTimer()
	// quiet: a round in which other work on the machine took less than a
	// quarter of a core during both runs, so two nodes could have two cores.
	quiet := func(r tpRun) bool { return r.otherCPU/r.secs < 0.25 }
	var rates1, rates2, ratios, quietRatios, eff []float64
	for r := range rounds {
		one, two := runs[1][r], runs[2][r]
		rates1, rates2 = append(rates1, one.rate), append(rates2, two.rate)
		ratios = append(ratios, two.rate/one.rate)
		if quiet(one) && quiet(two) {
			quietRatios = append(quietRatios, two.rate/one.rate)
		}
		eff = append(eff, (float64(total)/two.cpu)/(float64(total)/one.cpu))
	}
	reportSpread(b, "burn-swarm1-rec/s", rates1)
	reportSpread(b, "burn-swarm2-rec/s", rates2)
	reportSpread(b, "burn-swarm2/swarm1", ratios)
	if len(quietRatios) > 0 {
		reportSpread(b, "burn-swarm2/swarm1-quiet", quietRatios)
	} else {
		note(b, "no quiet round: other work on the machine took a quarter of a core or more in every round")
	}
	logSpread(b, "burn-per-cpu-second-swarm2/swarm1", eff)
}

// BenchmarkIdleCost: what an idle supervisor of 4 idle nodes costs with the
// defaults (-report-interval 10s, no -http), over 60 s: its CPU time (ns
// from /proc/PID/task/*/schedstat, and utime+stime ticks from
// /proc/PID/stat), its voluntary context switches (summed over its
// threads: each is a sleep, so each wakeup shows as one), then, in a second
// 60 s window, every syscall of every thread of it under strace, to count
// the event loop's epoll_wait returns and show that none was a timeout.
func BenchmarkIdleCost(b *testing.B) {
	noteLoad(b)
	const window = 60 * time.Second
	c, addr := newBroker(b, 4, "orders")
	s := startSwarm(b, "-nodes=4", "-bootstrap="+addr, "-topics=orders", "-handler=discard",
		"-group=idle")
	nodes := slices.Collect(maps.Values(s.waitNodesReady(4, 0)))
	sup := s.pid()
	waitGroupStable(b, c, "idle", 4, 2*time.Minute)
	time.Sleep(2 * time.Second) // pacing: let start-up work (first GC, joins) pass
	b.ResetTimer()
	a, nodesA := taskStats(sup), cpuOf(nodes)
	time.Sleep(window)
	z, nodesZ := taskStats(sup), cpuOf(nodes)
	cpuNs := z.runNs - a.runNs
	b.ReportMetric(float64(cpuNs)/1e6, "sup-cpu-ms/60s")
	b.ReportMetric(100*float64(cpuNs)/float64(window.Nanoseconds()), "sup-cpu-%")
	b.ReportMetric(float64(z.voluntary-a.voluntary), "sup-wakeups/60s")
	note(b, "supervisor over %s: CPU %.3f ms by schedstat (%.4f %% of a core), utime+stime %d ticks of 10 ms; "+
		"context switches voluntary %d, involuntary %d; threads %d",
		window, float64(cpuNs)/1e6, 100*float64(cpuNs)/float64(window.Nanoseconds()), z.ticks-a.ticks,
		z.voluntary-a.voluntary, z.involuntary-a.involuntary, z.threads)
	note(b, "4 idle nodes over %s: CPU %.3f s together (%.3f %% of a core each)", window, nodesZ-nodesA,
		100*(nodesZ-nodesA)/4/window.Seconds())
	// A strace'd process runs slower, so the wakeups are counted in a
	// window of their own.
	path, err := exec.LookPath("strace")
	if err != nil {
		note(b, "SKIPPED the epoll_wait count: strace is not installed (apt-get install strace)")
		return
	}
	out := filepath.Join(b.TempDir(), "strace.txt")
	st := exec.Command(path, "-f", "-ttt", "-o", out, "-p", strconv.Itoa(sup))
	var stderr strings.Builder
	st.Stderr = &stderr
	if err := st.Start(); err != nil {
		b.Fatalf("start strace: %v", err)
	}
	time.Sleep(window)
	_ = st.Process.Signal(os.Interrupt) // strace detaches and exits
	_ = st.Wait()                       // "signal: interrupt" is how it ends
	trace, err := os.ReadFile(out)
	if err != nil {
		b.Fatalf("read strace output: %v (strace said: %s)", err, stderr.String())
	}
	sc := summarizeStrace(string(trace), 2*4+1)
	if sc.loopReturns == 0 {
		b.Errorf("strace saw no epoll wait of the loop; strace said: %s", stderr.String())
	}
	b.ReportMetric(float64(sc.loopReturns), "loop-wakeups/60s")
	b.ReportMetric(float64(sc.loopTimeouts), "loop-timeouts/60s")
	note(b, "strace over %s: the loop's epoll_pwait returned %d times, %d of them with no event (a timeout); "+
		"smallest timeout asked: %d ms; every finished syscall of every thread: %s",
		window, sc.loopReturns, sc.loopTimeouts, sc.minTimeout, sc.counts)
}

// straceSummary is what summarizeStrace reads from `strace -f -ttt` output.
type straceSummary struct {
	loopReturns, loopTimeouts int
	minTimeout                int    // smallest timeout the loop asked for, ms (-1: none, or only "forever")
	counts                    string // syscall=count, most frequent first
}

// epollRet matches the end of a finished epoll_wait or epoll_pwait (x/sys
// and the Go runtime both use epoll_pwait on amd64): maxevents, timeout,
// result; on a complete line or a "<... epoll_pwait resumed>" one.
var epollRet = regexp.MustCompile(`\], (\d+), (-?\d+)(?:, [^,]+, \d+)?\)\s+= (-?\d+)`)

// summarizeStrace counts every finished syscall by name, and the event
// loop's epoll waits: told from the Go runtime's own netpoller (which asks
// for 128 events) by their maxevents, 2*nodes+1 (see manager.run).
func summarizeStrace(trace string, loopMaxEvents int) straceSummary {
	sum := straceSummary{minTimeout: -1}
	counts := map[string]int{}
	for _, line := range strings.Split(trace, "\n") {
		f := strings.Fields(line)
		if len(f) < 3 || strings.Contains(line, "<unfinished") {
			continue
		}
		var name string
		if f[2] == "<..." && len(f) > 3 {
			name = f[3]
		} else if i := strings.IndexByte(f[2], '('); i > 0 {
			name = f[2][:i]
		} else {
			continue // signals, exits
		}
		counts[name]++
		if name != "epoll_wait" && name != "epoll_pwait" {
			continue
		}
		m := epollRet.FindStringSubmatch(line)
		if m == nil || m[1] != strconv.Itoa(loopMaxEvents) {
			continue // the runtime's netpoller, or a wait strace itself interrupted
		}
		sum.loopReturns++
		if timeout, _ := strconv.Atoi(m[2]); timeout >= 0 && (sum.minTimeout < 0 || timeout < sum.minTimeout) {
			sum.minTimeout = timeout
		}
		if m[3] == "0" {
			sum.loopTimeouts++
		}
	}
	names := make([]string, 0, len(counts))
	for n := range counts {
		names = append(names, n)
	}
	sort.Slice(names, func(i, j int) bool { return counts[names[i]] > counts[names[j]] })
	var parts []string
	for _, n := range names {
		parts = append(parts, fmt.Sprintf("%s=%d", n, counts[n]))
	}
	sum.counts = strings.Join(parts, " ")
	return sum
}

// waitGateHeld waits until group is ready to be measured and returns its
// generation: the group is stable, every member holds partitions and every
// partition is assigned, every member has a fetch held at g, and none of
// that has changed for 300 ms (right after its first stable state, kfake
// may run one more cooperative round; see kfake-notes.md).
func waitGateHeld(b *testing.B, c *kfake.Cluster, g *fetchGate, group string, members, parts int) int32 {
	b.Helper()
	var epoch int32
	var seen string
	var since time.Time
	waitFor(b, time.Minute, "the group formed and every member's first fetch held", func() bool {
		gi := c.GroupInfo(group)
		if gi == nil || gi.State != "Stable" || len(gi.Members) != members || gi.NumAssigned() != parts {
			return false
		}
		for _, m := range gi.Members {
			if m.NumAssigned() == 0 {
				return false
			}
		}
		held := g.held.Load()
		if held < int32(members) {
			return false
		}
		if now := fmt.Sprintf("%d/%d", gi.Epoch, held); now != seen {
			seen, since = now, time.Now()
			return false
		}
		epoch = gi.Epoch
		return time.Since(since) >= 300*time.Millisecond
	})
	return epoch
}

// measureGated opens g and measures until p's nodes have logged total
// records handled (app.batch): the rate, the CPU of pids, of this process
// (the broker) and of everything else. A generation other than epoch at
// the end, or a count off the total, marks the run as rebalanced.
func measureGated(b *testing.B, c *kfake.Cluster, g *fetchGate, p *swarmProc, group string, pids []int, total int, epoch int32) tpRun {
	b.Helper()
	cpu0, self0, all0 := cpuOf(pids), selfCPU(), machineCPU()
	start := time.Now()
	close(g.open)
	var sum int
	last, _ := p.waitLog(10*time.Minute, "every record handled", 0, func(l logLine) bool {
		if l.msg() == "app.batch" {
			sum += l.int("done")
		}
		return sum >= total
	})
	r := tpRun{cpu: cpuOf(pids) - cpu0, brokerCPU: selfCPU() - self0}
	r.otherCPU = machineCPU() - all0 - r.cpu - r.brokerCPU
	r.secs = last.time().Sub(start).Seconds()
	r.rate = float64(total) / r.secs
	if gi := c.GroupInfo(group); gi == nil || gi.Epoch != epoch || sum != total {
		r.rebal = true
		note(b, "run %s: the group rebalanced during the run (handled %d of %d); run again", group, sum, total)
	}
	return r
}
