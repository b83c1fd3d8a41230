//go:build linux

package main

import (
	"encoding/json"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
)

// statsConsumer is retryConsumer with stats, owning t/0, t/1 and t/2.
func statsConsumer(t *testing.T, now time.Time) *consumer {
	_, addr := newBroker(t, 3, "t")
	c := retryConsumer(t, addr)
	c.stats = newRouteStats()
	c.stats.assigned(map[string][]int32{"t": {0, 1, 2}}, now)
	return c
}

// settleBatch settles d as handleBatch does, taking took to handle it.
func settleBatch(c *consumer, d *delivery, took time.Duration, now time.Time) {
	c.settle(d, now)
	c.stats.settled(newBatchStats(d, c.marked, took, now), now)
	c.marked = nil
}

// fetchOf is a fetch with the given high watermark per partition of t.
func fetchOf(hwms map[int32]int64) kgo.Fetches {
	var ps []kgo.FetchPartition
	for p, h := range hwms {
		ps = append(ps, kgo.FetchPartition{Partition: p, HighWatermark: h})
	}
	return kgo.Fetches{{Topics: []kgo.FetchTopic{{Topic: "t", Partitions: ps}}}}
}

// A settled batch counts its outcomes once each, moves each owned
// partition's handled offset past its last marked record (not past a
// held one), shows a held partition paused with its attempt and next try,
// and keeps the fetched high watermark; a revoked partition is gone.
func TestStatsCollectsBatches(t *testing.T) {
	now := time.Now()
	c := statsConsumer(t, now)
	rec := func(p int32, off int64) *kgo.Record { return &kgo.Record{Topic: "t", Partition: p, Offset: off} }
	c.stats.fetched(fetchOf(map[int32]int64{0: 10, 1: 3}), now)

	d := newDelivery([]*kgo.Record{rec(0, 0), rec(0, 1), rec(0, 2), rec(1, 0), rec(1, 1), rec(1, 2)})
	d.outcomes = []outcome{handled, handled, handled, handled, pending, pending}
	d.fail(4, retrying, "refused key 5")
	d.produced = 3
	settleBatch(c, d, 7*time.Millisecond, now)

	r := c.statsRoute(2, "g")
	want := statsCounters{Handled: 4, Failed: 1, Retried: 1, Produced: 3}
	if r.statsCounters != want || r.Route != 2 || r.Group != "g" {
		t.Errorf("route %d %q counters %+v, want 2 \"g\" %+v", r.Route, r.Group, r.statsCounters, want)
	}
	wantParts := []statsPartition{
		{Topic: "t", Partition: 0, Handled: 3, Committed: -1, HighWatermark: 10},
		{Topic: "t", Partition: 1, Handled: 1, Committed: -1, HighWatermark: 3, Paused: true, Attempt: 2,
			NextTryMs: now.Add(time.Second).UnixMilli()},
		{Topic: "t", Partition: 2, Handled: -1, Committed: -1, HighWatermark: -1},
	}
	if !reflect.DeepEqual(r.Partitions, wantParts) {
		t.Errorf("partitions\n%+v, want\n%+v", r.Partitions, wantParts)
	}
	if r.LatencyMs.Count != 1 || r.LatencyMs.SumMs != 7 || r.LatencyMs.Counts[2] != 1 || len(r.LatencyMs.Counts) != len(r.LatencyMs.Le)+1 {
		t.Errorf("latency %+v, want one batch of 7 ms in the le=10 bucket", r.LatencyMs)
	}
	if len(r.Failures) != 1 || r.Failures[0] != (statsFailure{"t", 1, 1, "refused key 5", now.UnixMilli()}) {
		t.Errorf("failures %+v, want t/1 offset 1", r.Failures)
	}

	c.stats.dropped(map[string][]int32{"t": {1}})
	if r := c.statsRoute(2, "g"); len(r.Partitions) != 2 || r.Partitions[1].Partition != 2 {
		t.Errorf("after revoking t/1: %+v, want t/0 and t/2", r.Partitions)
	}
}

