//go:build linux

package main

// A stderr nobody reads must not freeze supervision (issue 9, item 1). The
// real binary runs with fd 2 a pipe that is full before it starts and that
// the test does not read; what it does is observed through -http and /proc,
// never through its logs.

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// fullPipe returns a pipe whose buffer is already full of newline-ended
// filler. The write end is left in blocking mode, as a stuck log shipper's
// pipe would be: a writer that does not take care blocks on it.
func fullPipe(t *testing.T) (r, w *os.File) {
	t.Helper()
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Close(); w.Close() })
	fd := int(w.Fd()) // Fd puts the file in blocking mode; flip it for the fill only
	if err := unix.SetNonblock(fd, true); err != nil {
		t.Fatal(err)
	}
	filler := []byte(strings.Repeat("f", 63) + "\n")
	for {
		_, err := unix.Write(fd, filler)
		if err == unix.EAGAIN {
			break
		}
		if err != nil {
			t.Fatalf("fill pipe: %v", err)
		}
	}
	if err := unix.SetNonblock(fd, false); err != nil {
		t.Fatal(err)
	}
	return r, w
}

// startWithStderr runs the binary with stderr as given and stdout discarded,
// in its own process group that cleanup kills whole. exited closes when it
// has been waited for (then cmd.ProcessState holds its exit).
func startWithStderr(t *testing.T, stderr *os.File, args ...string) (cmd *exec.Cmd, exited <-chan struct{}) {
	t.Helper()
	argv := swarmArgv(args...)
	cmd = exec.Command(argv[0], argv[1:]...)
	cmd.Env = append(os.Environ(), "GORACE=atexit_sleep_ms=0")
	cmd.Stderr = stderr
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); close(done) }()
	t.Cleanup(func() {
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			t.Errorf("swarm %d did not exit after SIGKILL", cmd.Process.Pid)
		}
		waitFor(t, 5*time.Second, "process group gone", func() bool { return len(groupPids(cmd.Process.Pid)) == 0 })
	})
	return cmd, done
}

// statusNode is one node in /status, as these tests read it.
type statusNode struct {
	ID            int    `json:"id"`
	PID           int    `json:"pid"`
	State         string `json:"state"`
	Restarts      int    `json:"restarts"`
	LastReportAge *int64 `json:"last_report_age_ms"`
}

// tryGet is one GET that reports failure instead of failing the test: the
// server may not be up yet.
func tryGet(url string) (int, string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b), err
}

// statusNodes reads /status; nil when it cannot be had.
func statusNodes(base string) []statusNode {
	code, body, err := tryGet(base + "/status")
	if err != nil || code != 200 {
		return nil
	}
	var st struct{ Nodes []statusNode }
	if json.Unmarshal([]byte(body), &st) != nil {
		return nil
	}
	return st.Nodes
}

// waitAllReported waits until /status shows n running nodes that have all
// reported, and returns them.
func waitAllReported(t *testing.T, base string, n int, timeout time.Duration) []statusNode {
	t.Helper()
	var nodes []statusNode
	waitFor(t, timeout, fmt.Sprintf("/status to show %d running nodes that reported", n), func() bool {
		nodes = statusNodes(base)
		if len(nodes) != n {
			return false
		}
		for _, nd := range nodes {
			if nd.State != "running" || nd.LastReportAge == nil {
				return false
			}
		}
		return true
	})
	return nodes
}

