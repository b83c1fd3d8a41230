//go:build linux

package main

// The test harness, the broker side: an in-process kfake cluster, producing
// records, and reading topics, offsets and groups back with an admin client.

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strconv"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
)

// newBroker starts a one-broker kfake cluster on a random loopback port.
// Group session timeouts down to 100 ms are allowed so tests stay fast.
func newBroker(t testing.TB, partitions int32, topics ...string) (*kfake.Cluster, string) {
	t.Helper()
	c, err := kfake.NewCluster(
		kfake.NumBrokers(1),
		kfake.SeedTopics(partitions, topics...),
		kfake.GroupMinSessionTimeout(100*time.Millisecond),
	)
	if err != nil {
		t.Fatalf("start kfake: %v", err)
	}
	t.Cleanup(c.Close)
	return c, c.ListenAddrs()[0]
}

// produce writes n records with keys "0".."n-1" and 100-byte values,
// round-robin over partitions, and waits for every ack.
func produce(t testing.TB, addr, topic string, n int) {
	t.Helper()
	produceKeys(t, addr, topic, 0, n)
}

// produceKeys is produce with keys first..first+n-1, for a second batch
// that must be told apart from the first.
func produceKeys(t testing.TB, addr, topic string, first, n int) {
	t.Helper()
	if err := produceSpread(addr, topic, first, n, 0); err != nil {
		t.Fatalf("produce to %s: %v", topic, err)
	}
}

// produceSpread writes n records with keys first..first+n-1 and 100-byte
// values, round-robin over partitions, and waits for every ack. With over
// > 0 they go out in 100 equal slices spread over that time (a producer
// still at work while a test kills things). It returns the first error
// rather than failing the test: it may run outside the test's goroutine.
func produceSpread(addr, topic string, first, n int, over time.Duration) error {
	cl, err := kgo.NewClient(kgo.SeedBrokers(addr), kgo.DefaultProduceTopic(topic),
		kgo.RecordPartitioner(kgo.RoundRobinPartitioner()), kgo.ProducerLinger(time.Millisecond))
	if err != nil {
		return fmt.Errorf("start producer: %w", err)
	}
	defer cl.Close()
	const slices = 100
	var tick <-chan time.Time
	if over > 0 {
		ticker := time.NewTicker(over / slices) // pacing, not synchronisation
		defer ticker.Stop()
		tick = ticker.C
	}
	val := bytes.Repeat([]byte("v"), 100)
	errs := make(chan error, 1)
	for i := 0; i < n; i++ {
		if tick != nil && i > 0 && i%max(n/slices, 1) == 0 {
			<-tick
		}
		cl.Produce(context.Background(), &kgo.Record{Key: []byte(strconv.Itoa(first + i)), Value: val}, func(_ *kgo.Record, err error) {
			if err != nil {
				select {
				case errs <- err:
				default:
				}
			}
		})
	}
	if err := cl.Flush(context.Background()); err != nil {
		return fmt.Errorf("flush: %w", err)
	}
	select {
	case err := <-errs:
		return err
	default:
		return nil
	}
}

// newAdmin is a kadm client on addr, closed at cleanup.
func newAdmin(t testing.TB, addr string) *kadm.Client {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(addr))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cl.Close)
	return kadm.NewClient(cl)
}

// endOffsets returns the end offsets of topic per partition.
func endOffsets(t testing.TB, adm *kadm.Client, topic string) map[int32]int64 {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	lo, err := adm.ListEndOffsets(ctx, topic)
	if err != nil {
		t.Fatalf("list end offsets of %s: %v", topic, err)
	}
	ends := map[int32]int64{}
	lo.Each(func(o kadm.ListedOffset) { ends[o.Partition] = o.Offset })
	return ends
}

