//go:build linux

package main

// Record failures (issue 11), end to end against the real binary and
// kfake: a record the handler fails pauses only its partition, comes back
// after a doubling backoff, and after -max-retries retries goes to the
// dead-letter topic, is skipped on request, or, without a dead-letter
// topic, is retried forever; the node is never restarted for it and
// nothing past it is committed until it is handled or dead-lettered. The
// test handler (testdata/handler) logs every record it reads with the
// frame's attempt and the time, so the tests see each delivery.

import (
	"fmt"
	"math"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
)

// The poisoned source of most cases: retryParts partitions of perPart
// records each; the record at poisonOff of partition poisonPart has key
// poisonKey (the one the handler fails) and headers of its own.
const (
	retryParts = 4
	perPart    = 20
	poisonPart = 3
	poisonOff  = 5
	poisonKey  = "poison"
)

// poisonHeaders are the poison record's headers, which its dead letter keeps.
var poisonHeaders = []kgo.RecordHeader{{Key: "trace", Value: []byte("abc")}, {Key: "tenant", Value: []byte("t1")}}

// retryBatch is perPart records for each of parts partitions, keys
// "<tag>-<partition>-<i>"; with poison, the record at poisonOff of
// poisonPart is the poison record (offsets as the batch is produced first).
func retryBatch(tag string, parts int, poison bool) []*kgo.Record {
	var recs []*kgo.Record
	for p := 0; p < parts; p++ {
		for i := 0; i < perPart; i++ {
			r := &kgo.Record{Partition: int32(p), Key: []byte(fmt.Sprintf("%s-%d-%d", tag, p, i)), Value: []byte("v " + tag)}
			if poison && p == poisonPart && i == poisonOff {
				r.Key, r.Value, r.Headers = []byte(poisonKey), []byte("poison value"), poisonHeaders
			}
			recs = append(recs, r)
		}
	}
	return recs
}

// createTopic creates topic with parts partitions: a topic whose partition
// count differs from newBroker's seeded ones.
func createTopic(t testing.TB, addr, topic string, parts int32) {
	t.Helper()
	adm, ctx, done := adminFor(t, addr, 5*time.Second)
	defer done()
	if _, err := adm.CreateTopic(ctx, parts, 1, nil, topic); err != nil {
		t.Fatalf("create topic %s: %v", topic, err)
	}
}

// deliveries are the handler's reads of the record at part/off, in order.
func deliveries(seen []seenRecord, part int32, off int64) []seenRecord {
	var out []seenRecord
	for _, r := range seen {
		if r.part == part && r.off == off {
			out = append(out, r)
		}
	}
	return out
}

// checkDeliveries checks the record was read with attempts 1..len(gaps)+1,
// in order, each read at least gaps[i] after the one before.
func checkDeliveries(t *testing.T, got []seenRecord, gaps []time.Duration) {
	t.Helper()
	var attempts, want []int
	for i, r := range got {
		attempts = append(attempts, r.attempt)
		if i > 0 && i <= len(gaps) {
			if d := r.at.Sub(got[i-1].at); d < gaps[i-1] {
				t.Errorf("attempt %d read %v after attempt %d, want at least the backoff %v", r.attempt, d, got[i-1].attempt, gaps[i-1])
			} else {
				t.Logf("attempt %d read %v after attempt %d (backoff %v)", r.attempt, d, got[i-1].attempt, gaps[i-1])
			}
		}
	}
	for a := 1; a <= len(gaps)+1; a++ {
		want = append(want, a)
	}
	if !slices.Equal(attempts, want) {
		t.Errorf("the failing record was read with attempts %v, want %v", attempts, want)
	}
}

// checkFlowedMeanwhile checks that every partition in parts had a record
// read strictly between from and to: they flowed while another waited.
func checkFlowedMeanwhile(t *testing.T, seen []seenRecord, parts []int32, from, to time.Time) {
	t.Helper()
	for _, p := range parts {
		n := 0
		for _, r := range seen {
			if r.part == p && r.at.After(from) && r.at.Before(to) {
				n++
			}
		}
		if n == 0 {
			t.Errorf("partition %d: no record read between the first and the last attempt (%v): it was held", p, to.Sub(from))
		} else {
			t.Logf("partition %d: %d records read while the failing record waited", p, n)
		}
	}
}