// With stderr full and unread: a SIGKILLed node is replaced as usual,
// /healthz stays 200 past several report timeouts, and once the pipe is
// read the lines of that time come out with no node stopped as hung.
func TestUnreadStderrKeepsSupervising(t *testing.T) {
	_, addr := newBroker(t, 4, "orders")
	r, w := fullPipe(t)
	httpAddr := freeAddr(t)
	base := "http://" + httpAddr
	cmd, exited := startWithStderr(t, w, swarmArgs(addr, "-nodes=2", "-handler=discard", "-http="+httpAddr)...)
	sup := cmd.Process.Pid

	nodes := waitAllReported(t, base, 2, 20*time.Second)
	victim, other := nodes[0], nodes[1]
	killedAt := time.Now()
	sendSig(t, victim.PID, syscall.SIGKILL)
	var repl statusNode
	waitFor(t, 10*time.Second, "killed node replaced (seen in /status)", func() bool {
		for _, nd := range statusNodes(base) {
			if nd.ID == victim.ID && nd.PID != victim.PID && nd.State == "running" && nd.LastReportAge != nil {
				repl = nd
				return true
			}
		}
		return false
	})
	t.Logf("SIGKILL to replacement reporting, stderr full: %v", time.Since(killedAt).Round(time.Millisecond))
	if st, err := procStat(repl.PID); err != nil || st.ppid != sup {
		t.Fatalf("replacement pid %d is not a child of supervisor %d (%v, %+v)", repl.PID, sup, err, st)
	}

	// Several report timeouts (1 s) pass with stderr still full: the loop
	// keeps turning and every node keeps being heard.
	stallFrom := time.Now()
	waitFor(t, 10*time.Second, "3 s of /healthz 200 with stderr full", func() bool {
		code, _, err := tryGet(base + "/healthz")
		if err != nil || code != 200 {
			t.Fatalf("/healthz with stderr full: %d %v", code, err)
		}
		return time.Since(stallFrom) > 3*time.Second
	})

	// Now read the pipe: the supervisor's lines of that time come out, and
	// none of them stops a node as hung (status -1).
	w.Close()
	lines := make(chan map[string]any, 4096)
	go func() {
		defer close(lines)
		sc := bufio.NewScanner(r)
		sc.Buffer(make([]byte, 1<<20), 1<<20)
		for sc.Scan() {
			var l map[string]any
			if json.Unmarshal(sc.Bytes(), &l) == nil {
				lines <- l
			}
		}
	}()
	var got []logLine
	deadline := time.After(10 * time.Second)
	for seen := false; !seen; {
		select {
		case l := <-lines:
			got = append(got, l)
			seen = logLine(l).role() == "supervisor" && logLine(l).msg() == "swarm.manager.after_fork" &&
				logLine(l).int("node") == victim.ID && logLine(l).int("restarts") == 1
		case <-deadline:
			t.Fatalf("the replacement's after_fork never came out of the drained pipe (%d lines read)", len(got))
		}
	}
	for _, l := range got {
		if l.msg() == "swarm.manager.stopping" && l.int("status") == statusHanging {
			t.Errorf("a node was stopped as hung: %v", l)
		}
	}
	for _, nd := range statusNodes(base) {
		if nd.ID == other.ID && (nd.PID != other.PID || nd.Restarts != 0) {
			t.Errorf("untouched node changed: %+v, was %+v", nd, other)
		}
	}
	sendSig(t, sup, syscall.SIGTERM)
	select {
	case <-exited:
		if code := cmd.ProcessState.ExitCode(); code != 0 {
			t.Errorf("exit code %d after TERM, want 0", code)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("supervisor did not exit after TERM")
	}
}

// With stderr full and unread, TERM still stops the swarm: the exit comes
// within the shutdown timeout plus the bounded wait for queued log lines.
func TestUnreadStderrTERMStillStops(t *testing.T) {
	_, addr := newBroker(t, 2, "orders")
	_, w := fullPipe(t)
	httpAddr := freeAddr(t)
	cmd, exited := startWithStderr(t, w, swarmArgs(addr, "-nodes=1", "-handler=discard", "-http="+httpAddr)...)
	waitAllReported(t, "http://"+httpAddr, 1, 20*time.Second)
	termAt := time.Now()
	sendSig(t, cmd.Process.Pid, syscall.SIGTERM)
	select {
	case <-exited:
		if code := cmd.ProcessState.ExitCode(); code != 0 {
			t.Errorf("exit code %d after TERM with stderr full, want 0", code)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("supervisor did not exit within 10 s of TERM with stderr full")
	}
	t.Logf("TERM to exit with stderr full: %v", time.Since(termAt).Round(time.Millisecond))
	waitFor(t, 5*time.Second, "no process of the swarm left", func() bool { return len(groupPids(cmd.Process.Pid)) == 0 })
}
