//go:build linux

package main

// The test harness: build the real binary once, run it against an
// in-process kfake broker, read its JSON log lines, and wait on conditions
// with deadlines. Every process a test starts is in its own process group,
// which cleanup kills whole, even when the test fails.

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
)

// swarmBin is the binary under test, built by TestMain.
var swarmBin string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "swarm-test-")
	if err != nil {
		fmt.Fprintln(os.Stderr, "make temp dir:", err)
		os.Exit(1)
	}
	swarmBin = filepath.Join(dir, "swarm")
	args := []string{"build", "-o", swarmBin}
	env := os.Environ()
	if raceEnabled {
		args = append(args, "-race")
	} else {
		env = append(env, "CGO_ENABLED=0")
	}
	build := exec.Command("go", append(args, ".")...)
	build.Env = env
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "build swarm binary:", err)
		os.RemoveAll(dir)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// newBroker starts a one-broker kfake cluster on a random loopback port.
// Group session timeouts down to 100 ms are allowed so tests stay fast.
func newBroker(t testing.TB, partitions int32, topics ...string) (*kfake.Cluster, string) {
	t.Helper()
	c, err := kfake.NewCluster(
		kfake.NumBrokers(1),
		kfake.SeedTopics(partitions, topics...),
		kfake.GroupMinSessionTimeout(100*time.Millisecond),
	)
	if err != nil {
		t.Fatalf("start kfake: %v", err)
	}
	t.Cleanup(c.Close)
	return c, c.ListenAddrs()[0]
}

// produce writes n records with keys "0".."n-1" and 100-byte values,
// round-robin over partitions, and waits for every ack.
func produce(t testing.TB, addr, topic string, n int) {
	t.Helper()
	produceKeys(t, addr, topic, 0, n)
}

// produceKeys is produce with keys first..first+n-1, for a second batch
// that must be told apart from the first.
func produceKeys(t testing.TB, addr, topic string, first, n int) {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(addr), kgo.DefaultProduceTopic(topic),
		kgo.RecordPartitioner(kgo.RoundRobinPartitioner()), kgo.ProducerLinger(time.Millisecond))
	if err != nil {
		t.Fatalf("producer: %v", err)
	}
	defer cl.Close()
	val := bytes.Repeat([]byte("v"), 100)
	var mu sync.Mutex
	var firstErr error
	for i := first; i < first+n; i++ {
		cl.Produce(context.Background(), &kgo.Record{Key: []byte(strconv.Itoa(i)), Value: val}, func(_ *kgo.Record, err error) {
			if err != nil {
				mu.Lock()
				if firstErr == nil {
					firstErr = err
				}
				mu.Unlock()
			}
		})
	}
	if err := cl.Flush(context.Background()); err != nil {
		t.Fatalf("flush: %v", err)
	}
	if firstErr != nil {
		t.Fatalf("produce: %v", firstErr)
	}
}

// logLine is one JSON log line of the supervisor or a node.
type logLine map[string]any

func (l logLine) msg() string  { s, _ := l["msg"].(string); return s }
func (l logLine) role() string { s, _ := l["role"].(string); return s }
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
func (l logLine) str(key string) string { s, _ := l[key].(string); return s }
func (l logLine) time() time.Time {
	ts, _ := time.Parse(time.RFC3339Nano, l.str("time"))
	return ts
}

// swarmProc is one running swarm binary with its output collected.
type swarmProc struct {
	t    testing.TB
	cmd  *exec.Cmd
	pgid int

	mu       sync.Mutex
	logs     []logLine
	stdout   []string
	other    []string // stderr lines that are not JSON (dumps, garbage)
	changed  chan struct{}
	exited   chan struct{}
	stopOnce sync.Once
	code     int
	tap      func(line string, at time.Time) // see startTapped
}

// fastArgs are settings that make supervision observable in test time.
var fastArgs = []string{
	"-session-timeout=1s", "-report-interval=100ms", "-node-report-timeout=1s",
	"-node-restart-timeout=200ms", "-shutdown-timeout=2s",
}

// startSwarm runs the binary with JSON logs in a new process group.
func startSwarm(t testing.TB, args ...string) *swarmProc {
	t.Helper()
	return startSwarmEnv(t, nil, args...)
}

func startSwarmEnv(t testing.TB, env []string, args ...string) *swarmProc {
	t.Helper()
	return startWrapped(t, env, nil, args...)
}

// startWrapped runs the binary under a wrapper command (unshare, say):
// wrapper[0] wrapper[1:]... swarm args...
func startWrapped(t testing.TB, env, wrapper []string, args ...string) *swarmProc {
	t.Helper()
	argv := append(append(append([]string(nil), wrapper...), swarmBin, "-log-format=json", "-instance-id=test"), args...)
	return startArgv(t, env, argv)
}

// startArgv runs argv (the swarm, or another program logging JSON such as
// the benchmark's baseline consumer) in a process group of its own, killed
// whole at cleanup, with its output collected for the waits.
func startArgv(t testing.TB, env, argv []string) *swarmProc {
	t.Helper()
	return startTapped(t, env, argv, nil)
}

