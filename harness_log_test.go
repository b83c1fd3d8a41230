//go:build linux

package main

// The test harness, the log side: every JSON line a started process writes
// on stderr is kept, stamped with the moment it was read; tests wait on a
// line with a deadline (never a sleep), matched by the one log predicate,
// logged.

import (
	"bufio"
	"encoding/json"
	"fmt"
	"strconv"
	"testing"
	"time"
)

// logLine is one JSON log line of the supervisor or a node.
type logLine map[string]any

// msg is the line's event name.
func (l logLine) msg() string { s, _ := l["msg"].(string); return s }

// role is the side that wrote the line: "supervisor" or "node".
func (l logLine) role() string { s, _ := l["role"].(string); return s }

// int is the field key as an int, also when it was logged as a string;
// -999 when it is missing, so that a missing field matches no real value.
func (l logLine) int(key string) int {
	switch v := l[key].(type) {
	case float64:
		return int(v)
	case string:
		i, _ := strconv.Atoi(v)
		return i
	}
	return -999
}

// str is the field key when it is a string, else "".
func (l logLine) str(key string) string { s, _ := l[key].(string); return s }

// time is the line's own timestamp (slog's, cut to the millisecond).
func (l logLine) time() time.Time {
	ts, _ := time.Parse(time.RFC3339Nano, l.str("time"))
	return ts
}

// recvKey is where readStderr stamps, on every log line, the moment the
// test read it: an upper bound for a log timestamp cut to the millisecond.
const recvKey = "_recv"

// recvTime is when the test read the log line.
func recvTime(l logLine) time.Time { t, _ := l[recvKey].(time.Time); return t }

// notify wakes every wait: called under s.mu after each line collected.
func (s *swarmProc) notify() {
	close(s.changed)
	s.changed = make(chan struct{})
}

// readStderr collects stderr: JSON log lines into logs, anything else
// (a goroutine dump, garbage) into other.
func (s *swarmProc) readStderr(r interface{ Read([]byte) (int, error) }) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 1<<20), 16<<20)
	for sc.Scan() {
		now := time.Now()
		line := sc.Bytes()
		var l logLine
		s.mu.Lock()
		if json.Unmarshal(line, &l) == nil && l["msg"] != nil {
			l[recvKey] = now
			s.logs = append(s.logs, l)
		} else {
			s.other = append(s.other, string(line))
		}
		s.notify()
		s.mu.Unlock()
	}
}

// readStdout collects stdout lines, or hands each to the tap.
func (s *swarmProc) readStdout(r interface{ Read([]byte) (int, error) }) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 1<<20), 16<<20)
	for sc.Scan() {
		if s.tap != nil {
			// The tap keeps what it needs: a long benchmark's records
			// are not held twice.
			s.tap(sc.Text(), time.Now())
			continue
		}
		s.mu.Lock()
		s.stdout = append(s.stdout, sc.Text())
		s.notify()
		s.mu.Unlock()
	}
}

// waitLog waits until some log line (counting from index from) matches and
// returns it with its index.
func (s *swarmProc) waitLog(timeout time.Duration, what string, from int, match func(logLine) bool) (logLine, int) {
	s.t.Helper()
	var got logLine
	s.waitOutput(timeout, what, func() bool {
		for ; from < len(s.logs); from++ {
			if match(s.logs[from]) {
				got = s.logs[from]
				return true
			}
		}
		return false
	})
	return got, from
}

// waitOutput is every wait on the output: it waits until check, run under
// s.mu over what has been collected, holds. It fails the test when the
// deadline passes, or when the process has exited and check still does not
// hold over everything it wrote (exited is closed after both readers are
// done, so that last check sees all of it).
func (s *swarmProc) waitOutput(timeout time.Duration, what string, check func() bool) {
	s.t.Helper()
	deadline := time.After(timeout)
	for {
		s.mu.Lock()
		ok := check()
		ch := s.changed
		s.mu.Unlock()
		if ok {
			return
		}
		select {
		case <-ch:
		case <-s.exited:
			s.mu.Lock()
			ok := check()
			s.mu.Unlock()
			if !ok {
				s.t.Fatalf("swarm exited (code %d) before: %s", s.exitCode(), what)
			}
			return
		case <-deadline:
			s.t.Fatalf("timed out after %s waiting for: %s", timeout, what)
		}
	}
}

// logCount is how many log lines there are now: a starting index for waitLog.
func (s *swarmProc) logCount() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.logs)
}

// matching returns every log line that matches.
func (s *swarmProc) matching(match func(logLine) bool) []logLine {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []logLine
	for _, l := range s.logs {
		if match(l) {
			out = append(out, l)
		}
	}
	return out
}

// stdoutLines returns the stdout lines so far.
func (s *swarmProc) stdoutLines() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.stdout...)
}

// waitStdout waits until pred holds over the stdout lines so far.
func (s *swarmProc) waitStdout(timeout time.Duration, what string, pred func([]string) bool) {
	s.t.Helper()
	s.waitOutput(timeout, what, func() bool { return pred(s.stdout) })
}

// waitOther waits until some non-JSON stderr line (a goroutine dump, say)
// matches, and returns it.
func (s *swarmProc) waitOther(timeout time.Duration, what string, match func(string) bool) string {
	s.t.Helper()
	var got string
	from := 0
	s.waitOutput(timeout, what, func() bool {
		for ; from < len(s.other); from++ {
			if match(s.other[from]) {
				got = s.other[from]
				return true
			}
		}
		return false
	})
	return got
}

// otherLines returns the non-JSON stderr lines so far.
func (s *swarmProc) otherLines() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.other...)
}

