//go:build linux

package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
)

// pollWait bounds one PollRecords call, so an idle node still completes a
// loop turn regularly and a stuck loop (not an empty topic) is what
// -polling-ttl detects.
const pollWait = time.Second

// defaultMaxPollRecords is -max-poll-records' default, Kafka's
// max.poll.records. It caps one handled batch (Karafka's max_messages plays
// the same part): a fetch can hold a whole partition; handled as one batch
// it would be marked, committed and checked by -consuming-ttl only at its
// end, and a rebalance would wait for all of it. With -exactly-once a
// batch is a transaction, so it also sets how much one commit carries.
const defaultMaxPollRecords = 500

// instanceID is Karafka's static membership mapping: <prefix>_<node>_<route>.
func instanceID(prefix string, node, route int) string {
	return prefix + "_" + strconv.Itoa(node) + "_" + strconv.Itoa(route)
}

// clientOpts builds the franz-go options of node nodeID's client for route r.
// ctx is the client's own context: cancelling it aborts whatever the client
// waits on (a JoinGroup the broker holds for a whole rebalance), which is
// what lets a stop never wait on the group.
func clientOpts(ctx context.Context, cfg *config, r *route, nodeID int, log *slog.Logger) []kgo.Opt {
	opts := []kgo.Opt{
		kgo.WithContext(ctx),
		kgo.SeedBrokers(cfg.bootstrap...),
		kgo.ClientID(r.clientID(nodeID)),
		kgo.ConsumerGroup(r.Group),
		kgo.ConsumeTopics(r.Topics...),
		kgo.BlockRebalanceOnPoll(),
		// What Kafka's Java client and librdkafka wait at most for a fetch
		// to fill (fetch.max.wait.ms 500), not franz-go's 5 s: a partition
		// resumed after a retry joins the next fetch request, and an idle
		// broker holds the one in flight this long.
		kgo.FetchMaxWait(500 * time.Millisecond),
		// Dead letters keep their source partition's number (modulo the
		// dead-letter topic's count): a source partition's dead letters
		// stay in order. Outputs are partitioned as franz-go's default does.
		kgo.RecordPartitioner(newRoutePartitioner(r.DeadLetterTopic)),
		kgo.WithLogger(kgoLogger{log: log}),
	}
	opts = append(opts, groupOpts(cfg)...)
	opts = append(opts, nodeMemoryOpts()...)
	if r.ExactlyOnce {
		// Offsets go with each batch's transaction (node_txn.go).
		opts = append(opts, txnOpts(cfg, r, nodeID)...)
	} else {
		// At-least-once: only records the handler finished are marked,
		// only marks are committed (every second, on revoke, and at close).
		opts = append(opts, kgo.AutoCommitMarks(), kgo.AutoCommitInterval(time.Second))
	}
	if cfg.initialOffset == "latest" {
		opts = append(opts, kgo.ConsumeResetOffset(kgo.NewOffset().AtEnd()))
	} else {
		opts = append(opts, kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	}
	if cfg.instanceID != "" {
		// The route's index in the file, not among the routes this node
		// runs or the filters kept: a member's identity never shifts.
		opts = append(opts, kgo.InstanceID(instanceID(cfg.instanceID, nodeID, r.Index)))
	}
	return append(opts, cfg.auth.kgoOpts()...)
}

// consumer is one route's poll loop over its own franz-go group client.
type consumer struct {
	cl *kgo.Client
	// cancel ends the client's context (see clientOpts).
	cancel context.CancelFunc
	// leaves says whether Close sends something worth waiting for (the
	// consumer protocol's static leave; see node_stopcommit.go).
	leaves bool
	group  string
	inst   *string // static instance id, nil without static membership
	// topicIDs are learnt from fetches: OffsetCommit v10 names topics by
	// id only (node_stopcommit.go). Touched by the poll goroutine only.
	topicIDs map[string][16]byte
	health   *nodeHealth
	log      *slog.Logger
	auth     *authWatch
	handled  atomic.Int64
	retries  retries // partitions paused for a retry (node_retry.go)
	// txn is the batch's transaction with -exactly-once (node_txn.go);
	// nil for at-least-once.
	txn *txn
	// stats is what the stats line and stall detection read
	// (node_stats.go); marked is what the last settle marked.
	stats *routeStats
	// endOffsetsEvery is how often stats ask the brokers for end offsets
	// (node_endoffsets.go); 0 without stats.
	endOffsetsEvery time.Duration
	// fromStart: a partition with no commit starts at the log start
	// (-initial-offset earliest), for stall detection's baseline.
	fromStart bool
	marked    []*kgo.Record
	maxPoll   int // -max-poll-records
	// closeTimeout bounds the final commit and close together: most of the
	// node's own shutdown budget, which ends before the supervisor's KILL.
	closeTimeout time.Duration
	// The poll goroutine's own: when run began, whether route.flowing was
	// logged, and when the last fetch error was.
	started      time.Time
	flowing      bool
	lastFetchErr time.Time
}

// newConsumer creates the route's group client; it joins on the first poll.
func newConsumer(cfg *config, r *route, nodeID int, health *nodeHealth, log *slog.Logger) (*consumer, error) {
	auth := newAuthWatch(&cfg.auth, nil)
	ctx, cancel := context.WithCancel(context.Background())
	c := &consumer{cancel: cancel, group: r.Group, health: health, log: log, auth: auth,
		topicIDs: map[string][16]byte{}, closeTimeout: cfg.shutdownTimeout * 8 / 10, leaves: cfg.groupProtocol == "consumer",
		maxPoll: cfg.maxPollRecords}
	if cfg.statsInterval > 0 || cfg.stallTTL > 0 {
		c.stats = newRouteStats()
		c.stats.readCommitted = r.ExactlyOnce
		c.endOffsetsEvery = endOffsetsEvery(cfg.stallTTL)
		c.fromStart = cfg.initialOffset != "latest"
	}
	c.retries.pol = policyFor(cfg, r)
	opts := append(clientOpts(ctx, cfg, r, nodeID, log), kgo.WithHooks(auth),
		kgo.OnPartitionsAssigned(c.assigned), kgo.OnPartitionsRevoked(c.revoked), kgo.OnPartitionsLost(c.lost))
	if err := c.newClient(opts, r.ExactlyOnce, cfg.transactionTimeout); err != nil {
		cancel()
		return nil, fmt.Errorf("create kafka client: %w", err)
	}
	if cfg.instanceID != "" {
		inst := instanceID(cfg.instanceID, nodeID, r.Index)
		c.inst = &inst
	}
	return c, nil
}

// newClient makes the route's client: a plain one, or with exactly-once
// a transaction session whose End the batches use.
func (c *consumer) newClient(opts []kgo.Opt, exactlyOnce bool, txnTimeout time.Duration) error {
	if !exactlyOnce {
		cl, err := kgo.NewClient(opts...)
		c.cl = cl
		return err
	}
	sess, err := kgo.NewGroupTransactSession(opts...)
	if err != nil {
		return err
	}
	c.cl, c.txn = sess.Client(), &txn{sess: sess, endTimeout: c.closeTimeout, timeout: txnTimeout}
	return nil
}

// assigned logs the partitions the group gave this node (who holds which
// partition is what an operator asks first after a restart) and starts
// their stats.
func (c *consumer) assigned(_ context.Context, _ *kgo.Client, parts map[string][]int32) {
	c.log.Info("route.assigned", "partitions", parts)
	c.stats.assigned(parts, time.Now())
}

// revoked commits the marks, as franz-go's default revoke does (which this
// replaces), then forgets the revoked partitions' held records.
func (c *consumer) revoked(ctx context.Context, cl *kgo.Client, parts map[string][]int32) {
	if err := cl.CommitMarkedOffsets(ctx); err != nil && ctx.Err() == nil {
		c.log.Warn("commit at revoke", "err", err)
	}
	c.forget(cl, parts)
	c.stats.dropped(parts)
	if c.txn != nil {
		c.txn.starts.drop(parts)
	}
}

// lost forgets the lost partitions' held records; a commit for them could
// not succeed.
func (c *consumer) lost(_ context.Context, cl *kgo.Client, parts map[string][]int32) {
	c.forget(cl, parts)
	c.stats.dropped(parts)
	if c.txn != nil {
		c.txn.starts.drop(parts)
	}
}

// run polls and hands each batch to h until ctx is cancelled (stop) or an
// error. h comes here, not with the client: a handler command produces
// through this client, so it is built after it (newCmdHandler). quiet is
// checked between polls: a quiet node keeps its membership (heartbeats run
// on their own) but takes no records. It always leaves the client closed
// with every handled record committed, as far as the broker allows.
//
// One record's way: poll fetches it, handleBatch gives it to the handler
// and marks it once done, and the marks are committed by franz-go's
// autocommit, at a revoke, or by close (node_stopcommit.go).
func (c *consumer) run(ctx context.Context, quiet <-chan struct{}, h recordHandler) error {
	defer c.close()
	c.started = time.Now()
	if c.txn != nil {
		if err := c.txn.fence(ctx); err != nil && ctx.Err() == nil {
			return err
		}
	}
	if c.stats != nil {
		probe, stopProbe := context.WithCancel(ctx)
		defer stopProbe() // before close: deferred later, runs first
		go c.probeEndOffsets(probe, c.endOffsetsEvery)
	}
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-quiet:
			c.health.quiet.Store(true)
			c.cl.AllowRebalance()
			c.log.Info("app.quiet")
			<-ctx.Done()
			return nil
		default:
		}
		fetches, closed, err := c.poll(ctx)
		if closed || err != nil {
			return err
		}
		// Held partitions that are due first: they are paused, so the
		// fetched records never hold any of theirs.
		d := newDelivery(nil)
		if c.txn != nil {
			c.reconcile()
		}
		c.takeDue(d, time.Now())
		c.stats.fetched(fetches, time.Now())
		if recs := fetches.Records(); len(recs) > 0 {
			c.learnTopicIDs(fetches)
			d.add(recs, 1)
			if c.txn != nil {
				c.commitStarts(recs)
			}
		}
		if len(d.recs) > 0 {
			if err := c.handleBatch(h, d); err != nil {
				c.cl.AllowRebalance()
				return fmt.Errorf("handle records: %w", err)
			}
		}
		// Rebalances wait while a batch is in hand, so a revoke commits
		// exactly what was handled and nothing is handled twice locally.
		c.cl.AllowRebalance()
	}
}

