//go:build linux

package main

// The exec handler in-process, against testdata/handler and testdata/answer
// with a fake producer: windowing, ordering, what counts as done when
// records fail, outputs fail to produce or CMD dies mid-batch. Fast and
// exact, where the end-to-end tests (handlercmd_test.go) can only look at
// topics and logs.

import (
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
)

// fakeProducer records what is produced and acks it from another
// goroutine, as franz-go does; a record whose key is failKey is refused.
type fakeProducer struct {
	mu      sync.Mutex
	recs    []*kgo.Record
	failKey string
}

func (p *fakeProducer) Produce(_ context.Context, r *kgo.Record, promise func(*kgo.Record, error)) {
	p.mu.Lock()
	p.recs = append(p.recs, r)
	p.mu.Unlock()
	var err error
	if p.failKey != "" && string(r.Key) == p.failKey {
		err = errors.New("broker says no")
	}
	go promise(r, err)
}

func (p *fakeProducer) Flush(context.Context) error { return nil }

// produced returns the records produced to topic, in order.
func (p *fakeProducer) produced(topic string) []*kgo.Record {
	p.mu.Lock()
	defer p.mu.Unlock()
	var out []*kgo.Record
	for _, r := range p.recs {
		if r.Topic == topic {
			out = append(out, r)
		}
	}
	return out
}

// startTestHandler starts argv as node 0's handler command in this process.
func startTestHandler(t testing.TB, cfg *config, argv ...string) (*cmdHandler, *fakeProducer) {
	t.Helper()
	cfg.command, cfg.group, cfg.topics, cfg.shutdownTimeout = argv, "g1", []string{"orders"}, time.Second
	if cfg.codec == "" {
		cfg.codec = "json"
	}
	p := &fakeProducer{}
	h, err := startExecHandler(cfg, 0, p, slog.New(slog.NewTextHandler(io.Discard, nil)), io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { h.close() })
	return h, p
}

// testRecords are n records of partition 0 from offset first, with keys
// equal to their offsets.
func testRecords(n int, first int64) []*kgo.Record {
	recs := make([]*kgo.Record, n)
	for i := range recs {
		o := first + int64(i)
		recs[i] = &kgo.Record{Topic: "orders", Offset: o, Timestamp: time.UnixMilli(1700000000000 + o/10),
			Key: []byte(strconv.FormatInt(o, 10)), Value: bytes.Repeat([]byte("v"), 100)}
	}
	return recs
}

// outcomeLetters is each outcome as a letter: h handled, d dead-lettered,
// s skipped, r retrying, p pending.
func outcomeLetters(d *delivery) string {
	var b strings.Builder
	for _, o := range d.outcomes {
		b.WriteByte("phdsr"[o])
	}
	return b.String()
}

// handleNew hands recs to h as a first delivery.
func handleNew(h recordHandler, recs []*kgo.Record) (*delivery, error) {
	d := newDelivery(recs)
	return d, h.handle(d)
}

// twoPartitions are records of partitions 0 and 1 interleaved by run: keys
// 0-9 on partition 0, 10-19 on partition 1.
func twoPartitions() []*kgo.Record {
	recs := testRecords(20, 0)
	for _, r := range recs[10:] {
		r.Partition, r.Offset = 1, r.Offset-10
	}
	return recs
}

// A batch far larger than the in-flight window streams through: the
// writer waits for answers to free slots, nothing deadlocks, every record
// is done; and the next batch starts from a clean window.
func TestExecHandlerBatchLargerThanWindow(t *testing.T) {
	_, answer := handlerPrograms(t)
	for _, codec := range []string{"json", "lines"} {
		h, _ := startTestHandler(t, &config{flagRouteConfig: flagRouteConfig{codec: codec}}, answer)
		for round := 0; round < 3; round++ {
			recs := testRecords(3*inflightWindow+7, int64(round*10000))
			d, err := handleNew(h, recs)
			if got := outcomeLetters(d); err != nil || got != strings.Repeat("h", len(recs)) {
				t.Fatalf("%s round %d: outcomes %s err=%v, want all handled", codec, round, got, err)
			}
		}
		if err := h.close(); err != nil {
			t.Errorf("%s: close: %v", codec, err)
		}
	}
}

