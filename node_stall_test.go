//go:build linux

package main

import (
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
)

// A partition with records to handle whose handled offset has not moved
// for the TTL is stalled; one caught up, or held for a retry, is not; new
// records after a quiet spell start its clock afresh.
func TestStallRule(t *testing.T) {
	t0 := time.Now()
	ttl := time.Minute
	c := statsConsumer(t, t0)
	c.stats.dropped(map[string][]int32{"t": {1, 2}})
	handle := func(off int64, o outcome, at time.Time) {
		d := newDelivery([]*kgo.Record{{Topic: "t", Partition: 0, Offset: off}})
		d.outcomes[0] = o
		if o == retrying {
			d.fail(0, o, "x")
		}
		settleBatch(c, d, time.Millisecond, at)
	}
	handle(4, handled, t0)
	if c.stalled(t0.Add(time.Hour), ttl) {
		t.Error("stalled with no high watermark known")
	}
	c.stats.fetched(fetchOf(map[int32]int64{0: 5}), t0)
	if c.stalled(t0.Add(time.Hour), ttl) {
		t.Error("stalled while caught up (high watermark 5, handled 5)")
	}
	// New records an hour later: the clock starts at the fetch.
	t1 := t0.Add(time.Hour)
	c.stats.fetched(fetchOf(map[int32]int64{0: 9}), t1)
	if c.stalled(t1.Add(ttl-time.Second), ttl) {
		t.Error("stalled before the TTL since the new records came")
	}
	if !c.stalled(t1.Add(ttl+time.Second), ttl) {
		t.Error("not stalled with lag 4 and handled still for longer than the TTL")
	}
	t2 := t1.Add(2 * ttl)
	handle(5, retrying, t2)
	if c.stalled(t2.Add(10*ttl), ttl) {
		t.Error("stalled while held for a retry")
	}
	handle(5, handled, t2.Add(10*ttl)) // the retry succeeds: released, moved
	if c.stalled(t2.Add(10*ttl+ttl-time.Second), ttl) {
		t.Error("stalled within the TTL after the retry succeeded")
	}
}

// Status 4 is the node's report when a route stalls, above any other, and
// not while quiet or with -stall-ttl 0.
func TestStallStatus(t *testing.T) {
	now := time.Now()
	cfg := &config{healthConfig: healthConfig{reportInterval: time.Second, pollingTTL: time.Minute,
		consumingTTL: time.Minute, stallTTL: time.Minute}}
	cfg.memoryLimitMiB = 1
	stalled := &nodeHealth{stalled: func(time.Time, time.Duration) bool { return true }}
	stalled.polled(now)
	fine := &nodeHealth{stalled: func(time.Time, time.Duration) bool { return false }}
	fine.polled(now)
	r := &reporter{cfg: cfg, healths: []*nodeHealth{fine, stalled}}
	if st := r.status(now, 2<<20); st != statusStalled {
		t.Errorf("status %d with a stalled route and memory over, want %d", st, statusStalled)
	}
	stalled.quiet.Store(true)
	if st := r.status(now, 0); st != statusHealthy {
		t.Errorf("quiet: status %d, want healthy", st)
	}
	stalled.quiet.Store(false)
	cfg.stallTTL = 0
	if st := r.status(now, 0); st != statusHealthy {
		t.Errorf("-stall-ttl 0: status %d, want healthy", st)
	}
}

// A partition whose records the handler has now is not stalled however
// long the batch takes (-consuming-ttl judges that); once the batch is
// settled without progress, its clock runs from the last report that saw
// it in hand.
func TestStallNotWhileInHand(t *testing.T) {
	t0 := time.Now()
	ttl := time.Minute
	c := statsConsumer(t, t0)
	c.stats.dropped(map[string][]int32{"t": {1, 2}})
	first := newDelivery([]*kgo.Record{{Topic: "t", Partition: 0, Offset: 0}})
	first.handledAll()
	settleBatch(c, first, time.Millisecond, t0)
	c.stats.fetched(fetchOf(map[int32]int64{0: 9}), t0)
	d := newDelivery([]*kgo.Record{{Topic: "t", Partition: 0, Offset: 1}, {Topic: "t", Partition: 0, Offset: 2}})
	c.stats.handing(d)
	if c.stalled(t0.Add(10*ttl), ttl) {
		t.Error("stalled while its records are in the handler's hands")
	}
	settleBatch(c, d, 10*ttl, t0.Add(10*ttl)) // nothing final: pending
	if c.stalled(t0.Add(11*ttl-time.Second), ttl) {
		t.Error("stalled within the TTL of the batch's end")
	}
	if !c.stalled(t0.Add(11*ttl+time.Second), ttl) {
		t.Error("not stalled a TTL after a batch that moved nothing")
	}
}