// checkRetryLines checks the record.retry lines of the record at
// topic/part/off: one per failed attempt 1..len(next), each with the
// next delay next[i] (in ms, give or take the time it took to log), the
// error and a node line's fields.
func checkRetryLines(t *testing.T, s *swarmProc, topic string, part, off int, next []float64) {
	t.Helper()
	lines := s.matching(logged("record.retry", "topic", topic, "partition", part, "offset", off))
	if len(lines) != len(next) {
		t.Errorf("%d record.retry lines for %s[%d]@%d, want %d: %v", len(lines), topic, part, off, len(next), lines)
	}
	for i, l := range lines {
		if i >= len(next) {
			break
		}
		if l.int("attempt") != i+1 {
			t.Errorf("record.retry line %d: attempt %d, want %d", i, l.int("attempt"), i+1)
		}
		if got, ok := l["next_in_ms"].(float64); !ok || got > next[i] || got < next[i]-20 {
			t.Errorf("record.retry attempt %d: next_in_ms %v, want %v (doubling, capped)", i+1, l["next_in_ms"], next[i])
		}
		if l.str("level") != "WARN" || l.str("err") == "" {
			t.Errorf("record.retry attempt %d: level %q err %q, want WARN and the handler's error", i+1, l.str("level"), l.str("err"))
		}
		checkNodeFields(t, l)
	}
}

// checkNodeFields checks l carries what every node line carries.
func checkNodeFields(t *testing.T, l logLine) {
	t.Helper()
	if l.role() != "node" || l.int("node") < 0 || l.int("route") < 0 || l.str("group") == "" {
		t.Errorf("%s line without role=node, node, route and group: %v", l.msg(), l)
	}
}

// checkResumed checks there is a partition.resumed line for each attempt
// in attempts of the partition, each saying how late it came.
func checkResumed(t *testing.T, s *swarmProc, topic string, part, off int, attempts []int) {
	t.Helper()
	for _, a := range attempts {
		l := s.matching(logged("partition.resumed", "topic", topic, "partition", part, "attempt", a))
		if len(l) != 1 {
			t.Errorf("%d partition.resumed lines for %s[%d] attempt %d, want 1", len(l), topic, part, a)
			continue
		}
		if late, ok := l[0]["late_ms"].(float64); !ok || late < 0 || l[0].int("offset") != off {
			t.Errorf("partition.resumed %v: want offset %d and late_ms >= 0", l[0], off)
		} else {
			t.Logf("attempt %d resumed %.1f ms late", a, late)
		}
		checkNodeFields(t, l[0])
	}
}

// checkNoRestart checks that no node exited or forked again and no handler
// was started again: a record failure restarts nothing.
func checkNoRestart(t *testing.T, s *swarmProc, nodes, handlers int) {
	t.Helper()
	if l := s.matching(logged("swarm.node.exited")); len(l) != 0 {
		t.Errorf("a node exited: %v", l)
	}
	if l := s.matching(logged("swarm.node.after_fork", "role", "node")); len(l) != nodes {
		t.Errorf("%d node after_fork lines, want %d (one per node, no restart)", len(l), nodes)
	}
	if l := s.matching(logged("handler.started")); len(l) != handlers {
		t.Errorf("%d handler.started lines, want %d (no handler restart)", len(l), handlers)
	}
}

// checkCommittedBelow checks group has committed nothing past off on
// topic's partition part: the record there is not done.
func checkCommittedBelow(t *testing.T, addr, group, topic string, part int32, off int64) {
	t.Helper()
	adm, _, done := adminFor(t, addr, 5*time.Second)
	defer done()
	_, committed := offsetsOf(t, adm, group, topic)
	if committed[part] > off {
		t.Errorf("%s[%d] committed at %d while the record at %d is neither handled nor dead-lettered", topic, part, committed[part], off)
	}
}

