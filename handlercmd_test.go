//go:build linux

package main

// The handler command (`swarm [flags] -- CMD ARGS...`) against the real
// binary and an in-process kfake broker: output and dead-letter topics,
// failures of CMD, and CMD's life bound to its node's. The handler is
// testdata/handler, built once by handlerPrograms; every wait is on a log
// line, a topic's offsets or a condition with a deadline.

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
)

// 10 000 records in, exactly the handler's answers out on -output-topic,
// none missing, none extra. CMD sees its node's identity, its stderr comes
// through prefixed, and TERM ends it with stdin EOF, not a signal.
func TestHandlerAnswersReachOutputTopicExactly(t *testing.T) {
	h, _ := handlerPrograms(t)
	_, addr := newBroker(t, 4, "orders", "out")
	const n = 10000
	produce(t, addr, "orders", n)
	s := startSwarm(t, swarmArgs(addr, "-nodes=2", "-output-topic=out", "--", h, "-answer=tag")...)
	pids := s.waitNodesReady(2, 0)
	hpids := map[int]int{}
	for id := range pids {
		hpids[id], _ = s.handlerStarted(id, 0)
		if st, err := procStat(hpids[id]); err != nil || st.ppid != pids[id] {
			t.Errorf("handler %d of node %d: parent %d (%v), want the node %d", hpids[id], id, st.ppid, err, pids[id])
		}
	}
	adm := newAdmin(t, addr)
	waitCommittedToEnd(t, adm, "g1", "orders", 60*time.Second)

	out := allRecords(readTopic(t, addr, "out"))
	seen := map[string]int{}
	for _, r := range out {
		if want := "handled " + string(r.Key); string(r.Value) != want {
			t.Errorf("output record key %q value %q, want value %q", r.Key, r.Value, want)
		}
		seen[string(r.Key)]++
	}
	for k := 0; k < n; k++ {
		if c := seen[strconv.Itoa(k)]; c != 1 {
			t.Errorf("answer for record %d is on the output topic %d times, want once", k, c)
		}
	}
	if len(out) != n {
		t.Errorf("%d records on the output topic, want exactly %d", len(out), n)
	}

	for id := range pids {
		want := fmt.Sprintf(`[node %d] handler ready pid=%d node=%d group=g1 topics=orders supervisor=""`, id, hpids[id], id)
		s.waitOther(5*time.Second, "handler's stderr, prefixed: "+want, func(l string) bool { return l == want })
	}
	s.stopGracefully(20 * time.Second)
	for id, hp := range hpids {
		if alive(hp) {
			t.Errorf("handler %d of node %d alive after the swarm stopped", hp, id)
		}
		if !slices.ContainsFunc(s.otherLines(), func(l string) bool {
			return strings.HasPrefix(l, fmt.Sprintf("[node %d] handler stdin closed after", id))
		}) {
			t.Errorf("handler of node %d did not see stdin EOF", id)
		}
		if l := s.matching(logged("handler.exited", "node", id)); len(l) != 1 || l[0].str("exit") != "exit 0" {
			t.Errorf("node %d: handler.exited lines %v, want one with exit 0", id, l)
		}
	}
}

