//go:build linux

package main

import (
	"bytes"
	"net"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"
)

// runBinaryToExit runs the binary to its end and returns exit code, stdout, stderr.
func runBinaryToExit(t *testing.T, timeout time.Duration, args ...string) (int, string, string) {
	t.Helper()
	cmd := exec.Command(swarmBin, args...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	pgid := cmd.Process.Pid
	t.Cleanup(func() { _ = syscall.Kill(-pgid, syscall.SIGKILL) })
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(timeout):
		t.Fatalf("swarm %v did not exit within %s", args, timeout)
	}
	if left := groupPids(pgid); len(left) > 0 {
		t.Errorf("processes left after exit: %v", left)
	}
	return cmd.ProcessState.ExitCode(), out.String(), errOut.String()
}

// closedLoopbackAddr returns a loopback address nothing listens on.
func closedLoopbackAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	return addr
}

func TestPreflightRejectsBeforeSpawning(t *testing.T) {
	_, addr := newBroker(t, 2, "orders")
	for _, tc := range []struct {
		doc  string
		args []string
		code int
		want string
	}{
		{"unreachable brokers exit 1", []string{"-topics=orders", "-bootstrap=" + closedLoopbackAddr(t), "-connect-timeout=1s"}, 1, "reach brokers"},
		{"a missing topic exits 2 and is named", []string{"-topics=orders,nope", "-bootstrap=" + addr}, 2, "-topics: nope not found"},
	} {
		t.Run(tc.doc, func(t *testing.T) {
			code, stdout, stderr := runBinaryToExit(t, 20*time.Second, tc.args...)
			if code != tc.code {
				t.Errorf("exit code %d, want %d", code, tc.code)
			}
			lines := strings.Split(strings.TrimRight(stderr, "\n"), "\n")
			if len(lines) != 1 || !strings.HasPrefix(lines[0], "swarm: ") || !strings.Contains(lines[0], tc.want) {
				t.Errorf("stderr %q: want one line starting with \"swarm: \" and containing %q", stderr, tc.want)
			}
			if stdout != "" {
				t.Errorf("stdout %q, want nothing", stdout)
			}
		})
	}
}