// With -max-retries 0 and a dead-letter topic, failed records go to it at
// once and are final; outputs are produced in record order.
func TestExecHandlerOutputsAndDeadLetters(t *testing.T) {
	handler, _ := handlerPrograms(t)
	h, p := startTestHandler(t, &config{flagRouteConfig: flagRouteConfig{outputTopic: "out", deadLetterTopic: "dlq"}}, handler, "-answer=tag", "-fail-key=5,9")
	recs := testRecords(20, 0)
	for _, r := range recs {
		r.Partition = 7
	}
	d, err := handleNew(h, recs)
	if got, want := outcomeLetters(d), "hhhhhdhhhdhhhhhhhhhh"; err != nil || got != want {
		t.Fatalf("outcomes %s err=%v, want %s", got, err, want)
	}
	var keys []string
	for _, r := range p.produced("out") {
		keys = append(keys, string(r.Key))
		if string(r.Value) != "handled "+string(r.Key) {
			t.Errorf("output %q=%q", r.Key, r.Value)
		}
	}
	if want := "0 1 2 3 4 6 7 8 10 11 12 13 14 15 16 17 18 19"; strings.Join(keys, " ") != want {
		t.Errorf("outputs for %v, want %s in order", keys, want)
	}
	dlq := p.produced("dlq")
	if len(dlq) != 2 || string(dlq[0].Key) != "5" || string(dlq[1].Key) != "9" {
		t.Fatalf("dead letters %v, want keys 5 and 9", dlq)
	}
	if off, _ := header(dlq[1], hdrOriginalOffset); off != "9" {
		t.Errorf("dead letter offset header %q, want 9", off)
	}
	if n, _ := header(dlq[1], hdrAttempts); n != "1" || dlq[1].Partition != 7 {
		t.Errorf("dead letter attempts %q partition %d, want 1 and the source's 7", n, dlq[1].Partition)
	}
	if d.produced != 20 {
		t.Errorf("produced %d, want 20 (18 outputs and 2 dead letters acknowledged)", d.produced)
	}
}

// A failed record to be retried stops its own partition there: the records
// before it are handled, it is retrying (with the handler's reason), the
// rest of its partition is pending and produces nothing; the other
// partition is untouched.
func TestExecHandlerRetryStopsOnlyItsPartition(t *testing.T) {
	handler, _ := handlerPrograms(t)
	h, p := startTestHandler(t, &config{flagRouteConfig: flagRouteConfig{outputTopic: "out"}, retryConfig: retryConfig{maxRetries: 3}},
		handler, "-answer=tag", "-fail-key=5,12")
	d, err := handleNew(h, twoPartitions())
	if got, want := outcomeLetters(d), "hhhhhrpppphhrppppppp"; err != nil || got != want {
		t.Fatalf("outcomes %s err=%v, want %s", got, err, want)
	}
	if !strings.Contains(d.reason(5), "refused key 5") {
		t.Errorf("reason %q, want the handler's", d.reason(5))
	}
	var keys []string
	for _, r := range p.produced("out") {
		keys = append(keys, string(r.Key))
	}
	if want := "0 1 2 3 4 10 11"; strings.Join(keys, " ") != want {
		t.Errorf("outputs for %v, want %s", keys, want)
	}
}

// The policy decides by the attempt a record is on: within -max-retries a
// failure is retried; after, it is dead-lettered (with the attempts in its
// header), or skipped, or, with neither, retried for ever.
func TestExecHandlerFailureByAttempt(t *testing.T) {
	handler, _ := handlerPrograms(t)
	for _, tc := range []struct {
		doc     string
		dlq     string
		skip    bool
		attempt int
		want    string
	}{
		{"within max-retries: retried", "dlq", false, 2, "hr"},
		{"past max-retries: dead-lettered", "dlq", false, 3, "hd"},
		{"past max-retries, skip: skipped", "", true, 3, "hs"},
		{"past max-retries, no dead-letter topic: retried for ever", "", false, 9, "hr"},
	} {
		cfg := &config{flagRouteConfig: flagRouteConfig{deadLetterTopic: tc.dlq}, retryConfig: retryConfig{maxRetries: 2}}
		if tc.skip {
			cfg.onRetriesExhausted = "skip"
		}
		h, p := startTestHandler(t, cfg, handler, "-fail-key=1")
		d := newDelivery(nil)
		d.add(testRecords(1, 0), 1)
		d.add(testRecords(1, 1), tc.attempt)
		if err := h.handle(d); err != nil || outcomeLetters(d) != tc.want {
			t.Errorf("%s: outcomes %s err=%v, want %s", tc.doc, outcomeLetters(d), err, tc.want)
		}
		if dl := p.produced("dlq"); tc.want == "hd" {
			if n, _ := header(dl[0], hdrAttempts); len(dl) != 1 || n != "3" {
				t.Errorf("%s: dead letters %d, attempts %q, want 1 with 3", tc.doc, len(dl), n)
			}
		}
		h.close()
	}
}

