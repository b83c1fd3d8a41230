//go:build linux

package main

// The offsets of an exactly-once batch (node_txn.go): what its transaction
// commits, and the client's idea of the committed offsets kept equal to
// that, since an abort rewinds the consumer to it.

import (
	"slices"

	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// offsetMap is offsets by topic and partition, in franz-go's shape.
type offsetMap map[string]map[int32]kgo.EpochOffset

// set puts eo as tp's offset.
func (m offsetMap) set(tp topicPartition, eo kgo.EpochOffset) {
	if m[tp.topic] == nil {
		m[tp.topic] = map[int32]kgo.EpochOffset{}
	}
	m[tp.topic][tp.partition] = eo
}

// offsetOf is where r is, as an offset to commit or start from.
func offsetOf(r *kgo.Record) kgo.EpochOffset {
	return kgo.EpochOffset{Epoch: r.LeaderEpoch, Offset: r.Offset}
}

// nextOffsets is, per partition, one past the last of recs (in order).
func nextOffsets(recs []*kgo.Record) offsetMap {
	out := offsetMap{}
	for _, r := range recs {
		out.set(partitionOf(r), kgo.EpochOffset{Epoch: r.LeaderEpoch, Offset: r.Offset + 1})
	}
	return out
}

// rewriteTxnCommit makes req commit exactly offsets, keeping the topic ids
// franz-go filled in.
func rewriteTxnCommit(req *kmsg.TxnOffsetCommitRequest, offsets offsetMap) {
	ids := map[string][16]byte{}
	for _, t := range req.Topics {
		ids[t.Topic] = t.TopicID
	}
	req.Topics = req.Topics[:0]
	for topic, ps := range offsets {
		t := kmsg.NewTxnOffsetCommitRequestTopic()
		t.Topic, t.TopicID = topic, ids[topic]
		for p, eo := range ps {
			rp := kmsg.NewTxnOffsetCommitRequestTopicPartition()
			rp.Partition, rp.Offset, rp.LeaderEpoch = p, eo.Offset, eo.Epoch
			rp.Metadata = &req.MemberID
			t.Partitions = append(t.Partitions, rp)
		}
		req.Topics = append(req.Topics, t)
	}
}

// align makes the client's committed offsets what the transaction really
// committed, after End set them to everything polled: a held partition's
// to its held record (its cursor follows; it is paused), a released
// partition's to past its held records, which it is then resumed from.
func (c *consumer) align(committed offsetMap, released map[string][]int32) {
	want := offsetMap{}
	for topic, ps := range released {
		for _, p := range ps {
			if eo, ok := committed[topic][p]; ok {
				want.set(topicPartition{topic, p}, eo)
			}
		}
	}
	for tp, first := range c.retries.firstHeld() {
		want.set(tp, offsetOf(first))
	}
	have := c.cl.CommittedOffsets()
	for topic, ps := range want {
		for p, eo := range ps {
			if have[topic][p] == eo {
				delete(ps, p)
			}
		}
	}
	c.cl.SetOffsets(want)
	if len(released) > 0 {
		c.cl.ResumeFetchPartitions(released)
	}
}

// abandon forgets, after d's transaction aborted, the partitions d had
// records of, held ones included, and resumes them: End rewound them to
// their committed offsets (a partition never committed, to where the
// consumer began it), so everything after that comes again, on its first
// attempt. A partition held since an earlier batch and not in d stays
// held: the abort did not touch it.
func (c *consumer) abandon(d *delivery) {
	parts := map[string][]int32{}
	for _, r := range d.recs {
		if ps := parts[r.Topic]; !slices.Contains(ps, r.Partition) {
			parts[r.Topic] = append(ps, r.Partition)
		}
	}
	c.log.Warn("transaction.aborted", "records", userRecords(d.recs), "partitions", parts)
	c.cl.SetOffsets(c.txn.starts.below(parts, c.cl.CommittedOffsets()))
	c.forget(c.cl, parts)
	c.marked = nil
}
