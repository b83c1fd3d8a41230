//go:build linux

package main

import (
	"io"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// demoProgressLine is a plain (non-terminal) progress line with per-node
// counts.
var demoProgressLine = regexp.MustCompile(`^progress: (\d+)/(\d+) records .* nodes((?: \d+:\d+)+)$`)

// The demo runs its own broker, fills it, consumes everything with two real
// node processes, serves its status page on a free loopback port and says
// where, SIGKILLs node 1 a third of the way and reports how long its
// partitions stood still, stops itself and exits 0 with a summary whose
// per-node counts add up to the total, leaving no process behind. Enough
// records that the kill lands mid-run: commits come about once a second.
func TestDemoConsumesAllAndExits(t *testing.T) {
	s := startSwarm(t, "-demo", "-demo-records=80000", "-nodes=2")
	var url string
	s.waitStdout(60*time.Second, "the status page's URL", func(lines []string) bool {
		for _, l := range lines {
			if m := demoURLLine.FindStringSubmatch(l); m != nil {
				url = m[1]
				return true
			}
		}
		return false
	})
	demoGetOK(t, url)
	demoGetOK(t, url+"status")
	if code := s.waitExit(120 * time.Second); code != 0 {
		t.Fatalf("exit code %d, want 0; stdout:\n%s", code, strings.Join(s.stdoutLines(), "\n"))
	}
	out := s.stdoutLines()
	all := strings.Join(out, "\n")
	for _, l := range out {
		if !strings.HasPrefix(l, "progress: ") {
			t.Log(l)
		}
	}
	if !demoHasLine(out, regexp.MustCompile(`^swarm demo: all 80000 records consumed in [0-9.]+s \(\d+ records/s\) by 2 nodes, 1 restarts$`)) {
		t.Errorf("no summary of 80000 records consumed with one restart; stdout:\n%s", all)
	}
	if !demoHasLine(out, regexp.MustCompile(`^swarm demo: killed node 1 \(SIGKILL\) at \d+ records; its \d+ partitions.* stood still [0-9.]+s \(longest\), replaced in [0-9.]+ ms$`)) {
		t.Errorf("no kill line with a stand-still and a replacement time; stdout:\n%s", all)
	}
	if got := demoNodeSum(t, out); got != 80000 {
		t.Errorf("per-node records sum to %d, want 80000; stdout:\n%s", got, all)
	}
	if strings.Contains(all, "not attributed") || strings.Contains(all, "before any node was seen") {
		t.Errorf("records left unattributed; stdout:\n%s", all)
	}
	s.checkNoneLeft(nil)
	// Logs default to warn in the demo: the kill's exit is all it has to say.
	got := s.matching(func(l logLine) bool {
		return l.msg() != "swarm.node.exited" || l.int("node") != 1 || l.str("exit") != "signal SIGKILL"
	})
	if len(got) > 0 {
		t.Errorf("%d log lines at warn or above besides the kill, first: %v", len(got), got[0])
	}
}

// demoURLLine is the demo's line naming its status page.
var demoURLLine = regexp.MustCompile(`^swarm demo: status page (http://127\.0\.0\.1:\d+/)$`)

// demoNodeLine is a summary line of one node, its records in group 2.
var demoNodeLine = regexp.MustCompile(`^  node (\d+): (\d+) records.*, \d+ restarts$`)

// demoGetOK GETs url until it answers 200, within a deadline.
func demoGetOK(t *testing.T, url string) {
	t.Helper()
	cl := &http.Client{Timeout: 2 * time.Second}
	waitFor(t, 10*time.Second, "GET "+url+" to answer 200", func() bool {
		resp, err := cl.Get(url)
		if err != nil {
			return false
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK
	})
}

// demoNodeSum adds the summary's per-node records; it fails the test
// without a line for each of nodes 0 and 1.
func demoNodeSum(t *testing.T, out []string) int {
	t.Helper()
	seen := map[string]bool{}
	sum := 0
	for _, l := range out {
		if m := demoNodeLine.FindStringSubmatch(l); m != nil {
			seen[m[1]] = true
			n, _ := strconv.Atoi(m[2])
			sum += n
		}
	}
	if !seen["0"] || !seen["1"] {
		t.Errorf("summary lines for nodes %v, want 0 and 1", seen)
	}
	return sum
}

// Records committed before any node was seen holding their partition are
// credited to the first node seen holding it; the rest to the holder at
// the previous look, else the current one: per node they add up.
func TestDemoAttributeCreditsEveryRecord(t *testing.T) {
	a, b := topicPartition{"t", 0}, topicPartition{"t", 1}
	p := &demoProgress{owner: map[topicPartition]int{}, perNode: make([]int64, 2), pending: map[topicPartition]int64{}}
	p.attribute(a, 5, map[topicPartition]int{}) // nobody seen: waits
	p.attribute(b, 7, map[topicPartition]int{b: 1})
	if p.perNode[0]+p.perNode[1] != 7 || p.pending[a] != 5 {
		t.Fatalf("after one look: per node %v, pending %v", p.perNode, p.pending)
	}
	p.owner[b] = 1
	p.attribute(b, 3, map[topicPartition]int{b: 0}) // moved: the previous holder committed
	if p.perNode[1] != 10 {
		t.Errorf("node 1 has %d, want 10", p.perNode[1])
	}
	p.seeOwners(map[topicPartition]int{a: 0, b: 0})
	if p.perNode[0] != 5 || p.perNode[0]+p.perNode[1] != 15 || len(p.pending) != 0 {
		t.Errorf("after a's holder was seen: per node %v, pending %v; want 5 and 10, none pending", p.perNode, p.pending)
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

// The kill hook sends one KILL, through the node's pidfd, only once it is
// wanted and the node runs, and reports the node's next start.
func TestDemoKillerKillsOnceThroughThePidfd(t *testing.T) {
	now := time.Unix(1000, 0)
	var sent []int
	m := &manager{nodes: []*node{newNode(0), newNode(1)}, sys: superSys{
		now: func() time.Time { return now },
		signal: func(pidfd int, sig unix.Signal) error {
			if sig != unix.SIGKILL {
				t.Errorf("signal %v, want SIGKILL", sig)
			}
			sent = append(sent, pidfd)
			return nil
		},
	}}
	n := m.nodes[1]
	n.state, n.pidfd, n.startedAt = nodeRunning, 41, now.Add(-time.Minute)
	k := newDemoKiller(2)
	k.afterTurn(m)
	if len(sent) != 0 {
		t.Fatalf("killed before it was wanted")
	}
	k.want.Store(true)
	k.afterTurn(m)
	k.afterTurn(m) // the node is not yet reaped: no second KILL
	if len(sent) != 1 || sent[0] != 41 || len(k.out) != 1 {
		t.Fatalf("KILLs to pidfds %v with %d reports, want one to 41", sent, len(k.out))
	}
	if ev := <-k.out; ev.replaced || !ev.at.Equal(now) || ev.err != nil {
		t.Errorf("kill report %+v", ev)
	}
	now = now.Add(5 * time.Millisecond)
	n.pidfd, n.startedAt = 42, now // reaped and started again
	k.afterTurn(m)
	if ev := <-k.out; !ev.replaced || ev.at.Sub(k.at) != 5*time.Millisecond {
		t.Errorf("replacement report %+v, want 5ms after the kill", ev)
	}
	if len(sent) != 1 {
		t.Errorf("KILLs to pidfds %v, want only the first incarnation's", sent)
	}
}
