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
	recs     []*kgo.Record
	out      *outlet
	answered chan struct{} // closed when every record is complete

	mu        sync.Mutex
	res       []recResult
	remaining int
	stopAt    int  // first failed record with nowhere to go: nothing from it on is produced
	sealed    bool // handle stopped waiting (CMD failed): late answers are dropped
	produced  int
	wg        sync.WaitGroup // produce acknowledgements outstanding
	acked     []error        // per record: its produce result, written by the promise; nil when the route produces nothing
}

// recResult is what became of one record of a batch.
type recResult struct {
	complete bool // answered, or refused by the codec
	failed   bool
	reason   string
}

// newPipeBatch is recs on their way through CMD, with room for their
// acknowledgements when the route produces at all.
func newPipeBatch(recs []*kgo.Record, out *outlet) *pipeBatch {
	b := &pipeBatch{
		recs:      recs,
		out:       out,
		answered:  make(chan struct{}),
		res:       make([]recResult, len(recs)),
		remaining: len(recs),
		stopAt:    len(recs),
	}
	if out.outputTopic != "" || out.deadLetter != "" {
		b.acked = make([]error, len(recs))
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
// Without a dead-letter topic a failed record stops the batch there.
func (b *pipeBatch) completeLocked(i int, r recResult) bool {
	b.res[i] = r
	if r.failed && b.out.deadLetter == "" && i < b.stopAt {
		b.stopAt = i
	}
	b.remaining--
	return b.remaining == 0
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
	if a.out != nil && i < b.stopAt {
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

// settle is the sealed batch's outcome: how many records, in order, are
// done (answered, and with their output or dead-letter record acknowledged
// by the broker), and why the rest are not. cmdErr is CMD's failure, the
// reason for records never answered.
func (b *pipeBatch) settle(cmdErr error) (int, error) {
	limit, stopErr := b.deadLetters(cmdErr)
	if b.produced > 0 {
		// Flush sends what lingers at once: nothing else is waiting to join
		// these produce requests, and the batch is not done until acked.
		_ = b.out.prod.Flush(context.Background())
	}
	b.wg.Wait()
	if i, err := b.ackErr(limit); err != nil {
		return i, err
	}
	return limit, stopErr
}

// deadLetters produces the failed records of the sealed batch to the
// dead-letter topic, up to the first record that is not done: one never
// answered, or one failed with no dead-letter topic.
func (b *pipeBatch) deadLetters(cmdErr error) (limit int, stopErr error) {
	for i, r := range b.res {
		if !r.complete {
			return i, cmdErr
		}
		if !r.failed {
			continue
		}
		rec, dl := b.recs[i], b.out.deadLetter
		if dl == "" {
			return i, fmt.Errorf("handler failed record %s and there is no -dead-letter-topic, so the node stops here: %s",
				recordName(rec), r.reason)
		}
		b.out.log.Warn("handler.dead_letter", "topic", rec.Topic, "partition", rec.Partition,
			"offset", rec.Offset, "err", r.reason, "dead_letter_topic", dl)
		// Sealed, so the reader is done with b: no lock needed.
		b.expectAck()
		b.produce(i, deadLetterRecord(rec, dl, b.out.group, r.reason))
	}
	return len(b.recs), nil
}

// ackErr is the first of the records before limit whose produce the broker
// refused: it and everything after are not done.
func (b *pipeBatch) ackErr(limit int) (int, error) {
	for i := 0; i < limit && b.acked != nil; i++ {
		if err := b.acked[i]; err != nil {
			what, topic := "output", b.out.outputTopic
			if b.res[i].failed {
				what, topic = "dead letter", b.out.deadLetter
			}
			return i, fmt.Errorf("produce %s of record %s to %s: %w", what, recordName(b.recs[i]), topic, err)
		}
	}
	return limit, nil
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
)

// deadLetterRecord is r as it goes to the dead-letter topic: its key, value
// and headers, plus headers naming where it came from and why it failed.
func deadLetterRecord(r *kgo.Record, topic, group, reason string) *kgo.Record {
	hs := make([]kgo.RecordHeader, 0, len(r.Headers)+5)
	hs = append(hs, r.Headers...)
	hs = append(hs,
		kgo.RecordHeader{Key: hdrOriginalTopic, Value: []byte(r.Topic)},
		kgo.RecordHeader{Key: hdrOriginalPartition, Value: []byte(strconv.Itoa(int(r.Partition)))},
		kgo.RecordHeader{Key: hdrOriginalOffset, Value: []byte(strconv.FormatInt(r.Offset, 10))},
		kgo.RecordHeader{Key: hdrOriginalGroup, Value: []byte(group)},
		kgo.RecordHeader{Key: hdrError, Value: []byte(reason)},
	)
	return &kgo.Record{Topic: topic, Key: r.Key, Value: r.Value, Headers: hs}
}
