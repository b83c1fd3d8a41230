//go:build linux

package main

// Signal tests against the real binary: TSTP (quiet), TTIN (goroutine
// dumps), a second TERM during a graceful stop, -consuming-ttl, and a
// signal sent to a single node. No sleeps: every wait is on a log line, an
// output line or a condition with a deadline; every observation window is
// bounded by a supervisor event whose timing is fixed by configuration.

import (
	"fmt"
	"strings"
	"syscall"
	"testing"
	"time"
)

// 1. TSTP makes every node quiet: records produced afterwards are not
// handled, by the nodes that got the signal nor by replacements started
// while quiet, and supervision goes on. TERM still stops everything with
// exit 0.
//
// Observation windows. Each is bounded by a supervisor event at a time the
// configuration fixes: a node SIGKILLed while quiet is restarted exactly
// -node-restart-timeout (1.5 s) after its death. That is longer than
// -node-report-timeout (1 s), so the quiet node that stays up through the
// window must have kept reporting (else the supervisor would have stopped
// it with status -1), and it had the new records to take all along.
//   - window 1: from node 1's SIGKILL to its replacement's start: node 0,
//     quiet by signal, must print nothing;
//   - window 2: from node 0's SIGKILL to its replacement's start: node 1's
//     replacement, quiet from birth, must print nothing.
//
// A node that was not quiet would print the new records within
// milliseconds of its next poll.
func TestTSTPQuietsNodesAndSupervisionGoesOn(t *testing.T) {
	_, addr := newBroker(t, 4, "orders")
	const (
		n             = 200
		restartDelay  = 1500 * time.Millisecond
		reportTimeout = time.Second
	)
	produceKeys(t, addr, "orders", 0, n)
	s := startSwarm(t, swarmArgs(addr, "-nodes=2", "-handler=print",
		"-node-report-timeout="+reportTimeout.String(), "-node-restart-timeout="+restartDelay.String(),
		// Room for a node's final commit and close even if a rebalance is
		// in flight when TERM comes: the stop must be exit 0.
		"-shutdown-timeout=5s")...)
	pids := s.waitNodesReady(2, 0)

	s.waitStdout(30*time.Second, fmt.Sprintf("keys 0..%d printed", n-1), func(lines []string) bool {
		return len(printedKeys(t, lines)) == n
	})

	from := s.logCount()
	s.signal(syscall.SIGTSTP)
	s.waitLog(5*time.Second, "supervisor app.quiet", from, logged("app.quiet", "role", "supervisor"))
	for id, pid := range pids {
		s.waitQuiet(id, pid, from)
	}
	// Every node is now past its last poll: whatever it printed is in the
	// pipe. New records from here on must stay unhandled.
	produceKeys(t, addr, "orders", n, n)

	// Window 1: node 1 dies; node 0 stays quiet and supervised.
	new1 := killQuietNode(t, s, 1, pids[1], reportTimeout)
	if !alive(pids[0]) {
		t.Fatalf("quiet node 0 (pid %d) died during window 1", pids[0])
	}
	// Window 2: node 0 dies; node 1's replacement, quiet from its start,
	// holds records it must not take.
	new0 := killQuietNode(t, s, 0, pids[0], reportTimeout)
	if !alive(new1) {
		t.Fatalf("quiet replacement of node 1 (pid %d) died during window 2", new1)
	}

	for _, l := range s.matching(logged("swarm.manager.stopping", "role", "supervisor")) {
		t.Errorf("a quiet node was stopped (it stopped reporting?): %v", l)
	}
	if got := len(s.matching(logged("swarm.manager.after_fork", "role", "supervisor"))); got != 4 {
		t.Errorf("%d after_fork lines, want 4 (2 starts + 2 replacements)", got)
	}

	s.stopGracefully(20 * time.Second)
	checkNothingHandledWhileQuiet(t, s, n, new0, new1)
}

