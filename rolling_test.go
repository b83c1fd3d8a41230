//go:build linux

package main

import (
	"os"
	"syscall"
	"testing"
	"time"
)

// SIGHUP restarts every node one at a time: all pids change, at most one
// node is down at any instant (judged from the supervisor's own ordered
// log: a node is down from its rolling stop until its replacement's first
// report), and no record is lost across the roll.
func TestHUPRestartsOneNodeAtATimeLosingNothing(t *testing.T) {
	c, addr := newBroker(t, 6, "orders")
	const nodes, before, during = 3, 3000, 3000
	produce(t, addr, "orders", before)
	s := startSwarm(t, swarmArgs(addr, "-nodes=3", "-group=roll",
		"-balancer=range", "-session-timeout=6s")...)
	oldPids := s.waitNodesReady(nodes, 0)
	// An operator rolls a settled group: wait until all three are members.
	waitGroupStable(t, c, "roll", nodes, 30*time.Second)

	from := s.logCount()
	s.signal(syscall.SIGHUP)
	produceKeys(t, addr, "orders", before, during)
	s.waitLog(60*time.Second, "rolling restart done", from, logged("swarm.manager.rolling_restart_done"))

	// Replay the supervisor's log from the HUP on.
	down := map[int]bool{}
	maxDown, rolled := 0, map[int]int{} // node -> new pid
	for _, l := range s.matching(func(l logLine) bool { return l.role() == "supervisor" })[0:] {
		switch {
		case l.msg() == "swarm.manager.stopping" && l.str("reason") == "rolling restart":
			down[l.int("node")] = true
		case l.msg() == "swarm.manager.stopping":
			t.Errorf("unexpected health stop during the roll: %v", l)
		case l.msg() == "swarm.manager.first_report" && down[l.int("node")]:
			delete(down, l.int("node"))
			rolled[l.int("node")] = l.int("node_pid")
		}
		maxDown = max(maxDown, len(down))
	}
	if maxDown != 1 {
		t.Errorf("at most %d nodes were down at once, want exactly 1", maxDown)
	}
	if len(rolled) != nodes {
		t.Fatalf("rolled %d nodes (%v), want %d", len(rolled), rolled, nodes)
	}
	for id, pid := range rolled {
		if pid == oldPids[id] || alive(oldPids[id]) {
			t.Errorf("node %d: pid %d -> %d; the old one must be gone", id, oldPids[id], pid)
		}
	}

	seen := map[int]bool{}
	t.Cleanup(func() {
		if t.Failed() {
			gi := c.GroupInfo("roll")
			t.Logf("group state %s epoch %d, %d members, %d handled", gi.State, gi.Epoch, len(gi.Members), len(seen))
			for _, m := range gi.Members {
				t.Logf("member %s instance %v client %s assigned %v", m.MemberID, *m.InstanceID, m.ClientID, m.Assignment)
			}
			t.Logf("commits %v", gi.Commits)
		}
	})
	s.waitStdout(60*time.Second, "every record handled", collectPrinted(seen, before+during))
	s.stopGracefully(20 * time.Second)
}

// A HUP that arrives during a roll starts it over without ever taking a
// second node down.
func TestHUPDuringRollStartsItOver(t *testing.T) {
	_, addr := newBroker(t, 4, "orders")
	s := startSwarm(t, swarmArgs(addr, "-nodes=2", "-handler=discard")...)
	s.waitNodesReady(2, 0)
	from := s.logCount()
	s.signal(syscall.SIGHUP)
	s.waitLog(10*time.Second, "first rolling stop", from, logged("swarm.manager.stopping", "reason", "rolling restart"))
	s.signal(syscall.SIGHUP)
	s.waitLog(30*time.Second, "restarted roll done", from, logged("swarm.manager.rolling_restart_done"))
	down, maxDown, stops := map[int]bool{}, 0, 0
	for _, l := range s.matching(func(l logLine) bool { return l.role() == "supervisor" }) {
		switch {
		case l.msg() == "swarm.manager.stopping" && l.str("reason") == "rolling restart":
			down[l.int("node")] = true
			stops++
		case l.msg() == "swarm.manager.first_report":
			delete(down, l.int("node"))
		}
		maxDown = max(maxDown, len(down))
	}
	if maxDown != 1 {
		t.Errorf("%d nodes down at once, want 1", maxDown)
	}
	// The restarted roll covers every node but the one being restarted
	// when the second HUP came: 2 stops in all if the HUP caught the
	// first roll on node 0, 3 if it had moved on to node 1 already.
	if stops < 2 || stops > 3 {
		t.Errorf("%d rolling stops, want 2 or 3", stops)
	}
}

// A roll holds when a replacement does not stay up: after a bad deploy
// (here: the handler command now exits at once) the roll must not take
// the next node down too. Node 0's replacement fails twice; node 1 is
// never stopped.
func TestRollingRestartHoldsOnFailingReplacement(t *testing.T) {
	_, addr := newBroker(t, 4, "orders")
	bad := t.TempDir() + "/bad-deploy"
	script := `if [ -e "$1" ]; then echo "bad deploy" >&2; exit 1; fi; exec cat`
	s := startSwarm(t, swarmArgs(addr, "-nodes=2", "-codec=lines",
		"-report-interval=300ms", "-node-restart-timeout=50ms", "--", "/bin/sh", "-c", script, "sh", bad)...)
	s.waitNodesReady(2, 0)
	if err := os.WriteFile(bad, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	from := s.logCount()
	s.signal(syscall.SIGHUP)
	// Two failed starts of node 0's replacement: the second one comes
	// after the first's backoff, well past a report interval of the roll.
	_, i := s.waitLog(20*time.Second, "node 0's replacement fails", from, logged("swarm.node.exited", "node", 0, "exit", "exit 1"))
	second, _ := s.waitLog(20*time.Second, "node 0's replacement fails again", i+1, logged("swarm.node.exited", "node", 0, "exit", "exit 1"))
	t.Logf("second failure: %v", second)
	if stops := s.matching(logged("swarm.manager.stopping", "node", 1)); len(stops) > 0 {
		t.Fatalf("node 1 was stopped while node 0's replacement kept failing: %v", stops)
	}
}