// A poison record on one of 4 partitions, -max-retries 2 -retry-backoff
// 200ms: the handler reads it 3 times (attempts 1, 2, 3, at least 200 and
// 400 ms apart) while the other partitions flow, then it is dead-lettered
// once, with swarm_attempts=3, its key, value and headers, to the source
// partition modulo the 3 partitions of the dead-letter topic; nothing
// restarts and every partition is committed to its end.
func TestRetryPoisonRecordDeadLetteredAfterRetries(t *testing.T) {
	h, _ := handlerPrograms(t)
	_, addr := newBroker(t, retryParts, "orders")
	createTopic(t, addr, "dlq", 3)
	produceTo(t, addr, "orders", retryBatch("a", retryParts, true))
	logPath := filepath.Join(t.TempDir(), "seen")
	s := startSwarm(t, swarmArgs(addr, "-nodes=1", "-dead-letter-topic=dlq", "-max-retries=2", "-retry-backoff=200ms",
		"--", h, "-fail-key="+poisonKey, "-log="+logPath)...)

	s.waitLog(30*time.Second, "the poison record's first retry", 0,
		logged("record.retry", "topic", "orders", "partition", poisonPart, "offset", poisonOff, "attempt", 1))
	// Produced while the poison record waits: the other partitions must
	// handle these before its last attempt.
	produceTo(t, addr, "orders", retryBatch("b", retryParts, false))
	dl, _ := s.waitLog(30*time.Second, "the poison record dead-lettered", 0,
		logged("handler.dead_letter", "topic", "orders", "partition", poisonPart, "offset", poisonOff))
	if dl.int("attempts") != 3 {
		t.Errorf("handler.dead_letter attempts %d, want 3", dl.int("attempts"))
	}
	waitCommittedToEnd(t, newAdmin(t, addr), "g1", "orders", 30*time.Second)

	seen := readSeen(t, logPath)
	poison := deliveries(seen, poisonPart, poisonOff)
	checkDeliveries(t, poison, []time.Duration{200 * time.Millisecond, 400 * time.Millisecond})
	if len(poison) >= 2 {
		checkFlowedMeanwhile(t, seen, []int32{0, 1, 2}, poison[0].at, poison[len(poison)-1].at)
	}
	checkRetryLines(t, s, "orders", poisonPart, poisonOff, []float64{200, 400})
	checkResumed(t, s, "orders", poisonPart, poisonOff, []int{2, 3})
	checkDeadLetter(t, addr, "3")
	if l := s.matching(logged("handler.dead_letter")); len(l) != 1 {
		t.Errorf("%d handler.dead_letter lines, want 1", len(l))
	}
	checkNoRestart(t, s, 1, 1)
	s.stopGracefully(20 * time.Second)
}

// checkDeadLetter checks the dead-letter topic (3 partitions) holds exactly
// the poison record, on partition poisonPart % 3, with its key, value and
// headers and the swarm's headers, swarm_attempts = attempts.
func checkDeadLetter(t *testing.T, addr, attempts string) {
	t.Helper()
	dlq := readTopic(t, addr, "dlq")
	all := allRecords(dlq)
	if len(all) != 1 {
		t.Fatalf("%d dead letters, want exactly the poison record: %v", len(all), all)
	}
	r := all[0]
	if want := int32(poisonPart % 3); r.Partition != want {
		t.Errorf("dead letter on partition %d, want %d (source partition %d modulo 3)", r.Partition, want, poisonPart)
	}
	if string(r.Key) != poisonKey || string(r.Value) != "poison value" {
		t.Errorf("dead letter key %q value %q, want the poison record's %q, %q", r.Key, r.Value, poisonKey, "poison value")
	}
	want := map[string]string{
		"trace": "abc", "tenant": "t1",
		hdrOriginalTopic: "orders", hdrOriginalPartition: strconv.Itoa(poisonPart),
		hdrOriginalOffset: strconv.Itoa(poisonOff), hdrOriginalGroup: "g1",
		hdrError: "refused key " + poisonKey, hdrAttempts: attempts,
	}
	for k, v := range want {
		if got, ok := header(r, k); !ok || got != v {
			t.Errorf("dead letter header %s = %q (present %v), want %q", k, got, ok, v)
		}
	}
}