// killQuietNode SIGKILLs node id, running as pid, in a swarm quieted by
// TSTP, and returns its replacement's pid once the replacement is quiet
// too. The window from the kill to the replacement's start must outlast
// reportTimeout: the other node, quiet all along, is then proven to have
// kept reporting.
func killQuietNode(t *testing.T, s *swarmProc, id, pid int, reportTimeout time.Duration) int {
	t.Helper()
	from := s.logCount()
	killed := time.Now()
	sendSig(t, pid, syscall.SIGKILL)
	ex, _ := s.waitLog(5*time.Second, fmt.Sprintf("node %d exited", id), from, logged("swarm.node.exited", "role", "supervisor", "node", id))
	if ex.int("node_pid") != pid || ex.str("exit") != "signal SIGKILL" {
		t.Fatalf("exited line %v, want node_pid %d exit signal SIGKILL", ex, pid)
	}
	af, _ := s.waitLog(5*time.Second, fmt.Sprintf("node %d restarted", id), from,
		logged("swarm.manager.after_fork", "role", "supervisor", "node", id))
	if w := af.time().Sub(killed); w <= reportTimeout {
		t.Fatalf("the window after node %d's kill lasted %v, not longer than the report timeout %v", id, w, reportTimeout)
	}
	replacement := s.nodeReady(id, from)
	if replacement != af.int("node_pid") || replacement == pid {
		t.Fatalf("node %d replacement ready as pid %d, supervisor started %d, old %d", id, replacement, af.int("node_pid"), pid)
	}
	s.waitQuiet(id, replacement, from)
	return replacement
}

// checkNothingHandledWhileQuiet checks, once the swarm has exited (every
// line it printed has been read), that both quiet replacements stopped
// gracefully and that exactly the n records produced before TSTP were
// printed, each once: a quiet node (or a replacement started quiet) that
// took records would print the later keys or re-handle uncommitted ones.
func checkNothingHandledWhileQuiet(t *testing.T, s *swarmProc, n, new0, new1 int) {
	t.Helper()
	stopped := 0
	for _, l := range s.matching(logged("app.stopped", "role", "node")) {
		if l.int("pid") == new0 || l.int("pid") == new1 {
			stopped++
		}
	}
	if stopped != 2 {
		t.Errorf("%d of the 2 quiet replacements logged app.stopped", stopped)
	}
	lines := s.stdoutLines()
	keys := printedKeys(t, lines)
	var late []int
	for k := range keys {
		if k >= n {
			late = append(late, k)
		}
	}
	if len(late) > 0 {
		t.Errorf("%d records produced while quiet were handled (keys %v...)", len(late), late[:min(10, len(late))])
	}
	if len(lines) != n {
		t.Errorf("%d lines printed, want %d: records were handled while quiet", len(lines), n)
	}
}

// 2. TTIN: the supervisor and every node write a goroutine dump to
// stderr; nobody dies or stops, and a TERM afterwards still ends with
// every node stopping gracefully.
func TestTTINDumpsGoroutines(t *testing.T) {
	_, addr := newBroker(t, 2, "orders")
	produceKeys(t, addr, "orders", 0, 10)
	s := startSwarm(t, swarmArgs(addr, "-nodes=2", "-handler=print", "-shutdown-timeout=5s")...)
	pids := s.waitNodesReady(2, 0)
	// Consuming: the dumps are taken from working nodes.
	s.waitStdout(30*time.Second, "keys 0..9 printed", func(lines []string) bool { return len(printedKeys(t, lines)) == 10 })
	s.signal(syscall.SIGTTIN)

	sup := fmt.Sprintf("swarm supervisor %d goroutine dump:", s.pid())
	s.waitOther(10*time.Second, "supervisor dump", func(l string) bool { return strings.Contains(l, sup) })
	for id, pid := range pids {
		head := fmt.Sprintf("swarm node %d pid %d goroutine dump:", id, pid)
		s.waitOther(10*time.Second, fmt.Sprintf("node %d dump", id), func(l string) bool { return strings.Contains(l, head) })
	}
	checkDumpsWhole(t, s, 3)
	if l := s.matching(logged("process.notice_signal", "role", "supervisor")); len(l) != 1 || l[0].str("signal") != "SIGTTIN" {
		t.Errorf("supervisor signal notices %v, want one SIGTTIN", l)
	}

	// Still alive and running (a default TTIN action would have stopped
	// them: state T). A stopped or dead node would also show up below as
	// an exit or a stop.
	for id, pid := range pids {
		if st, err := procStat(pid); err != nil || st.state == "T" || st.state == "Z" {
			t.Errorf("node %d (pid %d) after TTIN: %+v %v", id, pid, st, err)
		}
	}
	if st, err := procStat(s.pid()); err != nil || st.state == "T" {
		t.Errorf("supervisor after TTIN: %+v %v", st, err)
	}
	// And still consuming: new records are handled after the dumps.
	produceKeys(t, addr, "orders", 10, 10)
	s.waitStdout(30*time.Second, "keys 10..19 printed after TTIN", func(lines []string) bool { return len(printedKeys(t, lines)) == 20 })
	s.stopGracefully(20 * time.Second)
	checkOriginalNodesStoppedWell(t, s, pids)
}

