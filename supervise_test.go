//go:build linux

package main

// Supervision tests against the real binary: deaths, hangs, unhealthy
// reports, orphaning, fd hygiene, garbage on the health pipe and a forced
// shutdown. No sleeps: every wait is on a log line or on a condition with a
// deadline (waitLog, waitFor). Tests may use pid numbers to poke at nodes;
// the product may not.

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// 1. A node killed with SIGKILL is reaped at once and started again with
// the same id exactly -node-restart-timeout later; the others are untouched.
func TestKilledNodeIsReapedAndReplaced(t *testing.T) {
	_, addr := newBroker(t, 3, "orders")
	const delay = 300 * time.Millisecond
	s := startSwarm(t, swarmArgs(addr, "-nodes=3", "-handler=discard", "-node-restart-timeout="+delay.String())...)
	pids := s.waitNodesReady(3, 0)
	for id := 0; id < 3; id++ {
		s.waitLog(5*time.Second, "supervisor after_fork", 0, logged("swarm.manager.after_fork", "role", "supervisor", "node", id))
	}

	const victim = 1
	from := s.logCount()
	killedAt := time.Now()
	sendSig(t, pids[victim], syscall.SIGKILL)

	checkReapedAtOnce(t, pids[victim], killedAt)

	exited, _ := s.waitLog(5*time.Second, "node exited", from, logged("swarm.node.exited", "role", "supervisor", "node", victim))
	if exited.int("node_pid") != pids[victim] || exited.str("exit") != "signal SIGKILL" {
		t.Fatalf("exited line %v, want node_pid %d exit signal SIGKILL", exited, pids[victim])
	}
	if got := time.Duration(exited.int("restart_in")); got != delay {
		t.Errorf("restart_in %v, want %v (first death waits exactly the configured delay)", got, delay)
	}
	inRange(t, "SIGKILL to swarm.node.exited", exited.time().Sub(killedAt), 0, 150*time.Millisecond)

	before, _ := s.waitLog(5*time.Second, "before_fork", from, logged("swarm.manager.before_fork", "role", "supervisor", "node", victim))
	after, _ := s.waitLog(5*time.Second, "after_fork", from, logged("swarm.manager.after_fork", "role", "supervisor", "node", victim))
	inRange(t, "exited to before_fork", before.time().Sub(exited.time()), delay-5*time.Millisecond, delay+100*time.Millisecond)
	inRange(t, "exited to after_fork", after.time().Sub(exited.time()), delay-5*time.Millisecond, delay+100*time.Millisecond)
	newPid := after.int("node_pid")
	if newPid == pids[victim] || newPid <= 0 {
		t.Fatalf("replacement pid %d, old %d", newPid, pids[victim])
	}
	if got := s.nodeReady(victim, from); got != newPid {
		t.Fatalf("node %d ready with pid %d, supervisor said %d", victim, got, newPid)
	}

	checkOnlyVictimRestarted(t, s, pids, victim)
}

// waitOrphansExit reaps the nodes pids, orphaned and re-parented to this
// process (a subreaper), within a second, and returns pid -> exit code
// (-signal when killed, -999 when someone else reaped it).
func waitOrphansExit(t *testing.T, pids []int) map[int]int {
	t.Helper()
	codes := map[int]int{}
	waitFor(t, time.Second, "every node to exit", func() bool {
		for _, pid := range pids {
			if _, done := codes[pid]; done {
				continue
			}
			var ws syscall.WaitStatus
			if got, err := syscall.Wait4(pid, &ws, syscall.WNOHANG, nil); got == pid && err == nil {
				codes[pid] = ws.ExitStatus()
				if ws.Signaled() {
					codes[pid] = -int(ws.Signal())
				}
			} else if !alive(pid) && err != nil {
				codes[pid] = -999 // gone, reaped by someone else
			}
		}
		return len(codes) == len(pids)
	})
	return codes
}

