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

// maxPollRecords caps one handled batch (Karafka's max_messages plays the
// same part). A fetch can hold a whole partition; handled as one batch it
// would be marked, committed and checked by -consuming-ttl only at its end,
// and a rebalance would wait for all of it.
const maxPollRecords = 500

// instanceID is Karafka's static membership mapping: <prefix>_<node>_<route>.
func instanceID(prefix string, node, route int) string {
	return prefix + "_" + strconv.Itoa(node) + "_" + strconv.Itoa(route)
}

// clientOpts builds the franz-go options of node nodeID's client for route r.
func clientOpts(cfg *config, r *route, nodeID int, log *slog.Logger) []kgo.Opt {
	opts := []kgo.Opt{
		kgo.SeedBrokers(cfg.bootstrap...),
		kgo.ClientID(r.clientID(nodeID)),
		kgo.ConsumerGroup(r.Group),
		kgo.ConsumeTopics(r.Topics...),
		kgo.SessionTimeout(cfg.sessionTimeout),
		// franz-go requires the heartbeat well inside the session; a third
		// is Kafka's own recommendation and lets tests use short sessions.
		kgo.HeartbeatInterval(cfg.sessionTimeout / 3),
		kgo.Balancers(balancer(cfg.balancer)),
		// At-least-once: only records the handler finished are marked, only
		// marks are committed (every second, on revoke, and at close).
		kgo.AutoCommitMarks(),
		kgo.AutoCommitInterval(time.Second),
		kgo.BlockRebalanceOnPoll(),
		kgo.WithLogger(kgoLogger{log: log}),
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

// balancer maps -balancer to franz-go's group balancer.
func balancer(name string) kgo.GroupBalancer {
	switch name {
	case "range":
		return kgo.RangeBalancer()
	case "sticky":
		return kgo.StickyBalancer()
	case "roundrobin":
		return kgo.RoundRobinBalancer()
	default:
		return kgo.CooperativeStickyBalancer()
	}
}

// consumer is one route's poll loop over its own franz-go group client.
type consumer struct {
	cl      *kgo.Client
	h       recordHandler
	health  *nodeHealth
	log     *slog.Logger
	auth    *authWatch
	handled atomic.Int64
	// closeTimeout bounds the final commit and close together: most of the
	// node's own shutdown budget, which ends before the supervisor's KILL.
	closeTimeout time.Duration
}

// newConsumer creates the route's group client; it joins on the first poll.
func newConsumer(cfg *config, r *route, nodeID int, h recordHandler, health *nodeHealth, log *slog.Logger) (*consumer, error) {
	auth := newAuthWatch(&cfg.auth, nil)
	cl, err := kgo.NewClient(append(clientOpts(cfg, r, nodeID, log), kgo.WithHooks(auth))...)
	if err != nil {
		return nil, fmt.Errorf("create kafka client: %w", err)
	}
	return &consumer{cl: cl, h: h, health: health, log: log, auth: auth,
		closeTimeout: cfg.shutdownTimeout * 8 / 10}, nil
}

// run polls and handles until ctx is cancelled (stop) or an error. quiet is
// checked between polls: a quiet node keeps its membership (heartbeats run
// on their own) but takes no records. It always leaves the client closed
// with every handled record committed, as far as the broker allows.
func (c *consumer) run(ctx context.Context, quiet <-chan struct{}) error {
	defer c.close()
	var lastErr time.Time
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
		pollCtx, cancel := context.WithTimeout(ctx, pollWait)
		fetches := c.cl.PollRecords(pollCtx, maxPollRecords)
		cancel()
		now := time.Now()
		c.health.polled(now)
		if fetches.IsClientClosed() {
			return nil
		}
		fetches.EachError(func(topic string, p int32, err error) {
			if errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled) {
				return
			}
			if c.auth.failed(err) != nil {
				return
			}
			// A missing topic or a lost broker repeats on every poll:
			// one line a second is enough to see it.
			if now.Sub(lastErr) >= time.Second {
				lastErr = now
				c.log.Warn("fetch error", "topic", topic, "partition", p, "err", err)
			}
		})
		// Rejected credentials do not heal by retrying: the node fails,
		// and the supervisor's restart backoff paces the next attempt
		// (which reads -sasl-password-file again).
		if err := c.auth.failed(nil); err != nil {
			c.cl.AllowRebalance()
			return err
		}
		if recs := fetches.Records(); len(recs) > 0 {
			c.health.beginBatch(now)
			done, err := c.h.handle(recs)
			c.health.endBatch(time.Now())
			c.cl.MarkCommitRecords(recs[:done]...)
			c.handled.Add(int64(done))
			// Per batch, so debug only: throughput measurements read the
			// node's own timing from it (see pipe_bench_test.go).
			c.log.Debug("app.batch", "records", len(recs), "done", done)
			if err != nil {
				c.cl.AllowRebalance()
				return fmt.Errorf("handle records: %w", err)
			}
		}
		// Rebalances wait while a batch is in hand, so a revoke commits
		// exactly what was handled and nothing is handled twice locally.
		c.cl.AllowRebalance()
	}
}

// close commits the marks synchronously, then closes the client, both
// within closeTimeout. With static membership franz-go sends no LeaveGroup,
// so a restarted node with the same instance id gets its partitions back
// without a rebalance. The bound matters: a TERM that lands mid-rebalance
// finds a JoinGroup in flight that the broker may hold for the whole
// rebalance timeout (60 s by default), and Close waits for it. The process
// is about to exit and its sockets die with it, so past the bound the node
// stops waiting; what it handled is committed first, or delivered again.
func (c *consumer) close() {
	deadline := time.Now().Add(c.closeTimeout)
	ctx, cancel := context.WithDeadline(context.Background(), deadline)
	defer cancel()
	if err := c.cl.CommitMarkedOffsets(ctx); err != nil {
		c.log.Error("commit handled offsets", "err", err)
	}
	closed := make(chan struct{})
	go func() {
		c.cl.CloseAllowingRebalance()
		close(closed)
	}()
	select {
	case <-closed:
	case <-time.After(time.Until(deadline)):
		c.log.Warn("close kafka client: not done in time, exiting without it", "budget", c.closeTimeout)
	}
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