// checkKilledOnSecondTERM checks, from log index from, that the second
// TERM was noticed and every stuck node got KILL within 50 ms of it and
// died of it, while the healthy node, already stopped, got none.
func checkKilledOnSecondTERM(t *testing.T, s *swarmProc, from int, stuck []int, healthy int) {
	t.Helper()
	notice, _ := s.waitLog(time.Second, "second TERM noticed", from, logged("process.notice_signal", "role", "supervisor"))
	for _, id := range stuck {
		term, _ := s.waitLog(time.Second, fmt.Sprintf("node %d terminating", id), from,
			logged("swarm.manager.terminating", "role", "supervisor", "node", id))
		inRange(t, fmt.Sprintf("second TERM noticed to node %d KILL", id), term.time().Sub(notice.time()), 0, 50*time.Millisecond)
		exited, _ := s.waitLog(time.Second, fmt.Sprintf("node %d exited", id), from,
			logged("swarm.node.exited", "role", "supervisor", "node", id))
		if exited.str("exit") != "signal SIGKILL" {
			t.Errorf("node %d ended with %v, want signal SIGKILL", id, exited)
		}
	}
	if l := s.matching(logged("swarm.manager.terminating", "role", "supervisor", "node", healthy)); len(l) > 0 {
		t.Errorf("the node that had already stopped got KILL: %v", l)
	}
}

// checkDumpsWhole checks the goroutine dumps on the shared stderr: at least
// procs stacks, and no dump (tens of KiB) torn into another process's log
// line, which would lose that line.
func checkDumpsWhole(t *testing.T, s *swarmProc, procs int) {
	t.Helper()
	stacks, total := 0, 0
	for _, l := range s.otherLines() {
		if strings.HasPrefix(l, "goroutine ") && strings.HasSuffix(l, ":") {
			stacks++
		}
		total += len(l) + 1
		if strings.Contains(l, `"msg":`) || strings.Count(l, "goroutine dump:") > 1 {
			t.Errorf("a dump tore another line apart: %q", l)
		}
	}
	if stacks < procs {
		t.Errorf("%d goroutine stack headers on stderr, want at least one per process (%d)", stacks, procs)
	}
	t.Logf("%d bytes of dumps", total)
}

// checkOriginalNodesStoppedWell checks, after a graceful stop, that the
// nodes started first (pids) were never stopped nor restarted by the
// supervisor, and each exited 0 after logging app.stopped.
func checkOriginalNodesStoppedWell(t *testing.T, s *swarmProc, pids map[int]int) {
	t.Helper()
	for _, l := range s.matching(logged("swarm.node.exited", "role", "supervisor")) {
		if l.str("exit") != "exit 0" {
			t.Errorf("node ended with %v", l)
		}
	}
	for _, l := range s.matching(logged("swarm.manager.stopping", "role", "supervisor")) {
		t.Errorf("node stopped by the supervisor: %v", l)
	}
	if got := len(s.matching(logged("swarm.manager.after_fork", "role", "supervisor"))); got != len(pids) {
		t.Errorf("%d after_fork lines, want %d: a node was restarted", got, len(pids))
	}
	stopped := 0
	for _, l := range s.matching(logged("app.stopped", "role", "node")) {
		if l.int("pid") == pids[l.int("node")] {
			stopped++
		}
	}
	if stopped != len(pids) {
		t.Errorf("%d of %d original nodes logged app.stopped", stopped, len(pids))
	}
}

