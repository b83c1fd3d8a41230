//go:build linux

package main

// A batch through CMD and its settling: what became of each record, the
// outputs and dead letters it produced, and what of it is done. All
// producing and all reading of acknowledgements happens here.

import (
	"context"
	"fmt"
	"log/slog"
	"strconv"
	"sync"
	"sync/atomic"

	"github.com/twmb/franz-go/pkg/kgo"
)

// producer is the part of the node's Kafka client the handler produces
// output and dead-letter records with.
type producer interface {
	Produce(ctx context.Context, r *kgo.Record, promise func(*kgo.Record, error))
	Flush(ctx context.Context) error
}

// outlet is where a route's results go: answers' records to -output-topic,
// failed records to -dead-letter-topic, both through the route's client.
type outlet struct {
	prod        producer
	outputTopic string
	deadLetter  string
	group       string
	log         *slog.Logger
	noOutput    atomic.Bool // warned that answers carry records but there is no -output-topic
}

// output is an answer's record as it goes to -output-topic; nil when the
// route has none, which is warned about once.
func (o *outlet) output(r *kgo.Record) *kgo.Record {
	if o.outputTopic == "" {
		if !o.noOutput.Swap(true) {
			o.log.Warn("handler answers carry records but -output-topic is not set: they are dropped")
		}
		return nil
	}
	r.Topic = o.outputTopic
	return r
}

// pipeBatch is one handle call as the writer and reader see it.
type pipeBatch struct {
	d        *delivery
	recs     []*kgo.Record // d.recs
	out      *outlet
	pol      *failurePolicy
	answered chan struct{} // closed when every record is complete

	mu        sync.Mutex
	res       []recResult
	remaining int
	// stops is, per partition, the first record to retry: nothing of that
	// partition from it on is produced (it all comes again). nil until a
	// record is to be retried.
	stops    map[topicPartition]int
	anyStop  atomic.Bool // stops is not nil: lets the writer skip the lock until then
	sealed   bool        // handle stopped waiting (CMD failed): late answers are dropped
	produced int
	wg       sync.WaitGroup // produce acknowledgements outstanding
	acked    []error        // per record: its produce result, written by the promise; nil when the route produces nothing
	refused  int            // acknowledgements that were errors (ackErrs)
}

// recResult is what became of one record of a batch.
type recResult struct {
	complete bool    // answered, or refused by the codec
	failed   bool    // the handler failed it
	fate     outcome // for a failed record: the policy's decision
	reason   string
}

// newPipeBatch is d's records on their way through CMD, with room for
// their acknowledgements when the route produces at all.
func newPipeBatch(d *delivery, out *outlet, pol *failurePolicy) *pipeBatch {
	b := &pipeBatch{
		d:         d,
		recs:      d.recs,
		out:       out,
		pol:       pol,
		answered:  make(chan struct{}),
		res:       make([]recResult, len(d.recs)),
		remaining: len(d.recs),
	}
	if out.outputTopic != "" || out.deadLetter != "" {
		b.acked = make([]error, len(d.recs))
	}
	return b
}

// complete records the result of record i, unless handle stopped waiting.
func (b *pipeBatch) complete(i int, r recResult) {
	b.mu.Lock()
	if b.sealed {
		b.mu.Unlock()
		return
	}
	last := b.completeLocked(i, r)
	b.mu.Unlock()
	if last {
		close(b.answered)
	}
}

// completeLocked records the result of record i under b.mu and reports
// whether it was the last one outstanding (the caller closes answered).
// A failed record gets the policy's decision; one to retry stops its
// partition there.
func (b *pipeBatch) completeLocked(i int, r recResult) bool {
	if r.failed {
		r.fate = b.pol.decide(b.d.attempt(i))
		if r.fate == retrying && !b.stoppedLocked(i) {
			if b.stops == nil {
				b.stops = map[topicPartition]int{}
				b.anyStop.Store(true)
			}
			b.stops[partitionOf(b.recs[i])] = i
		}
	}
	b.res[i] = r
	b.remaining--
	return b.remaining == 0
}

// stoppedLocked says whether record i comes after a record of its
// partition that is to be retried.
func (b *pipeBatch) stoppedLocked(i int) bool {
	if b.stops == nil {
		return false
	}
	at, ok := b.stops[partitionOf(b.recs[i])]
	return ok && i > at
}

