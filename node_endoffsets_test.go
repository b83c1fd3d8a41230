//go:build linux

package main

import (
	"context"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
)

// A route learns an owned partition's high watermark from the brokers'
// end offsets even when it fetches nothing, and then judges it stalled:
// the case of fetches that keep failing.
func TestEndOffsetsFeedHighWatermarksAndStall(t *testing.T) {
	_, addr := newBroker(t, 2, "t")
	produceTo(t, addr, "t", []*kgo.Record{{Partition: 0}, {Partition: 0}, {Partition: 0}})
	cl, err := kgo.NewClient(kgo.SeedBrokers(addr))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	c := &consumer{cl: cl, stats: newRouteStats()}
	t0 := time.Now()
	c.stats.assigned(map[string][]int32{"t": {0, 1}}, t0)
	c.stats.parts[topicPartition{"t", 0}].handled = 1 // handled offset 0 only
	ctx, stop := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); c.probeEndOffsets(ctx, 10*time.Millisecond) }()
	defer func() { stop(); <-done }()
	waitFor(t, 10*time.Second, "partition 0's end offset in the route's stats", func() bool {
		c.stats.mu.Lock()
		defer c.stats.mu.Unlock()
		return c.stats.parts[topicPartition{"t", 0}].hwm == 3
	})
	if c.stats.parts[topicPartition{"t", 1}].hwm != 0 {
		t.Errorf("partition 1's high watermark %d, want 0 (empty)", c.stats.parts[topicPartition{"t", 1}].hwm)
	}
	if !c.stalled(time.Now().Add(time.Hour), time.Minute) {
		t.Error("partition 0 has records its handled offset never reached, yet is not stalled")
	}
	if got := endOffsetsEvery(5 * time.Minute); got != maxEndOffsetsEvery {
		t.Errorf("asked every %v with the default TTL, want %v", got, maxEndOffsetsEvery)
	}
	if got := endOffsetsEvery(2 * time.Second); got != time.Second {
		t.Errorf("asked every %v with a 2 s TTL, want 1s", got)
	}
}
