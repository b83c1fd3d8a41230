//go:build linux

package main

// The handlers in examples/, each run end to end: the real binary, two
// nodes, a kfake broker, a few thousand records over three partitions, and
// every answer read back from the output and dead-letter topics.

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
)

// exampleRecords is how many records each example handles.
const exampleRecords = 3000

// needInterpreter returns the absolute path of an example and checks its
// interpreter is on PATH, or skips the test, loudly (go test hides a
// passing package's skip messages, so it also goes to stderr). A CI that
// must run the examples sets EXAMPLES_REQUIRED=1, which turns the skip
// into a failure.
func needInterpreter(t *testing.T, interp, debPkg, example string) string {
	t.Helper()
	if _, err := exec.LookPath(interp); err != nil {
		msg := fmt.Sprintf("%s is not on PATH, so %s did NOT run; install it (Debian/Ubuntu: apt-get install -y %s) to run it",
			interp, example, debPkg)
		if os.Getenv("EXAMPLES_REQUIRED") == "1" {
			t.Fatal(msg + " (EXAMPLES_REQUIRED=1)")
		}
		fmt.Fprintln(os.Stderr, "SKIPPED "+t.Name()+": "+msg)
		t.Skip("SKIPPED: " + msg)
	}
	path, err := filepath.Abs(example)
	if err != nil {
		t.Fatal(err)
	}
	return path
}