// Without a dead-letter topic, a record the handler fails until its 5th
// attempt (past -max-retries 3) is retried with the delay doubling from
// 100 ms and capped at 300 ms, never skipped, nothing restarts; nothing
// past it is committed meanwhile and its partition's later records are
// not handled before it, while the other partitions flow. Once it is
// accepted the partition catches up: every record handled once, in order,
// and committed to the end.
func TestRetryWithoutDeadLetterTopicWaitsThenCatchesUp(t *testing.T) {
	h, _ := handlerPrograms(t)
	_, addr := newBroker(t, retryParts, "orders")
	createTopic(t, addr, "out", 1) // one partition: the order things were handled in
	produceTo(t, addr, "orders", retryBatch("a", retryParts, true))
	logPath := filepath.Join(t.TempDir(), "seen")
	s := startSwarm(t, swarmArgs(addr, "-nodes=1", "-output-topic=out", "-retry-backoff=100ms", "-retry-max-backoff=300ms",
		"--", h, "-answer=tag", "-fail-key="+poisonKey, "-fail-until-attempt=5", "-log="+logPath)...)

	s.waitLog(30*time.Second, "the poison record's first retry", 0,
		logged("record.retry", "topic", "orders", "partition", poisonPart, "offset", poisonOff, "attempt", 1))
	produceTo(t, addr, "orders", retryBatch("b", retryParts, false))
	s.waitLog(30*time.Second, "the poison record's 3rd retry", 0,
		logged("record.retry", "partition", poisonPart, "offset", poisonOff, "attempt", 3))
	checkCommittedBelow(t, addr, "g1", "orders", poisonPart, poisonOff)
	waitCommittedToEnd(t, newAdmin(t, addr), "g1", "orders", 30*time.Second)

	seen := readSeen(t, logPath)
	poison := deliveries(seen, poisonPart, poisonOff)
	checkDeliveries(t, poison, []time.Duration{100 * time.Millisecond, 200 * time.Millisecond, 300 * time.Millisecond, 300 * time.Millisecond})
	if len(poison) >= 2 {
		checkFlowedMeanwhile(t, seen, []int32{0, 1, 2}, poison[0].at, poison[len(poison)-1].at)
	}
	checkRetryLines(t, s, "orders", poisonPart, poisonOff, []float64{100, 200, 300, 300})
	checkResumed(t, s, "orders", poisonPart, poisonOff, []int{2, 3, 4, 5})
	for _, ev := range []string{"handler.dead_letter", "record.skipped"} {
		if l := s.matching(logged(ev)); len(l) != 0 {
			t.Errorf("%s without a dead-letter topic and without skip: %v", ev, l)
		}
	}
	checkHandledOnceInOrder(t, addr)
	checkNoRestart(t, s, 1, 1)
	s.stopGracefully(20 * time.Second)
}

// checkHandledOnceInOrder checks the output topic (one partition, one
// -answer=tag output per handled record, keyed as its source) holds every
// source record exactly once and, per source partition, in offset order:
// no record of the poisoned partition was handled before the poison.
func checkHandledOnceInOrder(t *testing.T, addr string) {
	t.Helper()
	src := map[string]*kgo.Record{}
	total := 0
	for _, r := range allRecords(readTopic(t, addr, "orders")) {
		src[string(r.Key)] = r
		total++
	}
	last := map[int32]int64{}
	count := map[string]int{}
	for _, o := range readTopic(t, addr, "out")[0] {
		s, ok := src[string(o.Key)]
		if !ok {
			t.Errorf("output %q for no source record", o.Key)
			continue
		}
		if count[string(o.Key)]++; count[string(o.Key)] > 1 {
			t.Errorf("record %s[%d]@%d (%q) handled twice", s.Topic, s.Partition, s.Offset, o.Key)
			continue
		}
		if prev, ok := last[s.Partition]; ok && s.Offset < prev {
			t.Errorf("partition %d: offset %d handled after offset %d", s.Partition, s.Offset, prev)
		}
		last[s.Partition] = s.Offset
	}
	if len(count) != total {
		t.Errorf("%d of %d records handled", len(count), total)
	}
}

