//go:build linux

package main

import (
	"context"
	"crypto/rand"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
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

// A real node whose partition stops being fetched with records left
// reports status 4 once -stall-ttl passes, healthy until then. The broker
// serves the first fetch (part of the backlog: a fetch returns at most
// about 1 MiB of a partition) and holds every later one, so the node
// knows a high watermark it cannot reach.
func TestStallReportedByARealNode(t *testing.T) {
	c, addr := newBroker(t, 1, "orders")
	// 3 000 records of 1 KiB of random bytes: 3 MiB the producer cannot
	// compress, three fetches' worth at least.
	recs := make([]*kgo.Record, 3000)
	for i := range recs {
		v := make([]byte, 1024)
		rand.Read(v)
		recs[i] = &kgo.Record{Value: v}
	}
	produceTo(t, addr, "orders", recs)
	var fetches atomic.Int32
	release := make(chan struct{})
	defer close(release)
	c.ControlKey(kmsg.Fetch.Int16(), func(kmsg.Request) (kmsg.Response, error, bool) {
		c.KeepControl()
		if fetches.Add(1) > 1 {
			c.SleepControl(func() { <-release })
		}
		return nil, nil, false
	})
	node, dir := startStatsNode(t, swarmArgs(addr, "-handler=discard", "-stall-ttl=1s", "-report-interval=100ms",
		"-stats-interval=100ms")...)
	var l statsLine
	defer func() {
		if t.Failed() {
			b, _ := os.ReadFile(filepath.Join(dir, "health"))
			l, _ := lastStats(t, filepath.Join(dir, "stats"))
			t.Logf("fetches %d, health %.20q, last stats %+v", fetches.Load(), b, l)
		}
	}()
	waitFor(t, 30*time.Second, "status 4 on the health pipe", func() bool {
		b, _ := os.ReadFile(filepath.Join(dir, "health"))
		return strings.Contains(string(b), "4\n")
	})
	health, _ := os.ReadFile(filepath.Join(dir, "health"))
	before := strings.SplitN(string(health), "4\n", 2)[0]
	if n := strings.Count(before, "0\n"); n < 5 || n != strings.Count(before, "\n") {
		t.Errorf("reports before the first 4: %q, want healthy ones for about the TTL (10 at 100 ms)", before)
	}
	l, _ = lastStats(t, filepath.Join(dir, "stats"))
	if len(l.Routes) != 1 || len(l.Routes[0].Partitions) != 1 {
		t.Fatalf("stats %+v: want one partition", l)
	}
	p := l.Routes[0].Partitions[0]
	if p.Handled <= 0 || p.HighWatermark != 3000 || p.Handled >= p.HighWatermark || p.Paused {
		t.Errorf("partition %+v: want handled part of the way to 3000, not paused", p)
	}
	node.stop()
}

// A partition written by a transactional producer ends with a
// commit marker the consumer never gets: handled stops one below the high
// watermark for good. Quiet and fully handled, it must not stall.
func TestStallNotForATransactionsCommitMarker(t *testing.T) {
	_, addr := newBroker(t, 1, "orders")
	cl, err := kgo.NewClient(kgo.SeedBrokers(addr), kgo.TransactionalID("tx"), kgo.DefaultProduceTopic("orders"))
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if err := cl.BeginTransaction(); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 10; i++ {
		if err := cl.ProduceSync(ctx, &kgo.Record{Value: []byte("v")}).FirstErr(); err != nil {
			t.Fatal(err)
		}
	}
	if err := cl.EndTransaction(ctx, kgo.TryCommit); err != nil {
		t.Fatal(err)
	}
	cl.Close()
	node, dir := startStatsNode(t, swarmArgs(addr, "-handler=discard", "-stall-ttl=1s", "-report-interval=100ms",
		"-stats-interval=100ms")...)
	defer node.stop()
	file := filepath.Join(dir, "stats")
	var l statsLine
	waitFor(t, 30*time.Second, "the 10 records handled and committed", func() bool {
		var ok bool
		l, ok = lastStats(t, file)
		return ok && len(l.Routes) == 1 && len(l.Routes[0].Partitions) == 1 && l.Routes[0].Handled == 10 &&
			l.Routes[0].Partitions[0].Committed == 10
	})
	caught := time.Now()
	waitFor(t, 30*time.Second, "4 s of the node's stats after catching up", func() bool {
		l, _ = lastStats(t, file)
		return l.AtMs >= caught.Add(4*time.Second).UnixMilli()
	})
	health, _ := os.ReadFile(filepath.Join(dir, "health"))
	if strings.Contains(string(health), "4\n") {
		t.Errorf("a quiet, fully handled transactional partition reported stalled (status 4); partition %+v",
			l.Routes[0].Partitions[0])
	}
}

// A node whose fetches never succeed from its start (or whose partitions
// came to it at a rebalance: eager range is the default) never handled
// anything: the partition is judged from where it starts (the committed
// offset, else the log start), and the end-offset probe knows records
// wait, so it stalls.
func TestStallWhenNothingWasEverFetched(t *testing.T) {
	c, addr := newBroker(t, 1, "orders")
	produce(t, addr, "orders", 100)
	var fetches atomic.Int32
	release := make(chan struct{})
	defer close(release)
	c.ControlKey(kmsg.Fetch.Int16(), func(kmsg.Request) (kmsg.Response, error, bool) {
		c.KeepControl()
		fetches.Add(1)
		c.SleepControl(func() { <-release })
		return nil, nil, false
	})
	node, dir := startStatsNode(t, swarmArgs(addr, "-handler=discard", "-stall-ttl=1s", "-report-interval=100ms",
		"-stats-interval=100ms")...)
	defer node.stop()
	file := filepath.Join(dir, "stats")
	waitFor(t, 30*time.Second, "the probe's high watermark 100 in the stats", func() bool {
		l, ok := lastStats(t, file)
		return ok && len(l.Routes) == 1 && len(l.Routes[0].Partitions) == 1 && l.Routes[0].Partitions[0].HighWatermark == 100
	})
	start := time.Now()
	var l statsLine
	waitFor(t, 30*time.Second, "8 s of stats with the lag of 100 (8 TTLs)", func() bool {
		l, _ = lastStats(t, file)
		return l.AtMs >= start.Add(8*time.Second).UnixMilli()
	})
	health, _ := os.ReadFile(filepath.Join(dir, "health"))
	if !strings.Contains(string(health), "4\n") {
		t.Errorf("no fetch ever answered, lag 100 for 8 TTLs, yet no status 4; partition %+v, fetches %d",
			l.Routes[0].Partitions[0], fetches.Load())
	}
}

// franz-go hands a buffered fetch out partition by partition, so
// with a backlog a slow handler works through partition 0 while partition
// 1's records wait in the client. The node makes progress all along; it
// must not be judged stalled (and killed, to do the same again).
func TestStallNotWhileAnotherPartitionProgresses(t *testing.T) {
	t0 := time.Now()
	ttl := 5 * time.Minute
	c := statsConsumer(t, t0)
	c.stats.dropped(map[string][]int32{"t": {2}})
	rec := func(p int32, off int64) *kgo.Record { return &kgo.Record{Topic: "t", Partition: p, Offset: off} }
	// Both caught up at 1, then a burst: 10 000 records each.
	first := newDelivery([]*kgo.Record{rec(0, 0), rec(1, 0)})
	first.handledAll()
	settleBatch(c, first, time.Millisecond, t0)
	c.stats.fetched(fetchOf(map[int32]int64{0: 10001, 1: 10001}), t0)
	// Batches of 500 of partition 0, 30 s each (under -consuming-ttl).
	now := t0
	for off := int64(1); off < 10001; off += 500 {
		recs := make([]*kgo.Record, 0, 500)
		for o := off; o < off+500; o++ {
			recs = append(recs, rec(0, o))
		}
		d := newDelivery(recs)
		c.stats.handing(d)
		now = now.Add(30 * time.Second)
		if c.stalled(now, ttl) {
			t.Fatalf("judged stalled at %v while handling batch after batch (partition 0 at %d)", now.Sub(t0), off)
		}
		d.handledAll()
		settleBatch(c, d, 30*time.Second, now)
		if c.stalled(now, ttl) {
			t.Fatalf("judged stalled at %v right after a batch moved partition 0 to %d", now.Sub(t0), off+500)
		}
	}
}