// checkReapedAtOnce checks that pid, SIGKILLed at killedAt, leaves /proc
// within moments and, if it is seen as a zombie at all, only for a few ms.
func checkReapedAtOnce(t *testing.T, pid int, killedAt time.Time) {
	t.Helper()
	var zombieSince time.Time
	waitFor(t, 2*time.Second, "killed node reaped", func() bool {
		st, err := procStat(pid)
		if err != nil {
			return true
		}
		if st.state == "Z" && zombieSince.IsZero() {
			zombieSince = time.Now()
		}
		return false
	})
	gone := time.Since(killedAt)
	inRange(t, "SIGKILL to pid gone from /proc", gone, 0, 250*time.Millisecond)
	if !zombieSince.IsZero() {
		inRange(t, "time seen as zombie", time.Since(zombieSince), 0, 100*time.Millisecond)
	}
}

// checkOnlyVictimRestarted checks that of the nodes started first (pids)
// only victim died, once, and only it was started again.
func checkOnlyVictimRestarted(t *testing.T, s *swarmProc, pids map[int]int, victim int) {
	t.Helper()
	for id, pid := range pids {
		if id != victim && !alive(pid) {
			t.Errorf("node %d (pid %d) died", id, pid)
		}
	}
	forks := s.matching(logged("swarm.manager.after_fork", "role", "supervisor"))
	if len(forks) != len(pids)+1 {
		t.Errorf("%d after_fork lines, want %d (%d starts + 1 replacement)", len(forks), len(pids)+1, len(pids))
	}
	for _, l := range forks[min(len(pids), len(forks)):] {
		if l.int("node") != victim {
			t.Errorf("node %d was restarted too: %v", l.int("node"), l)
		}
	}
	if n := len(s.matching(logged("swarm.node.exited", "role", "supervisor"))); n != 1 {
		t.Errorf("%d exited lines, want 1", n)
	}
}

// 2. A SIGSTOPped node misses its reports: TERM at the report deadline
// (status -1), KILL one shutdown timeout later, then a replacement.
func TestStoppedNodeIsTermedKilledAndReplaced(t *testing.T) {
	_, addr := newBroker(t, 2, "orders")
	const (
		reportEvery   = 100 * time.Millisecond
		reportTimeout = time.Second
		shutdown      = time.Second
	)
	s := startSwarm(t, swarmArgs(addr, "-nodes=2", "-handler=discard", "-report-interval="+reportEvery.String(),
		"-node-report-timeout="+reportTimeout.String(), "-shutdown-timeout="+shutdown.String())...)
	pids := s.waitNodesReady(2, 0)

	const victim = 0
	from := s.logCount()
	stoppedAt := time.Now()
	freeze(t, pids[victim])

	stopping, _ := s.waitLog(5*time.Second, "stopping", from, logged("swarm.manager.stopping", "role", "supervisor", "node", victim))
	if stopping.int("status") != statusHanging || stopping.int("node_pid") != pids[victim] {
		t.Fatalf("stopping line %v, want status -1 for pid %d", stopping, pids[victim])
	}
	// The deadline runs from the last report the supervisor read, which came
	// at most one report interval before the stop.
	inRange(t, "SIGSTOP to stopping", stopping.time().Sub(stoppedAt),
		reportTimeout-reportEvery-10*time.Millisecond, reportTimeout+250*time.Millisecond)

	term, _ := s.waitLog(5*time.Second, "terminating", from, logged("swarm.manager.terminating", "role", "supervisor", "node", victim))
	inRange(t, "stopping to terminating", term.time().Sub(stopping.time()), shutdown-time.Millisecond, shutdown+250*time.Millisecond)

	exited, _ := s.waitLog(5*time.Second, "exited", from, logged("swarm.node.exited", "role", "supervisor", "node", victim))
	if exited.str("exit") != "signal SIGKILL" {
		t.Errorf("exit %q, want signal SIGKILL (a stopped node cannot act on TERM)", exited.str("exit"))
	}
	after, _ := s.waitLog(5*time.Second, "replacement after_fork", from,
		logged("swarm.manager.after_fork", "role", "supervisor", "node", victim))
	if after.int("node_pid") == pids[victim] {
		t.Fatalf("replacement has the old pid %d", pids[victim])
	}
	s.nodeReady(victim, from)
	if alive(pids[victim]) {
		t.Errorf("stopped node %d still alive", pids[victim])
	}
	if !alive(pids[1]) {
		t.Errorf("node 1 (pid %d) died", pids[1])
	}
	if l := s.matching(logged("swarm.manager.stopping", "role", "supervisor", "node", 1)); len(l) > 0 {
		t.Errorf("healthy node 1 was stopped: %v", l)
	}
}

