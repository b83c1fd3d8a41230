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

// A batch far larger than the in-flight window streams through: the
// writer waits for answers to free slots, nothing deadlocks, every record
// is done; and the next batch starts from a clean window.
func TestExecHandlerBatchLargerThanWindow(t *testing.T) {
	_, answer := handlerPrograms(t)
	for _, codec := range []string{"json", "lines"} {
		h, _ := startTestHandler(t, &config{flagRouteConfig: flagRouteConfig{codec: codec}}, answer)
		for round := 0; round < 3; round++ {
			recs := testRecords(3*inflightWindow+7, int64(round*10000))
			if done, err := h.handle(recs); err != nil || done != len(recs) {
				t.Fatalf("%s round %d: done=%d err=%v, want %d", codec, round, done, err, len(recs))
			}
		}
		if err := h.close(); err != nil {
			t.Errorf("%s: close: %v", codec, err)
		}
	}
}

// Outputs are produced in record order; failed records go to the dead
// letter topic and count as done.
func TestExecHandlerOutputsAndDeadLetters(t *testing.T) {
	handler, _ := handlerPrograms(t)
	h, p := startTestHandler(t, &config{flagRouteConfig: flagRouteConfig{outputTopic: "out", deadLetterTopic: "dlq"}}, handler, "-answer=tag", "-fail-key=5,9")
	recs := testRecords(20, 0)
	if done, err := h.handle(recs); err != nil || done != 20 {
		t.Fatalf("done=%d err=%v, want 20", done, err)
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
}

// Without a dead-letter topic the first failed record ends the batch: the
// records before it are done, it and everything after are not, and nothing
// from it on is produced.
func TestExecHandlerStopsAtFirstFailure(t *testing.T) {
	handler, _ := handlerPrograms(t)
	h, p := startTestHandler(t, &config{flagRouteConfig: flagRouteConfig{outputTopic: "out"}}, handler, "-answer=tag", "-fail-key=5,9")
	done, err := h.handle(testRecords(20, 0))
	if done != 5 || err == nil || !strings.Contains(err.Error(), "topic orders partition 0 offset 5") || !strings.Contains(err.Error(), "refused key 5") {
		t.Fatalf("done=%d err=%v, want 5 and an error naming offset 5 and the handler's reason", done, err)
	}
	if out := p.produced("out"); len(out) != 5 || string(out[4].Key) != "4" {
		t.Errorf("produced %d outputs (last %q), want the 5 before the failure", len(out), out[len(out)-1].Key)
	}
}

// In -codec lines a value holding a newline is never sent; without a dead
// letter topic it stops the batch like any failure.
func TestExecHandlerUnframeable(t *testing.T) {
	handler, _ := handlerPrograms(t)
	h, _ := startTestHandler(t, &config{flagRouteConfig: flagRouteConfig{codec: "lines"}}, handler, "-codec=lines")
	recs := testRecords(6, 0)
	recs[3].Value = []byte("two\nlines")
	done, err := h.handle(recs)
	if done != 3 || err == nil || !strings.Contains(err.Error(), "offset 3") || !strings.Contains(err.Error(), "newline") {
		t.Fatalf("done=%d err=%v, want 3 and an error about offset 3's newline", done, err)
	}
	// The stream itself is intact: the records after it were answered.
	if done, err := h.handle(testRecords(4, 10)); done != 4 || err != nil {
		t.Errorf("next batch: done=%d err=%v, want 4", done, err)
	}
}

// A record whose output the broker refuses is not done, nor anything after.
func TestExecHandlerOutputNotAcked(t *testing.T) {
	handler, _ := handlerPrograms(t)
	h, p := startTestHandler(t, &config{flagRouteConfig: flagRouteConfig{outputTopic: "out"}}, handler, "-answer=tag")
	p.failKey = "7"
	done, err := h.handle(testRecords(12, 0))
	if done != 7 || err == nil || !strings.Contains(err.Error(), "produce output of record topic orders partition 0 offset 7") {
		t.Fatalf("done=%d err=%v, want 7 and an error about offset 7's output", done, err)
	}
}

// CMD dying mid-batch: what it answered before counts, the rest does not,
// the failure is sticky, and close reports it.
func TestExecHandlerDiesMidBatch(t *testing.T) {
	handler, _ := handlerPrograms(t)
	h, _ := startTestHandler(t, &config{}, handler, "-exit-after=10")
	done, err := h.handle(testRecords(50, 0))
	if done != 10 || err == nil || !strings.Contains(err.Error(), "exited unexpectedly (exit 3)") {
		t.Fatalf("done=%d err=%v, want 10 and the exit", done, err)
	}
	select {
	case <-h.failed():
	default:
		t.Error("failed() not closed")
	}
	if done, err := h.handle(testRecords(5, 50)); done != 0 || err == nil {
		t.Errorf("after the death: done=%d err=%v, want 0 and the error", done, err)
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
				if n, err := h.handle(recs); err != nil || n != len(recs) {
					b.Fatal(n, err)
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
	return newCmdHandler(p, &r, prod), nil
}
