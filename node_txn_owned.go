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
	have := c.cl.CommittedOffsets()
	commit := map[string]map[int32]kgo.EpochOffset{}
	for tp, start := range fresh {
		if done, ok := have[tp.topic][tp.partition]; ok && done.Offset >= start.Offset {
			continue
		}
		if commit[tp.topic] == nil {
			commit[tp.topic] = map[int32]kgo.EpochOffset{}
		}
		commit[tp.topic][tp.partition] = start
	}
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
// returns those new starts.
func (s *pollStarts) note(recs []*kgo.Record) map[topicPartition]kgo.EpochOffset {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.at == nil {
		s.at = map[topicPartition]kgo.EpochOffset{}
	}
	var fresh map[topicPartition]kgo.EpochOffset
	for _, r := range recs {
		if _, ok := s.at[partitionOf(r)]; !ok {
			if fresh == nil {
				fresh = map[topicPartition]kgo.EpochOffset{}
			}
			s.at[partitionOf(r)] = kgo.EpochOffset{Epoch: r.LeaderEpoch, Offset: r.Offset}
			fresh[partitionOf(r)] = s.at[partitionOf(r)]
		}
	}
	return fresh
}

// unowned is every partition with a start that is not in owned.
func (s *pollStarts) unowned(owned map[string]map[int32]kgo.EpochOffset) map[string][]int32 {
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
func (s *pollStarts) below(parts map[string][]int32, have map[string]map[int32]kgo.EpochOffset) map[string]map[int32]kgo.EpochOffset {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := map[string]map[int32]kgo.EpochOffset{}
	for topic, ps := range parts {
		for _, p := range ps {
			start, ok := s.at[topicPartition{topic, p}]
			if c, known := have[topic][p]; ok && (!known || c.Offset < start.Offset) {
				if out[topic] == nil {
					out[topic] = map[int32]kgo.EpochOffset{}
				}
				out[topic][p] = start
			}
		}
	}
	return out
}