// 3. A node above -memory-limit reports 3, is stopped and replaced.
func TestNodeOverMemoryLimitIsReplaced(t *testing.T) {
	_, addr := newBroker(t, 1, "orders")
	s := startSwarm(t, swarmArgs(addr, "-nodes=1", "-handler=discard", "-memory-limit=1")...)
	pid := s.nodeReady(0, 0)

	exited, i := s.waitStopAndReap(0, pid, statusMemory, 5*time.Second)
	t.Logf("over-limit node ended with %s", exited.str("exit"))
	if l := s.matching(logged("swarm.manager.terminating", "role", "supervisor", "node", 0)); len(l) > 0 {
		t.Errorf("node needed KILL to stop after TERM: %v", l)
	}
	after, _ := s.waitLog(5*time.Second, "replacement", i, logged("swarm.manager.after_fork", "role", "supervisor", "node", 0))
	if after.int("node_pid") == pid || after.int("restarts") != 1 {
		t.Fatalf("replacement %v, want a new pid and restarts=1", after)
	}
	s.nodeReady(0, i)
	if alive(pid) {
		t.Errorf("over-limit node %d still alive", pid)
	}
}

// 4. SIGKILL to the supervisor: every node notices through its pidfd on
// the supervisor and exits 3 within one second, on its own.
func TestNodesExitWhenSupervisorKilled(t *testing.T) {
	// Become the subreaper so the orphaned nodes are re-parented to this
	// process and their exit codes can be read. Set before startSwarm so
	// it is undone after the harness cleanup.
	if err := unix.Prctl(unix.PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0); err != nil {
		t.Fatalf("PR_SET_CHILD_SUBREAPER: %v", err)
	}
	var nodePids []int
	t.Cleanup(func() {
		for _, pid := range nodePids { // zombies left by a failed run
			var ws syscall.WaitStatus
			_, _ = syscall.Wait4(pid, &ws, syscall.WNOHANG, nil)
		}
		_ = unix.Prctl(unix.PR_SET_CHILD_SUBREAPER, 0, 0, 0, 0)
	})

	_, addr := newBroker(t, 3, "orders")
	// Reports every 3 s: the getppid backstop cannot fire within the 1 s
	// budget, so only the pidfd watch can meet it.
	s := startSwarm(t, swarmArgs(addr, "-nodes=3", "-handler=discard", "-report-interval=3s", "-node-report-timeout=10s")...)
	pids := s.waitNodesReady(3, 0)
	for _, pid := range pids {
		nodePids = append(nodePids, pid)
	}
	from := s.logCount()

	killedAt := time.Now()
	sendSig(t, s.pid(), syscall.SIGKILL)
	codes := waitOrphansExit(t, nodePids)
	t.Logf("all %d nodes gone %v after the supervisor was killed", len(nodePids), time.Since(killedAt))
	for pid, code := range codes {
		if code != nodeExitOrphaned {
			t.Errorf("node pid %d exit code %d, want %d (orphaned)", pid, code, nodeExitOrphaned)
		}
	}
	for id := range pids {
		l, _ := s.waitLog(2*time.Second, fmt.Sprintf("node %d orphaned", id), from, logged("swarm.node.orphaned", "role", "node", "node", id))
		if r := l.str("reason"); r != "supervisor exited" {
			t.Errorf("node %d orphan reason %q, want the pidfd watch (supervisor exited)", id, r)
		}
	}
	if code := s.waitExit(5 * time.Second); code != -1 {
		t.Errorf("supervisor exit code %d, want -1 (killed)", code)
	}
}