// startTapped is startArgv with every stdout line also handed to tap with
// the moment it was read (the end-to-end benchmarks time records by it).
func startTapped(t testing.TB, env, argv []string, tap func(line string, at time.Time)) *swarmProc {
	t.Helper()
	cmd := exec.Command(argv[0], argv[1:]...)
	// The race runtime sleeps atexit_sleep_ms (1 s by default) before a
	// clean exit, which would turn a node's graceful exit into an overrun
	// of its shutdown budget whenever -shutdown-timeout is near 1 s.
	gorace := strings.TrimSpace(os.Getenv("GORACE") + " atexit_sleep_ms=0")
	cmd.Env = append(append(os.Environ(), "GORACE="+gorace), env...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", argv[0], err)
	}
	s := &swarmProc{t: t, cmd: cmd, pgid: cmd.Process.Pid, changed: make(chan struct{}), exited: make(chan struct{}), tap: tap}
	var readers sync.WaitGroup
	readers.Add(2)
	go func() { defer readers.Done(); s.readStderr(stderr) }()
	go func() { defer readers.Done(); s.readStdout(stdout) }()
	go func() {
		readers.Wait()
		_ = cmd.Wait()
		s.mu.Lock()
		s.code = cmd.ProcessState.ExitCode()
		s.mu.Unlock()
		close(s.exited)
	}()
	t.Cleanup(s.stop)
	return s
}

// stop kills the process group and checks it is gone, once: at cleanup, or
// earlier when a test is done with the process (a second kill of a process
// group could hit a recycled pgid).
func (s *swarmProc) stop() { s.stopOnce.Do(s.cleanup) }

// recvKey is where readStderr stamps, on every log line, the moment the
// test read it: an upper bound for a log timestamp cut to the millisecond.
const recvKey = "_recv"

// recvTime is when the test read the log line.
func recvTime(l logLine) time.Time { t, _ := l[recvKey].(time.Time); return t }

func (s *swarmProc) notify() {
	close(s.changed)
	s.changed = make(chan struct{})
}

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

// cleanup kills the whole process group and checks nothing of it is left.
func (s *swarmProc) cleanup() {
	_ = syscall.Kill(-s.pgid, syscall.SIGKILL)
	select {
	case <-s.exited:
	case <-time.After(10 * time.Second):
		s.t.Errorf("swarm %d did not exit after SIGKILL", s.pgid)
	}
	waitFor(s.t, 5*time.Second, "process group to be gone", func() bool { return len(groupPids(s.pgid)) == 0 })
	if s.t.Failed() {
		s.dump()
	}
}

// dump prints the collected output, for a failing test.
func (s *swarmProc) dump() {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := len(s.logs)
	from := max(0, n-150)
	s.t.Logf("last %d of %d log lines of swarm %d:", n-from, n, s.pgid)
	for _, l := range s.logs[from:] {
		b, _ := json.Marshal(l)
		s.t.Log(string(b))
	}
	for i, l := range s.other {
		if i > 40 {
			break
		}
		s.t.Log("stderr:", l)
	}
}

// waitLog waits until some log line (counting from index from) matches and
// returns it with its index.
func (s *swarmProc) waitLog(timeout time.Duration, what string, from int, match func(logLine) bool) (logLine, int) {
	s.t.Helper()
	deadline := time.After(timeout)
	for {
		s.mu.Lock()
		for i := from; i < len(s.logs); i++ {
			if match(s.logs[i]) {
				l := s.logs[i]
				s.mu.Unlock()
				return l, i
			}
		}
		from = len(s.logs)
		ch := s.changed
		s.mu.Unlock()
		select {
		case <-ch:
		case <-s.exited:
			s.mu.Lock()
			for i := from; i < len(s.logs); i++ {
				if match(s.logs[i]) {
					l := s.logs[i]
					s.mu.Unlock()
					return l, i
				}
			}
			s.mu.Unlock()
			s.t.Fatalf("swarm exited (code %d) before: %s", s.exitCode(), what)
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

func (s *swarmProc) stdoutLines() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.stdout...)
}

// waitStdout waits until pred holds over the stdout lines so far.
func (s *swarmProc) waitStdout(timeout time.Duration, what string, pred func([]string) bool) {
	s.t.Helper()
	deadline := time.After(timeout)
	for {
		s.mu.Lock()
		ok := pred(s.stdout)
		ch := s.changed
		s.mu.Unlock()
		if ok {
			return
		}
		select {
		case <-ch:
		case <-s.exited:
			s.t.Fatalf("swarm exited (code %d) before: %s", s.exitCode(), what)
		case <-deadline:
			s.t.Fatalf("timed out after %s waiting for: %s", timeout, what)
		}
	}
}

// waitOther waits until some non-JSON stderr line (a goroutine dump, say)
// matches, and returns it.
func (s *swarmProc) waitOther(timeout time.Duration, what string, match func(string) bool) string {
	s.t.Helper()
	deadline := time.After(timeout)
	from := 0
	for {
		s.mu.Lock()
		for ; from < len(s.other); from++ {
			if match(s.other[from]) {
				l := s.other[from]
				s.mu.Unlock()
				return l
			}
		}
		ch := s.changed
		s.mu.Unlock()
		select {
		case <-ch:
		case <-s.exited:
			s.t.Fatalf("swarm exited (code %d) before: %s", s.exitCode(), what)
		case <-deadline:
			s.t.Fatalf("timed out after %s waiting for: %s", timeout, what)
		}
	}
}

// otherLines returns the non-JSON stderr lines so far.
func (s *swarmProc) otherLines() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.other...)
}

