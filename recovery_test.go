//go:build linux

package main

// End-to-end recovery as users feel it, with the group settings a new user
// gets (no session, heartbeat, balancer or timeout flags): a stop from any
// moment of the group's life ends in seconds with every handled record
// committed, and a killed node's partitions come back with its replacement,
// with no rebalance and no wait for a session timeout. The figures (how
// many milliseconds) are BenchmarkUserFelt's; these are functional bounds.

import (
	"fmt"
	"net"
	"os"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestStopFromAnyMomentCommitsHandled: SIGTERM 100 ms, 500 ms and 1.5 s
// after start, with records flowing into 8 partitions for 2 nodes (mid
// join, mid rebalance, steady), exits 0 well inside 5 s although the
// default session (45 s) and shutdown (60 s) timeouts are far longer, and
// every record printed (handled) is committed.
func TestStopFromAnyMomentCommitsHandled(t *testing.T) {
	for _, after := range []time.Duration{100 * time.Millisecond, 500 * time.Millisecond, 1500 * time.Millisecond} {
		t.Run(after.String(), func(t *testing.T) {
			const parts = 8
			_, addr := newBroker(t, parts, "flow")
			stopTraffic := steadyTraffic(t, addr, "flow", parts, 2000)
			defer stopTraffic()
			group := "stop-" + after.String()
			flow := newFlowClock()
			s := startTapped(t, nil, swarmArgv("-nodes=2", "-bootstrap="+addr, "-topics=flow", "-group="+group), flow.add)
			started := time.Now()
			waitFor(t, 10*time.Second, "the moment to stop", func() bool { return time.Since(started) >= after })
			s.signal(syscall.SIGTERM)
			termed := time.Now()
			if code := s.waitExit(5 * time.Second); code != 0 {
				t.Fatalf("exit %d, want 0", code)
			}
			took := time.Since(termed)
			if bad := uncommitted(t, addr, group, "flow", flow.handledOffsets()); len(bad) > 0 {
				t.Fatalf("partitions %v have handled records that are not committed (handled %v)", bad, flow.handledOffsets())
			}
			t.Logf("TERM %s after start: exit 0 in %s, %d records handled, all committed", after, took.Round(time.Millisecond), flow.lines)
		})
	}
}

// TestKilledNodeResumesWithoutRebalance: with default flags, a SIGKILLed
// node's replacement gets back exactly the partitions it held, nobody else's
// assignment moves (no rebalance: the other node logs no new assignment),
// and its partitions flow again long before the 45 s session timeout or
// even one 3 s heartbeat.
func TestKilledNodeResumesWithoutRebalance(t *testing.T) {
	const parts = 4
	_, addr := newBroker(t, parts, "flow")
	stopTraffic := steadyTraffic(t, addr, "flow", parts, 1000)
	defer stopTraffic()
	flow := newFlowClock()
	s := startTapped(t, nil, swarmArgv("-nodes=2", "-bootstrap="+addr, "-topics=flow", "-group=kill"), flow.add)
	pids := s.waitNodesReady(2, 0)
	// Settled: both nodes hold partitions, their latest assignments split
	// the topic between them (a node's older, wider assignment is not the
	// group's: its line for the new generation may arrive a moment after
	// the other node's), and every partition flows.
	held := map[int]string{}
	owned := map[int]int{}
	waitFor(t, 30*time.Second, "both nodes assigned and every partition flowing", func() bool {
		for _, l := range s.matching(logged("route.assigned")) {
			held[l.int("node")] = fmt.Sprint(l["partitions"])
			owned[l.int("node")] = assignedCount(l)
		}
		return len(held) == 2 && owned[0] > 0 && owned[1] > 0 && owned[0]+owned[1] == parts &&
			flow.flowingSince(time.Now().Add(-50*time.Millisecond), parts)
	})
	from := s.logCount()
	killed := time.Now()
	if err := syscall.Kill(pids[1], syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	l, _ := s.waitLog(10*time.Second, "the replacement's assignment", from, func(l logLine) bool {
		return l.msg() == "route.assigned" && l.int("node") == 1 && l.int("pid") != pids[1]
	})
	if got := fmt.Sprint(l["partitions"]); got != held[1] {
		t.Errorf("replacement got %s, the killed node held %s", got, held[1])
	}
	// Bounded from the kill, not from the replacement's start.
	waitFor(t, time.Until(killed.Add(2*time.Second)), "every partition to flow again within 2 s of the kill", func() bool {
		return flow.flowingSince(killed.Add(100*time.Millisecond), parts)
	})
	worst, p := flow.stall(killed, time.Now())
	if others := s.matching(func(l logLine) bool {
		return l.msg() == "route.assigned" && l.int("node") == 0 && recvTime(l).After(killed)
	}); len(others) > 0 {
		t.Errorf("node 0 was reassigned after the kill (a rebalance): %v", others[0]["partitions"])
	}
	t.Logf("partition %d stood still %s after the kill", p, worst.Round(time.Millisecond))
}

// TestStopWhileWaitingForBrokers: a TERM while the supervisor still waits
// for unreachable brokers (up to -connect-timeout) ends it at once with
// exit 0 and nothing spawned, not by the signal's default action.
func TestStopWhileWaitingForBrokers(t *testing.T) {
	// A broker that accepts and never answers: the supervisor's connection
	// to it is the sign that it is waiting in preflight.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			defer c.Close()
		}
	}()
	s := startSwarm(t, "-nodes=2", "-bootstrap="+ln.Addr().String(), "-topics=flow", "-connect-timeout=1m")
	waitFor(t, 10*time.Second, "the supervisor to connect to the silent broker", func() bool {
		fds, _ := os.ReadDir(fmt.Sprintf("/proc/%d/fd", s.pgid))
		for _, fd := range fds {
			if l, _ := os.Readlink(fmt.Sprintf("/proc/%d/fd/%s", s.pgid, fd.Name())); strings.HasPrefix(l, "socket:") {
				return true
			}
		}
		return false
	})
	s.stopGracefully(2 * time.Second)
	if forks := s.matching(logged("swarm.manager.after_fork")); len(forks) > 0 {
		t.Fatalf("a node was spawned: %v", forks[0])
	}
	s.waitLog(time.Second, "app.stopped", 0, logged("app.stopped"))
}

// Two nodes consume 10 000 records from 4 partitions; every record is
// handled at least once; TERM stops everything with exit 0.
func TestEveryRecordHandledThenTERMExits0(t *testing.T) {
	_, addr := newBroker(t, 4, "orders")
	const n = 10000
	produce(t, addr, "orders", n)
	s := startSwarm(t, swarmArgs(addr, "-nodes=2")...)
	pids := s.waitNodesReady(2, 0)

	seen := map[int]bool{}
	s.waitStdout(60*time.Second, "all records printed", collectPrinted(seen, n))
	for k := 0; k < n; k++ {
		if !seen[k] {
			t.Fatalf("record %d never handled", k)
		}
	}
	s.stopGracefully(20 * time.Second)
	s.checkNoneLeft(pids)
	if got := len(s.matching(logged("app.stopped"))); got != 3 {
		t.Errorf("app.stopped logged %d times, want 3 (2 nodes + supervisor)", got)
	}
}

// assignedCount is how many partitions a route.assigned line gives.
func assignedCount(l logLine) int {
	n := 0
	parts, _ := l["partitions"].(map[string]any)
	for _, ps := range parts {
		if list, ok := ps.([]any); ok {
			n += len(list)
		}
	}
	return n
}