// An exactly-once batch whose transaction aborted counts its records as
// aborted, not as handled, held or produced, keeps its failures, and moves
// no partition's handled offset.
func TestStatsAbortedBatch(t *testing.T) {
	now := time.Now()
	c := statsConsumer(t, now)
	rec := func(p int32, off int64) *kgo.Record { return &kgo.Record{Topic: "t", Partition: p, Offset: off} }
	d := newDelivery([]*kgo.Record{rec(0, 0), rec(0, 1), rec(1, 0)})
	d.outcomes = []outcome{handled, deadLettered, handled}
	d.fail(1, deadLettered, "refused")
	d.produced = 3
	c.settle(d, now)
	b := newBatchStats(d, c.marked, time.Millisecond, now)
	b.aborted(len(d.recs))
	c.stats.settled(b, now)

	r := c.statsRoute(0, "g")
	if want := (statsCounters{Failed: 1, Aborted: 3}); r.statsCounters != want {
		t.Errorf("counters %+v, want %+v", r.statsCounters, want)
	}
	for _, p := range r.Partitions {
		if p.Handled != -1 {
			t.Errorf("partition %d handled %d after an aborted batch, want -1", p.Partition, p.Handled)
		}
	}
}

// The route keeps its last statsFailures failures, newest last, each error
// clipped to statsErrorBytes on a rune boundary; dead-lettered and skipped
// records count as failed and as what became of them.
func TestStatsFailuresBounded(t *testing.T) {
	now := time.Now()
	c := statsConsumer(t, now)
	long := strings.Repeat("é", statsErrorBytes) // 2 bytes a rune
	for off := range int64(7) {
		d := newDelivery([]*kgo.Record{{Topic: "t", Partition: 0, Offset: off}})
		fate := deadLettered
		if off%2 == 1 {
			fate = skipped
		}
		d.fail(0, fate, long)
		settleBatch(c, d, 2*time.Second, now)
	}
	r := c.statsRoute(0, "g")
	if r.Failed != 7 || r.DeadLettered != 4 || r.Skipped != 3 || r.Handled != 0 {
		t.Errorf("counters %+v, want 7 failed: 4 dead-lettered, 3 skipped", r.statsCounters)
	}
	var offs []int64
	for _, f := range r.Failures {
		offs = append(offs, f.Offset)
		if len(f.Error) != statsErrorBytes || !strings.HasPrefix(long, f.Error) {
			t.Errorf("error of %d bytes, want the first %d of the reason", len(f.Error), statsErrorBytes)
		}
	}
	if !slices.Equal(offs, []int64{2, 3, 4, 5, 6}) {
		t.Errorf("failures at offsets %v, want the last 5 in order", offs)
	}
	if r.Partitions[0].Handled != 7 {
		t.Errorf("t/0 handled %d, want 7 (dead-lettered and skipped are final)", r.Partitions[0].Handled)
	}
	if r.LatencyMs.Counts[9] != 7 || r.LatencyMs.SumMs != 14000 {
		t.Errorf("latency %+v, want 7 batches of 2 s in the le=2500 bucket", r.LatencyMs)
	}
}

// The encoded line has the spec's fields and shape.
func TestStatsLineShape(t *testing.T) {
	now := time.Now()
	c := statsConsumer(t, now)
	d := newDelivery([]*kgo.Record{{Topic: "t", Partition: 0, Offset: 4}})
	d.fail(0, retrying, "x")
	settleBatch(c, d, time.Millisecond, now)
	b, err := encodeStatsLine(&statsLine{V: 1, AtMs: now.UnixMilli(), Routes: []statsRoute{c.statsRoute(0, "g")}}, maxStatsLine)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasSuffix(string(b), "}\n") || strings.Count(string(b), "\n") != 1 {
		t.Fatalf("line %q: want one JSON object and its newline", b)
	}
	var l map[string]any
	if err := json.Unmarshal(b, &l); err != nil {
		t.Fatal(err)
	}
	route := l["routes"].([]any)[0].(map[string]any)
	for _, k := range []string{"route", "group", "handled", "failed", "retried", "dead_lettered", "skipped", "produced", "aborted",
		"latency_ms", "partitions", "failures", "truncated"} {
		if _, ok := route[k]; !ok {
			t.Errorf("route has no %q: %s", k, b)
		}
	}
	lat := route["latency_ms"].(map[string]any)
	if len(lat["counts"].([]any)) != len(lat["le"].([]any))+1 || lat["sum_ms"] == nil || lat["count"] == nil {
		t.Errorf("latency_ms %v: want le, counts (one more), sum_ms, count", lat)
	}
	parts := route["partitions"].([]any)
	held, idle := parts[0].(map[string]any), parts[1].(map[string]any)
	for _, k := range []string{"topic", "partition", "handled", "committed", "high_watermark", "paused", "attempt", "next_try_ms"} {
		if _, ok := held[k]; !ok {
			t.Errorf("held partition has no %q: %v", k, held)
		}
	}
	if _, ok := idle["paused"]; ok || len(idle) != 5 {
		t.Errorf("a partition not held: %v, want no retry fields", idle)
	}
	if l["v"] != 1.0 || l["at_ms"] != float64(now.UnixMilli()) {
		t.Errorf("v %v at_ms %v", l["v"], l["at_ms"])
	}
}

