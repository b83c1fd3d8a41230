//go:build linux

package main

// What a route's consumer knows about its work, for the stats line the
// node sends the supervisor (node_statswriter.go) and for stall detection
// (node_stall.go): per owned partition how far it is handled and how far
// the broker is, the route's outcome counters, its batch handle times and
// its last failures. The poll goroutine writes it once per batch under one
// lock (the per-record work is done before taking it); franz-go's
// assign, revoke and lost callbacks change which partitions are owned;
// the writer and the reporter read it under the same lock.

import (
	"sync"
	"time"
	"unicode/utf8"

	"github.com/twmb/franz-go/pkg/kgo"
)

// Bounds of what a route keeps.
const (
	statsFailures   = 5   // the last failures a route keeps
	statsErrorBytes = 200 // a failure's error is clipped to this
)

// latencyBoundsMs are the handle-time histogram's upper bounds in ms;
// Prometheus's default buckets, from 1 ms.
var latencyBoundsMs = []int64{1, 5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000}

// add adds o to c.
func (c *statsCounters) add(o statsCounters) {
	c.Handled += o.Handled
	c.Failed += o.Failed
	c.Retried += o.Retried
	c.DeadLettered += o.DeadLettered
	c.Skipped += o.Skipped
	c.Produced += o.Produced
	c.Aborted += o.Aborted
}

// observe counts one batch handled in d.
func (h *latencyHist) observe(d time.Duration) {
	i := 0
	for i < len(h.Le) && float64(d)/float64(time.Millisecond) > float64(h.Le[i]) {
		i++
	}
	h.Counts[i]++
	h.sumNs += int64(d)
	h.SumMs = h.sumNs / int64(time.Millisecond)
	h.Count++
}

// partStats is what the route knows of one partition it owns.
type partStats struct {
	handled int64     // the offset after the last final record; -1: none yet
	hwm     int64     // high watermark from the last fetch; -1: not fetched yet
	moved   time.Time // when handled last moved, or the partition was assigned or released from a hold
	// base is where the partition's consumption starts when nothing of it
	// was handled yet: the group's committed offset, else (earliest) the
	// log start; -1 while unknown (node_endoffsets.go fills it in).
	base int64
}

// routeStats is one route's stats; mu guards all of it. A route keeps none
// (nil) when neither stats nor stall detection is on: its methods that the
// poll loop and the group callbacks call do nothing then.
type routeStats struct {
	mu       sync.Mutex
	counts   statsCounters
	lat      latencyHist
	parts    map[topicPartition]*partStats
	failures []statsFailure // oldest first, at most statsFailures
	// inHand are the partitions of the batch the handler has now: how
	// long that takes is -consuming-ttl's to judge, not a stall.
	inHand []topicPartition
	// readCommitted: the route reads committed records only
	// (-exactly-once), so what waits for it ends at the last stable
	// offset, not the high watermark: an upstream transaction still open
	// is not records to handle, nor a stall.
	readCommitted bool
}

// newRouteStats is a route's empty stats.
func newRouteStats() *routeStats {
	return &routeStats{parts: map[topicPartition]*partStats{}, failures: []statsFailure{},
		lat: latencyHist{Le: latencyBoundsMs, Counts: make([]int64, len(latencyBoundsMs)+1)}}
}