// poll takes the next batch, waiting at most pollWait and not past the
// moment a held partition is due; it may be empty, and is on a rebalance.
// closed says the client is closed; an error, that the node must fail
// (rejected credentials do not heal by retrying: the supervisor's restart
// backoff paces the next attempt, which reads -sasl-password-file again).
func (c *consumer) poll(ctx context.Context) (fetches kgo.Fetches, closed bool, err error) {
	if wait := c.retries.pollWait(time.Now()); wait > 0 {
		pollCtx, cancel := context.WithTimeout(ctx, wait)
		fetches = c.cl.PollRecords(pollCtx, c.maxPoll)
		cancel()
	} else {
		// A retry is due: take only what is buffered (a nil context does
		// not wait). Finding nothing, a nil poll returns without holding
		// the rebalance block (BlockRebalanceOnPoll), and the held records
		// taken next would be handled while a revoke runs: a poll with an
		// ended context takes the block (after any pending rebalance) and
		// returns at once.
		if fetches = c.cl.PollRecords(nil, c.maxPoll); len(fetches) == 0 {
			ended, end := context.WithCancel(ctx)
			end()
			fetches = c.cl.PollRecords(ended, c.maxPoll)
		}
	}
	now := time.Now()
	c.health.polled(now)
	if fetches.IsClientClosed() {
		return nil, true, nil
	}
	fetches.EachError(func(topic string, p int32, err error) {
		if errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled) {
			return
		}
		if c.auth.failed(err) != nil {
			return
		}
		// A missing topic or a lost broker repeats on every poll: one
		// line a second is enough to see it.
		if now.Sub(c.lastFetchErr) >= time.Second {
			c.lastFetchErr = now
			c.log.Warn("fetch error", "topic", topic, "partition", p, "err", err)
		}
	})
	if err := c.auth.failed(nil); err != nil {
		c.cl.AllowRebalance()
		return nil, false, err
	}
	return fetches, false, nil
}