// A line over the limit loses partitions from the end (the last route's
// first) and says so; failures go only when no partition is left.
func TestStatsLineTruncated(t *testing.T) {
	topic := strings.Repeat("t", 249)
	route := func(i, parts int) statsRoute {
		r := statsRoute{Route: i, Group: "g", Failures: []statsFailure{{Topic: topic, Error: strings.Repeat("e", 200)}}}
		for p := range parts {
			r.Partitions = append(r.Partitions, statsPartition{Topic: topic, Partition: int32(p), Handled: 1 << 40, HighWatermark: 1 << 40})
		}
		return r
	}
	l := statsLine{V: 1, Routes: []statsRoute{route(0, 300), route(1, 1000)}}
	b, err := encodeStatsLine(&l, maxStatsLine)
	if err != nil || len(b) > maxStatsLine {
		t.Fatalf("%d bytes, %v: want at most %d", len(b), err, maxStatsLine)
	}
	var got statsLine
	if err := json.Unmarshal(b, &got); err != nil {
		t.Fatal(err)
	}
	r0, r1 := got.Routes[0], got.Routes[1]
	if r0.Truncated || len(r0.Partitions) != 300 || !r1.Truncated || len(r1.Partitions) == 0 || len(r1.Partitions) >= 1000 {
		t.Errorf("route 0: %d partitions truncated %v; route 1: %d truncated %v; want route 1 cut, route 0 whole",
			len(r0.Partitions), r0.Truncated, len(r1.Partitions), r1.Truncated)
	}
	if last := r1.Partitions[len(r1.Partitions)-1].Partition; last != int32(len(r1.Partitions)-1) {
		t.Errorf("route 1 ends at partition %d: want the first ones kept", last)
	}
	if len(b) < maxStatsLine*9/10 {
		t.Errorf("%d bytes: dropped far more than needed for %d", len(b), maxStatsLine)
	}
	small := statsLine{V: 1, Routes: []statsRoute{route(0, 3)}}
	if b, err := encodeStatsLine(&small, 400); err != nil || len(b) > 400 || len(small.Routes[0].Failures) != 0 {
		t.Errorf("400-byte limit: %d bytes, %v, %d failures left; want partitions then failures dropped", len(b), err, len(small.Routes[0].Failures))
	}
	if _, err := encodeStatsLine(&statsLine{V: 1, Routes: []statsRoute{route(0, 1)}}, 50); err == nil {
		t.Error("a route that cannot fit even bare: want an error, not a broken line")
	}
}

// The handle-time sum is exact and rounded only once: truncating each
// batch to whole milliseconds would leave a fast handler's _sum near 0
// (ten batches of 0.9 ms summing to 0 ms, not 9).
func TestLatencySumNotRoundedPerBatch(t *testing.T) {
	s := newRouteStats()
	for i := 0; i < 10; i++ {
		s.lat.observe(900 * time.Microsecond)
	}
	if s.lat.SumMs < 8 {
		t.Errorf("sum of 10 batches of 0.9 ms is %d ms, want about 9", s.lat.SumMs)
	}
}
