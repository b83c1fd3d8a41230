//go:build linux

package main

// Stall detection (Burrow's STALL), per route: the route owns a partition
// with records it has not handled, and no partition of the route has moved
// for -stall-ttl. Then the node reports statusStalled and the supervisor
// replaces it.
//
// Per route, not per partition: franz-go hands a buffered fetch out one
// partition at a time, so a slow node working through one partition's
// backlog leaves the others waiting in the client; it is progressing, not
// stalled. A partition held for a retry counts as moving (it waits on
// purpose, and shows as paused in the stats), and so does one whose records
// the handler has now (a batch's time is -consuming-ttl's to judge).
//
// "Records it has not handled": the high watermark (from fetches and the
// brokers' end offsets, node_endoffsets.go) more than one above where the
// partition stands: the offset after its last handled record, or, when
// nothing of it was handled yet, the group's committed offset or the log
// start. More than one, because a partition a transactional producer
// writes ends with a commit marker no consumer ever gets.
//
// Judging needs nothing from the client, so the reporter never waits on it.

import (
	"slices"
	"time"
)

// stalled says whether c's route has records waiting and has not moved
// for ttl.
func (c *consumer) stalled(now time.Time, ttl time.Duration) bool {
	held := c.retries.heldNow()
	s := c.stats
	s.mu.Lock()
	defer s.mu.Unlock()
	waiting := false
	for tp, ps := range s.parts {
		if _, ok := held[tp]; ok || slices.Contains(s.inHand, tp) {
			ps.moved = now
		}
		if now.Sub(ps.moved) <= ttl {
			return false // the route moved within the TTL
		}
		at := ps.handled
		if at < 0 {
			at = ps.base
		}
		waiting = waiting || (at >= 0 && ps.hwm > at+1)
	}
	return waiting
}
