//go:build linux

package main

// Record failures, the way Kafka frameworks handle them (Karafka's pause
// and DLQ): a record its handler failed pauses its partition on this node,
// and after a backoff that partition is handed to the handler again from
// that record, while the node's other partitions keep flowing. After
// -max-retries retries the record goes to the dead-letter topic (or, with
// -on-retries-exhausted skip, is given up on); without a dead-letter topic
// it is retried for ever. Nothing past a record that is not final is ever
// marked, so nothing past it is committed.
//
// The records are held here, not fetched again: a paused partition is not
// fetched, and franz-go drops what it had buffered of it without moving
// its cursor, so on resume fetching goes on right after the held records.
// That makes a retry punctual (no fetch in between) and leaves the
// consumer's position alone (no SetOffsets, which drops pending marks).
// Retry state lives in this node only: a revoke, a lost partition or a
// restart forgets it, and the record comes again on its first attempt.

import (
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
)

// failurePolicy is what a route does with a record its handler failed.
type failurePolicy struct {
	backoff, maxBackoff time.Duration
	maxRetries          int
	deadLetter          bool // the route has a dead-letter topic
	skip                bool // -on-retries-exhausted skip
}

// policyFor is route r's failure policy under cfg.
func policyFor(cfg *config, r *route) failurePolicy {
	return failurePolicy{
		backoff: cfg.retryBackoff, maxBackoff: cfg.retryMaxBackoff, maxRetries: cfg.maxRetries,
		deadLetter: r.DeadLetterTopic != "", skip: cfg.onRetriesExhausted == "skip",
	}
}

// decide is the fate of a record that failed on the given attempt.
func (p *failurePolicy) decide(attempt int) outcome {
	switch {
	case attempt <= p.maxRetries:
		return retrying
	case p.deadLetter:
		return deadLettered
	case p.skip:
		return skipped
	}
	return retrying // never skipped silently
}

// delay is the pause after the given attempt failed: backoff, doubling per
// attempt, at most maxBackoff.
func (p *failurePolicy) delay(attempt int) time.Duration {
	d := p.backoff
	for i := 1; i < attempt && d < p.maxBackoff; i++ {
		d *= 2
	}
	return min(d, p.maxBackoff)
}

// heldPartition is a paused partition's records from the one to retry on,
// in order.
type heldPartition struct {
	recs    []*kgo.Record
	attempt int // the attempt recs[0] is on when handed again
	due     time.Time
	handed  bool // in the delivery being handled now
}

// retries is a route's paused partitions. The poll goroutine owns it, but
// franz-go's revoke and lost callbacks forget partitions from a goroutine
// of their own (serialised with handling by BlockRebalanceOnPoll, not with
// the wait before a poll), hence mu.
type retries struct {
	pol  failurePolicy
	mu   sync.Mutex
	held map[topicPartition]*heldPartition
}

// nextDue is when the earliest held partition is due again.
func (r *retries) nextDue() (time.Time, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	var next time.Time
	for _, h := range r.held {
		if next.IsZero() || h.due.Before(next) {
			next = h.due
		}
	}
	return next, !next.IsZero()
}

// pollWait is how long the next poll may wait: at most pollWait, and not
// past the moment a held partition is due. 0 means poll without waiting.
func (r *retries) pollWait(now time.Time) time.Duration {
	due, ok := r.nextDue()
	if !ok {
		return pollWait
	}
	return max(0, min(pollWait, due.Sub(now)))
}

// takeDue adds the held records that are due to d. Their partitions stay
// paused until settle finds them all final.
func (c *consumer) takeDue(d *delivery, now time.Time) {
	r := &c.retries
	r.mu.Lock()
	defer r.mu.Unlock()
	for tp, h := range r.held {
		if h.handed || now.Before(h.due) {
			continue
		}
		h.handed = true
		d.add(h.recs, h.attempt)
		c.log.Info("partition.resumed", "topic", tp.topic, "partition", tp.partition, "offset", h.recs[0].Offset,
			"attempt", h.attempt, "late_ms", ms(now.Sub(h.due)))
	}
}