// 3. A second TERM during a graceful stop KILLs every node still up at once
// and the supervisor exits 4, long before -shutdown-timeout (30 s). Two of
// three nodes are SIGSTOPped so the graceful stop cannot finish; the third
// stops gracefully on the first TERM.
func TestSecondTERMKillsAllAtOnce(t *testing.T) {
	_, addr := newBroker(t, 3, "orders")
	const shutdown = 30 * time.Second
	// A long report timeout: the stopped nodes must not be health-stopped
	// before the supervisor's own TERM.
	s := startSwarm(t, swarmArgs(addr, "-nodes=3", "-handler=discard", "-node-report-timeout=10s",
		"-shutdown-timeout="+shutdown.String())...)
	pids := s.waitNodesReady(3, 0)
	stuck := []int{0, 1}
	const healthy = 2
	for _, id := range stuck {
		freeze(t, pids[id])
	}

	from := s.logCount()
	s.signal(syscall.SIGTERM)
	s.waitLog(5*time.Second, "app.stopping", from, logged("app.stopping", "role", "supervisor"))
	// The graceful part: the healthy node finishes on its own.
	ex, _ := s.waitLog(15*time.Second, "healthy node exited", from, logged("swarm.node.exited", "role", "supervisor", "node", healthy))
	if ex.str("exit") != "exit 0" {
		t.Errorf("healthy node ended with %v, want exit 0", ex)
	}
	select {
	case <-s.exited:
		t.Fatalf("supervisor exited (code %d) with stopped nodes and no second TERM", s.exitCode())
	default:
	}

	from2 := s.logCount()
	second := time.Now()
	s.signal(syscall.SIGTERM)
	code := s.waitExit(10 * time.Second)
	took := time.Since(second)
	if code != exitForced {
		t.Errorf("exit code %d, want %d", code, exitForced)
	}
	if took > 5*time.Second {
		t.Errorf("exit %v after the second TERM, want well before the %v shutdown timeout", took, shutdown)
	}
	checkKilledOnSecondTERM(t, s, from2, stuck, healthy)
	stopped, _ := s.waitLog(time.Second, "app.stopped", from2, logged("app.stopped", "role", "supervisor"))
	if stopped.int("exit_code") != exitForced {
		t.Errorf("app.stopped %v, want exit_code 4", stopped)
	}
	s.checkNoneLeft(pids)
}

// 4. A node that handles one batch for longer than -consuming-ttl reports
// 2, is stopped (swarm.manager.stopping status=2) and replaced. burn=2e6 is
// about 0.2 s per record (1 s under -race): even a batch of one record
// outlasts the 50 ms TTL, and a batch holds all 20.
func TestConsumingTTLStopsAndReplacesNode(t *testing.T) {
	_, addr := newBroker(t, 1, "orders")
	produceKeys(t, addr, "orders", 0, 20)
	s := startSwarm(t, swarmArgs(addr, "-nodes=1", "-handler=burn=2000000", "-consuming-ttl=50ms",
		"-report-interval=100ms", "-node-report-timeout=5s", "-shutdown-timeout=1s")...)
	pid := s.nodeReady(0, 0)

	exited, i := s.waitStopAndReap(0, pid, statusConsuming, 15*time.Second)
	// TERM cannot cut a record short: the node either overruns its own
	// budget (exit 2) or is KILLed at the deadline; it never ends "well".
	t.Logf("node stopped for a long batch ended with %s", exited.str("exit"))
	if e := exited.str("exit"); e != "exit 2" && e != "signal SIGKILL" {
		t.Errorf("exit %q, want exit 2 or signal SIGKILL", e)
	}
	after, _ := s.waitLog(5*time.Second, "replacement", i, logged("swarm.manager.after_fork", "role", "supervisor", "node", 0))
	if after.int("node_pid") == pid || after.int("restarts") != 1 {
		t.Fatalf("replacement %v, want a new pid and restarts=1", after)
	}
	if got := s.nodeReady(0, i); got != after.int("node_pid") {
		t.Fatalf("replacement ready as %d, supervisor started %d", got, after.int("node_pid"))
	}
	if alive(pid) {
		t.Errorf("stopped node %d still alive", pid)
	}
}

