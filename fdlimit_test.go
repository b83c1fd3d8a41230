//go:build linux

package main

// The fd limit is checked before anything is spawned, and a fork that
// fails at run time is logged once per backoff step (issue 9, item 4).

import (
	"context"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// needPrlimit skips a test that needs util-linux's prlimit(1).
func needPrlimit(t *testing.T) {
	t.Helper()
	if _, err := exec.LookPath("prlimit"); err != nil {
		t.Skip("SKIPPED: no prlimit (util-linux): the fd limit was not tested")
	}
}

// -nodes 1024 under a hard limit of 20 fds cannot work: one line, exit 2,
// at once, and no node is ever started.
func TestFdLimitTooLowExits2(t *testing.T) {
	needPrlimit(t)
	_, addr := newBroker(t, 2, "orders")
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, "prlimit", append([]string{"--nofile=20:20", "--"},
		swarmArgv("-nodes=1024", "-bootstrap="+addr, "-topics=orders", "-handler=discard")...)...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	var stderr strings.Builder
	cmd.Stderr = &stderr
	start := time.Now()
	err := cmd.Run()
	took := time.Since(start)
	code := -1
	if cmd.ProcessState != nil {
		code = cmd.ProcessState.ExitCode()
	}
	if ctx.Err() != nil {
		t.Fatalf("still running after 20 s (%d bytes of stderr): the limit was not checked", stderr.Len())
	}
	lines := strings.Split(strings.TrimRight(stderr.String(), "\n"), "\n")
	t.Logf("exit %d after %v: %q", code, took.Round(time.Millisecond), lines)
	if code != exitUsage || len(lines) != 1 {
		t.Fatalf("exit %d (%v) with %d lines, want exit 2 with one line", code, err, len(lines))
	}
	for _, want := range []string{"-nodes 1024", "RLIMIT_NOFILE allows 20", "ulimit -n"} {
		if !strings.Contains(lines[0], want) {
			t.Errorf("line %q lacks %q", lines[0], want)
		}
	}
	if strings.Contains(stderr.String(), "fork") {
		t.Errorf("something was spawned: %q", stderr.String())
	}
}

// A soft limit too low for -nodes under a hard limit that is high enough
// is raised: the swarm runs.
func TestFdLimitRaisedWhenHardAllows(t *testing.T) {
	needPrlimit(t)
	_, addr := newBroker(t, 2, "orders")
	s := startWrapped(t, nil, []string{"prlimit", "--nofile=20:4096", "--"}, swarmArgs(addr, "-nodes=4", "-handler=discard")...)
	s.waitNodesReady(4, 0)
	b, err := os.ReadFile("/proc/" + strconv.Itoa(s.pid()) + "/limits")
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(line, "Max open files") {
			t.Logf("supervisor: %s", line)
		}
	}
}

// A fork that keeps failing (no fd can be opened: the test lowers the
// running supervisor's soft RLIMIT_NOFILE to 3) is logged once per backoff
// step for the whole swarm, not once per node and attempt; the nodes come
// back once fds can be had again.
func TestForkFailureLoggedOncePerBackoffStep(t *testing.T) {
	_, addr := newBroker(t, 3, "orders")
	s := startSwarm(t, swarmArgs(addr, "-nodes=3", "-handler=discard", "-node-restart-timeout=100ms")...)
	pids := s.waitNodesReady(3, 0)
	for id := 0; id < 3; id++ {
		s.waitLog(5*time.Second, "supervisor after_fork", 0, logged("swarm.manager.after_fork", "role", "supervisor", "node", id))
	}
	var orig unix.Rlimit
	if err := unix.Prlimit(s.pid(), unix.RLIMIT_NOFILE, nil, &orig); err != nil {
		t.Fatal(err)
	}
	starve := unix.Rlimit{Cur: 3, Max: orig.Max}
	if err := unix.Prlimit(s.pid(), unix.RLIMIT_NOFILE, &starve, nil); err != nil {
		t.Fatal(err)
	}
	from := s.logCount()
	for _, pid := range pids {
		sendSig(t, pid, syscall.SIGKILL)
	}
	// Backoff 100 ms, 200, 400, 800, 1.6 s: wait for the 1.6 s step.
	s.waitLog(15*time.Second, "fork_failed at the 1.6 s backoff step", from, func(l logLine) bool {
		return l.msg() == "swarm.manager.fork_failed" && time.Duration(l.int("restart_in")) >= 1600*time.Millisecond
	})
	if err := unix.Prlimit(s.pid(), unix.RLIMIT_NOFILE, &orig, nil); err != nil {
		t.Fatal(err)
	}
	for id := 0; id < 3; id++ {
		l, _ := s.waitLog(15*time.Second, "node back after the fork failures", from,
			logged("swarm.manager.after_fork", "role", "supervisor", "node", id))
		if l.int("fork_failures") < 1 {
			t.Errorf("after_fork %v, want fork_failures >= 1", l)
		}
	}
	failed := s.matching(logged("swarm.manager.fork_failed"))
	type step struct {
		err   string
		delay int
	}
	seen := map[step]int{}
	for _, l := range failed {
		st := step{l.str("err"), l.int("restart_in")}
		seen[st]++
		if seen[st] == 2 {
			t.Errorf("fork_failed logged twice for one backoff step %v", st)
		}
	}
	t.Logf("%d fork_failed lines for %d nodes", len(failed), len(pids))
	if before := s.matching(logged("swarm.manager.before_fork")); len(before) > 6 {
		t.Errorf("%d before_fork lines, want 6 (3 starts, 3 first retries): a retry of a failed fork is not news", len(before))
	}
}