// offsetsOf returns the end offsets of topic and the group's committed
// offsets on it, per partition (committed -1 when none).
func offsetsOf(t testing.TB, adm *kadm.Client, group, topic string) (ends, committed map[int32]int64) {
	t.Helper()
	ends, committed = endOffsets(t, adm, topic), map[int32]int64{}
	for p := range ends {
		committed[p] = -1
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	fo, err := adm.FetchOffsets(ctx, group)
	if errors.Is(err, kerr.GroupIDNotFound) {
		return ends, committed // nothing committed yet
	}
	if err != nil {
		t.Fatalf("fetch offsets of %s: %v", group, err)
	}
	for p := range ends {
		if r, ok := fo.Lookup(topic, p); ok && r.Err == nil {
			committed[p] = r.At
		}
	}
	return ends, committed
}

// waitCommittedToEnd waits until group's committed offsets on topic reach
// the end of every partition. The offsets are polled (no event announces
// them), every 20 ms.
func waitCommittedToEnd(t testing.TB, adm *kadm.Client, group, topic string, timeout time.Duration) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		ends, committed := offsetsOf(t, adm, group, topic)
		done := true
		for p, e := range ends {
			if committed[p] < e {
				done = false
			}
		}
		if done {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("committed offsets of %s on %s %v did not reach the ends %v within %s", group, topic, committed, ends, timeout)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// readTopic returns every record of topic up to its current end, each
// partition in offset order.
func readTopic(t testing.TB, addr, topic string) map[int32][]*kgo.Record {
	t.Helper()
	ends := endOffsets(t, newAdmin(t, addr), topic)
	cl, err := kgo.NewClient(kgo.SeedBrokers(addr), kgo.ConsumeTopics(topic),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	out := map[int32][]*kgo.Record{}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for {
		done := true
		for p, e := range ends {
			if int64(len(out[p])) < e {
				done = false
			}
		}
		if done {
			return out
		}
		fs := cl.PollFetches(ctx)
		if ctx.Err() != nil {
			t.Fatalf("read %s: got %d partitions' records before the deadline, want up to %v", topic, len(out), ends)
		}
		fs.EachError(func(_ string, p int32, err error) { t.Logf("read %s[%d]: %v", topic, p, err) })
		fs.EachRecord(func(r *kgo.Record) { out[r.Partition] = append(out[r.Partition], r) })
	}
}

// allRecords flattens readTopic's result.
func allRecords(m map[int32][]*kgo.Record) []*kgo.Record {
	var out []*kgo.Record
	for _, rs := range m {
		out = append(out, rs...)
	}
	return out
}

// produceRecords writes recs to partition 0 of topic, in order, and waits
// for every ack.
func produceRecords(t testing.TB, addr, topic string, recs []*kgo.Record) {
	t.Helper()
	for _, r := range recs {
		r.Partition = 0
	}
	produceTo(t, addr, topic, recs)
}

// header returns the value of header key of r, and whether it is there.
func header(r *kgo.Record, key string) (string, bool) {
	for _, h := range r.Headers {
		if h.Key == key {
			return string(h.Value), true
		}
	}
	return "", false
}

// steadyTraffic produces perSecond records a second spread evenly over
// parts partitions (one record per partition every parts/perSecond), until
// the returned stop is called.
func steadyTraffic(t testing.TB, addr, topic string, parts, perSecond int) (stop func()) {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(addr), kgo.DefaultProduceTopic(topic),
		kgo.RecordPartitioner(kgo.ManualPartitioner()), kgo.ProducerLinger(0))
	if err != nil {
		t.Fatalf("producer: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		tick := time.NewTicker(time.Second * time.Duration(parts) / time.Duration(perSecond))
		defer tick.Stop()
		val := make([]byte, 100)
		for i := 0; ; i++ {
			select {
			case <-ctx.Done():
				return
			case <-tick.C:
			}
			for p := 0; p < parts; p++ {
				cl.Produce(ctx, &kgo.Record{Partition: int32(p), Key: []byte(strconv.Itoa(i)), Value: val}, nil)
			}
		}
	}()
	return func() {
		cancel()
		<-done
		cl.Close()
	}
}

// uncommitted lists the partitions whose committed offset in group is not
// past the highest handled offset: records handled but not committed.
func uncommitted(t testing.TB, addr, group, topic string, handled map[int32]int64) []int32 {
	t.Helper()
	adm, _, done := adminFor(t, addr, 10*time.Second) // closed at once: benchmarks call this often
	defer done()
	_, committed := offsetsOf(t, adm, group, topic)
	var bad []int32
	for p, h := range handled {
		if c, ok := committed[p]; !ok || c <= h {
			bad = append(bad, p)
		}
	}
	return bad
}

// groupSettled says whether group is Stable with members members, each
// holding at least one partition: a benchmark's events start from there.
func groupSettled(t testing.TB, addr, group string, members int) bool {
	t.Helper()
	adm, ctx, done := adminFor(t, addr, 5*time.Second)
	defer done()
	groups, err := adm.DescribeGroups(ctx, group)
	if err != nil {
		return false
	}
	g, ok := groups[group]
	if !ok || g.Err != nil || g.State != "Stable" || len(g.Members) != members {
		return false
	}
	for _, m := range g.Members {
		ca, ok := m.Assigned.AsConsumer()
		if !ok || len(ca.Topics) == 0 {
			return false
		}
	}
	return true
}

// adminFor is an admin client on addr and a context bounded by timeout;
// done releases both.
func adminFor(t testing.TB, addr string, timeout time.Duration) (*kadm.Client, context.Context, func()) {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(addr))
	if err != nil {
		t.Fatalf("admin client: %v", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	return kadm.NewClient(cl), ctx, func() { cancel(); cl.Close() }
}

// stableGroup describes group and returns it once it is Stable (ok false
// until then). Every test swarm uses static membership, so a member
// without an instance id fails the test.
func stableGroup(t testing.TB, adm *kadm.Client, group string) (g kadm.DescribedGroup, ok bool) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	described, err := adm.DescribeGroups(ctx, group)
	if err != nil {
		return g, false
	}
	g, found := described[group]
	if !found || g.Err != nil || g.State != "Stable" {
		return g, false
	}
	for _, m := range g.Members {
		if m.InstanceID == nil {
			t.Fatalf("group %s: member %s (client %s) has no instance id: static membership is off", group, m.MemberID, m.ClientID)
		}
	}
	return g, true
}

// waitGroupStable waits until kfake's group is Stable with members members,
// failing the test after timeout.
func waitGroupStable(t testing.TB, c *kfake.Cluster, group string, members int, timeout time.Duration) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	if _, err := c.WaitGroupStable(ctx, group, members); err != nil {
		t.Fatalf("group %s never stable with %d members: %v", group, members, err)
	}
}

// produceTo writes recs, each to its own Partition of topic, in order, and
// waits for every ack.
func produceTo(t testing.TB, addr, topic string, recs []*kgo.Record) {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(addr), kgo.RecordPartitioner(kgo.ManualPartitioner()))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	for _, r := range recs {
		r.Topic = topic
	}
	if err := cl.ProduceSync(context.Background(), recs...).FirstErr(); err != nil {
		t.Fatalf("produce to %s: %v", topic, err)
	}
}

// readTransactional returns the data records of topic up to its current
// end, as a reader with read_committed (committed) or read_uncommitted
// isolation sees them. Transaction markers take offsets, so it keeps
// control records to know when it reached the end, and drops them.
func readTransactional(t testing.TB, addr, topic string, committed bool) []*kgo.Record {
	t.Helper()
	ends := endOffsets(t, newAdmin(t, addr), topic)
	iso := kgo.ReadUncommitted()
	if committed {
		iso = kgo.ReadCommitted()
	}
	cl, err := kgo.NewClient(kgo.SeedBrokers(addr), kgo.ConsumeTopics(topic), kgo.FetchIsolationLevel(iso),
		kgo.KeepControlRecords(), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	next := map[int32]int64{}
	var out []*kgo.Record
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for !reachedEnds(next, ends) {
		fs := cl.PollFetches(ctx)
		if ctx.Err() != nil {
			t.Fatalf("read %s: at %v before the deadline, want up to %v", topic, next, ends)
		}
		fs.EachError(func(_ string, p int32, err error) { t.Logf("read %s[%d]: %v", topic, p, err) })
		fs.EachRecord(func(r *kgo.Record) {
			next[r.Partition] = r.Offset + 1
			if !r.Attrs.IsControl() {
				out = append(out, r)
			}
		})
	}
	return out
}

// reachedEnds says whether every partition's next offset is at its end.
func reachedEnds(next, ends map[int32]int64) bool {
	for p, e := range ends {
		if next[p] < e {
			return false
		}
	}
	return true
}