// In -codec lines a value holding a newline is never sent: it fails like
// any record, and the stream itself stays intact.
func TestExecHandlerUnframeable(t *testing.T) {
	handler, _ := handlerPrograms(t)
	h, _ := startTestHandler(t, &config{flagRouteConfig: flagRouteConfig{codec: "lines"}}, handler, "-codec=lines")
	recs := testRecords(6, 0)
	recs[3].Value = []byte("two\nlines")
	d, err := handleNew(h, recs)
	if got := outcomeLetters(d); err != nil || got != "hhhrpp" || !strings.Contains(d.reason(3), "newline") {
		t.Fatalf("outcomes %s reason %q err=%v, want hhhrpp and a reason about the newline", got, d.reason(3), err)
	}
	if d, err := handleNew(h, testRecords(4, 10)); outcomeLetters(d) != "hhhh" || err != nil {
		t.Errorf("next batch: outcomes %s err=%v, want all handled", outcomeLetters(d), err)
	}
}

// A record whose output the broker refuses is pending, and the error says
// why: the node stops and the record comes again.
func TestExecHandlerOutputNotAcked(t *testing.T) {
	handler, _ := handlerPrograms(t)
	h, p := startTestHandler(t, &config{flagRouteConfig: flagRouteConfig{outputTopic: "out"}}, handler, "-answer=tag")
	p.failKey = "7"
	d, err := handleNew(h, testRecords(12, 0))
	if got := outcomeLetters(d); got != "hhhhhhhphhhh" || err == nil || !strings.Contains(err.Error(), "produce output of record topic orders partition 0 offset 7") {
		t.Fatalf("outcomes %s err=%v, want offset 7 pending and an error about its output", got, err)
	}
	if d.produced != 11 {
		t.Errorf("produced %d, want 11: the refused output is not counted", d.produced)
	}
}

// CMD dying mid-batch: what it answered before counts, the rest does not,
// the failure is sticky, and close reports it.
func TestExecHandlerDiesMidBatch(t *testing.T) {
	handler, _ := handlerPrograms(t)
	h, _ := startTestHandler(t, &config{}, handler, "-exit-after=10")
	d, err := handleNew(h, testRecords(50, 0))
	if got := outcomeLetters(d); got != strings.Repeat("h", 10)+strings.Repeat("p", 40) || err == nil || !strings.Contains(err.Error(), "exited unexpectedly (exit 3)") {
		t.Fatalf("outcomes %s err=%v, want 10 handled and the exit", got, err)
	}
	select {
	case <-h.failed():
	default:
		t.Error("failed() not closed")
	}
	if d, err := handleNew(h, testRecords(5, 50)); outcomeLetters(d) != "ppppp" || err == nil {
		t.Errorf("after the death: outcomes %s err=%v, want all pending and the error", outcomeLetters(d), err)
	}
	if err := h.close(); err == nil || !strings.Contains(err.Error(), "exit 3") {
		t.Errorf("close: %v, want the exit", err)
	}
}

// close on a healthy CMD: stdin EOF, exit 0, no error; its memory was
// readable while it ran and is 0 once it is gone.
func TestExecHandlerClose(t *testing.T) {
	_, answer := handlerPrograms(t)
	h, _ := startTestHandler(t, &config{}, answer)
	if rss := h.rss(); rss <= 0 {
		t.Errorf("rss of a running handler: %d", rss)
	}
	if err := h.close(); err != nil {
		t.Fatalf("close: %v", err)
	}
	if h.status.code != 0 {
		t.Errorf("exit %s, want 0", h.status)
	}
	if rss := h.rss(); rss != 0 {
		t.Errorf("rss after close: %d, want 0", rss)
	}
	h.kill() // a no-op once reaped: must not signal anything
}

// BenchmarkExecHandler: records/s through the pipe alone, in this process,
// 500-record batches of 100-byte values answered by testdata/answer.
func BenchmarkExecHandler(b *testing.B) {
	_, answer := handlerPrograms(b)
	for _, codec := range []string{"json", "lines"} {
		b.Run(codec, func(b *testing.B) {
			h, _ := startTestHandler(b, &config{flagRouteConfig: flagRouteConfig{codec: codec}}, answer)
			recs := testRecords(500, 0)
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				if d, err := handleNew(h, recs); err != nil || !allFinal(d.outcomes) {
					b.Fatal(outcomeLetters(d), err)
				}
			}
			b.ReportMetric(float64(b.N*len(recs))/b.Elapsed().Seconds(), "rec/s")
		})
	}
}

// startExecHandler starts the flag route's CMD for node nodeID and the
// handler around it, producing with prod.
func startExecHandler(cfg *config, nodeID int, prod producer, log *slog.Logger, stderrOut io.Writer) (*cmdHandler, error) {
	r := cfg.flagRoute()
	p, err := startCmdProcess(cfg, &r, nodeID, stderrPrefix(nodeID, &r, 1), log, stderrOut)
	if err != nil {
		return nil, err
	}
	return newCmdHandler(p, &r, prod, policyFor(cfg, &r)), nil
}