// Keys, values and headers, binary and empty ones included, come out of an
// echoing handler exactly as they went in, through the json and the lines
// codec. In lines, a value holding "\n" is never sent: it goes to the dead
// letter topic.
func TestHandlerEchoKeepsRecordsByteExact(t *testing.T) {
	h, _ := handlerPrograms(t)
	t.Run("json", func(t *testing.T) {
		_, addr := newBroker(t, 1, "orders", "out")
		var in []*kgo.Record
		for _, tc := range codecCases() {
			r := *tc.rec
			in = append(in, &r)
		}
		produceRecords(t, addr, "orders", in)
		s := startSwarm(t, swarmArgs(addr, "-nodes=1", "-output-topic=out", "--", h, "-answer=echo")...)
		waitCommittedToEnd(t, newAdmin(t, addr), "g1", "orders", 30*time.Second)
		src := readTopic(t, addr, "orders")[0]
		out := readTopic(t, addr, "out")[0]
		if len(out) != len(src) {
			t.Fatalf("%d records out, want %d", len(out), len(src))
		}
		for i := range src {
			// Against what the broker holds, and against what was sent.
			if err := sameRecord(out[i], src[i]); err != nil {
				t.Errorf("record %d (%s): out differs from in: %v", i, codecCases()[i].doc, err)
			}
			if err := sameRecord(out[i], codecCases()[i].rec); err != nil {
				t.Errorf("record %d (%s): out differs from what was produced: %v", i, codecCases()[i].doc, err)
			}
		}
		s.stopGracefully(20 * time.Second)
	})
	t.Run("lines", func(t *testing.T) {
		_, addr := newBroker(t, 1, "orders", "out", "dlq")
		values := []string{"a", "b c", "", "x\ny", "\xff\xfe\x00", "tail \t"}
		var in []*kgo.Record
		for _, v := range values {
			in = append(in, &kgo.Record{Key: []byte("k"), Value: []byte(v), Headers: []kgo.RecordHeader{{Key: "h", Value: []byte("1")}}})
		}
		produceRecords(t, addr, "orders", in)
		logPath := filepath.Join(t.TempDir(), "seen")
		s := startSwarm(t, swarmArgs(addr, "-nodes=1", "-codec=lines", "-output-topic=out", "-dead-letter-topic=dlq",
			"--", h, "-codec=lines", "-answer=echo", "-log="+logPath)...)
		waitCommittedToEnd(t, newAdmin(t, addr), "g1", "orders", 30*time.Second)
		var got []string
		for _, r := range readTopic(t, addr, "out")[0] {
			got = append(got, string(r.Value))
			if r.Key != nil || len(r.Headers) != 0 {
				t.Errorf("lines output %q has key %q and headers %v: a line is a bare value", r.Value, r.Key, r.Headers)
			}
		}
		// "" is answered with an empty line: done, nothing to produce.
		if want := []string{"a", "b c", "\xff\xfe\x00", "tail \t"}; !slices.Equal(got, want) {
			t.Errorf("output %q, want %q", got, want)
		}
		dlq := readTopic(t, addr, "dlq")[0]
		if len(dlq) != 1 || string(dlq[0].Value) != "x\ny" {
			t.Fatalf("dead letters %v, want the one value holding a newline", dlq)
		}
		if e, _ := header(dlq[0], hdrError); !strings.Contains(e, "newline") {
			t.Errorf("dead letter error header %q, want it to name the newline", e)
		}
		if want := []string{"line a", "line b c", "line ", "line \xff\xfe\x00", "line tail \t"}; !slices.Equal(fileLines(t, logPath), want) {
			t.Errorf("handler saw %q, want %q (never the value with a newline)", fileLines(t, logPath), want)
		}
		s.stopGracefully(20 * time.Second)
	})
}

// Records the handler fails go to -dead-letter-topic with their key, value
// and headers and with headers naming their origin and the error; the
// stream goes on and everything is committed.
func TestFailedRecordsGoToDeadLetterTopic(t *testing.T) {
	h, _ := handlerPrograms(t)
	_, addr := newBroker(t, 3, "orders", "out", "dlq")
	const n = 300
	produce(t, addr, "orders", n)
	failing := []string{"7", "100", "299"}
	s := startSwarm(t, swarmArgs(addr, "-nodes=2", "-output-topic=out", "-dead-letter-topic=dlq",
		"--", h, "-answer=tag", "-fail-key="+strings.Join(failing, ","))...)
	waitCommittedToEnd(t, newAdmin(t, addr), "g1", "orders", 60*time.Second)

	where := map[string]*kgo.Record{}
	for _, r := range allRecords(readTopic(t, addr, "orders")) {
		where[string(r.Key)] = r
	}
	dlq := allRecords(readTopic(t, addr, "dlq"))
	var keys []string
	for _, r := range dlq {
		keys = append(keys, string(r.Key))
		src := where[string(r.Key)]
		if string(r.Value) != string(src.Value) {
			t.Errorf("dead letter %q: value %q, want the original %q", r.Key, r.Value, src.Value)
		}
		for k, want := range map[string]string{
			hdrOriginalTopic:     "orders",
			hdrOriginalPartition: strconv.Itoa(int(src.Partition)),
			hdrOriginalOffset:    strconv.FormatInt(src.Offset, 10),
			hdrOriginalGroup:     "g1",
			hdrError:             "refused key " + string(r.Key),
		} {
			if got, ok := header(r, k); !ok || got != want {
				t.Errorf("dead letter %q: header %s = %q (present %v), want %q", r.Key, k, got, ok, want)
			}
		}
	}
	slices.Sort(keys)
	if want := slices.Sorted(slices.Values(failing)); !slices.Equal(keys, want) {
		t.Errorf("dead letters for keys %v, want exactly %v", keys, want)
	}
	if out := allRecords(readTopic(t, addr, "out")); len(out) != n-len(failing) {
		t.Errorf("%d records on the output topic, want %d", len(out), n-len(failing))
	}
	if l := s.matching(logged("handler.dead_letter")); len(l) != len(failing) {
		t.Errorf("%d handler.dead_letter log lines, want %d", len(l), len(failing))
	}
	if l := s.matching(logged("app.stopped")); len(l) != 0 {
		t.Errorf("a node stopped: %v", l)
	}
}

