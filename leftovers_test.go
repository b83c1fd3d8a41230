//go:build linux

package main

// Nothing a handler starts outlives its node, however the node dies. The
// handler is a shell that leaves a `sleep` behind and then answers as cat
// does; the sleep is found by a marker in its argv (a duration no other
// process uses), and must be gone soon after each death.

import (
	"fmt"
	"os"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// sleepMarkers makes each test's sleep duration unique on the machine.
var sleepMarkers atomic.Int64

// markedSleeps lists the live `sleep` processes whose argv holds marker.
func markedSleeps(marker string) []int {
	return procsWhere(func(pid int, st statFields) bool {
		if st.state == "Z" {
			return false
		}
		comm, _ := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/comm")
		if strings.TrimSpace(string(comm)) != "sleep" {
			return false
		}
		argv, _ := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/cmdline")
		return strings.Contains(string(argv), marker)
	})
}

// leftoverHandler returns a handler script that starts a sleep (in a
// session of its own when setsid, so a process-group kill misses it) and
// then runs last (exec'd), and the sleep's marker. Cleanup kills any sleep
// left over, whatever the test found, through a pidfd.
func leftoverHandler(t *testing.T, setsid bool, last string) (script, marker string) {
	t.Helper()
	marker = fmt.Sprintf("1000.%d%03d", os.Getpid(), sleepMarkers.Add(1))
	start := "sleep " + marker + " &"
	if setsid {
		start = "setsid " + start
	}
	t.Cleanup(func() {
		for _, pid := range markedSleeps(marker) {
			if fd, err := unix.PidfdOpen(pid, 0); err == nil {
				_ = unix.PidfdSendSignal(fd, unix.SIGKILL, nil, 0)
				unix.Close(fd)
			}
		}
	})
	return start + " exec " + last, marker
}

// waitSleepStarted waits until the handler's sleep runs.
func waitSleepStarted(t *testing.T, marker string) int {
	t.Helper()
	var pid int
	waitFor(t, 10*time.Second, "the handler's sleep to start", func() bool {
		if p := markedSleeps(marker); len(p) > 0 {
			pid = p[0]
			return true
		}
		return false
	})
	return pid
}

// waitNoSleep waits until no sleep with marker is alive.
func waitNoSleep(t *testing.T, marker, after string) {
	t.Helper()
	deadline := time.Now().Add(3 * time.Second)
	for {
		left := markedSleeps(marker)
		if len(left) == 0 {
			return
		}
		if time.Now().After(deadline) {
			var who []string
			for _, pid := range left {
				st, _ := procStat(pid)
				who = append(who, fmt.Sprintf("pid %d (parent %d)", pid, st.ppid))
			}
			t.Fatalf("the handler's sleep outlived %s: %s", after, strings.Join(who, ", "))
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// Every death path of a node, with the handler's sleep in the handler's
// process group and in a session of its own.
func TestHandlerLeftoversDieWithNode(t *testing.T) {
	for _, tc := range []struct {
		name   string
		setsid bool
		path   string
	}{
		{"SIGKILL of node", false, "kill-node"},
		{"SIGKILL of node, setsid", true, "kill-node"},
		{"graceful stop", false, "stop"},
		{"graceful stop, setsid", true, "stop"},
		{"handler failure, setsid", true, "fail"},
		{"SIGKILL of supervisor, setsid", true, "kill-supervisor"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			_, addr := newBroker(t, 1, "orders")
			last := "cat"
			if tc.path == "fail" {
				last = "head -n 1" // answers one record, then exits: the handler fails
			}
			script, marker := leftoverHandler(t, tc.setsid, last)
			// No restart within the test: a replacement's handler would
			// start a sleep with the same marker, alive and rightly so.
			s := startSwarm(t, swarmArgs(addr, "-nodes=1", "-codec=lines", "-node-restart-timeout=1m", "--", "/bin/sh", "-c", script)...)
			pids := s.waitNodesReady(1, 0)
			sleep := waitSleepStarted(t, marker)
			t.Logf("sleep %d started by node %d", sleep, pids[0])
			from := s.logCount()
			switch tc.path {
			case "kill-node":
				sendSig(t, pids[0], syscall.SIGKILL)
				s.waitLog(10*time.Second, "node 0's death seen", from, logged("swarm.node.exited", "role", "supervisor", "node", 0))
			case "stop":
				s.signal(syscall.SIGTERM)
				if code := s.waitExit(20 * time.Second); code != 0 {
					t.Errorf("supervisor exit %d, want 0", code)
				}
			case "fail":
				produce(t, addr, "orders", 2)
				s.waitLog(20*time.Second, "handler.failed", from, logged("handler.failed", "node", 0))
				s.waitLog(10*time.Second, "node 0 exited", from, logged("swarm.node.exited", "role", "supervisor", "node", 0))
			case "kill-supervisor":
				sendSig(t, s.pid(), syscall.SIGKILL)
				waitFor(t, 2*time.Second, "the orphaned node to exit", func() bool { return !alive(pids[0]) })
			}
			waitNoSleep(t, marker, tc.path)
		})
	}
}
