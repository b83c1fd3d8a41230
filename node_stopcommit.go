//go:build linux

package main

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// A stop must never wait on the group. franz-go's own commit waits while the
// client's JoinGroup or SyncGroup is in flight (noCommitDuringJoinAndSync),
// and the broker may hold a JoinGroup for the whole rebalance timeout, until
// every member has rejoined or an absent static member's session expires
// (45 s by default). So at a stop the node commits its marks itself, with
// one OffsetCommit under the member id and generation it holds: while the
// group is PreparingRebalance Kafka (and kfake) still accept a commit of the
// current generation, which is what the held join means; after the join
// answered (CompletingRebalance) the broker says REBALANCE_IN_PROGRESS, and
// those records are delivered again (at-least-once, never lost). Then the
// client's context is cancelled, which aborts the held join, and Close has
// nothing left to wait for. With static membership no LeaveGroup is sent,
// so a node restarted with the same instance id gets its partitions back
// without a rebalance.

// learnTopicIDs remembers the topic ids fetches carry (Kafka 3.1+), for
// stopCommit: OffsetCommit v10 (Kafka 4.1+) names topics by id only.
func (c *consumer) learnTopicIDs(fetches kgo.Fetches) {
	fetches.EachTopic(func(t kgo.FetchTopic) {
		if t.TopicID != ([16]byte{}) {
			c.topicIDs[t.Topic] = t.TopicID
		}
	})
}

// close commits what was handled and closes the client, both within
// closeTimeout; past it the node stops waiting (the process is about to
// exit and its sockets die with it). With the classic protocol the
// client's context is cancelled before Close: a static member sends no
// LeaveGroup, so Close has nothing to say to the broker and must not wait
// for a held join. With the consumer protocol (KIP-848) Close sends the
// static member's leave (epoch -2), which lets the replacement take the
// partitions at once instead of after the session: it gets leaveBudget.
func (c *consumer) close() {
	start := time.Now()
	ctx, cancel := context.WithTimeout(context.Background(), c.closeTimeout)
	defer cancel()
	n, err := c.stopCommit(ctx)
	if err != nil {
		c.log.Error("commit handled offsets", "err", err)
	}
	committed := time.Now()
	if !c.leaves {
		c.cancel()
	}
	closed := make(chan struct{})
	go func() {
		c.cl.CloseAllowingRebalance()
		close(closed)
	}()
	leave := time.NewTimer(leaveBudget)
	defer leave.Stop()
	select {
	case <-closed:
	case <-leave.C:
		c.cancel()
		select {
		case <-closed:
		case <-ctx.Done():
			c.log.Warn("close kafka client: not done in time, exiting without it", "budget", c.closeTimeout)
		}
	case <-ctx.Done():
		c.cancel()
		c.log.Warn("close kafka client: not done in time, exiting without it", "budget", c.closeTimeout)
	}
	c.cancel()
	c.log.Info("route.closed", "committed_partitions", n, "commit_ms", ms(committed.Sub(start)), "close_ms", ms(time.Since(committed)))
}

// leaveBudget bounds the consumer protocol's leave heartbeat at a stop.
const leaveBudget = time.Second

// ms is a duration in milliseconds with microsecond precision, for logs.
func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

// stopCommit sends one OffsetCommit with every mark not yet committed and
// says how many partitions it committed.
func (c *consumer) stopCommit(ctx context.Context) (int, error) {
	req := c.stopCommitRequest()
	if req == nil {
		return 0, nil
	}
	resp, err := req.RequestWith(ctx, c.cl)
	if err != nil {
		return 0, fmt.Errorf("send offset commit: %w", err)
	}
	n := 0
	var errs []error
	for _, t := range resp.Topics {
		for _, p := range t.Partitions {
			if err := kerr.ErrorForCode(p.ErrorCode); err != nil {
				errs = append(errs, fmt.Errorf("%s[%d]: %w", t.Topic, p.Partition, err))
				continue
			}
			n++
		}
	}
	if len(errs) > 0 {
		return n, fmt.Errorf("commit offsets (redelivered after the restart): %w", errors.Join(errs...))
	}
	return n, nil
}

// stopCommitRequest builds the commit of marks above what was committed, or
// nil when there is nothing to commit or no membership to commit under.
func (c *consumer) stopCommitRequest() *kmsg.OffsetCommitRequest {
	member, gen := c.cl.GroupMetadata()
	if member == "" {
		return nil
	}
	committed := c.cl.CommittedOffsets()
	req := kmsg.NewPtrOffsetCommitRequest()
	req.Group, req.MemberID, req.Generation, req.InstanceID = c.group, member, gen, c.inst
	for topic, parts := range c.cl.MarkedOffsets() {
		t := kmsg.NewOffsetCommitRequestTopic()
		t.Topic, t.TopicID = topic, c.topicIDs[topic]
		for p, eo := range parts {
			if done, ok := committed[topic][p]; ok && done.Offset >= eo.Offset {
				continue
			}
			rp := kmsg.NewOffsetCommitRequestTopicPartition()
			rp.Partition, rp.Offset, rp.LeaderEpoch = p, eo.Offset, eo.Epoch
			t.Partitions = append(t.Partitions, rp)
		}
		if len(t.Partitions) > 0 {
			req.Topics = append(req.Topics, t)
		}
	}
	if len(req.Topics) == 0 {
		return nil
	}
	return req
}
