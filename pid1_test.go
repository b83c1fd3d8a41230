//go:build linux

package main

import (
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// The supervisor as PID 1 of a new PID namespace, with handlers that leave
// 100 orphaned grandchildren behind: every orphan is reaped (no zombie
// remains), and the supervisor still sees every node's own exit status,
// including a SIGKILL that lands while orphans are dying around it. A live
// node adopts its handler's orphans (it is a subreaper) and reaps them;
// what the SIGKILLed node leaves (its handler, and orphans still alive)
// reaches PID 1, which kills and reaps it. The /proc here is the host's
// (no --mount-proc): the supervisor finds its children through NSpid.
func TestPID1ReapsOrphansKeepsNodeStatuses(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("SKIPPED: needs root for unshare --pid --fork; PID 1 reaping was not tested")
	}
	unshare, err := exec.LookPath("unshare")
	if err != nil {
		t.Skip("SKIPPED: no unshare on PATH (util-linux); PID 1 reaping was not tested")
	}
	_, addr := newBroker(t, 2, "orders")
	produce(t, addr, "orders", 20)
	// Each handler starts 50 subshells that each leave a sleep behind and
	// exit at once: 100 orphans, reparented to PID 1, dying 0.3 s later.
	// It then answers records as cat does (codec lines: echo = done).
	script := `i=0; while [ $i -lt 50 ]; do (sleep 0.3 &); i=$((i+1)); done; exec cat`
	s := startWrapped(t, nil, []string{unshare, "--pid", "--fork"}, swarmArgs(addr,
		"-nodes=2", "-codec=lines", "-node-restart-timeout=100ms",
		"--", "/bin/sh", "-c", script)...)
	s.waitNodesReady(2, 0)
	sup, _ := s.waitLog(10*time.Second, "supervisor up", 0, logged("app.supervising"))
	if sup.int("pid") != 1 {
		t.Fatalf("supervisor pid %d in its namespace, want 1", sup.int("pid"))
	}
	supHost := childOf(t, s.cmd.Process.Pid)

	// Node 0, by its host pid, gets SIGKILL while orphans die.
	node0 := hostNode(t, supHost, 0)
	from := s.logCount()
	if err := syscall.Kill(node0, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	exited, _ := s.waitLog(10*time.Second, "node 0's death seen", from, logged("swarm.node.exited", "node", 0))
	if exited.str("exit") != "signal SIGKILL" {
		t.Errorf("node 0 exit seen as %q, want signal SIGKILL", exited.str("exit"))
	}
	s.waitLog(10*time.Second, "node 0 replaced", from, logged("swarm.manager.after_fork", "node", 0))

	waitFor(t, 15*time.Second, "every orphan reaped", func() bool { return orphansGone(supHost) })

	from = s.logCount()
	if err := syscall.Kill(supHost, syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	for id := 0; id < 2; id++ {
		l, _ := s.waitLog(20*time.Second, "node exit on stop", from, logged("swarm.node.exited", "node", id))
		if l.str("exit") != "exit 0" {
			t.Errorf("node %d stopped with %q, want exit 0 (seen by the supervisor, not stolen)", id, l.str("exit"))
		}
	}
	if code := s.waitExit(20 * time.Second); code != 0 {
		t.Errorf("unshare/supervisor exit %d, want 0", code)
	}
	checkOrphansCounted(t, s)
}

// orphansGone says whether every orphan below the supervisor (host pid
// sup) has died and been reaped: no process in the namespace but the
// supervisor, its nodes and their handlers, and not one zombie.
func orphansGone(sup int) bool {
	for _, pid := range descendants(sup) {
		st, err := procStat(pid)
		if err != nil {
			continue
		}
		if st.state == "Z" {
			return false
		}
		if comm, _ := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/comm"); strings.TrimSpace(string(comm)) == "sleep" {
			return false
		}
	}
	return true
}

// checkOrphansCounted checks the reaping as the logs count it: PID 1
// reaped at least the SIGKILLed node's handler, and the nodes that stopped
// gracefully (node 1, node 0's replacement) each reaped their own
// handler's 50; the killed node's count is lost with it, but what it had
// not reaped came to PID 1.
func checkOrphansCounted(t *testing.T, s *swarmProc) {
	t.Helper()
	stopped := s.matching(logged("app.stopped", "role", "supervisor"))
	if len(stopped) != 1 || stopped[0].int("orphans_reaped") < 1 {
		t.Fatalf("supervisor reaped %v orphans, want at least 1 (the SIGKILLed node's handler, reparented to PID 1)", stopped)
	}
	total := stopped[0].int("orphans_reaped")
	for _, l := range s.matching(logged("swarm.node.children_swept")) {
		total += l.int("orphans_reaped")
	}
	if total < 100 {
		t.Errorf("%d orphans reaped by the supervisor and the stopped nodes, want at least 100 (two handler starts of 50, plus the killed one's)", total)
	}
}

// childOf returns the one child of pid (unshare's forked child).
func childOf(t *testing.T, pid int) int {
	t.Helper()
	var child int
	waitFor(t, 5*time.Second, "unshare's child", func() bool {
		kids := childrenOf(pid)
		if len(kids) == 1 {
			child = kids[0]
			return true
		}
		return false
	})
	return child
}

// descendants lists every process below pid.
func descendants(pid int) []int {
	var out []int
	queue := []int{pid}
	for len(queue) > 0 {
		kids := childrenOf(queue[0])
		queue = append(queue[1:], kids...)
		out = append(out, kids...)
	}
	return out
}

// hostNode finds node id's host pid among the supervisor's children from
// its SWARM_NODE_ID environment.
func hostNode(t *testing.T, sup, id int) int {
	t.Helper()
	for _, pid := range childrenOf(sup) {
		env, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/environ")
		if err != nil {
			continue
		}
		for _, kv := range strings.Split(string(env), "\x00") {
			if kv == "SWARM_NODE_ID="+strconv.Itoa(id) {
				return pid
			}
		}
	}
	t.Fatalf("node %d not found among the children of %d", id, sup)
	return 0
}