// handleBatch runs d through the handler, then marks for commit what is
// final and holds back, per partition, what is to be retried (settle).
// After a handler error what is not final is not marked, so it is
// delivered again to whoever consumes the partition next.
func (c *consumer) handleBatch(h recordHandler, d *delivery) error {
	if c.stats != nil {
		c.stats.handing(d)
	}
	began := time.Now()
	c.health.beginBatch(began)
	if c.txn != nil {
		if err := c.txn.begin(); err != nil {
			return err
		}
	}
	err := h.handle(d)
	now := time.Now()
	done := c.settle(d, now)
	aborted := false
	if c.txn != nil {
		// The batch is done once its transaction is: committed, or
		// aborted and all of it to come again.
		var committed bool
		if committed, err = c.txn.end(c, d, err); !committed {
			done, aborted = 0, true
		}
		now = time.Now()
	}
	c.health.endBatch(now)
	c.handled.Add(int64(done))
	if c.stats != nil {
		b := newBatchStats(d, c.marked, now.Sub(began), now)
		if aborted {
			b.aborted(userRecords(d.recs))
		}
		c.stats.settled(b, now)
	}
	c.marked = nil
	// Per batch, so debug only: throughput measurements read the node's
	// own timing from it (see pipe_bench_test.go).
	c.log.Debug("app.batch", "records", userRecords(d.recs), "done", done)
	if !c.flowing {
		// Once per start: how long a (re)started node took to handle its
		// first records, joining included.
		c.flowing = true
		c.log.Info("route.flowing", "after_ms", ms(time.Since(c.started)), "records", done)
	}
	return err
}

// kgoLogger routes franz-go's logs into slog at warn and above only: its
// info level is chatty about every rebalance step.
type kgoLogger struct{ log *slog.Logger }

func (l kgoLogger) Level() kgo.LogLevel { return kgo.LogLevelWarn }

func (l kgoLogger) Log(level kgo.LogLevel, msg string, kv ...any) {
	lv := slog.LevelWarn
	if level == kgo.LogLevelError {
		lv = slog.LevelError
	}
	l.log.Log(context.Background(), lv, "kafka: "+msg, kv...)
}