// forget drops the held records of partitions this node no longer owns
// (revoked or lost) and resumes them, so that they are fetched again if
// they come back: a pause outlives an assignment in franz-go.
func (c *consumer) forget(cl *kgo.Client, parts map[string][]int32) {
	r := &c.retries
	r.mu.Lock()
	defer r.mu.Unlock()
	for topic, ps := range parts {
		for _, p := range ps {
			delete(r.held, topicPartition{topic, p})
		}
	}
	cl.ResumeFetchPartitions(parts)
}

// settle marks what of d is final and holds back, per partition, the
// records from the first one to retry on: it marks nothing of a partition
// past a record that is not final. It returns how many records it marked,
// transaction markers (-exactly-once) not counted.
func (c *consumer) settle(d *delivery, now time.Time) int {
	if allFinal(d.outcomes) && !c.retries.any() {
		c.cl.MarkCommitRecords(d.recs...)
		c.marked = d.recs
		return userRecords(d.recs)
	}
	var final []*kgo.Record
	stopped := map[topicPartition]*heldPartition{} // nil: pending (the node is stopping)
	for i, rec := range d.recs {
		tp := partitionOf(rec)
		if h, ok := stopped[tp]; ok {
			if h != nil {
				h.recs = append(h.recs, rec)
			}
			continue
		}
		switch o := d.outcomes[i]; {
		case o.final():
			final = append(final, rec)
		case o == retrying:
			stopped[tp] = c.retryLater(d, i, now)
		default:
			stopped[tp] = nil
		}
	}
	c.cl.MarkCommitRecords(final...)
	c.marked = final
	c.hold(stopped)
	return userRecords(final)
}

// allFinal says whether every outcome is final.
func allFinal(os []outcome) bool {
	for _, o := range os {
		if !o.final() {
			return false
		}
	}
	return true
}

// any says whether some partition is held.
func (r *retries) any() bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.held) > 0
}

// retryLater starts holding d's record i, which failed, for its next
// attempt after the backoff.
func (c *consumer) retryLater(d *delivery, i int, now time.Time) *heldPartition {
	rec, attempt := d.recs[i], d.attempt(i)
	wait := c.retries.pol.delay(attempt)
	c.log.Warn("record.retry", "topic", rec.Topic, "partition", rec.Partition, "offset", rec.Offset,
		"attempt", attempt, "next_in_ms", ms(wait), "err", d.reason(i))
	return &heldPartition{recs: []*kgo.Record{rec}, attempt: attempt + 1, due: now.Add(wait)}
}

// hold makes stopped the held partitions, pausing those not paused yet,
// and resumes every handed partition that is not held again: all its held
// records are final now.
func (c *consumer) hold(stopped map[topicPartition]*heldPartition) {
	r := &c.retries
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.held == nil {
		r.held = map[topicPartition]*heldPartition{}
	}
	pause, resume := map[string][]int32{}, map[string][]int32{}
	for tp, h := range r.held {
		if _, again := stopped[tp]; h.handed && !again {
			delete(r.held, tp)
			resume[tp.topic] = append(resume[tp.topic], tp.partition)
		}
	}
	for tp, h := range stopped {
		if h == nil {
			continue
		}
		if _, paused := r.held[tp]; !paused {
			pause[tp.topic] = append(pause[tp.topic], tp.partition)
		}
		r.held[tp] = h
	}
	if len(pause) > 0 {
		c.cl.PauseFetchPartitions(pause)
	}
	switch {
	case c.txn != nil:
		// Resumed once the transaction that made them final commits
		// (node_txn.go align).
		c.txn.released = resume
	case len(resume) > 0:
		c.cl.ResumeFetchPartitions(resume)
	}
}

// firstHeld is each held partition's first held record.
func (r *retries) firstHeld() map[topicPartition]*kgo.Record {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make(map[topicPartition]*kgo.Record, len(r.held))
	for tp, h := range r.held {
		out[tp] = h.recs[0]
	}
	return out
}
