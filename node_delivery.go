//go:build linux

package main

// A delivery: the records one turn of a route's poll loop hands to its
// handler, the attempt each is on, and what became of each. The handler
// fills in the outcomes; the consumer marks what is final and holds back,
// per partition, what is to be retried (node_retry.go).

import "github.com/twmb/franz-go/pkg/kgo"

// outcome is what became of one record of a delivery.
type outcome uint8

const (
	// pending: not done. The handler command failed before answering it,
	// its output could not be produced, or an earlier record of its
	// partition is to be retried (it comes again after that one).
	pending outcome = iota
	handled
	deadLettered // the failure went to the dead-letter topic
	skipped      // the failure was given up on (-on-retries-exhausted skip)
	retrying     // failed; the partition pauses and it comes again
)

// final says whether the record is done with: committed past.
func (o outcome) final() bool { return o == handled || o == deadLettered || o == skipped }

// topicPartition names one partition.
type topicPartition struct {
	topic     string
	partition int32
}

// partitionOf is the partition record r belongs to.
func partitionOf(r *kgo.Record) topicPartition { return topicPartition{r.Topic, r.Partition} }

// delivery is one batch on its way through a handler.
type delivery struct {
	recs []*kgo.Record
	// attempts is each record's attempt, 1 for a first delivery; nil when
	// every record is on its first.
	attempts []int
	outcomes []outcome
	reasons  []string // why each failed record failed; nil until one did
	// produced is how many outputs and dead letters the broker
	// acknowledged (node_cmd_batch.go), for the node's stats.
	produced int
}

// newDelivery is recs on their first attempt, nothing decided yet.
func newDelivery(recs []*kgo.Record) *delivery {
	return &delivery{recs: recs, outcomes: make([]outcome, len(recs))}
}

// attempt is the attempt record i is on.
func (d *delivery) attempt(i int) int {
	if d.attempts == nil {
		return 1
	}
	return d.attempts[i]
}

// add appends recs, each on the given attempt of the first and on its
// first attempt for the rest (held records after a failed one were never
// judged: their answers were dropped).
func (d *delivery) add(recs []*kgo.Record, firstAttempt int) {
	if firstAttempt != 1 && d.attempts == nil {
		d.attempts = make([]int, len(d.recs), len(d.recs)+len(recs))
		for i := range d.attempts {
			d.attempts[i] = 1
		}
	}
	for i, r := range recs {
		d.recs = append(d.recs, r)
		d.outcomes = append(d.outcomes, pending)
		if d.attempts != nil {
			a := 1
			if i == 0 {
				a = firstAttempt
			}
			d.attempts = append(d.attempts, a)
		}
	}
}

// userRecords is how many of recs are records, not transaction markers
// (which an exactly-once route keeps, node_txn.go).
func userRecords(recs []*kgo.Record) int {
	n := 0
	for _, r := range recs {
		if !r.Attrs.IsControl() {
			n++
		}
	}
	return n
}

// handledAll marks every record handled: a built-in handler never fails one.
func (d *delivery) handledAll() {
	for i := range d.outcomes {
		d.outcomes[i] = handled
	}
}

// fail records that record i failed for reason, and what is done about it.
func (d *delivery) fail(i int, o outcome, reason string) {
	if d.reasons == nil {
		d.reasons = make([]string, len(d.recs))
	}
	d.outcomes[i], d.reasons[i] = o, reason
}

// reason is why record i failed, "" if it did not.
func (d *delivery) reason(i int) string {
	if d.reasons == nil {
		return ""
	}
	return d.reasons[i]
}
