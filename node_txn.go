//go:build linux

package main

// Exactly-once output (-exactly-once, a route's "exactly_once"): each
// handled batch's outputs, dead letters and offsets go into one Kafka
// transaction, through franz-go's GroupTransactSession on the route's own
// client.
//
// The session's End commits every offset polled, but a batch with a
// record to retry is final only up to that record in its partition (the
// rest is held, node_retry.go). So End's offset commit is rewritten
// (kgo.PreTxnCommitFnContext) to what the batch made final: per
// partition, one past its last final record. A partition held for a retry
// commits its handled prefix now and the held records in the transaction
// of the batch that makes them final, so each record's output commits
// once, with its offset.
//
// End then sets the client's idea of the committed offsets to everything
// polled; align (node_txn_offsets.go) puts it back to what was really
// committed, because an abort rewinds the consumer to it. A partition held for a retry has its
// cursor moved back to the held record meanwhile; it is paused, so
// nothing is fetched, and when its held records are final the cursor is
// moved past them before it is resumed.
//
// A rebalance never lands inside a transaction (BlockRebalanceOnPoll: a
// revoke runs between batches), but the session aborts the first batch
// after a revoke to be safe; that batch comes again, as after any abort.

import (
	"context"
	"errors"
	"fmt"
	"os"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// transactionalID is route r's transactional id on node: the group, then
// the node's static membership id. Stable across restarts, so a
// replacement fences the node it replaces; unique per cluster, since two
// swarms of different groups may share a host (and so -instance-id).
// Group first, so a prefixed ACL per group covers its nodes.
func transactionalID(prefix, group string, node, route int) string {
	if prefix == "" {
		// No static membership: the host still tells two swarms apart.
		prefix, _ = os.Hostname()
	}
	return group + "-" + instanceID(prefix, node, route)
}

// txnOpts are what a route's client needs for exactly-once: its
// transactional id and timeout, and reading only committed records (an
// upstream transaction's aborted records are not input). Reading
// committed, the records of an aborted transaction never arrive, so the
// transaction markers are kept: they go through a batch like records
// (never to the handler), so the offsets committed, and the handled
// offsets stall detection compares with the high watermark, get past an
// aborted tail.
func txnOpts(cfg *config, r *route, nodeID int) []kgo.Opt {
	return []kgo.Opt{
		kgo.TransactionalID(transactionalID(cfg.instanceID, r.Group, nodeID, r.Index)),
		kgo.TransactionTimeout(cfg.transactionTimeout),
		kgo.FetchIsolationLevel(kgo.ReadCommitted()),
		kgo.KeepControlRecords(),
	}
}

// txn is a route's transaction per batch.
type txn struct {
	sess *kgo.GroupTransactSession
	// endTimeout bounds one End: the node's stop must be able to finish
	// it inside its budget. timeout is the transaction's own, for errors.
	endTimeout, timeout time.Duration
	// released are partitions whose held records this batch made final:
	// resumed only once that is committed (see align).
	released map[string][]int32
	// starts is where the consumer began each partition it owns.
	starts pollStarts
}

// fence initialises the producer id, which aborts whatever transaction the
// node this one replaces left open: until then the group's offsets of its
// partitions stay unstable and nobody (this node included) can start on
// them. Before the first poll, so it never waits on a join.
func (t *txn) fence(ctx context.Context) error {
	if _, _, err := t.sess.Client().ProducerID(ctx); err != nil {
		return fmt.Errorf("init transactional producer: %w", err)
	}
	return nil
}

// begin opens the batch's transaction: the handler's produces need one.
func (t *txn) begin() error {
	if err := t.sess.Begin(); err != nil {
		return fmt.Errorf("begin transaction: %w", err)
	}
	return nil
}

// end commits the batch's transaction with the offsets of c.marked, or
// aborts it after a handler error herr. It says whether it committed; an
// error means the client cannot go on (the node restarts and what was not
// committed comes again).
func (t *txn) end(c *consumer, d *delivery, herr error) (bool, error) {
	ctx, cancel := context.WithTimeout(context.Background(), t.endTimeout)
	defer cancel()
	if herr != nil {
		if _, err := t.sess.End(ctx, kgo.TryAbort); err != nil {
			herr = errors.Join(herr, fmt.Errorf("abort transaction: %w", err))
		}
		c.marked, t.released = nil, nil
		return false, herr
	}
	if len(c.marked) == 0 {
		// Nothing final (every record is held again), so nothing was
		// produced and there is nothing to commit: the empty transaction
		// is aborted. Committing it would send no offset commit, and
		// franz-go, seeing no answer to tell it the broker has KIP-447,
		// would hold End 500 ms (its pre-2.5 wait for markers).
		if _, err := t.sess.End(ctx, kgo.TryAbort); err != nil {
			return false, fmt.Errorf("end transaction with nothing to commit: %w", err)
		}
		c.align(nil, t.released)
		t.released = nil
		return true, nil
	}
	offsets := nextOffsets(c.marked)
	ctx = kgo.PreTxnCommitFnContext(ctx, func(req *kmsg.TxnOffsetCommitRequest) error {
		rewriteTxnCommit(req, offsets)
		return nil
	})
	committed, err := t.sess.End(ctx, kgo.TryCommit)
	if err != nil {
		return false, fmt.Errorf("end transaction (a batch must end within -transaction-timeout %s): %w", t.timeout, err)
	}
	if committed {
		c.align(offsets, t.released)
	} else {
		c.abandon(d)
	}
	t.released = nil
	return committed, nil
}