// printed matches the print handler's line for a record of topic orders
// produced by produce: partition, offset, key.
var printed = regexp.MustCompile(`^orders \[(\d+)\] at offset (\d+): key (\d+): `)

// collectPrinted is a waitStdout predicate: it adds the keys of new print
// handler lines to seen and holds once seen has want keys.
func collectPrinted(seen map[int]bool, want int) func([]string) bool {
	parsed := 0
	return func(lines []string) bool {
		for _, l := range lines[parsed:] {
			if m := printed.FindStringSubmatch(l); m != nil {
				k, _ := strconv.Atoi(m[3])
				seen[k] = true
			}
		}
		parsed = len(lines)
		return len(seen) >= want
	}
}

// afterFork matches the supervisor's log line for a started node.
func afterFork(node int) func(logLine) bool {
	return func(l logLine) bool {
		return l.msg() == "swarm.manager.after_fork" && (node < 0 || l.int("node") == node)
	}
}

// msgIs matches a log message, optionally for one node (node < 0: any).
func msgIs(msg string, node int) func(logLine) bool {
	return func(l logLine) bool { return l.msg() == msg && (node < 0 || l.int("node") == node) }
}

// waitNodesReady waits until every node 0..n-1 has logged after_fork from
// its own side (it has installed its signal handlers and reported once),
// counting from log index from. It returns node id -> pid.
func (s *swarmProc) waitNodesReady(n int, from int) map[int]int {
	s.t.Helper()
	pids := map[int]int{}
	for len(pids) < n {
		l, i := s.waitLog(15*time.Second, fmt.Sprintf("%d nodes ready", n), from, func(l logLine) bool {
			_, seen := pids[l.int("node")]
			return l.msg() == "swarm.node.after_fork" && l.role() == "node" && !seen
		})
		pids[l.int("node")] = l.int("pid")
		from = i + 1
	}
	return pids
}

func (s *swarmProc) signal(sig syscall.Signal) {
	s.t.Helper()
	if err := s.cmd.Process.Signal(sig); err != nil {
		s.t.Fatalf("signal swarm: %v", err)
	}
}

// waitExit waits for the supervisor to exit and returns its exit code.
func (s *swarmProc) waitExit(timeout time.Duration) int {
	s.t.Helper()
	select {
	case <-s.exited:
		return s.exitCode()
	case <-time.After(timeout):
		s.t.Fatalf("swarm did not exit within %s", timeout)
		return -1
	}
}

func (s *swarmProc) exitCode() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.code
}

// waitFor polls cond until it holds or the deadline passes. For conditions
// no event announces (a pid gone from /proc), polled every 5 ms.
func waitFor(t testing.TB, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", timeout, what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// procsWhere lists the processes in /proc for which keep holds (zombies
// included: callers decide).
func procsWhere(keep func(pid int, st statFields) bool) []int {
	var out []int
	ents, _ := os.ReadDir("/proc")
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		if st, err := procStat(pid); err == nil && keep(pid, st) {
			out = append(out, pid)
		}
	}
	return out
}

// groupPids lists live (non-zombie) processes in process group pgid.
func groupPids(pgid int) []int {
	return procsWhere(func(_ int, st statFields) bool { return st.pgrp == pgid && st.state != "Z" })
}

// childrenOf lists the children of pid, zombies included.
func childrenOf(pid int) []int {
	return procsWhere(func(_ int, st statFields) bool { return st.ppid == pid })
}

// statFields is what the tests read from /proc/PID/stat.
type statFields struct {
	state string
	ppid  int
	pgrp  int
}

func procStat(pid int) (statFields, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return statFields{}, err
	}
	// comm may hold spaces and parentheses: split after the last ')'.
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	if i < 0 {
		return statFields{}, fmt.Errorf("parse /proc/%d/stat", pid)
	}
	f := strings.Fields(s[i+1:])
	if len(f) < 3 {
		return statFields{}, fmt.Errorf("parse /proc/%d/stat", pid)
	}
	ppid, _ := strconv.Atoi(f[1])
	pgrp, _ := strconv.Atoi(f[2])
	return statFields{state: f[0], ppid: ppid, pgrp: pgrp}, nil
}

// alive says whether pid exists and is not a zombie.
func alive(pid int) bool {
	st, err := procStat(pid)
	return err == nil && st.state != "Z"
}

// fdCount counts the open fds of pid.
func fdCount(t testing.TB, pid int) int {
	t.Helper()
	ents, err := os.ReadDir(fmt.Sprintf("/proc/%d/fd", pid))
	if err != nil {
		t.Fatalf("read fds of %d: %v", pid, err)
	}
	return len(ents)
}