// 5. The supervisor's fd count is the same after 20 node restarts as after
// the first start.
//
// Backoff: deaths within 10 s of a node's start double its delay from
// 100 ms, so 20 kills of one node would wait minutes. Four nodes killed
// round-robin, 5 deaths each, cost 0+100+200+400+800 ms of delay per node
// (about 6 s in all); each kill waits for the previous replacement, and the
// fd count is checked after every one, with all nodes up.
func TestSupervisorFdsStableOverRestarts(t *testing.T) {
	_, addr := newBroker(t, 4, "orders")
	const nodes, kills = 4, 20
	s := startSwarm(t, swarmArgs(addr, fmt.Sprintf("-nodes=%d", nodes), "-handler=discard", "-node-restart-timeout=0")...)
	pids := s.waitNodesReady(nodes, 0)
	// The supervisor logs after_fork after closing its copy of the write
	// end and adding both fds to epoll: from then on its fd set is settled.
	for id := 0; id < nodes; id++ {
		s.waitLog(5*time.Second, "supervisor after_fork", 0, logged("swarm.manager.after_fork", "role", "supervisor", "node", id))
	}
	sup := s.pid()
	// The loop reads /proc/<node>/status at each report (RSS): an fd open
	// for microseconds. Leave such a transient read out of the baseline,
	// and below wait for the count to come back to it: a leak never does.
	// An fd closed between listing and readlink shows an empty target:
	// transient too.
	baseList := fdList(sup)
	base := len(baseList) - countPrefix(baseList, "/proc/") - countTarget(baseList, "")
	settles := func() bool { return fdCount(t, sup) == base }
	// Besides stdio, epoll, eventfd and a pidfd and pipe per node, the
	// count holds the Go runtime's own fds (netpoller, cgroup files) and
	// whatever the test process leaked to the supervisor: only equality
	// with this baseline matters.
	t.Logf("supervisor fds with %d nodes up: %d %v", nodes, base, baseList)
	if got := countPrefix(baseList, "anon_inode:[pidfd]"); got != nodes {
		t.Fatalf("%d pidfds with %d nodes up: %v", got, nodes, baseList)
	}

	start := time.Now()
	for k := 0; k < kills; k++ {
		id := k % nodes
		from := s.logCount()
		sendSig(t, pids[id], syscall.SIGKILL)
		after, _ := s.waitLog(10*time.Second, fmt.Sprintf("kill %d: node %d replaced", k+1, id), from,
			logged("swarm.manager.after_fork", "role", "supervisor", "node", id))
		pids[id] = s.nodeReady(id, from)
		if pids[id] != after.int("node_pid") {
			t.Fatalf("node %d ready as %d, supervisor started %d", id, pids[id], after.int("node_pid"))
		}
		waitFor(t, 2*time.Second, fmt.Sprintf("after %d restarts: fd count back to %d (now %v)", k+1, base, fdList(sup)), settles)
		if got := countPrefix(fdList(sup), "anon_inode:[pidfd]"); got != nodes {
			t.Fatalf("after %d restarts: %d pidfds, want %d", k+1, got, nodes)
		}
	}
	t.Logf("%d kills and restarts in %v", kills, time.Since(start))
	if got := len(s.matching(logged("swarm.manager.after_fork", "role", "supervisor"))); got != nodes+kills {
		t.Errorf("%d after_fork lines, want %d", got, nodes+kills)
	}
	waitFor(t, 2*time.Second, fmt.Sprintf("fd count back to %d after %d restarts", base, kills), settles)
}