// Two routes on one node: route 0's handler fails a record forever (no
// dead-letter topic), route 1's records all flow and are committed while
// route 0 keeps retrying; route 0 commits nothing past the record.
func TestRetryRouteNeverHoldsAnotherRoute(t *testing.T) {
	h, _ := handlerPrograms(t)
	_, addr := newBroker(t, 2, "a", "b")
	recsA := retryBatch("a", 2, false)
	recsA[poisonOff].Key = []byte(poisonKey) // partition 0, offset poisonOff
	produceTo(t, addr, "a", recsA)
	produceTo(t, addr, "b", retryBatch("b1", 2, false))
	dir := t.TempDir()
	logB := filepath.Join(dir, "seen-b")
	cfg := writeConfig(t, map[string]any{
		"bootstrap": addr,
		"nodes":     1,
		"routes": []map[string]any{
			{"group": "ga", "topics": []string{"a"}, "command": []string{h, "-fail-key=" + poisonKey}},
			{"group": "gb", "topics": []string{"b"}, "command": []string{h, "-log=" + logB}},
		},
	})
	s := startSwarm(t, swarmArgs("", "-config="+cfg, "-retry-backoff=100ms", "-retry-max-backoff=200ms")...)

	s.waitLog(30*time.Second, "route 0's first retry", 0,
		logged("record.retry", "route", 0, "topic", "a", "partition", 0, "offset", poisonOff, "attempt", 1))
	produceTo(t, addr, "b", retryBatch("b2", 2, false))
	waitCommittedToEnd(t, newAdmin(t, addr), "gb", "b", 30*time.Second)
	from := s.logCount()
	s.waitLog(10*time.Second, "route 0 still retrying after route 1 caught up", from,
		logged("record.retry", "route", 0, "topic", "a", "partition", 0, "offset", poisonOff))
	checkCommittedBelow(t, addr, "ga", "a", 0, poisonOff)
	if got := len(readSeen(t, logB)); got != 4*perPart {
		t.Errorf("route 1's handler read %d records, want %d", got, 4*perPart)
	}
	if l := s.matching(logged("record.retry", "route", 1)); len(l) != 0 {
		t.Errorf("route 1 retried: %v", l)
	}
	for _, ev := range []string{"handler.dead_letter", "record.skipped"} {
		if l := s.matching(logged(ev)); len(l) != 0 {
			t.Errorf("%s without a dead-letter topic and without skip: %v", ev, l)
		}
	}
	checkNoRestart(t, s, 1, 2)
	s.stopGracefully(20 * time.Second)
}

