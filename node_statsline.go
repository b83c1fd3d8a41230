//go:build linux

package main

// The stats line (README "Health protocol"): one JSON object per
// -stats-interval on fd 4, at most maxStatsLine bytes with its newline.

import (
	"encoding/json"
	"fmt"
	"slices"
	"time"
)

// heldInfo is what a stats line shows of a partition held for a retry.
type heldInfo struct {
	attempt int
	due     time.Time
}

// heldNow is a copy of which partitions are held for a retry now.
func (r *retries) heldNow() map[topicPartition]heldInfo {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make(map[topicPartition]heldInfo, len(r.held))
	for tp, h := range r.held {
		out[tp] = heldInfo{attempt: h.attempt, due: h.due}
	}
	return out
}

// committedOffset is tp's offset in what the client last saw committed,
// -1 when none.
func committedOffset(committed map[string]map[int32]int64, tp topicPartition) int64 {
	if off, ok := committed[tp.topic][tp.partition]; ok {
		return off
	}
	return -1
}

// committedNow is the group's committed offsets as c's client last saw
// them. Taken before the stats lock: the client's own lock is not ordered
// with it.
func (c *consumer) committedNow() map[string]map[int32]int64 {
	out := map[string]map[int32]int64{}
	for topic, ps := range c.cl.CommittedOffsets() {
		m := make(map[int32]int64, len(ps))
		for p, eo := range ps {
			m[p] = eo.Offset
		}
		out[topic] = m
	}
	return out
}

// statsRoute is c's part of a stats line, as route index of group.
func (c *consumer) statsRoute(index int, group string) statsRoute {
	committed, held := c.committedNow(), c.retries.heldNow()
	s := c.stats
	s.mu.Lock()
	r := statsRoute{Route: index, Group: group, statsCounters: s.counts,
		LatencyMs: s.lat, Failures: slices.Clone(s.failures)}
	r.LatencyMs.Counts = slices.Clone(s.lat.Counts)
	r.Partitions = make([]statsPartition, 0, len(s.parts))
	for tp, ps := range s.parts {
		p := statsPartition{Topic: tp.topic, Partition: tp.partition, Handled: ps.handled,
			Committed: committedOffset(committed, tp), HighWatermark: ps.hwm}
		if h, ok := held[tp]; ok {
			p.Paused, p.Attempt, p.NextTryMs = true, h.attempt, h.due.UnixMilli()
		}
		r.Partitions = append(r.Partitions, p)
	}
	s.mu.Unlock()
	slices.SortFunc(r.Partitions, func(a, b statsPartition) int {
		if a.Topic != b.Topic {
			if a.Topic < b.Topic {
				return -1
			}
			return 1
		}
		return int(a.Partition) - int(b.Partition)
	})
	return r
}

// encodeStatsLine is l as one line with its newline, at most max bytes:
// partitions are dropped from the end (the last route's first), each route
// that lost some marked truncated, then failures if that is not enough.
func encodeStatsLine(l *statsLine, max int) ([]byte, error) {
	for {
		b, err := json.Marshal(l)
		if err != nil {
			return nil, fmt.Errorf("encode stats line: %w", err)
		}
		if len(b)+1 <= max {
			return append(b, '\n'), nil
		}
		if !shrinkStatsLine(l, len(b)+1-max) {
			return nil, fmt.Errorf("encode stats line: %d bytes without partitions or failures, limit %d", len(b)+1, max)
		}
	}
}

// shrinkStatsLine drops about enough partitions (or else failures) from
// the end of l to save excess bytes; false when nothing is left to drop.
func shrinkStatsLine(l *statsLine, excess int) bool {
	for i := len(l.Routes) - 1; i >= 0; i-- {
		r := &l.Routes[i]
		if n := len(r.Partitions); n > 0 {
			// A partition is ~100 bytes plus its topic: drop at least
			// enough of the last ones for the excess, in one go.
			per := 100 + len(r.Partitions[n-1].Topic)
			drop := min(n, excess/per+1)
			r.Partitions, r.Truncated = r.Partitions[:n-drop], true
			return true
		}
	}
	for i := len(l.Routes) - 1; i >= 0; i-- {
		if r := &l.Routes[i]; len(r.Failures) > 0 {
			r.Failures, r.Truncated = r.Failures[1:], true
			return true
		}
	}
	return false
}

// statsLine is the node's stats line now, encoded.
func (n *nodeRun) statsLine(now time.Time) ([]byte, error) {
	l := statsLine{V: 1, AtMs: now.UnixMilli(), Routes: make([]statsRoute, 0, len(n.routes))}
	for _, rr := range n.routes {
		l.Routes = append(l.Routes, rr.c.statsRoute(rr.r.Index, rr.r.Group))
	}
	return encodeStatsLine(&l, maxStatsLine)
}
