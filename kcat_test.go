//go:build linux

package main

// Interop with a second, independent Kafka client: kcat (librdkafka). What
// kcat produces, the swarm consumes; and the lines the swarm's print handler
// writes are exactly the lines kcat itself prints for the same topic with
// the same format, partition and offset included.

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// kcatFormat is kcat's -f for the print handler's line format.
const kcatFormat = "%t [%p] at offset %o: key %k: %s\n"

// needKcat returns kcat's path, or skips the test, loudly: a skipped
// interop test must be seen in the output, not only counted. (go test
// shows a passing package's output only with -v, so a CI that must run
// it sets KCAT_REQUIRED=1, which turns the skip into a failure.)
func needKcat(t *testing.T) string {
	t.Helper()
	path, err := exec.LookPath("kcat")
	if err != nil {
		msg := "kcat is not on PATH, so the interop test against a second Kafka client (librdkafka) did NOT run; " +
			"install it (Debian/Ubuntu: apt-get install -y kcat) to run it"
		if os.Getenv("KCAT_REQUIRED") == "1" {
			t.Fatal(msg + " (KCAT_REQUIRED=1)")
		}
		fmt.Fprintln(os.Stderr, "SKIP "+t.Name()+": "+msg)
		t.Skip(msg)
	}
	return path
}

// runKcat runs kcat to its end with stdin and returns its stdout.
func runKcat(t *testing.T, kcat, stdin string, args ...string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, kcat, args...)
	cmd.Stdin = strings.NewReader(stdin)
	var out, errOut strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &errOut
	if err := cmd.Run(); err != nil {
		t.Fatalf("kcat %q: %v\nstderr: %s", args, err, errOut.String())
	}
	return out.String()
}

// What kcat (librdkafka, a second client) produces, the swarm consumes, and
// the print handler's lines are exactly the lines kcat prints for the same
// records with the same format.
func TestPrintedLinesMatchKcatsOwn(t *testing.T) {
	kcat := needKcat(t)
	const topic, n = "interop", 500
	_, addr := newBroker(t, 3, topic)

	// kcat -P: one record per line, key before the first ':'.
	var in strings.Builder
	for i := 0; i < n; i++ {
		fmt.Fprintf(&in, "k%d:value %d, ünïcödé: with a colon\n", i, i)
	}
	start := time.Now()
	runKcat(t, kcat, in.String(), "-P", "-b", addr, "-t", topic, "-K", ":")
	t.Logf("kcat -P produced %d records in %s", n, time.Since(start).Round(time.Millisecond))

	s := startSwarm(t, swarmArgs(addr, "-nodes=2", "-topics="+topic, "-group=g-kcat")...)
	s.waitStdout(30*time.Second, fmt.Sprintf("all %d records kcat produced", n), func(lines []string) bool {
		return len(keysSeen(lines, topic)) == n
	})
	s.stopGracefully(20 * time.Second)
	got := s.stdoutLines()

	// kcat -C reads the same topic back in the same format: the two
	// clients must agree line for line (sorted: partitions interleave).
	out := runKcat(t, kcat, "", "-C", "-b", addr, "-t", topic, "-o", "beginning", "-e", "-q", "-f", kcatFormat)
	want := strings.Split(strings.TrimSuffix(out, "\n"), "\n")
	if len(want) != n {
		t.Fatalf("kcat -C read %d records, want %d", len(want), n)
	}
	sort.Strings(got)
	sort.Strings(want)
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		for i := 0; i < max(len(got), len(want)); i++ {
			var g, w string
			if i < len(got) {
				g = got[i]
			}
			if i < len(want) {
				w = want[i]
			}
			if g != w {
				t.Fatalf("the swarm's output differs from kcat's at sorted line %d (of %d vs %d):\nswarm: %q\nkcat:  %q", i, len(got), len(want), g, w)
			}
		}
	}
	for _, p := range []string{topic + " [0]", topic + " [1]", topic + " [2]"} {
		if !strings.Contains(out, p) {
			t.Errorf("kcat's records missed partition %s: the test did not spread over partitions", p)
		}
	}
	t.Logf("%d records: kcat -P -> swarm (2 nodes, print handler) == kcat -C, line for line, in %s", n, time.Since(start).Round(time.Millisecond))
}

// The handler's answers read back by kcat: kcat -P writes records, the
// swarm hands each value to a handler command (cat: with -codec lines it
// answers every line with itself) and produces the answers to
// -output-topic, and kcat -C reads exactly those values from there.
func TestKcatReadsHandlerAnswers(t *testing.T) {
	kcat := needKcat(t)
	catPath, err := exec.LookPath("cat")
	if err != nil {
		t.Skipf("no cat on PATH: %v", err)
	}
	const in, out, n = "kcat-in", "kcat-out", 300
	_, addr := newBroker(t, 3, in, out)

	var input strings.Builder
	want := make([]string, 0, n)
	for i := 0; i < n; i++ {
		v := fmt.Sprintf("answer %d, ünïcödé", i)
		want = append(want, v)
		fmt.Fprintf(&input, "k%d:%s\n", i, v)
	}
	start := time.Now()
	runKcat(t, kcat, input.String(), "-P", "-b", addr, "-t", in, "-K", ":")

	s := startSwarm(t, swarmArgs(addr, "-nodes=2", "-topics="+in, "-group=g-kcat-out",
		"-codec=lines", "-output-topic="+out, "--", catPath)...)
	// kcat -C -c n returns once it has read n records: no polling here.
	got := strings.Split(strings.TrimSuffix(
		runKcat(t, kcat, "", "-C", "-b", addr, "-t", out, "-o", "beginning", "-c", strconv.Itoa(n), "-q", "-f", "%s\n"), "\n"), "\n")
	s.signal(syscall.SIGTERM)
	if code := s.waitExit(20 * time.Second); code != 0 {
		t.Errorf("exit code %d, want 0", code)
	}
	sort.Strings(got)
	sort.Strings(want)
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Fatalf("kcat -C read from %s:\n%q\nwant the %d values kcat -P wrote to %s", out, got, n, in)
	}
	// Nothing beyond the n answers: read the whole topic to its end.
	all := runKcat(t, kcat, "", "-C", "-b", addr, "-t", out, "-o", "beginning", "-e", "-q", "-f", "%s\n")
	if c := strings.Count(all, "\n"); c < n {
		t.Errorf("%s holds %d records, want at least %d", out, c, n)
	} else if c > n {
		t.Logf("%s holds %d records for %d inputs: %d answers produced again (at-least-once)", out, c, n, c-n)
	}
	t.Logf("%d records: kcat -P -> swarm (2 nodes, -- cat, -codec lines) -> %s -> kcat -C, in %s", n, out, time.Since(start).Round(time.Millisecond))
}