// 5. A signal sent to one node affects only it: a node TERMed directly
// stops gracefully (exit 0), and the supervisor restarts it exactly
// -node-restart-timeout later; the other nodes and the supervisor carry on.
func TestTERMToOneNodeRestartsOnlyIt(t *testing.T) {
	_, addr := newBroker(t, 3, "orders")
	const delay = 300 * time.Millisecond
	// A long shutdown budget: a node TERMed while a JoinGroup is in flight
	// waits for it to close its client, and must still end with exit 0.
	produceKeys(t, addr, "orders", 0, 30)
	s := startSwarm(t, swarmArgs(addr, "-nodes=3", "-handler=print", "-node-restart-timeout="+delay.String(), "-shutdown-timeout=10s")...)
	pids := s.waitNodesReady(3, 0)
	// The group is consuming when the victim is TERMed.
	s.waitStdout(30*time.Second, "keys 0..29 printed", func(lines []string) bool { return len(printedKeys(t, lines)) == 30 })
	for id := 0; id < 3; id++ {
		s.waitLog(5*time.Second, "supervisor after_fork", 0, logged("swarm.manager.after_fork", "role", "supervisor", "node", id))
	}

	const victim = 1
	from := s.logCount()
	sendSig(t, pids[victim], syscall.SIGTERM)
	stopping, _ := s.waitLog(5*time.Second, "victim app.stopping", from, logged("app.stopping", "role", "node", "node", victim))
	if stopping.int("pid") != pids[victim] || stopping.str("signal") != "SIGTERM" {
		t.Errorf("node app.stopping %v, want pid %d signal SIGTERM", stopping, pids[victim])
	}
	exited, _ := s.waitLog(15*time.Second, "victim exited", from, logged("swarm.node.exited", "role", "supervisor", "node", victim))
	if exited.int("node_pid") != pids[victim] || exited.str("exit") != "exit 0" {
		t.Fatalf("exited line %v, want node_pid %d exit 0", exited, pids[victim])
	}
	if got := time.Duration(exited.int("restart_in")); got != delay {
		t.Errorf("restart_in %v, want %v", got, delay)
	}
	after, _ := s.waitLog(5*time.Second, "victim restarted", from, logged("swarm.manager.after_fork", "role", "supervisor", "node", victim))
	inRange(t, "exited to after_fork", after.time().Sub(exited.time()), delay-5*time.Millisecond, delay+150*time.Millisecond)
	newPid := s.nodeReady(victim, from)
	if newPid != after.int("node_pid") || newPid == pids[victim] {
		t.Fatalf("replacement ready as %d, supervisor started %d, old %d", newPid, after.int("node_pid"), pids[victim])
	}

	for id, pid := range pids {
		if id != victim && !alive(pid) {
			t.Errorf("node %d (pid %d) died", id, pid)
		}
	}
	if st, err := procStat(s.pid()); err != nil || st.state == "Z" {
		t.Fatalf("supervisor gone: %+v %v", st, err)
	}
	checkReactedOnlyFor(t, s, victim)
}

// checkReactedOnlyFor checks that the supervisor reacted to the TERM sent
// to node victim alone as to that node's death: no notice, stop or kill of
// its own, no other node exited or stopping, and victim the only node
// started twice (of 3).
func checkReactedOnlyFor(t *testing.T, s *swarmProc, victim int) {
	t.Helper()
	forks := map[int]int{}
	for _, l := range s.matching(func(l logLine) bool { return l.role() == "supervisor" }) {
		switch l.msg() {
		case "process.notice_signal", "app.stopping", "app.quiet", "swarm.manager.stopping", "swarm.manager.terminating":
			t.Errorf("supervisor reacted beyond the one node: %v", l)
		case "swarm.node.exited":
			if l.int("node") != victim {
				t.Errorf("another node exited: %v", l)
			}
		case "swarm.manager.after_fork":
			forks[l.int("node")]++
		}
	}
	want := map[int]int{0: 1, 1: 1, 2: 1}
	want[victim] = 2
	if fmt.Sprint(forks) != fmt.Sprint(want) {
		t.Errorf("starts per node %v, want %v", forks, want)
	}
	for _, l := range s.matching(logged("app.stopping", "role", "node")) {
		if l.int("node") != victim {
			t.Errorf("node %d stopped too: %v", l.int("node"), l)
		}
	}
}
