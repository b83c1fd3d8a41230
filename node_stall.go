//go:build linux

package main

// Stall detection (Burrow's STALL): a partition the node owns, with
// records it has not handled (high watermark above its handled offset, or
// its committed one before the node handled any), whose handled offset has
// not moved for -stall-ttl makes the node report statusStalled, and the
// supervisor replaces it. A partition held for a retry is not stalled: it
// waits on purpose, and shows as paused in the stats; nor is one whose
// records the handler has now (a batch's time is -consuming-ttl's to
// judge). Either one's clock restarts when it is released.

import (
	"slices"
	"time"
)

// stalled says whether some partition of c's has stalled for ttl.
func (c *consumer) stalled(now time.Time, ttl time.Duration) bool {
	committed, held := c.committedNow(), c.retries.heldNow()
	s := c.stats
	s.mu.Lock()
	defer s.mu.Unlock()
	for tp, ps := range s.parts {
		if _, ok := held[tp]; ok || slices.Contains(s.inHand, tp) {
			ps.moved = now
			continue
		}
		pos := ps.handled
		if pos < 0 {
			pos = committedOffset(committed, tp)
		}
		if pos >= 0 && ps.hwm > pos && now.Sub(ps.moved) > ttl {
			return true
		}
	}
	return false
}