// Without a dead-letter topic a failed record stops the node (exit 1, the
// error names topic, partition and offset), nothing past it is committed,
// and after the restart the handler gets the same record again.
func TestHandlerCommandFailureStopsNodeAndIsRetried(t *testing.T) {
	h, _ := handlerPrograms(t)
	_, addr := newBroker(t, 1, "orders")
	produce(t, addr, "orders", 50) // one partition: key k at offset k
	logPath := filepath.Join(t.TempDir(), "seen")
	s := startSwarm(t, swarmArgs(addr, "-nodes=1", "--", h, "-fail-key=20", "-log="+logPath)...)

	stopped, _ := s.waitLog(20*time.Second, "node stops on the failed record", 0, logged("app.stopped", "role", "node"))
	if e := stopped.str("err"); !strings.Contains(e, "topic orders partition 0 offset 20") || !strings.Contains(e, "refused key 20") {
		t.Errorf("app.stopped err %q, want it to name topic orders partition 0 offset 20 and the handler's error", e)
	}
	exited, _ := s.waitLog(5*time.Second, "node exited", 0, logged("swarm.node.exited", "role", "supervisor", "node", 0))
	if exited.str("exit") != "exit 1" {
		t.Errorf("node exit %q, want exit 1", exited.str("exit"))
	}
	waitFor(t, 20*time.Second, "the handler after the restart to see offset 20 again", func() bool {
		return countOf(offsetsSeen(fileLines(t, logPath)), "0 20") >= 2
	})
	_, committed := offsetsOf(t, newAdmin(t, addr), "g1", "orders")
	if committed[0] != 20 {
		t.Errorf("committed offset %d, want 20: everything before the failed record, nothing from it on", committed[0])
	}
}

// countOf counts the elements of xs equal to x.
func countOf(xs []string, x string) int {
	n := 0
	for _, y := range xs {
		if y == x {
			n++
		}
	}
	return n
}

// CMD exiting, answering garbage or closing its stdout fails the node with
// a log line saying so; the node exits 1 and is restarted with a new CMD.
// What CMD left in its process group (a grandchild holding stdout) is
// killed with it.
func TestHandlerCommandFailureFailsNode(t *testing.T) {
	h, _ := handlerPrograms(t)
	for _, tc := range []struct {
		name string
		args []string
		want string
	}{
		{"exits", []string{"-exit-after=5"}, "exited unexpectedly (exit 3)"},
		{"garbage", []string{"-garbage-after=5"}, "answered garbage for record topic orders partition 0 offset 5"},
		{"closes stdout", []string{"-close-stdout-after=5"}, "closed its stdout"},
		{"exits leaving a grandchild", []string{"-exit-after=5", "-grandchild"}, "exited unexpectedly (exit 3)"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			_, addr := newBroker(t, 1, "orders")
			produce(t, addr, "orders", 20)
			s := startSwarm(t, swarmArgs(addr, append([]string{"-nodes=1", "--", h}, tc.args...)...)...)
			first, _ := s.handlerStarted(0, 0)
			failed, _ := s.waitLog(20*time.Second, "handler.failed", 0, logged("handler.failed", "node", 0))
			if !strings.Contains(failed.str("err"), tc.want) {
				t.Errorf("handler.failed err %q, want %q", failed.str("err"), tc.want)
			}
			exited, i := s.waitLog(10*time.Second, "node exited", 0, logged("swarm.node.exited", "role", "supervisor", "node", 0))
			if exited.str("exit") != "exit 1" {
				t.Errorf("node exit %q, want exit 1", exited.str("exit"))
			}
			if alive(first) {
				t.Errorf("handler %d alive after its node exited", first)
			}
			if slices.Contains(tc.args, "-grandchild") {
				l := s.waitOther(5*time.Second, "grandchild pid", func(l string) bool { return strings.HasPrefix(l, "[node 0] grandchild pid=") })
				gc, _ := strconv.Atoi(strings.TrimPrefix(l, "[node 0] grandchild pid="))
				if gc <= 0 || alive(gc) {
					t.Errorf("grandchild %d (from %q) alive after its node exited", gc, l)
				}
			}
			second, _ := s.handlerStarted(0, i)
			if second == first {
				t.Errorf("restarted node runs the same handler pid %d", first)
			}
		})
	}
}