// -on-retries-exhausted skip -max-retries 1, no dead-letter topic: the
// poison record is read twice, then skipped with one record.skipped line,
// and its partition is committed past it.
func TestRetrySkipWhenRetriesExhausted(t *testing.T) {
	h, _ := handlerPrograms(t)
	_, addr := newBroker(t, retryParts, "orders")
	produceTo(t, addr, "orders", retryBatch("a", retryParts, true))
	logPath := filepath.Join(t.TempDir(), "seen")
	s := startSwarm(t, swarmArgs(addr, "-nodes=1", "-on-retries-exhausted=skip", "-max-retries=1", "-retry-backoff=100ms",
		"--", h, "-fail-key="+poisonKey, "-log="+logPath)...)

	skipped, _ := s.waitLog(30*time.Second, "the poison record skipped", 0,
		logged("record.skipped", "topic", "orders", "partition", poisonPart, "offset", poisonOff))
	if skipped.int("attempts") != 2 || !strings.Contains(skipped.str("err"), "refused key "+poisonKey) || skipped.str("level") != "WARN" {
		t.Errorf("record.skipped %v, want WARN, attempts 2 and the handler's error", skipped)
	}
	checkNodeFields(t, skipped)
	waitCommittedToEnd(t, newAdmin(t, addr), "g1", "orders", 30*time.Second)
	checkDeliveries(t, deliveries(readSeen(t, logPath), poisonPart, poisonOff), []time.Duration{100 * time.Millisecond})
	checkRetryLines(t, s, "orders", poisonPart, poisonOff, []float64{100})
	if l := s.matching(logged("record.skipped")); len(l) != 1 {
		t.Errorf("%d record.skipped lines, want 1", len(l))
	}
	if l := s.matching(logged("handler.dead_letter")); len(l) != 0 {
		t.Errorf("dead-lettered without a dead-letter topic: %v", l)
	}
	checkNoRestart(t, s, 1, 1)
	s.stopGracefully(20 * time.Second)
}

// Lines codec: a value holding a newline cannot be framed, so it fails
// without reaching the handler; it is retried -max-retries times (0: not
// at all) and dead-lettered with swarm_attempts one more, while the
// records around it are handled and everything is committed.
func TestRetryLinesCodecUnframableValue(t *testing.T) {
	h, _ := handlerPrograms(t)
	for _, maxRetries := range []int{0, 1} {
		t.Run(fmt.Sprintf("max-retries=%d", maxRetries), func(t *testing.T) {
			_, addr := newBroker(t, 1, "orders", "dlq")
			produceRecords(t, addr, "orders", []*kgo.Record{
				{Value: []byte("a")}, {Key: []byte("k"), Value: []byte("x\ny"), Headers: poisonHeaders}, {Value: []byte("b")},
			})
			logPath := filepath.Join(t.TempDir(), "seen")
			s := startSwarm(t, swarmArgs(addr, "-nodes=1", "-codec=lines", "-dead-letter-topic=dlq",
				"-max-retries="+strconv.Itoa(maxRetries), "-retry-backoff=100ms",
				"--", h, "-codec=lines", "-log="+logPath)...)
			dl, _ := s.waitLog(30*time.Second, "the value with a newline dead-lettered", 0,
				logged("handler.dead_letter", "topic", "orders", "partition", 0, "offset", 1))
			if dl.int("attempts") != maxRetries+1 {
				t.Errorf("handler.dead_letter attempts %d, want %d", dl.int("attempts"), maxRetries+1)
			}
			waitCommittedToEnd(t, newAdmin(t, addr), "g1", "orders", 30*time.Second)
			var next []float64
			for a := 1; a <= maxRetries; a++ {
				next = append(next, 100*math.Pow(2, float64(a-1)))
			}
			checkRetryLines(t, s, "orders", 0, 1, next)
			dlq := readTopic(t, addr, "dlq")[0]
			if len(dlq) != 1 || string(dlq[0].Value) != "x\ny" || string(dlq[0].Key) != "k" {
				t.Fatalf("dead letters %v, want the one value holding a newline, key k", dlq)
			}
			if e, _ := header(dlq[0], hdrError); !strings.Contains(e, "newline") {
				t.Errorf("dead letter error header %q, want it to name the newline", e)
			}
			for k, v := range map[string]string{"trace": "abc", hdrAttempts: strconv.Itoa(maxRetries + 1)} {
				if got, ok := header(dlq[0], k); !ok || got != v {
					t.Errorf("dead letter header %s = %q (present %v), want %q", k, got, ok, v)
				}
			}
			seen := slices.Compact(slices.Sorted(slices.Values(fileLines(t, logPath))))
			if want := []string{"line a", "line b"}; !slices.Equal(seen, want) {
				t.Errorf("handler read %q, want %q (never the value with a newline)", seen, want)
			}
			checkNoRestart(t, s, 1, 1)
			s.stopGracefully(20 * time.Second)
		})
	}
}
