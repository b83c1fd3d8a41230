//go:build linux

package main

import (
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// demoProgressLine is a plain (non-terminal) progress line with per-node
// counts.
var demoProgressLine = regexp.MustCompile(`^progress: (\d+)/(\d+) records .* nodes((?: \d+:\d+)+)$`)

// The demo runs its own broker, fills it, consumes everything with two real
// node processes, stops itself and exits 0, leaving no process behind.
func TestDemoConsumesAllAndExits(t *testing.T) {
	s := startSwarm(t, "-demo", "-demo-records=3000", "-nodes=2")
	if code := s.waitExit(90 * time.Second); code != 0 {
		t.Fatalf("exit code %d, want 0; stdout:\n%s", code, strings.Join(s.stdoutLines(), "\n"))
	}
	out := s.stdoutLines()
	if !demoHasLine(out, regexp.MustCompile(`^swarm demo: all 3000 records consumed in [0-9.]+s \(\d+ records/s\) by 2 nodes, 0 restarts$`)) {
		t.Errorf("no summary of 3000 records consumed; stdout:\n%s", strings.Join(out, "\n"))
	}
	for _, id := range []string{"0", "1"} {
		if !demoHasLine(out, regexp.MustCompile(`^  node `+id+`: \d+ records, 0 restarts$`)) {
			t.Errorf("no summary line for node %s; stdout:\n%s", id, strings.Join(out, "\n"))
		}
	}
	s.checkNoneLeft(nil)
	// Logs default to warn in the demo: a clean run has nothing to say.
	if got := s.matching(func(logLine) bool { return true }); len(got) > 0 {
		t.Errorf("%d log lines at warn or above in a clean demo, first: %v", len(got), got[0])
	}
}

// Ctrl-C (INT to the whole foreground process group, as a terminal sends
// it) stops the demo midway: exit 0, a summary of what was committed, no
// process left.
func TestDemoCtrlCStopsCleanly(t *testing.T) {
	s := startSwarm(t, "-demo", "-demo-records=500000", "-nodes=2")
	// Wait until both nodes have committed something: the group has settled
	// (see demoProgress.run for why a stop inside a rebalance is slow).
	s.waitStdout(60*time.Second, "both nodes committing", func(lines []string) bool {
		for _, l := range lines {
			m := demoProgressLine.FindStringSubmatch(l)
			if m == nil {
				continue
			}
			busy := 0
			for _, f := range strings.Fields(m[3]) {
				if n, _ := strconv.Atoi(f[strings.IndexByte(f, ':')+1:]); n > 0 {
					busy++
				}
			}
			if busy == 2 {
				return true
			}
		}
		return false
	})
	if err := syscall.Kill(-s.pgid, syscall.SIGINT); err != nil {
		t.Fatalf("interrupt: %v", err)
	}
	if code := s.waitExit(30 * time.Second); code != 0 {
		t.Fatalf("exit code %d, want 0", code)
	}
	out := s.stdoutLines()
	if !demoHasLine(out, regexp.MustCompile(`^swarm demo: stopped at \d+ of 500000 records after [0-9.]+s`)) {
		t.Errorf("no summary of an interrupted demo; stdout:\n%s", strings.Join(out, "\n"))
	}
	s.checkNoneLeft(nil)
}

// demoHasLine says whether some line matches re.
func demoHasLine(lines []string, re *regexp.Regexp) bool {
	for _, l := range lines {
		if re.MatchString(l) {
			return true
		}
	}
	return false
}