// The handler never outlives its node: SIGKILL the node (which can do
// nothing about it) and the kernel's parent-death signal kills the handler.
func TestHandlerDiesWithKilledNode(t *testing.T) {
	h, _ := handlerPrograms(t)
	_, addr := newBroker(t, 2, "orders")
	s := startSwarm(t, swarmArgs(addr, "-nodes=2", "--", h)...)
	pids := s.waitNodesReady(2, 0)
	hp, _ := s.handlerStarted(1, 0)
	if kids := childrenOf(pids[1]); !slices.Contains(kids, hp) || !alive(hp) {
		t.Fatalf("handler %d not among the children %v of node 1 (%d)", hp, kids, pids[1])
	}
	from := s.logCount()
	sendSig(t, pids[1], syscall.SIGKILL)
	waitFor(t, time.Second, "the handler of the SIGKILLed node to be gone", func() bool { return !alive(hp) })
	// The replacement gets a handler of its own.
	if next, _ := s.handlerStarted(1, from); next == hp || !alive(next) {
		t.Errorf("replacement handler %d (old %d) not running", next, hp)
	}
}

// The supervisor killed with SIGKILL leaves no node and no handler alive
// after one second: the nodes see their supervisor's pidfd, kill their
// handlers and exit 3.
func TestSupervisorKilledLeavesNoHandler(t *testing.T) {
	h, _ := handlerPrograms(t)
	_, addr := newBroker(t, 2, "orders")
	s := startSwarm(t, swarmArgs(addr, "-nodes=2", "--", h)...)
	pids := s.waitNodesReady(2, 0)
	var procs []int
	for id, pid := range pids {
		hp, _ := s.handlerStarted(id, 0)
		procs = append(procs, pid, hp)
	}
	sendSig(t, s.pid(), syscall.SIGKILL)
	killed := time.Now()
	waitFor(t, time.Second, "every node and handler to be gone", func() bool {
		return !slices.ContainsFunc(procs, alive)
	})
	t.Logf("nodes and handlers %v gone %s after the supervisor's SIGKILL", procs, time.Since(killed).Round(time.Millisecond))
}

// With a handler, -memory-limit counts the node and its handler together:
// a handler holding more than the limit gets its (small) node reported
// with status 3, stopped and restarted.
func TestHandlerMemoryCountsAgainstLimit(t *testing.T) {
	h, _ := handlerPrograms(t)
	_, addr := newBroker(t, 1, "orders")
	const limitMiB = 150
	s := startSwarm(t, swarmArgs(addr, "-nodes=1", "-memory-limit="+strconv.Itoa(limitMiB), "--", h, "-hog=200")...)
	pid := s.nodeReady(0, 0)
	first, _ := s.handlerStarted(0, 0)
	if rss, err := rssOf(fmt.Sprintf("/proc/%d/status", pid)); err == nil && rss >= limitMiB<<20 {
		t.Skipf("the node alone uses %d MiB, above the %d MiB limit: the test would prove nothing", rss>>20, limitMiB)
	}
	stopping, _ := s.waitLog(20*time.Second, "node stopped for memory", 0, logged("swarm.manager.stopping", "role", "supervisor", "node", 0))
	if stopping.int("status") != statusMemory {
		t.Fatalf("stopping %v, want status %d", stopping, statusMemory)
	}
	_, i := s.waitLog(10*time.Second, "node exited", 0, logged("swarm.node.exited", "role", "supervisor", "node", 0))
	if alive(first) {
		t.Errorf("handler %d alive after its node was stopped", first)
	}
	s.handlerStarted(0, i)
}