// 6. Garbage on a node's health pipe (random bytes, bad numbers, an 8 MiB
// line without a newline) neither crashes nor stalls the supervisor, nor
// gets the node killed while its real reports keep coming.
//
// The test writes into the same pipe through /proc/<node>/fd/3. What it
// asserts about lost reports: the node's own "0\n" can land inside a
// garbage line and is then lost with it (the supervisor cannot tell whose
// bytes are whose), so the garbage is kept well under -node-report-timeout;
// once it ends with a newline, the node's next report must count again.
// That is checked by watching for longer than the report timeout after the
// garbage with no stop of that node. Nothing we write can parse as a
// status above 0: every random chunk and every line in it starts with a
// non-digit, chunks are PIPE_BUF long so they land whole, and the
// hand-written lines are all invalid.
func TestHealthPipeGarbageHarmsNothing(t *testing.T) {
	_, addr := newBroker(t, 2, "orders")
	const (
		reportTimeout = 2 * time.Second
		delay         = 2500 * time.Millisecond // > reportTimeout: the observation window
	)
	s := startSwarm(t, swarmArgs(addr, "-nodes=2", "-handler=discard", "-report-interval=100ms",
		"-node-report-timeout="+reportTimeout.String(), "-node-restart-timeout="+delay.String())...)
	pids := s.waitNodesReady(2, 0)
	sup := s.pid()
	rssBefore, err := rssOf(fmt.Sprintf("/proc/%d/status", sup))
	if err != nil {
		t.Fatal(err)
	}

	const target = 0
	from := s.logCount()
	garbageEnd, took := openHealthPipe(t, pids[target]).writeGarbage()
	t.Logf("wrote 1 MiB random, 13 bad lines, an 8 MiB line in %v", took)
	if took >= reportTimeout {
		// Every report of the node's that lands inside our garbage is lost
		// with it; this long, the node would rightly look silent.
		t.Fatalf("the supervisor drained 9 MiB of garbage in %v, not within the report timeout %v", took, reportTimeout)
	}
	g, _ := s.waitLog(5*time.Second, "garbage logged", from, logged("swarm.manager.garbage", "role", "supervisor", "node", target))
	if g.int("node_pid") != pids[target] {
		t.Errorf("garbage line %v, want node_pid %d", g, pids[target])
	}

	// Still reacting: kill the other node; its replacement comes on time.
	// Its restart delay, longer than the report timeout, is also the window
	// in which the garbage node must not be stopped as hanging: its reports
	// after the garbage count.
	other := 1 - target
	from2 := s.logCount()
	sendSig(t, pids[other], syscall.SIGKILL)
	exited, _ := s.waitLog(5*time.Second, "other node exited", from2, logged("swarm.node.exited", "role", "supervisor", "node", other))
	after, afterIdx := s.waitLog(5*time.Second, "other node replaced", from2,
		logged("swarm.manager.after_fork", "role", "supervisor", "node", other))
	inRange(t, "other node exited to after_fork", after.time().Sub(exited.time()), delay-5*time.Millisecond, delay+100*time.Millisecond)
	if after.time().Sub(garbageEnd) <= reportTimeout {
		t.Fatalf("observation window %v is not longer than the report timeout", after.time().Sub(garbageEnd))
	}
	s.nodeReady(other, from2)
	checkGarbageNodeUntouched(t, s, target, pids[target], afterIdx)
	rssAfter, err := rssOf(fmt.Sprintf("/proc/%d/status", sup))
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("supervisor RSS %d KiB before, %d KiB after the garbage", rssBefore>>10, rssAfter>>10)
	if rssAfter-rssBefore > 4<<20 {
		t.Errorf("supervisor RSS grew by %d KiB: the endless line was buffered", (rssAfter-rssBefore)>>10)
	}

	// The garbage node itself still dies and comes back cleanly, even with
	// our write end still holding its old pipe open (no EOF for the
	// supervisor: only the pidfd says it is gone).
	from3 := s.logCount()
	sendSig(t, pids[target], syscall.SIGKILL)
	waitFor(t, time.Second, "garbage node reaped", func() bool {
		_, err := procStat(pids[target])
		return err != nil
	})
	s.waitLog(5*time.Second, "garbage node replaced", from3, logged("swarm.manager.after_fork", "role", "supervisor", "node", target))
	s.nodeReady(target, from3)
}