// stopped is stoppedLocked for the writer: a record after one of its
// partition to retry is not sent at all, since it comes again anyway.
func (b *pipeBatch) stopped(i int) bool {
	if !b.anyStop.Load() {
		return false
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.stoppedLocked(i)
}

// answer applies CMD's answer to record i, unless handle stopped waiting,
// and produces its output record at once: the acks overlap the rest of the
// batch, and handle waits for them before anything is marked.
func (b *pipeBatch) answer(i int, a answer) {
	var out *kgo.Record
	b.mu.Lock()
	if b.sealed {
		b.mu.Unlock()
		return
	}
	if a.out != nil && !a.failed && !b.stoppedLocked(i) {
		if out = b.out.output(a.out); out != nil {
			b.expectAck()
		}
	}
	last := b.completeLocked(i, recResult{complete: true, failed: a.failed, reason: a.reason})
	b.mu.Unlock()
	if out != nil {
		b.produce(i, out)
	}
	if last {
		close(b.answered)
	}
}

// seal stops the batch taking results: handle is done waiting.
func (b *pipeBatch) seal() {
	b.mu.Lock()
	b.sealed = true
	b.mu.Unlock()
}

// expectAck counts one more produce before it is sent. While answers may
// still come it runs under b.mu, ahead of seal, so that handle never stops
// waiting between an answer and its produce.
func (b *pipeBatch) expectAck() {
	b.wg.Add(1)
	b.produced++
}

// produce sends record i's output or dead letter; its acknowledgement
// lands in acked[i]. expectAck has counted it.
func (b *pipeBatch) produce(i int, r *kgo.Record) {
	b.out.prod.Produce(context.Background(), r, func(_ *kgo.Record, err error) { b.acked[i] = err; b.wg.Done() })
}

// settle is the sealed batch's outcome, written into its delivery: a
// record is handled once answered with its output acknowledged, dead-
// lettered once its dead letter is acknowledged, skipped, to be retried,
// or pending (after a record of its partition to retry, never answered,
// or not acknowledged). cmdErr is CMD's failure, the reason for records
// never answered; the error is that or a refused produce.
func (b *pipeBatch) settle(cmdErr error) error {
	err := b.judge(cmdErr)
	if b.produced > 0 {
		// Flush sends what lingers at once: nothing else is waiting to join
		// these produce requests, and the batch is not done until acked.
		_ = b.out.prod.Flush(context.Background())
	}
	b.wg.Wait()
	aerr := b.ackErrs()
	b.d.produced = b.produced - b.refused
	if aerr != nil {
		return aerr
	}
	return err
}

// judge sets every record's outcome from its result and produces the dead
// letters. Sealed, so the reader is done with b: no lock needed.
func (b *pipeBatch) judge(cmdErr error) error {
	var err error
	for i, r := range b.res {
		switch {
		case b.stoppedLocked(i):
			// pending: comes again after the record to retry
		case !r.complete:
			err = cmdErr // pending
		case !r.failed:
			b.d.outcomes[i] = handled
		default:
			b.failed(i, r)
		}
	}
	return err
}

// failed applies the policy's decision on failed record i.
func (b *pipeBatch) failed(i int, r recResult) {
	rec, attempt := b.recs[i], b.d.attempt(i)
	b.d.fail(i, r.fate, r.reason)
	switch r.fate {
	case deadLettered:
		dl := b.out.deadLetter
		b.out.log.Warn("handler.dead_letter", "topic", rec.Topic, "partition", rec.Partition,
			"offset", rec.Offset, "attempts", attempt, "err", r.reason, "dead_letter_topic", dl)
		b.expectAck()
		b.produce(i, deadLetterRecord(rec, dl, b.out.group, r.reason, attempt))
	case skipped:
		b.out.log.Warn("record.skipped", "topic", rec.Topic, "partition", rec.Partition,
			"offset", rec.Offset, "attempts", attempt, "err", r.reason)
	}
}

// ackErrs makes pending every record whose produce the broker refused, and
// returns the first refusal: the node stops, and those records come again.
func (b *pipeBatch) ackErrs() error {
	var first error
	for i := 0; i < len(b.recs) && b.acked != nil; i++ {
		err := b.acked[i]
		if err == nil {
			continue
		}
		what, topic := "output", b.out.outputTopic
		if b.res[i].failed {
			what, topic = "dead letter", b.out.deadLetter
		}
		b.d.outcomes[i] = pending
		b.refused++
		if first == nil {
			first = fmt.Errorf("produce %s of record %s to %s: %w", what, recordName(b.recs[i]), topic, err)
		}
	}
	return first
}

// recordName names a record in errors and logs.
func recordName(r *kgo.Record) string {
	return fmt.Sprintf("topic %s partition %d offset %d", r.Topic, r.Partition, r.Offset)
}

// Dead-letter headers: Karafka's names for the origin, plus the reason.
const (
	hdrOriginalTopic     = "original_topic"
	hdrOriginalPartition = "original_partition"
	hdrOriginalOffset    = "original_offset"
	hdrOriginalGroup     = "original_consumer_group"
	hdrError             = "swarm_error"
	hdrAttempts          = "swarm_attempts"
)

// deadLetterRecord is r as it goes to the dead-letter topic: its key, value
// and headers, plus headers naming where it came from, why it failed and
// after how many attempts. Its partition is r's: the route's partitioner
// puts it on that partition modulo the dead-letter topic's count, so the
// dead letters of one source partition keep their order.
func deadLetterRecord(r *kgo.Record, topic, group, reason string, attempts int) *kgo.Record {
	hs := make([]kgo.RecordHeader, 0, len(r.Headers)+6)
	hs = append(hs, r.Headers...)
	hs = append(hs,
		kgo.RecordHeader{Key: hdrOriginalTopic, Value: []byte(r.Topic)},
		kgo.RecordHeader{Key: hdrOriginalPartition, Value: []byte(strconv.Itoa(int(r.Partition)))},
		kgo.RecordHeader{Key: hdrOriginalOffset, Value: []byte(strconv.FormatInt(r.Offset, 10))},
		kgo.RecordHeader{Key: hdrOriginalGroup, Value: []byte(group)},
		kgo.RecordHeader{Key: hdrError, Value: []byte(reason)},
		kgo.RecordHeader{Key: hdrAttempts, Value: []byte(strconv.Itoa(attempts))},
	)
	return &kgo.Record{Topic: topic, Partition: r.Partition, Key: r.Key, Value: r.Value, Headers: hs}
}