// A command that cannot be run, and flags that make no sense with or
// without one, are rejected with one line and exit 2 before anything is
// spawned.
func TestHandlerCommandValidation(t *testing.T) {
	h, _ := handlerPrograms(t)
	dir := t.TempDir()
	notExec := filepath.Join(dir, "not-executable")
	if err := os.WriteFile(notExec, []byte("#!/bin/sh\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	ok := []string{"-bootstrap=127.0.0.1:9092", "-topics=orders"}
	for _, tc := range []struct {
		name string
		args []string
		want []string
	}{
		{"missing path", []string{"--", filepath.Join(dir, "nope"), "-x"}, []string{"handler command", "nope", "no such file"}},
		{"not in PATH", []string{"--", "swarm-no-such-handler-xyz"}, []string{"handler command", "swarm-no-such-handler-xyz", "not found"}},
		{"not executable", []string{"--", notExec}, []string{"handler command", "not-executable", "permission denied"}},
		{"a directory", []string{"--", dir}, []string{"handler command"}},
		{"nothing after --", []string{"--"}, []string{"no command after --"}},
		{"bad codec", []string{"-codec=xml", "--", h}, []string{"-codec", "xml"}},
		{"handler and command", []string{"-handler=discard", "--", h}, []string{"-handler", "command"}},
		{"output topic without command", []string{"-output-topic=out"}, []string{"-output-topic", "command"}},
		{"dead-letter topic without command", []string{"-dead-letter-topic=dlq", "-handler=discard"}, []string{"-dead-letter-topic"}},
		{"codec without command", []string{"-codec=lines"}, []string{"-codec"}},
		{"output topic is an input", []string{"-output-topic=orders", "--", h}, []string{"-output-topic", "orders"}},
		{"two output topics", []string{"-output-topic=a,b", "--", h}, []string{"-output-topic", "a,b"}},
		{"stray word, no --", []string{"cat"}, []string{"unexpected argument", "cat"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			r := runCLI(t, nil, append(append([]string{}, ok...), tc.args...)...)
			assertExitLine(t, r, exitUsage, tc.want...)
		})
	}
	t.Run("missing output topic", func(t *testing.T) {
		_, addr := newBroker(t, 1, "orders", "dlq")
		r := runCLI(t, nil, "-bootstrap="+addr, "-topics=orders", "-output-topic=nope", "-dead-letter-topic=dlq", "--", h)
		assertExitLine(t, r, exitUsage, "-output-topic", "nope not found")
	})
	t.Run("missing dead-letter topic", func(t *testing.T) {
		_, addr := newBroker(t, 1, "orders", "out")
		r := runCLI(t, nil, "-bootstrap="+addr, "-topics=orders", "-output-topic=out", "-dead-letter-topic=gone", "--", h)
		assertExitLine(t, r, exitUsage, "-dead-letter-topic", "gone not found")
	})
}

// The node's argument list carries the command after "--", so the node
// runs exactly what the supervisor validated.
func TestNodeArgsCarryCommand(t *testing.T) {
	h, _ := handlerPrograms(t)
	cfg, err := parseConfig([]string{"-topics=orders", "-codec=lines", "-output-topic=out", "--", h, "-answer=echo", "--", "-x"}, func(string) string { return "" })
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{h, "-answer=echo", "--", "-x"}; !slices.Equal(cfg.command, want) {
		t.Fatalf("command %q, want %q", cfg.command, want)
	}
	node, err := parseConfig(cfg.nodeArgs(), func(string) string { return "" })
	if err != nil {
		t.Fatalf("node parse of %q: %v", cfg.nodeArgs(), err)
	}
	if !slices.Equal(node.command, cfg.command) || node.codec != "lines" || node.outputTopic != "out" || node.deadLetterTopic != "" {
		t.Errorf("node sees command %q codec %q output %q dlq %q", node.command, node.codec, node.outputTopic, node.deadLetterTopic)
	}
	env := handlerEnv([]string{"PATH=/bin", "SWARM_SUPERVISOR_PID=1", "SWARM_NODE_ID=9", "SWARM_TOPICS=x", "SWARM_GROUP=y", "SWARM_QUIET=1", "SWARM_SASL_PASSWORD=secret"}, 2, "g", []string{"a", "b"})
	if want := []string{"PATH=/bin", "SWARM_NODE_ID=2", "SWARM_GROUP=g", "SWARM_TOPICS=a,b"}; !slices.Equal(env, want) {
		t.Errorf("handler env %q, want %q", env, want)
	}
}
