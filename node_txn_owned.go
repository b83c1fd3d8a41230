//go:build linux

package main

// What an exactly-once node owns, kept right although franz-go's
// transaction session passes on only the first revoke or lost partitions
// between two Ends (a second one, with no batch in between, never reaches
// the node's callbacks): after every poll the node drops what it keeps of
// partitions franz-go no longer has (reconcile). And where it began each
// partition the group had no commit for, committed at once (commitStarts):
// an abort rewinds a partition to its commit, and a rebalance hands it to
// its next owner from there, so without one both would start it over from
// -initial-offset (latest: past the records of the aborted batch).

import (
	"context"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// reconcile forgets the partitions this node polled that its client no
// longer owns (franz-go drops a revoked or lost partition's offsets, and
// has the offsets of every owned partition polled since it was assigned):
// their held records, starts and stats. A partition held for a retry
// stays owned until then, so it is never handed again after it moved.
func (c *consumer) reconcile() {
	gone := c.txn.starts.unowned(c.cl.CommittedOffsets())
	if len(gone) == 0 {
		return
	}
	c.forget(c.cl, gone)
	c.txn.starts.drop(gone)
	c.stats.dropped(gone)
}

// commitStarts commits, outside any transaction, where the consumer began
// each partition of recs it polls for the first time since it was assigned
// and the group has no commit for. It is best effort: without it an abort
// still rewinds the partition to its start (abandon), only a rebalance
// right after such an abort would restart it from -initial-offset.
func (c *consumer) commitStarts(recs []*kgo.Record) {
	fresh := c.txn.starts.note(recs)
	if len(fresh) == 0 {
		return
	}
	commit := c.txn.starts.below(fresh, c.cl.CommittedOffsets())
	if len(commit) == 0 {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), startCommitBudget)
	defer cancel()
	c.cl.CommitOffsetsSync(ctx, commit, func(_ *kgo.Client, _ *kmsg.OffsetCommitRequest, resp *kmsg.OffsetCommitResponse, err error) {
		if err == nil {
			err = commitRespErr(resp)
		}
		if err != nil {
			c.log.Warn("commit start offsets", "offsets", commit, "err", err)
		}
	})
}

// startCommitBudget bounds commitStarts: a batch waits on it.
const startCommitBudget = 5 * time.Second

// commitRespErr is the first partition error of an offset commit answer.
func commitRespErr(resp *kmsg.OffsetCommitResponse) error {
	for _, t := range resp.Topics {
		for _, p := range t.Partitions {
			if err := kerr.ErrorForCode(p.ErrorCode); err != nil {
				return err
			}
		}
	}
	return nil
}

// pollStarts is, per owned partition, its first record polled since it
// was assigned: where the consumer began it. The poll goroutine notes
// starts; reconcile and franz-go's revoke and lost callbacks drop them,
// hence mu.
type pollStarts struct {
	mu sync.Mutex
	at map[topicPartition]kgo.EpochOffset
}

// note keeps the first record of each partition in recs not seen yet, and
// returns those partitions. A poll's records come a partition at a time,
// so only a record of another partition than the one before is looked up.
func (s *pollStarts) note(recs []*kgo.Record) map[string][]int32 {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.at == nil {
		s.at = map[topicPartition]kgo.EpochOffset{}
	}
	var fresh map[string][]int32
	var prev topicPartition
	for i, r := range recs {
		tp := partitionOf(r)
		if i > 0 && tp == prev {
			continue
		}
		prev = tp
		if _, ok := s.at[tp]; !ok {
			if fresh == nil {
				fresh = map[string][]int32{}
			}
			s.at[tp] = offsetOf(r)
			fresh[tp.topic] = append(fresh[tp.topic], tp.partition)
		}
	}
	return fresh
}

// unowned is every partition with a start that is not in owned.
func (s *pollStarts) unowned(owned offsetMap) map[string][]int32 {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := map[string][]int32{}
	for tp := range s.at {
		if _, ok := owned[tp.topic][tp.partition]; !ok {
			out[tp.topic] = append(out[tp.topic], tp.partition)
		}
	}
	return out
}

// drop forgets the starts of partitions this node no longer owns.
func (s *pollStarts) drop(parts map[string][]int32) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for topic, ps := range parts {
		for _, p := range ps {
			delete(s.at, topicPartition{topic, p})
		}
	}
}

// below is, for each of parts whose committed offset in have lies below
// where the consumer began it, that start.
func (s *pollStarts) below(parts map[string][]int32, have offsetMap) offsetMap {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := offsetMap{}
	for topic, ps := range parts {
		for _, p := range ps {
			tp := topicPartition{topic, p}
			start, ok := s.at[tp]
			if c, known := have[topic][p]; ok && (!known || c.Offset < start.Offset) {
				out.set(tp, start)
			}
		}
	}
	return out
}
