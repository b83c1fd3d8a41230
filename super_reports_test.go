//go:build linux

package main

import (
	"log/slog"
	"os/exec"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// A loop that comes late to a report deadline reads what the node's pipe
// holds before judging it: a report waiting there keeps the node running; an
// empty pipe still gets the node stopped as hung. The clock is the now the
// test passes in.
func TestLateLoopReadsWaitingReport(t *testing.T) {
	for _, tc := range []struct {
		doc      string
		waiting  string // what the node wrote that the loop has not read yet
		wantTERM bool
	}{
		{"a healthy report is waiting", "0\n", false},
		{"nothing is waiting", "", true},
	} {
		t.Run(tc.doc, func(t *testing.T) {
			child := exec.Command("sleep", "60")
			if err := child.Start(); err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { _ = child.Process.Kill(); _ = child.Wait() })
			pidfd, err := unix.PidfdOpen(child.Process.Pid, 0)
			if err != nil {
				t.Fatal(err)
			}
			defer unix.Close(pidfd)
			var p [2]int
			if err := unix.Pipe2(p[:], unix.O_CLOEXEC|unix.O_NONBLOCK); err != nil {
				t.Fatal(err)
			}
			defer unix.Close(p[0])
			defer unix.Close(p[1])
			if tc.waiting != "" {
				if _, err := unix.Write(p[1], []byte(tc.waiting)); err != nil {
					t.Fatal(err)
				}
			}
			epfd, err := unix.EpollCreate1(unix.EPOLL_CLOEXEC)
			if err != nil {
				t.Fatal(err)
			}
			defer unix.Close(epfd)

			now := time.Now()
			n := newNode(0)
			n.state, n.pid, n.pidfd, n.pipe = nodeRunning, child.Process.Pid, pidfd, p[0]
			n.startedAt, n.lastReport, n.reported = now.Add(-20*time.Second), now.Add(-15*time.Second), true
			m := &manager{
				cfg: &config{superConfig: superConfig{nodeReportTimeout: time.Second, shutdownTimeout: time.Second}, healthConfig: healthConfig{reportInterval: time.Second}},
				log: slog.New(slog.DiscardHandler), epfd: epfd, buf: make([]byte, readChunk), sys: hostSys,
				nodes: []*node{n},
			}
			m.fireDeadlines(now) // 14 s past the report deadline

			if termed := n.state == nodeStopping; termed != tc.wantTERM {
				t.Fatalf("node state %v after the late deadline, want TERM %v", n.state, tc.wantTERM)
			}
			if !tc.wantTERM {
				if !n.lastReport.Equal(now) {
					t.Errorf("lastReport %v, want the late loop's now %v", n.lastReport, now)
				}
				// The child got no TERM: it still runs.
				var info unix.Siginfo
				if err := unix.Waitid(unix.P_PID, child.Process.Pid, &info, unix.WEXITED|unix.WNOHANG|unix.WNOWAIT, nil); err != nil {
					t.Fatal(err)
				}
				if info.Signo != 0 {
					t.Errorf("the healthy node's process was signalled and exited")
				}
			}
		})
	}
}