// healthPipeWriter writes into a node's health pipe from the test, through
// /proc/<node>/fd/3: the same pipe the node reports on.
type healthPipeWriter struct {
	t *testing.T
	f *os.File
}

// openHealthPipe opens node pid's health pipe for writing, closed at
// cleanup. A write that cannot finish within 10 s means the supervisor
// stopped reading.
func openHealthPipe(t *testing.T, pid int) *healthPipeWriter {
	t.Helper()
	f, err := os.OpenFile(fmt.Sprintf("/proc/%d/fd/%d", pid, healthFd), os.O_WRONLY, 0)
	if err != nil {
		t.Fatalf("open node health pipe: %v", err)
	}
	t.Cleanup(func() { f.Close() })
	if err := f.SetWriteDeadline(time.Now().Add(10 * time.Second)); err != nil {
		t.Fatalf("set write deadline: %v", err)
	}
	return &healthPipeWriter{t: t, f: f}
}

// write writes b, what naming it for a failure.
func (w *healthPipeWriter) write(what string, b []byte) {
	w.t.Helper()
	if _, err := w.f.Write(b); err != nil {
		if errors.Is(err, os.ErrDeadlineExceeded) {
			w.t.Fatalf("write %s: supervisor stopped draining the pipe: %v", what, err)
		}
		w.t.Fatalf("write %s: %v", what, err)
	}
}

// writeGarbage writes 1 MiB of random bytes, 13 invalid lines and an 8 MiB
// line, and returns when it ended and how long it took. Nothing of it can
// parse as a status: every random chunk and every line in it starts with a
// non-digit, and chunks are PIPE_BUF long so they land whole.
func (w *healthPipeWriter) writeGarbage() (end time.Time, took time.Duration) {
	w.t.Helper()
	start := time.Now()
	seed := uint64(time.Now().UnixNano())
	w.t.Logf("random seed %d", seed)
	rng := rand.New(rand.NewPCG(seed, 0x5eed))
	chunk := make([]byte, 4096) // PIPE_BUF: each write lands whole
	for c := 0; c < 256; c++ {  // 1 MiB of random bytes, ~4000 lines
		for i := range chunk {
			chunk[i] = byte(rng.Uint32())
		}
		chunk[0] = 0xff
		for i := 0; i+1 < len(chunk); i++ {
			if chunk[i] == '\n' {
				chunk[i+1] = 0xff
			}
		}
		w.write("random chunk", chunk)
	}
	for _, line := range []string{"\n", "x\n", "-1\n", "256\n", "99999999999999999999\n", "3.0\n", " 3\n",
		"3 \n", "+3\n", "0x3\n", "３\n", "\x00\n", "3\r\n"} {
		w.write(fmt.Sprintf("line %q", line), []byte(line))
	}
	w.write("endless line", []byte(strings.Repeat("A", 8<<20)))
	w.write("end of endless line", []byte("\n"))
	end = time.Now()
	return end, end.Sub(start)
}

