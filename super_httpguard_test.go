//go:build linux

package main

// -http clients cannot cost the supervisor its fds (issue 9, item 2): idle
// keep-alive connections are closed, and under a low RLIMIT_NOFILE a flood
// of connections neither stops a killed node from being restarted nor
// /healthz from answering.

import (
	"bufio"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"strings"
	"syscall"
	"testing"
	"time"
)

// keepAliveConn opens a connection, makes one keep-alive request for
// /healthz on it and leaves it open. nil when the server refused or closed
// it (a full cap does that).
func keepAliveConn(addr string) net.Conn {
	c, err := net.DialTimeout("tcp", addr, 2*time.Second)
	if err != nil {
		return nil
	}
	_ = c.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := io.WriteString(c, "GET /healthz HTTP/1.1\r\nHost: swarm\r\n\r\n"); err != nil {
		c.Close()
		return nil
	}
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		c.Close()
		return nil
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	_ = c.SetDeadline(time.Time{})
	return c
}

// closedByServer says whether the server has closed c: a read returns EOF
// or a reset rather than timing out.
func closedByServer(c net.Conn, wait time.Duration) bool {
	_ = c.SetReadDeadline(time.Now().Add(wait))
	_, err := c.Read(make([]byte, 1))
	var ne net.Error
	return err != nil && !(errors.As(err, &ne) && ne.Timeout())
}

// Keep-alive connections that made one request each are closed by the
// server after its idle timeout (1 s here through SWARM_HTTP_IDLE_TIMEOUT;
// 30 s by default).
func TestHTTPIdleConnectionsClosed(t *testing.T) {
	_, addr := newBroker(t, 2, "orders")
	s := startSwarmEnv(t, []string{httpIdleTimeoutEnv + "=1s"}, swarmArgs(addr, "-nodes=1", "-handler=discard", "-http=127.0.0.1:0")...)
	l, _ := s.waitLog(15*time.Second, "http listening", 0, logged("swarm.http.listening"))
	httpAddr := l.str("addr")
	var conns []net.Conn
	for i := 0; i < 50; i++ {
		c := keepAliveConn(httpAddr)
		if c == nil {
			t.Fatalf("connection %d: request failed", i)
		}
		conns = append(conns, c)
	}
	t.Cleanup(func() {
		for _, c := range conns {
			c.Close()
		}
	})
	opened := time.Now()
	for i, c := range conns {
		if !closedByServer(c, 10*time.Second) {
			t.Fatalf("idle connection %d still open 10 s after its request", i)
		}
	}
	t.Logf("50 idle keep-alive connections all closed by the server %v after their requests", time.Since(opened).Round(time.Millisecond))
}

// Under RLIMIT_NOFILE 128 (the issue's `ulimit -n 128`), 300 keep-alive
// connections cannot take the fds the loop needs: a SIGKILLed node is
// restarted, /healthz answers, and net/http writes no plain-text lines.
func TestHTTPFloodCannotStarveTheLoop(t *testing.T) {
	if _, err := os.Stat("/usr/bin/prlimit"); err != nil {
		t.Skip("SKIPPED: no prlimit (util-linux): the fd flood was not tested")
	}
	_, addr := newBroker(t, 2, "orders")
	s := startWrapped(t, nil, []string{"prlimit", "--nofile=128:128", "--"},
		swarmArgs(addr, "-nodes=2", "-handler=discard", "-http=127.0.0.1:0")...)
	l, _ := s.waitLog(15*time.Second, "http listening", 0, logged("swarm.http.listening"))
	httpAddr := l.str("addr")
	pids := s.waitNodesReady(2, 0)

	var conns []net.Conn
	t.Cleanup(func() {
		for _, c := range conns {
			c.Close()
		}
	})
	// All at once, as a flood comes: one at a time, each connection the
	// server cannot accept would wait out its deadline in the backlog.
	results := make(chan net.Conn, 300)
	for i := 0; i < 300; i++ {
		go func() { results <- keepAliveConn(httpAddr) }()
	}
	served := 0
	for i := 0; i < 300; i++ {
		if c := <-results; c != nil {
			served++
			conns = append(conns, c)
		}
	}
	fds := fdCount(t, s.pid())
	t.Logf("%d of 300 flood connections served; supervisor holds %d fds (limit 128)", served, fds)
	if fds > 120 {
		t.Errorf("supervisor holds %d fds under the flood: too close to its limit of 128", fds)
	}

	from := s.logCount()
	sendSig(t, pids[0], syscall.SIGKILL)
	after, _ := s.waitLog(10*time.Second, "killed node restarted under the flood", from,
		logged("swarm.manager.after_fork", "role", "supervisor", "node", 0))
	if after.int("node_pid") == pids[0] {
		t.Fatalf("after_fork with the old pid: %v", after)
	}
	code, body := httpGet(t, "http://"+httpAddr+"/healthz")
	if code != 200 {
		t.Errorf("/healthz under the flood: %d %s", code, body)
	}
	if ff := s.matching(logged("swarm.manager.fork_failed", "role", "supervisor")); len(ff) > 0 {
		t.Errorf("fork failed under the flood: %v", ff[0])
	}
	for _, line := range s.otherLines() {
		if strings.Contains(line, "http:") || strings.Contains(line, "Accept error") {
			t.Errorf("plain-text net/http line in the log: %q", line)
		}
	}
}

// net/http's error lines become one structured line per second at most,
// counting the ones left out.
func TestHTTPErrorLogRateLimited(t *testing.T) {
	out := &strings.Builder{}
	now := time.Unix(1000, 0)
	e := &httpErrorLog{log: slog.New(slog.NewJSONHandler(out, nil)), now: func() time.Time { return now }}
	for i := 0; i < 5; i++ {
		_, _ = e.Write([]byte("http: Accept error: accept tcp: too many open files; retrying in 5ms\n"))
	}
	now = now.Add(httpErrorEvery)
	_, _ = e.Write([]byte("http: Accept error: again\n"))
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	if len(lines) != 2 {
		t.Fatalf("%d lines, want 2: %q", len(lines), lines)
	}
	if !strings.Contains(lines[0], `"msg":"swarm.http.error"`) || !strings.Contains(lines[0], `"suppressed":0`) ||
		!strings.Contains(lines[0], "too many open files") {
		t.Errorf("first line %s", lines[0])
	}
	if !strings.Contains(lines[1], `"suppressed":4`) {
		t.Errorf("second line %s, want suppressed 4", lines[1])
	}
}
