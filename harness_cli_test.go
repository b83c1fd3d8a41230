//go:build linux

package main

// The test harness for runs that end on their own (a usage error, a bad
// config): run the binary to completion and check the one line it leaves.

import (
	"encoding/json"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// cliResult is one finished run of the binary.
type cliResult struct {
	code    int
	stdout  string
	stderr  string
	elapsed time.Duration
	left    []int // live processes of its process group after it exited
}

// swarmFreeEnv is the test's environment without any SWARM_* variable, so
// a stray setting in the shell that runs the tests cannot change a case.
func swarmFreeEnv() []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "SWARM_") {
			env = append(env, kv)
		}
	}
	return env
}

// maxErrorLineBytes is the longest error line a user may be shown,
// "swarm: " and the usage hint included: whatever the input, a few hundred
// bytes.
const maxErrorLineBytes = 512

// assertExitLine checks that the run exited with code and left exactly
// one short error line naming every want (assertOneErrorLine).
func assertExitLine(t *testing.T, r cliResult, code int, want ...string) {
	t.Helper()
	if r.code != code {
		t.Errorf("exit code %d, want %d", r.code, code)
	}
	assertOneErrorLine(t, r, want...)
}

// assertOneErrorLine checks stderr is exactly one short "swarm: ..." line
// naming every want, that nothing was logged or printed and nothing is
// left.
func assertOneErrorLine(t *testing.T, r cliResult, want ...string) {
	t.Helper()
	if len(r.stderr) > maxErrorLineBytes {
		// Shown clipped: the point is that it is too long.
		t.Errorf("stderr is %d bytes, want at most %d: %.300q...", len(r.stderr), maxErrorLineBytes, r.stderr)
	}
	if r.stdout != "" {
		t.Errorf("stdout not empty: %q", r.stdout)
	}
	if !strings.HasSuffix(r.stderr, "\n") || strings.Count(r.stderr, "\n") != 1 {
		t.Errorf("stderr is not exactly one line: %q", r.stderr)
	}
	line := strings.TrimSuffix(r.stderr, "\n")
	if !strings.HasPrefix(line, "swarm: ") {
		t.Errorf("stderr line does not start with %q: %q", "swarm: ", line)
	}
	for _, w := range want {
		if !strings.Contains(line, w) {
			t.Errorf("stderr line does not name %q: %q", w, line)
		}
	}
	var l logLine
	if json.Unmarshal([]byte(line), &l) == nil || strings.Contains(line, "msg=") || strings.Contains(line, "level=") {
		t.Errorf("stderr holds a log line, so the swarm got as far as logging: %q", line)
	}
	if len(r.left) > 0 {
		t.Errorf("processes left in its group after exit: %v", r.left)
	}
}

// runCLI runs the binary to completion in a process group of its own, with
// stdout and stderr in files (so a leftover child holding them cannot block
// the wait), and reports what is left of the group once it has exited.
func runCLI(t *testing.T, env []string, args ...string) cliResult {
	t.Helper()
	return runCLIStdin(t, nil, env, args...)
}

// runCLIStdin is runCLI with stdin read from in (a pipe); nil: /dev/null.
func runCLIStdin(t *testing.T, in io.Reader, env []string, args ...string) cliResult {
	t.Helper()
	dir := t.TempDir()
	outF, err := os.Create(filepath.Join(dir, "stdout"))
	if err != nil {
		t.Fatal(err)
	}
	defer outF.Close()
	errF, err := os.Create(filepath.Join(dir, "stderr"))
	if err != nil {
		t.Fatal(err)
	}
	defer errF.Close()

	cmd := exec.Command(swarmBin, args...)
	cmd.Env = append(swarmFreeEnv(), env...)
	if raceEnabled {
		// A -race binary sleeps 1 s on every exit 0 to let reports out; the
		// cases here have nothing to report and there are many of them.
		cmd.Env = append(cmd.Env, "GORACE="+strings.TrimSpace(os.Getenv("GORACE")+" atexit_sleep_ms=0"))
	}
	cmd.Stdin, cmd.Stdout, cmd.Stderr = in, outF, errF
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	start := time.Now()
	if err := cmd.Start(); err != nil {
		t.Fatalf("start swarm: %v", err)
	}
	pgid := cmd.Process.Pid
	// Only ever needed when the test fails: whatever the case spawned goes.
	t.Cleanup(func() {
		if len(groupPids(pgid)) > 0 {
			_ = syscall.Kill(-pgid, syscall.SIGKILL)
			waitFor(t, 5*time.Second, "process group to be gone", func() bool { return len(groupPids(pgid)) == 0 })
		}
	})
	exited := make(chan struct{})
	go func() { _ = cmd.Wait(); close(exited) }()
	select {
	case <-exited:
	case <-time.After(10 * time.Second):
		_ = syscall.Kill(-pgid, syscall.SIGKILL)
		<-exited
		t.Fatalf("swarm %q did not exit within 10s", args)
	}
	r := cliResult{code: cmd.ProcessState.ExitCode(), elapsed: time.Since(start), left: groupPids(pgid)}
	// Read after the group check: nothing can still be writing.
	b, _ := os.ReadFile(outF.Name())
	r.stdout = string(b)
	b, _ = os.ReadFile(errF.Name())
	r.stderr = string(b)
	return r
}

// writeConfig writes v (a JSON value, or a string taken as the file's
// text) to a file in a temporary directory and returns its path.
func writeConfig(t testing.TB, v any) string {
	t.Helper()
	var b []byte
	switch x := v.(type) {
	case string:
		b = []byte(x)
	default:
		var err error
		if b, err = json.Marshal(v); err != nil {
			t.Fatal(err)
		}
	}
	p := filepath.Join(t.TempDir(), "routes.json")
	if err := os.WriteFile(p, b, 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// writeTestFile writes content to dir/name and returns the path.
func writeTestFile(t *testing.T, dir, name, content string) string {
	t.Helper()
	path := filepath.Join(dir, name)
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// fileLines reads path's lines (none when it does not exist yet).
func fileLines(t testing.TB, path string) []string {
	t.Helper()
	b, err := os.ReadFile(path)
	if os.IsNotExist(err) {
		return nil
	}
	if err != nil {
		t.Fatal(err)
	}
	return strings.Split(strings.TrimSuffix(string(b), "\n"), "\n")
}