// checkGarbageNodeUntouched checks that the node that got the garbage
// (node target, running as pid) was never stopped nor restarted, that no
// pipe read failed, and that the garbage was logged by powers of two, a
// few times for thousands of lines, up to log index upTo.
func checkGarbageNodeUntouched(t *testing.T, s *swarmProc, target, pid, upTo int) {
	t.Helper()
	for _, l := range s.matching(func(l logLine) bool { return l.role() == "supervisor" }) {
		switch {
		case l.msg() == "swarm.manager.stopping" && l.int("node") == target:
			t.Errorf("garbage node stopped: %v", l)
		case l.msg() == "read health pipe":
			t.Errorf("health pipe read failed: %v", l)
		}
	}
	if n := len(s.matching(logged("swarm.manager.after_fork", "role", "supervisor", "node", target))); n != 1 {
		t.Errorf("garbage node started %d times, want once", n)
	}
	if !alive(pid) {
		t.Errorf("garbage node %d died", pid)
	}
	garbage := s.matching(logged("swarm.manager.garbage", "role", "supervisor", "node", target))
	last := garbage[len(garbage)-1].int("garbage_lines")
	t.Logf("supervisor counted %d+ garbage lines in %d log lines (up to index %d)", last, len(garbage), upTo)
	if last < 1024 || len(garbage) > 20 {
		t.Errorf("garbage logged %d times up to %d lines: want power-of-two logging of thousands of lines", len(garbage), last)
	}
}

// 7. A node that ignores TERM (stopped) makes a TERMed supervisor KILL it
// after -shutdown-timeout and exit 4, with nothing left running.
func TestShutdownKillsStuckNodeExit4(t *testing.T) {
	_, addr := newBroker(t, 2, "orders")
	const shutdown = time.Second
	// A long report timeout: the stopped node must not be health-stopped
	// before the supervisor's own TERM.
	s := startSwarm(t, swarmArgs(addr, "-nodes=2", "-handler=discard", "-node-report-timeout=10s",
		"-shutdown-timeout="+shutdown.String())...)
	pids := s.waitNodesReady(2, 0)

	const stuck = 0
	freeze(t, pids[stuck])
	from := s.logCount()
	s.signal(syscall.SIGTERM)

	code := s.waitExit(shutdown + 10*time.Second)
	if code != exitForced {
		t.Errorf("supervisor exit code %d, want %d", code, exitForced)
	}
	stopping, _ := s.waitLog(time.Second, "app.stopping", from, logged("app.stopping", "role", "supervisor"))
	term, _ := s.waitLog(time.Second, "terminating", from, logged("swarm.manager.terminating", "role", "supervisor", "node", stuck))
	stopped, _ := s.waitLog(time.Second, "app.stopped", from, logged("app.stopped", "role", "supervisor"))
	inRange(t, "app.stopping to terminating", term.time().Sub(stopping.time()), shutdown-time.Millisecond, shutdown+250*time.Millisecond)
	if stopped.int("exit_code") != exitForced {
		t.Errorf("app.stopped %v, want exit_code 4", stopped)
	}
	if l := s.matching(logged("swarm.manager.terminating", "role", "supervisor", "node", 1-stuck)); len(l) > 0 {
		t.Errorf("the healthy node needed KILL: %v", l)
	}
	exits := map[int]string{}
	for _, l := range s.matching(logged("swarm.node.exited", "role", "supervisor")) {
		exits[l.int("node")] = l.str("exit")
	}
	// The healthy node stops on its own. Usually with exit 0, but a node
	// TERMed while its JoinGroup is in flight cannot close its client before
	// the broker answers the join (here: once the stopped node's session
	// expires, ~1 s), so it may overrun its 0.9 s budget and exit 2. Either
	// way it is not the supervisor's KILL.
	if exits[stuck] != "signal SIGKILL" || (exits[1-stuck] != "exit 0" && exits[1-stuck] != "exit 2") {
		t.Errorf("node exits %v, want %d: signal SIGKILL, %d: exit 0 (or 2)", exits, stuck, 1-stuck)
	}
	t.Logf("node exits: %v", exits)
	s.checkNoneLeft(pids)
}