// assigned starts tracking the partitions the group gave this node.
func (s *routeStats) assigned(parts map[string][]int32, now time.Time) {
	if s == nil {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for topic, ps := range parts {
		for _, p := range ps {
			if _, ok := s.parts[topicPartition{topic, p}]; !ok {
				s.parts[topicPartition{topic, p}] = &partStats{handled: -1, hwm: -1, base: -1, moved: now}
			}
		}
	}
}

// dropped forgets the partitions revoked or lost.
func (s *routeStats) dropped(parts map[string][]int32) {
	if s == nil {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for topic, ps := range parts {
		for _, p := range ps {
			delete(s.parts, topicPartition{topic, p})
		}
	}
}

// fetched takes each fetched partition's high watermark. Records of one
// partition come together in a fetch, so this is one entry per partition.
// A partition that was caught up and has records again starts its stall
// clock now: it was not stalled while there was nothing to handle.
func (s *routeStats) fetched(fetches kgo.Fetches, now time.Time) {
	if s == nil {
		return
	}
	var marks []partOffset
	fetches.EachPartition(func(p kgo.FetchTopicPartition) {
		end := p.HighWatermark
		if s.readCommitted {
			end = p.LastStableOffset
		}
		if p.Err == nil && end >= 0 {
			marks = append(marks, partOffset{topicPartition{p.Topic, p.Partition}, end})
		}
	})
	s.highWatermarks(marks, now)
}

// highWatermarks takes high watermarks from fetches or from the brokers'
// end offsets (node_endoffsets.go) for partitions the route owns.
func (s *routeStats) highWatermarks(marks []partOffset, now time.Time) {
	if s == nil || len(marks) == 0 {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, m := range marks {
		ps := s.parts[m.tp]
		if ps == nil {
			continue
		}
		if ps.hwm <= ps.handled && m.off > ps.handled {
			ps.moved = now
		}
		ps.hwm = m.off
	}
}

// topics are the topics of the partitions the route owns now.
func (s *routeStats) topics() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	seen := map[string]bool{}
	var out []string
	for tp := range s.parts {
		if !seen[tp.topic] {
			seen[tp.topic] = true
			out = append(out, tp.topic)
		}
	}
	return out
}

// partOffset is an offset of one partition.
type partOffset struct {
	tp  topicPartition
	off int64
}

// batchStats is what one settled batch adds to its route's stats, built
// outside the lock.
type batchStats struct {
	counts   statsCounters
	took     time.Duration
	marked   []partOffset // per partition, the offset after its last marked record
	failures []statsFailure
}

// newBatchStats is what d, settled, adds; marked are the records marked
// for commit, in the order the consumer got them.
func newBatchStats(d *delivery, marked []*kgo.Record, took time.Duration, now time.Time) batchStats {
	b := batchStats{took: took}
	b.counts.Produced = int64(d.produced)
	for i, o := range d.outcomes {
		if d.recs[i].Attrs.IsControl() {
			continue // a transaction marker: moves the offsets, counts as nothing
		}
		switch o {
		case handled:
			b.counts.Handled++
		case deadLettered:
			b.counts.DeadLettered++
		case skipped:
			b.counts.Skipped++
		case retrying:
			b.counts.Retried++
		}
		if r := d.reason(i); r != "" {
			b.counts.Failed++
			b.failures = appendFailure(b.failures, d.recs[i], r, now)
		}
	}
	for _, r := range marked {
		tp := partitionOf(r)
		if n := len(b.marked); n > 0 && b.marked[n-1].tp == tp {
			b.marked[n-1].off = max(b.marked[n-1].off, r.Offset+1)
			continue
		}
		b.marked = append(b.marked, partOffset{tp, r.Offset + 1})
	}
	return b
}

// aborted makes b what a batch of n records whose transaction was
// aborted adds: none of it handled, dead-lettered, skipped, held or
// produced (it all comes again); its failures still happened.
func (b *batchStats) aborted(n int) {
	b.counts = statsCounters{Failed: b.counts.Failed, Aborted: int64(n)}
	b.marked = nil
}

// appendFailure adds rec's failure to fs, keeping the last statsFailures.
func appendFailure(fs []statsFailure, rec *kgo.Record, reason string, now time.Time) []statsFailure {
	if len(reason) > statsErrorBytes {
		cut := statsErrorBytes
		for cut > 0 && !utf8.RuneStart(reason[cut]) {
			cut--
		}
		reason = reason[:cut]
	}
	f := statsFailure{Topic: rec.Topic, Partition: rec.Partition, Offset: rec.Offset, Error: reason, AtMs: now.UnixMilli()}
	if len(fs) == statsFailures {
		fs = append(fs[:0], fs[1:]...)
	}
	return append(fs, f)
}

// handing records that d's partitions are in the handler's hands.
func (s *routeStats) handing(d *delivery) {
	var parts []topicPartition
	for _, r := range d.recs {
		// A fetch's records come partition by partition: compare with
		// the last one only; a repeat further back costs nothing wrong.
		if tp := partitionOf(r); len(parts) == 0 || parts[len(parts)-1] != tp {
			parts = append(parts, tp)
		}
	}
	s.mu.Lock()
	s.inHand = parts
	s.mu.Unlock()
}

// settled adds one batch's stats; its partitions are no longer in hand.
func (s *routeStats) settled(b batchStats, now time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.inHand = nil
	s.counts.add(b.counts)
	s.lat.observe(b.took)
	for _, m := range b.marked {
		if ps := s.parts[m.tp]; ps != nil && m.off > ps.handled {
			ps.handled, ps.moved = m.off, now
		}
	}
	for _, f := range b.failures {
		if len(s.failures) == statsFailures {
			s.failures = append(s.failures[:0], s.failures[1:]...)
		}
		s.failures = append(s.failures, f)
	}
}

// bases sets where consumption starts for partitions nothing of which was
// handled yet: committed offsets, else log start offsets.
func (s *routeStats) bases(committed, starts []partOffset) {
	if s == nil {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, set := range [][]partOffset{starts, committed} { // committed wins
		for _, m := range set {
			if ps := s.parts[m.tp]; ps != nil && m.off >= 0 {
				ps.base = m.off
			}
		}
	}
}
