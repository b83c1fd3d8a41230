//go:build linux

package main

import (
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// Every way a node ends gets its cause from what the manager knew when it
// reaped it (nodeRestartTimeout 1 s, nodeReportTimeout 3 s,
// shutdownTimeout 5 s: managerConfig).
func TestExitsReasons(t *testing.T) {
	for _, tc := range []struct {
		doc    string
		run    func(h *managerHarness)
		reason string
		exit   string
		status int
	}{
		{"exited on its own", func(h *managerHarness) { h.exit(0, exitStatus{code: 1}) }, "crash", "exit 1", 0},
		{"killed on its own", func(h *managerHarness) { h.exit(0, exitStatus{code: -1, signal: unix.SIGKILL}) }, "crash", "signal SIGKILL", 0},
		{"no report in time", func(h *managerHarness) { h.advance(3 * time.Second) }, "hanging", "exit 0", statusHanging},
		{"status 1", func(h *managerHarness) { h.report(0, "1\n") }, "polling", "exit 0", 1},
		{"status 2", func(h *managerHarness) { h.report(0, "2\n") }, "consuming", "exit 0", 2},
		{"status 3", func(h *managerHarness) { h.report(0, "3\n") }, "memory", "exit 0", 3},
		{"status 4", func(h *managerHarness) { h.report(0, "4\n") }, "stalled", "exit 0", 4},
		{"a status above 4", func(h *managerHarness) { h.report(0, "7\n") }, "unhealthy", "exit 0", 7},
		{"status 3, then KILL at the shutdown timeout", func(h *managerHarness) {
			h.sys.ignoreTERM = true
			h.report(0, "3\n")
			h.advance(5 * time.Second)
		}, "memory", "signal SIGKILL", 3},
		{"a rolling restart", func(h *managerHarness) { h.signal(unix.SIGHUP) }, "rolling", "exit 0", 0},
		{"the swarm's graceful stop", func(h *managerHarness) { h.signal(unix.SIGTERM) }, "stop", "exit 0", 0},
		{"a second stop signal", func(h *managerHarness) {
			h.sys.ignoreTERM = true
			h.signal(unix.SIGTERM)
			h.signal(unix.SIGTERM)
		}, "forced", "signal SIGKILL", 0},
		{"the shutdown timeout", func(h *managerHarness) {
			h.sys.ignoreTERM = true
			h.signal(unix.SIGTERM)
			h.advance(5 * time.Second)
		}, "forced", "signal SIGKILL", 0},
	} {
		t.Run(tc.doc, func(t *testing.T) {
			h := newManagerHarness(t, 1, nil)
			h.report(0, "0\n")
			h.advance(1500 * time.Millisecond)
			started := h.m.nodes[0].startedAt
			tc.run(h)
			s := h.m.nodes[0].stats
			if len(s.exits) != 1 {
				t.Fatalf("%d exits recorded, want 1", len(s.exits))
			}
			e := s.exits[0]
			if e.reason.String() != tc.reason || e.exit != tc.exit || e.status != tc.status || e.uptime != e.at.Sub(started) {
				t.Errorf("exit %+v (reason %s), want reason %s, %s, status %d, uptime since its start", e, e.reason, tc.reason, tc.exit, tc.status)
			}
			for r := exitReason(0); r < numReasons; r++ {
				if want := b2i(r == e.reason); s.exitCounts[r] != want {
					t.Errorf("count of %s %d, want %d", r, s.exitCounts[r], want)
				}
			}
		})
	}
}

// b2i is 1 for true.
func b2i(v bool) int {
	if v {
		return 1
	}
	return 0
}

// The history keeps the last maxExits exits, oldest first, across
// restarts; the counts keep every exit.
func TestExitsRingKeepsTheLastTen(t *testing.T) {
	h := newManagerHarness(t, 1, nil)
	for i := 1; i <= maxExits+2; i++ {
		h.exit(0, exitStatus{code: i})
		h.advance(time.Minute) // the restart is due
		h.wantState(0, nodeRunning)
	}
	s := h.m.nodes[0].stats
	if len(s.exits) != maxExits || s.exits[0].exit != "exit 3" || s.exits[maxExits-1].exit != "exit 12" {
		t.Fatalf("history %d long from %q to %q, want %d from exit 3 to exit 12", len(s.exits), s.exits[0].exit, s.exits[len(s.exits)-1].exit, maxExits)
	}
	if s.exitCounts[reasonCrash] != maxExits+2 {
		t.Errorf("crash count %d, want %d", s.exitCounts[reasonCrash], maxExits+2)
	}
}
