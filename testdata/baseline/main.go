// Command baseline is the throughput benchmark's anchor: a plain
// single-process franz-go group consumer, the program one would write
// without swarm. It uses the client settings a swarm node uses (see
// clientOpts in consumer.go: same balancer, session and heartbeat, marks
// committed every second, rebalances blocked while a batch is in hand,
// static instance id, start at the earliest offset) and the node's poll
// loop shape (PollRecords of at most 500, handle, mark, allow rebalance),
// with the discard handler inlined. It logs the same per-batch debug line
// a node logs ("app.batch" with records and done, slog JSON on stderr), so
// the benchmark times both the same way.
//
// It runs until TERM or INT, then commits what it marked and closes.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
)

func main() {
	bootstrap := flag.String("bootstrap", "127.0.0.1:9092", "comma-separated brokers")
	topics := flag.String("topics", "", "comma-separated topics")
	group := flag.String("group", "baseline", "consumer group")
	instance := flag.String("instance-id", "", "static membership prefix (instance id <prefix>_0_0); empty: none")
	session := flag.Duration("session-timeout", 45*time.Second, "group session timeout")
	flag.Parse()

	log := slog.New(slog.NewJSONHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug})).
		With("role", "baseline", "pid", os.Getpid())
	// The same options clientOpts gives a node (minus its logger and the
	// SASL/TLS options, which a loopback broker does not use).
	opts := []kgo.Opt{
		kgo.SeedBrokers(strings.Split(*bootstrap, ",")...),
		kgo.ClientID(*group + "-baseline"),
		kgo.ConsumerGroup(*group),
		kgo.ConsumeTopics(strings.Split(*topics, ",")...),
		kgo.SessionTimeout(*session),
		kgo.HeartbeatInterval(min(3*time.Second, *session/3)),
		kgo.Balancers(kgo.RangeBalancer()),
		kgo.AutoCommitMarks(),
		kgo.AutoCommitInterval(time.Second),
		kgo.BlockRebalanceOnPoll(),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
	}
	if *instance != "" {
		opts = append(opts, kgo.InstanceID(*instance+"_0_0"))
	}
	cl, err := kgo.NewClient(opts...)
	if err != nil {
		fmt.Fprintln(os.Stderr, "baseline: create client:", err)
		os.Exit(1)
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	log.Info("baseline.started")
	var handled int64
	for ctx.Err() == nil {
		pollCtx, cancel := context.WithTimeout(ctx, time.Second)
		fetches := cl.PollRecords(pollCtx, 500)
		cancel()
		if fetches.IsClientClosed() {
			break
		}
		fetches.EachError(func(topic string, p int32, err error) {
			if !errors.Is(err, context.DeadlineExceeded) && !errors.Is(err, context.Canceled) {
				log.Warn("fetch error", "topic", topic, "partition", p, "err", err)
			}
		})
		if recs := fetches.Records(); len(recs) > 0 {
			// The discard handler: every record is done at once.
			cl.MarkCommitRecords(recs...)
			handled += int64(len(recs))
			log.Debug("app.batch", "records", len(recs), "done", len(recs))
		}
		cl.AllowRebalance()
	}
	closeCtx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := cl.CommitMarkedOffsets(closeCtx); err != nil {
		log.Error("commit", "err", err)
	}
	cl.CloseAllowingRebalance()
	log.Info("app.stopped", "handled", handled)
}