// produceOrders writes n records, round-robin over the partitions of topic:
// key "i", value value(i), header trace=t<i>, and waits for every ack.
func produceOrders(t *testing.T, addr, topic string, n int, value func(i int) string) {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(addr), kgo.DefaultProduceTopic(topic),
		kgo.RecordPartitioner(kgo.RoundRobinPartitioner()), kgo.ProducerLinger(time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	recs := make([]*kgo.Record, n)
	for i := range recs {
		recs[i] = &kgo.Record{Key: []byte(strconv.Itoa(i)), Value: []byte(value(i)),
			Headers: []kgo.RecordHeader{{Key: "trace", Value: []byte("t" + strconv.Itoa(i))}}}
	}
	if err := cl.ProduceSync(context.Background(), recs...).FirstErr(); err != nil {
		t.Fatalf("produce to %s: %v", topic, err)
	}
}

// runExample starts a 2-node swarm on orders (3 partitions) with the
// handler argv, waits for its group to be stable, produces the records,
// waits until answers records are on the output and dead-letter topics
// (the rate it logs) and every record is committed; then it stops the
// swarm gracefully: every handler must have exited 0 on stdin's EOF.
func runExample(t *testing.T, env, flags, argv []string, value func(i int) string, answers int) (s *swarmProc, addr string) {
	t.Helper()
	c, addr := newBroker(t, 3, "orders", "out", "dlq")
	args := append(append([]string{"-nodes=2", "-dead-letter-topic=dlq", "-retry-backoff=50ms"}, flags...), "--")
	s = startSwarmEnv(t, env, swarmArgs(addr, append(args, argv...)...)...)
	waitGroupStable(t, c, "g1", 2, 30*time.Second)
	start := time.Now()
	produceOrders(t, addr, "orders", exampleRecords, value)
	adm := newAdmin(t, addr)
	waitFor(t, 90*time.Second, fmt.Sprintf("%d records on out and dlq", answers), func() bool {
		sum := 0
		for _, topic := range []string{"out", "dlq"} {
			for _, end := range endOffsets(t, adm, topic) {
				sum += int(end)
			}
		}
		return sum >= answers
	})
	took := time.Since(start)
	t.Logf("throughput: %d records produced and handled by %s on 2 nodes in %s: %.0f records/s (-race build; a sanity figure, not a benchmark)",
		exampleRecords, filepath.Base(argv[len(argv)-1]), took.Round(time.Millisecond), exampleRecords/took.Seconds())
	waitCommittedToEnd(t, adm, "g1", "orders", 30*time.Second) // within a second (the nodes commit every second)
	stopped := time.Now()
	s.stopGracefully(20 * time.Second)
	t.Logf("graceful stop took %s", time.Since(stopped).Round(time.Millisecond))
	if l := s.matching(logged("handler.failed")); len(l) != 0 {
		t.Errorf("a handler failed: %v", l)
	}
	exited := s.matching(logged("handler.exited"))
	if len(exited) < 2 {
		t.Errorf("%d handler.exited lines, want one per node", len(exited))
	}
	for _, l := range exited {
		if l.str("exit") != "exit 0" {
			t.Errorf("handler.exited %v, want exit 0 on stdin's EOF", l)
		}
	}
	return s, addr
}

// checkOnce fails the test unless got holds every value of want exactly
// once and nothing else.
func checkOnce(t *testing.T, what string, got, want []string) {
	t.Helper()
	count := map[string]int{}
	for _, v := range got {
		count[v]++
	}
	for _, v := range want {
		if count[v] != 1 {
			t.Errorf("%s: %q is there %d times, want once", what, v, count[v])
		}
		delete(count, v)
	}
	for v, c := range count {
		t.Errorf("%s: unexpected %q (%d times)", what, v, c)
	}
	if len(got) != len(want) {
		t.Errorf("%s: %d records, want %d", what, len(got), len(want))
	}
}

// testJSONExample runs a -codec json example: every value comes out
// upper-cased with its key and header, except the FAIL_KEYS ones, which
// are retried once (the handler logs their attempt 2) and dead-lettered.
func testJSONExample(t *testing.T, interp, debPkg, example string) {
	path := needInterpreter(t, interp, debPkg, example)
	value := func(i int) string { return "order " + strconv.Itoa(i) + " for ünïcödé" }
	failing := []string{"7", "1500", strconv.Itoa(exampleRecords - 1)}
	s, addr := runExample(t, []string{"FAIL_KEYS=" + strings.Join(failing, ",")},
		[]string{"-output-topic=out", "-max-retries=1"}, []string{interp, path}, value, exampleRecords)

	var got, want []string
	for _, r := range allRecords(readTopic(t, addr, "out")) {
		tr, _ := header(r, "trace")
		got = append(got, fmt.Sprintf("%s=%s trace=%s", r.Key, r.Value, tr))
	}
	for i := 0; i < exampleRecords; i++ {
		if k := strconv.Itoa(i); !slices.Contains(failing, k) {
			want = append(want, fmt.Sprintf("%s=%s trace=t%s", k, strings.ToUpper(value(i)), k))
		}
	}
	checkOnce(t, "output topic", got, want)

	var dead []string
	for _, r := range allRecords(readTopic(t, addr, "dlq")) {
		attempts, _ := header(r, hdrAttempts)
		reason, _ := header(r, hdrError)
		dead = append(dead, fmt.Sprintf("%s attempts=%s %s", r.Key, attempts, reason))
	}
	var wantDead []string
	for _, k := range failing {
		wantDead = append(wantDead, fmt.Sprintf("%s attempts=2 refused key %s", k, k))
		retried := fmt.Sprintf("retrying key %s (orders/", k)
		if !slices.ContainsFunc(s.otherLines(), func(l string) bool {
			return strings.Contains(l, retried) && strings.HasSuffix(l, "attempt 2")
		}) {
			t.Errorf("the handler did not log attempt 2 of key %s (want a stderr line with %q)", k, retried)
		}
	}
	checkOnce(t, "dead-letter topic", dead, wantDead)
}

// The Python example (python3, standard library only).
func TestExamplePython(t *testing.T) {
	testJSONExample(t, "python3", "python3", "examples/python/handler.py")
}

// The Ruby example (ruby, standard library only).
func TestExampleRuby(t *testing.T) {
	testJSONExample(t, "ruby", "ruby", "examples/ruby/handler.rb")
}

// The Node.js example (node, standard library only).
func TestExampleNode(t *testing.T) {
	testJSONExample(t, "node", "nodejs", "examples/node/handler.js")
}

// The shell example, -codec lines: every value comes out as "handled
// <value>", except the "skip" ones (answered with an empty line: nothing
// produced) and the ones holding a newline, which swarm cannot frame and
// dead-letters at once (-max-retries=0).
func TestExampleShell(t *testing.T) {
	path := needInterpreter(t, "sh", "dash", "examples/shell/handler.sh")
	value := func(i int) string {
		switch {
		case i%500 == 3:
			return "skip " + strconv.Itoa(i)
		case i%1000 == 9:
			return "two\nlines " + strconv.Itoa(i)
		}
		return `order \` + strconv.Itoa(i) + "  with  spaces "
	}
	_, addr := runExample(t, nil, []string{"-codec=lines", "-output-topic=out", "-max-retries=0"}, []string{"sh", path}, value, exampleRecords-exampleRecords/500)

	var got, want, dead, wantDead []string
	for _, r := range allRecords(readTopic(t, addr, "out")) {
		got = append(got, string(r.Value))
	}
	for _, r := range allRecords(readTopic(t, addr, "dlq")) {
		dead = append(dead, string(r.Key))
	}
	for i := 0; i < exampleRecords; i++ {
		switch v := value(i); {
		case strings.Contains(v, "\n"):
			wantDead = append(wantDead, strconv.Itoa(i))
		case !strings.HasPrefix(v, "skip"):
			want = append(want, "handled "+v)
		}
	}
	checkOnce(t, "output topic", got, want)
	checkOnce(t, "dead-letter topic", dead, wantDead)
}
