//go:build linux

package main

import (
	"context"
	"log/slog"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
)

// heldProbe fails every record of partition 0 and handles the rest. The
// first time it is handed held records (attempt > 1) it stays in handle
// until the rebalance that the test starts either runs the revoke callback
// (wrong: rebalances must wait while a batch is in hand) or is blocked by
// BlockRebalanceOnPoll (right).
type heldProbe struct {
	inHeld  chan struct{} // closed when the first held delivery is in hand
	blocked chan struct{} // franz-go held a callback back for our poll
	revoked chan struct{} // the revoke callback ran
	verdict chan string   // what the first held delivery saw
	once    sync.Once
}

func (p *heldProbe) handle(d *delivery) error {
	held := false
	for i, r := range d.recs {
		if r.Partition == 0 {
			d.fail(i, retrying, "poison")
		} else {
			d.outcomes[i] = handled
		}
		held = held || d.attempt(i) > 1
	}
	if held {
		p.once.Do(func() {
			close(p.inHeld)
			select {
			case <-p.blocked:
				p.verdict <- "blocked"
			case <-p.revoked:
				p.verdict <- "revoked while a delivery was in hand"
			case <-time.After(20 * time.Second):
				p.verdict <- "no rebalance within 20 s"
			}
		})
	}
	return nil
}

func (p *heldProbe) close() error { return nil }

// Held records handed back for a retry are a batch in hand like any other:
// a rebalance waits until they are settled (the poll that precedes them
// holds franz-go's rebalance block even when it finds nothing buffered),
// and a partition revoked from the node is forgotten and not left paused.
// The backoff is 1 ns, so every loop turn starts with a retry due.
func TestRetryRebalanceWaitsForHeldRecords(t *testing.T) {
	_, addr := newBroker(t, 2, "t")
	produceTo(t, addr, "t", []*kgo.Record{{Partition: 0, Value: []byte("poison")}})
	p := &heldProbe{inHeld: make(chan struct{}), blocked: make(chan struct{}, 1),
		revoked: make(chan struct{}, 1), verdict: make(chan string, 1)}
	c := &consumer{group: "g", health: &nodeHealth{}, log: slog.New(slog.DiscardHandler),
		topicIDs: map[string][16]byte{}, closeTimeout: 5 * time.Second, auth: newAuthWatch(&kafkaAuth{}, nil)}
	c.retries.pol = failurePolicy{backoff: time.Nanosecond, maxBackoff: time.Nanosecond, maxRetries: 1 << 20}
	var mu sync.Mutex
	var ownedA []int32
	signal := func(ch chan struct{}) {
		select {
		case ch <- struct{}{}:
		default:
		}
	}
	cctx, cancel := context.WithCancel(context.Background())
	c.cancel = cancel
	cl, err := kgo.NewClient(kgo.WithContext(cctx), kgo.SeedBrokers(addr), kgo.ConsumerGroup("g"), kgo.ConsumeTopics("t"),
		kgo.AutoCommitMarks(), kgo.BlockRebalanceOnPoll(), kgo.FetchMaxWait(500*time.Millisecond),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), kgo.Balancers(kgo.RangeBalancer()),
		kgo.HeartbeatInterval(100*time.Millisecond), kgo.SessionTimeout(3*time.Second),
		kgo.OnPartitionsAssigned(func(_ context.Context, _ *kgo.Client, a map[string][]int32) {
			mu.Lock()
			ownedA = a["t"]
			mu.Unlock()
		}),
		kgo.OnPartitionsRevoked(func(ctx context.Context, cl *kgo.Client, parts map[string][]int32) {
			signal(p.revoked)
			c.revoked(ctx, cl, parts)
		}),
		kgo.OnPartitionsLost(c.lost),
		kgo.OnPartitionsCallbackBlocked(func(context.Context, *kgo.Client) { signal(p.blocked) }),
		kgo.WithHooks(c.auth))
	if err != nil {
		t.Fatal(err)
	}
	c.cl = cl
	runCtx, stop := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- c.run(runCtx, nil, p) }()
	defer func() { stop(); <-done }()

	select {
	case <-p.inHeld:
	case <-time.After(20 * time.Second):
		t.Fatal("the failed record was never handed back for a retry")
	}
	// A second member joins: the eager range rebalance revokes everything
	// from the first, which must wait for the delivery in hand.
	clB, err := kgo.NewClient(kgo.SeedBrokers(addr), kgo.ConsumerGroup("g"), kgo.ConsumeTopics("t"),
		kgo.Balancers(kgo.RangeBalancer()), kgo.HeartbeatInterval(100*time.Millisecond),
		kgo.SessionTimeout(3*time.Second), kgo.DisableAutoCommit())
	if err != nil {
		t.Fatal(err)
	}
	defer clB.Close()
	bctx, bstop := context.WithCancel(context.Background())
	defer bstop()
	go func() {
		for bctx.Err() == nil {
			clB.PollRecords(bctx, 10)
		}
	}()
	if v := <-p.verdict; v != "blocked" {
		t.Fatalf("the rebalance: %s", v)
	}
	// Once the group has settled with both members, a partition the first
	// lost is neither held nor paused there.
	waitFor(t, 20*time.Second, "the first member to get its new assignment", func() bool {
		mu.Lock()
		defer mu.Unlock()
		return len(ownedA) == 1
	})
	mu.Lock()
	owns0 := slices.Contains(ownedA, 0)
	mu.Unlock()
	if !owns0 {
		c.retries.mu.Lock()
		_, held := c.retries.held[topicPartition{"t", 0}]
		c.retries.mu.Unlock()
		if paused := cl.PauseFetchPartitions(nil); held || len(paused) > 0 {
			t.Errorf("partition 0 moved away but is still held (%v) or paused (%v)", held, paused)
		}
	}
}
