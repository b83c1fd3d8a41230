//go:build linux

package main

import (
	"log/slog"
	"reflect"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
)

// The failure policy: a record's fate by the attempt it failed on, and the
// doubling, capped backoff.
func TestFailurePolicy(t *testing.T) {
	for _, tc := range []struct {
		doc     string
		pol     failurePolicy
		attempt int
		want    outcome
	}{
		{"within max-retries: retried", failurePolicy{maxRetries: 3, deadLetter: true}, 3, retrying},
		{"past max-retries: dead-lettered", failurePolicy{maxRetries: 3, deadLetter: true}, 4, deadLettered},
		{"max-retries 0: dead-lettered at once", failurePolicy{deadLetter: true}, 1, deadLettered},
		{"no dead-letter topic: retried for ever", failurePolicy{maxRetries: 3}, 100, retrying},
		{"no dead-letter topic, skip: skipped", failurePolicy{maxRetries: 3, skip: true}, 4, skipped},
	} {
		if got := tc.pol.decide(tc.attempt); got != tc.want {
			t.Errorf("%s: decide(%d) = %d, want %d", tc.doc, tc.attempt, got, tc.want)
		}
	}
	p := failurePolicy{backoff: time.Second, maxBackoff: 30 * time.Second}
	var got []time.Duration
	for a := 1; a <= 7; a++ {
		got = append(got, p.delay(a))
	}
	want := []time.Duration{1, 2, 4, 8, 16, 30, 30}
	for i := range want {
		want[i] *= time.Second
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("delays %v, want %v", got, want)
	}
	if d := p.delay(1 << 30); d != 30*time.Second {
		t.Errorf("delay of a huge attempt %v, want the cap", d)
	}
}

// retryConsumer is a consumer of topic t on addr with only what settle,
// takeDue and forget use: a client (no group: marks are no-ops) and the
// retry state.
func retryConsumer(t *testing.T, addr string) *consumer {
	cl, err := kgo.NewClient(kgo.SeedBrokers(addr), kgo.ConsumeTopics("t"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cl.Close)
	c := &consumer{cl: cl, log: slog.New(slog.DiscardHandler)}
	c.retries.pol = failurePolicy{backoff: time.Second, maxBackoff: time.Minute, maxRetries: 5}
	return c
}

// A record to retry pauses its partition and holds it and what follows of
// that partition; when due it is handed back on the next attempt, and once
// final the partition resumes. A revoke forgets it and resumes it too.
func TestRetryHoldsResumesAndForgets(t *testing.T) {
	_, addr := newBroker(t, 2, "t")
	c := retryConsumer(t, addr)
	rec := func(p int32, off int64) *kgo.Record { return &kgo.Record{Topic: "t", Partition: p, Offset: off} }
	now := time.Now()

	d := newDelivery([]*kgo.Record{rec(0, 0), rec(0, 1), rec(1, 0), rec(0, 2)})
	d.outcomes = []outcome{handled, retrying, handled, pending}
	if n := c.settle(d, now); n != 2 {
		t.Errorf("settle marked %d, want 2 (partition 0's first and partition 1's)", n)
	}
	if paused := c.cl.PauseFetchPartitions(nil); !reflect.DeepEqual(paused, map[string][]int32{"t": {0}}) {
		t.Errorf("paused %v, want t/0", paused)
	}
	h := c.retries.held[topicPartition{"t", 0}]
	if h == nil || len(h.recs) != 2 || h.recs[0].Offset != 1 || h.attempt != 2 || !h.due.Equal(now.Add(time.Second)) {
		t.Fatalf("held %+v, want offsets 1 and 2, attempt 2, due in 1 s", h)
	}
	if w := c.retries.pollWait(now); w != pollWait {
		t.Errorf("poll wait %v with the retry 1 s away, want pollWait", w)
	}
	if w := c.retries.pollWait(now.Add(900 * time.Millisecond)); w != 100*time.Millisecond {
		t.Errorf("poll wait %v 100 ms before the retry, want 100ms", w)
	}

	early := newDelivery(nil)
	if c.takeDue(early, now.Add(999*time.Millisecond)); len(early.recs) != 0 {
		t.Errorf("took %d records before they were due", len(early.recs))
	}
	due := newDelivery(nil)
	c.takeDue(due, now.Add(time.Second))
	if len(due.recs) != 2 || due.attempt(0) != 2 || due.attempt(1) != 1 {
		t.Fatalf("took %d records, attempts %v, want 2 with attempts 2 and 1", len(due.recs), due.attempts)
	}
	due.handledAll()
	c.settle(due, now.Add(time.Second))
	if paused := c.cl.PauseFetchPartitions(nil); len(paused) != 0 || len(c.retries.held) != 0 {
		t.Errorf("after the retry succeeded: paused %v, held %d, want none", paused, len(c.retries.held))
	}

	again := newDelivery([]*kgo.Record{rec(0, 3)})
	again.outcomes = []outcome{retrying}
	c.settle(again, now)
	c.forget(c.cl, map[string][]int32{"t": {0}})
	if paused := c.cl.PauseFetchPartitions(nil); len(paused) != 0 || len(c.retries.held) != 0 {
		t.Errorf("after a revoke: paused %v, held %d, want none", paused, len(c.retries.held))
	}
}
