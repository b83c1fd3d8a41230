//go:build linux

package main

// Stall detection (Burrow's STALL): a partition the node owns, with
// records it has not handled (high watermark above its handled offset),
// whose handled offset has not moved for -stall-ttl makes the node report
// statusStalled, and the supervisor replaces it. A partition held for a
// retry is not stalled: it waits on purpose, and shows as paused in the
// stats; nor is one whose records the handler has now (a batch's time is
// -consuming-ttl's to judge). Either one's clock restarts when it is
// released.
//
// A partition is judged only once the node handled some of it: its high
// watermark comes with fetched records (franz-go drops empty fetches),
// and fetched records are final, held, in hand, or the node stops.
// Judging needs nothing from the client, so the reporter never waits on
// it.

import (
	"slices"
	"time"
)

// stalled says whether some partition of c's has stalled for ttl.
func (c *consumer) stalled(now time.Time, ttl time.Duration) bool {
	held := c.retries.heldNow()
	s := c.stats
	s.mu.Lock()
	defer s.mu.Unlock()
	for tp, ps := range s.parts {
		if _, ok := held[tp]; ok || slices.Contains(s.inHand, tp) {
			ps.moved = now
			continue
		}
		if ps.handled >= 0 && ps.hwm > ps.handled && now.Sub(ps.moved) > ttl {
			return true
		}
	}
	return false
}
