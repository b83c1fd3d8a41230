//go:build linux

package main

// The high watermarks a node learns without fetching. Fetches carry a
// partition's high watermark only when they carry records, so a node whose
// fetches fail (a broker that came back with new topic ids answers every
// fetch with an error) would see no lag and never stall, and a partition
// that came to the node caught up would show no lag until new records
// come. Asking the brokers for the owned topics' end offsets now and then
// (one ListOffsets request per route, as kafka_exporter does) closes both.

import (
	"context"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
)

// maxEndOffsetsEvery bounds how often a route asks for end offsets; with a
// -stall-ttl under four times this, a quarter of it, so a stall is seen
// within the TTL and a quarter.
const maxEndOffsetsEvery = 30 * time.Second

// endOffsetsEvery is how often route stats are refreshed from the brokers'
// end offsets for stall detection with ttl (0: off).
func endOffsetsEvery(ttl time.Duration) time.Duration {
	if ttl <= 0 {
		return maxEndOffsetsEvery
	}
	return min(max(ttl/4, time.Second), maxEndOffsetsEvery)
}

// probeEndOffsets refreshes the route's high watermarks from the brokers
// every interval until ctx ends. A failed request is tried at the next
// tick: the fetches' errors are logged by the poll loop already.
func (c *consumer) probeEndOffsets(ctx context.Context, every time.Duration) {
	tick := time.NewTicker(every)
	defer tick.Stop()
	adm := kadm.NewClient(c.cl)
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		topics := c.stats.topics()
		if len(topics) == 0 {
			continue
		}
		rctx, cancel := context.WithTimeout(ctx, every)
		list := adm.ListEndOffsets
		if c.txn != nil {
			list = adm.ListCommittedOffsets // the last stable offsets (routeStats.readCommitted)
		}
		ends, err := list(rctx, topics...)
		cancel()
		if err != nil {
			continue
		}
		c.stats.highWatermarks(listed(ends), time.Now())
		c.stats.bases(c.committed(), c.startOffsets(ctx, adm, topics, every))
	}
}

// listed is the offsets of a ListOffsets answer that came without error.
func listed(os kadm.ListedOffsets) []partOffset {
	var out []partOffset
	os.Each(func(o kadm.ListedOffset) {
		if o.Err == nil && o.Offset >= 0 {
			out = append(out, partOffset{topicPartition{o.Topic, o.Partition}, o.Offset})
		}
	})
	return out
}

// committed is the group's committed offsets as the client last saw them.
func (c *consumer) committed() []partOffset {
	var out []partOffset
	for topic, ps := range c.cl.CommittedOffsets() {
		for p, o := range ps {
			out = append(out, partOffset{topicPartition{topic, p}, o.Offset})
		}
	}
	return out
}

// startOffsets are the log start offsets, where a partition with no
// commit starts with -initial-offset earliest; none with latest (such a
// partition starts at the end, so it has nothing waiting until records come).
func (c *consumer) startOffsets(ctx context.Context, adm *kadm.Client, topics []string, every time.Duration) []partOffset {
	if !c.fromStart {
		return nil
	}
	rctx, cancel := context.WithTimeout(ctx, every)
	defer cancel()
	starts, err := adm.ListStartOffsets(rctx, topics...)
	if err != nil {
		return nil
	}
	return listed(starts)
}