// logged is the one log predicate: it matches a line whose event (msg) is
// msg and whose fields hold the given values, given as key, value pairs;
// an int value is compared with l.int(key), a string with l.str(key). A
// field left out may hold anything: logged("swarm.node.exited", "role",
// "supervisor", "node", 1) is the supervisor's line for node 1's death,
// logged("app.stopped") any side's.
func logged(msg string, fields ...any) func(logLine) bool {
	if len(fields)%2 != 0 {
		panic(fmt.Sprintf("logged(%q): fields %v are not key, value pairs", msg, fields))
	}
	for i := 0; i < len(fields); i += 2 {
		if _, ok := fields[i].(string); !ok {
			panic(fmt.Sprintf("logged(%q): key %v is not a string", msg, fields[i]))
		}
		switch fields[i+1].(type) {
		case int, string:
		default:
			panic(fmt.Sprintf("logged(%q): value %v of %v is neither an int nor a string", msg, fields[i+1], fields[i]))
		}
	}
	return func(l logLine) bool {
		if l.msg() != msg {
			return false
		}
		for i := 0; i < len(fields); i += 2 {
			key := fields[i].(string)
			if v, ok := fields[i+1].(int); ok && l.int(key) != v {
				return false
			}
			if v, ok := fields[i+1].(string); ok && l.str(key) != v {
				return false
			}
		}
		return true
	}
}

// waitNodesReady waits until every node 0..n-1 has logged after_fork from
// its own side (it has installed its signal handlers and reported once),
// counting from log index from. It returns node id -> pid.
func (s *swarmProc) waitNodesReady(n int, from int) map[int]int {
	s.t.Helper()
	pids := map[int]int{}
	ready := logged("swarm.node.after_fork", "role", "node")
	for len(pids) < n {
		l, i := s.waitLog(15*time.Second, fmt.Sprintf("%d nodes ready", n), from, func(l logLine) bool {
			_, seen := pids[l.int("node")]
			return ready(l) && !seen
		})
		pids[l.int("node")] = l.int("pid")
		from = i + 1
	}
	return pids
}

// nodeReady waits for node id's own after_fork line (it has installed its
// signal handlers and reported once) from log index from, and returns its pid.
func (s *swarmProc) nodeReady(id, from int) int {
	s.t.Helper()
	l, _ := s.waitLog(15*time.Second, fmt.Sprintf("node %d ready", id), from,
		logged("swarm.node.after_fork", "role", "node", "node", id))
	return l.int("pid")
}

// waitQuiet waits for node id, running as pid, to log app.quiet.
func (s *swarmProc) waitQuiet(id, pid, from int) {
	s.t.Helper()
	s.waitLog(10*time.Second, fmt.Sprintf("node %d (pid %d) quiet", id, pid), from,
		logged("app.quiet", "role", "node", "node", id, "pid", pid))
}

// waitStopAndReap waits for the supervisor to stop node id, running as
// pid, for status (its stopping line, within timeout) and to reap it (its
// exited line, within 10 s more), both counted from log index 0; it returns
// the exited line and its index.
func (s *swarmProc) waitStopAndReap(id, pid, status int, timeout time.Duration) (logLine, int) {
	s.t.Helper()
	stopping, _ := s.waitLog(timeout, fmt.Sprintf("node %d stopping with status %d", id, status), 0,
		logged("swarm.manager.stopping", "role", "supervisor", "node", id))
	if stopping.int("status") != status || stopping.int("node_pid") != pid {
		s.t.Fatalf("stopping line %v, want status %d for pid %d", stopping, status, pid)
	}
	exited, i := s.waitLog(10*time.Second, fmt.Sprintf("node %d exited", id), 0,
		logged("swarm.node.exited", "role", "supervisor", "node", id))
	if exited.int("node_pid") != pid {
		s.t.Fatalf("exited line %v, want pid %d", exited, pid)
	}
	return exited, i
}

// handlerStarted waits for node id's handler.started line from log index
// from and returns the handler's pid.
func (s *swarmProc) handlerStarted(id, from int) (pid, idx int) {
	s.t.Helper()
	l, i := s.waitLog(20*time.Second, fmt.Sprintf("node %d handler started", id), from,
		logged("handler.started", "role", "node", "node", id))
	return l.int("handler_pid"), i
}

// countHandled adds up the done counts of the app.batch lines from log
// index next on, and returns the new index and sum.
func (s *swarmProc) countHandled(next, sum int) (int, int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for ; next < len(s.logs); next++ {
		if logged("app.batch")(s.logs[next]) {
			sum += s.logs[next].int("done")
		}
	}
	return next, sum
}

// The one log predicate matches on the event and on every field it names,
// and a field it names but the line lacks is a mismatch, never a match.
func TestLoggedMatchesEventAndEveryField(t *testing.T) {
	line := logLine{"msg": "swarm.node.exited", "role": "supervisor", "node": float64(1), "exit": "exit 0"}
	for _, tc := range []struct {
		match func(logLine) bool
		want  bool
	}{
		{logged("swarm.node.exited"), true},
		{logged("swarm.node.exited", "role", "supervisor", "node", 1), true},
		{logged("swarm.node.exited", "node", 1, "exit", "exit 0"), true},
		{logged("swarm.manager.after_fork", "node", 1), false},
		{logged("swarm.node.exited", "role", "node"), false},
		{logged("swarm.node.exited", "node", 0), false},
		{logged("swarm.node.exited", "exit", "exit 1"), false},
		{logged("swarm.node.exited", "pid", 0), false},
		{logged("swarm.node.exited", "reason", ""), true}, // str of a missing field is ""
	} {
		if got := tc.match(line); got != tc.want {
			t.Errorf("match %v = %v, want %v", line, got, tc.want)
		}
	}
}
