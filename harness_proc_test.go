//go:build linux

package main

// The test harness, the process side: TestMain builds the real binary once;
// a test starts it (or another program logging JSON) in a process group of
// its own, which cleanup kills whole and checks gone, even when the test
// fails. swarmArgs is the one builder of a test swarm's command line.
// The other harness files: harness_log_test.go (the log tap and the one log
// predicate, logged), harness_print_test.go (the print handler's lines),
// harness_kafka_test.go (kfake, producing, admin reads),
// harness_procfs_test.go (/proc readers), harness_cli_test.go (runs that
// end in an error line), harness_bench_test.go (measuring and reporting for
// the benchmarks), harness_flow_test.go (the per-partition clock of what
// users feel), harness_handlerlog_test.go (testdata/handler's -log lines).

import (
	"encoding/json"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// swarmBin is the binary under test, built by TestMain.
var swarmBin string

// TestMain builds the binary under test once, with -race when the tests
// run with it, into a directory it removes at the end.
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

// freeze SIGSTOPs pid (a node made to hang) and waits until it is in state
// T.
func freeze(t *testing.T, pid int) {
	t.Helper()
	sendSig(t, pid, syscall.SIGSTOP)
	waitFor(t, time.Second, fmt.Sprintf("pid %d in state T", pid), func() bool {
		st, err := procStat(pid)
		return err == nil && st.state == "T"
	})
}

// checkNoneLeft checks, once the supervisor has exited, that none of the
// node pids is alive and nothing is left in its process group.
func (s *swarmProc) checkNoneLeft(pids map[int]int) {
	s.t.Helper()
	for id, pid := range pids {
		if alive(pid) {
			s.t.Errorf("node %d (pid %d) alive after the supervisor exited", id, pid)
		}
	}
	if left := groupPids(s.pgid); len(left) > 0 {
		s.t.Errorf("processes left in the group: %v", left)
	}
}

// swarmArgs is the one builder of a test swarm's flags: fastArgs, then a
// flag route on the broker at addr (topic orders, group g1; none when addr
// is "", for routes from -config or SWARM_* variables), then the test's
// own flags. Package flag keeps a flag's last value, so extra overrides
// any of these. The handler is the product's default (print) unless extra
// names one: -handler=... or a command after "--". (Benchmarks give every
// flag themselves: their figures are for the defaults they name.)
func swarmArgs(addr string, extra ...string) []string {
	args := append([]string{}, fastArgs...)
	if addr != "" {
		args = append(args, "-bootstrap="+addr, "-topics=orders", "-group=g1")
	}
	return append(args, extra...)
}

// swarmArgv is the command line of the binary under test: JSON logs (what
// the harness reads) and the static membership prefix "test" (members
// test_<node>_<route>, whatever the host), then args.
func swarmArgv(args ...string) []string {
	return append([]string{swarmBin, "-log-format=json", "-instance-id=test"}, args...)
}

// startSwarm runs the binary with JSON logs in a new process group.
func startSwarm(t testing.TB, args ...string) *swarmProc {
	t.Helper()
	return startSwarmEnv(t, nil, args...)
}

// startSwarmEnv is startSwarm with env added to the environment.
func startSwarmEnv(t testing.TB, env []string, args ...string) *swarmProc {
	t.Helper()
	return startWrapped(t, env, nil, args...)
}

// startWrapped runs the binary under a wrapper command (unshare, say):
// wrapper[0] wrapper[1:]... swarm args...
func startWrapped(t testing.TB, env, wrapper []string, args ...string) *swarmProc {
	t.Helper()
	return startArgv(t, env, append(append([]string(nil), wrapper...), swarmArgv(args...)...))
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

// signal sends sig to the supervisor.
func (s *swarmProc) signal(sig syscall.Signal) {
	s.t.Helper()
	if err := s.cmd.Process.Signal(sig); err != nil {
		s.t.Fatalf("signal swarm: %v", err)
	}
}

// stopGracefully sends TERM, the graceful stop most tests end with, and
// fails the test unless the swarm exits 0 within timeout.
func (s *swarmProc) stopGracefully(timeout time.Duration) {
	s.t.Helper()
	s.signal(syscall.SIGTERM)
	if code := s.waitExit(timeout); code != exitOK {
		s.t.Fatalf("exit code %d after TERM, want %d", code, exitOK)
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

// exitCode is the exit code once exited is closed.
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

// pid is the supervisor's own pid.
func (s *swarmProc) pid() int { return s.cmd.Process.Pid }

// sendSig sends sig to pid (a node, a handler) and fails the test if it
// cannot.
func sendSig(t *testing.T, pid int, sig syscall.Signal) {
	t.Helper()
	if err := syscall.Kill(pid, sig); err != nil {
		t.Fatalf("kill(%d, %v): %v", pid, sig, err)
	}
}

// handlerProgs are the test's handler commands, built once into the
// directory TestMain removes at the end.
var handlerProgs struct {
	once            sync.Once
	handler, answer string
	err             error
}

// handlerPrograms builds testdata/handler (scriptable) and testdata/answer
// (the trivial one) and returns their paths.
func handlerPrograms(t testing.TB) (handler, answer string) {
	t.Helper()
	handlerProgs.once.Do(func() {
		dir := filepath.Dir(swarmBin)
		for _, p := range []struct {
			name string
			out  *string
		}{{"handler", &handlerProgs.handler}, {"answer", &handlerProgs.answer}} {
			bin := filepath.Join(dir, "test-"+p.name)
			build := exec.Command("go", "build", "-o", bin, "./testdata/"+p.name)
			build.Env = append(os.Environ(), "CGO_ENABLED=0")
			if out, err := build.CombinedOutput(); err != nil {
				handlerProgs.err = fmt.Errorf("build testdata/%s: %v\n%s", p.name, err, out)
				return
			}
			*p.out = bin
		}
	})
	if handlerProgs.err != nil {
		t.Fatal(handlerProgs.err)
	}
	return handlerProgs.handler, handlerProgs.answer
}

// inRange fails the test unless lo <= d <= hi.
func inRange(t *testing.T, what string, d, lo, hi time.Duration) {
	t.Helper()
	if d < lo || d > hi {
		t.Errorf("%s: %v, want between %v and %v", what, d, lo, hi)
	} else {
		t.Logf("%s: %v (want %v..%v)", what, d, lo, hi)
	}
}

// freeAddr is a loopback address nothing listens on right now: a port for
// an -http flag, or a broker that cannot be reached.
func freeAddr(t testing.TB) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return addr
}
