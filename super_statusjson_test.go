//go:build linux

package main

import (
	"encoding/json"
	"net/http/httptest"
	"reflect"
	"testing"
	"time"
)

// statsSwarm is two fake nodes serving -http with canned stats lines:
// node 0 owns orders 0 (lag 10) and orders 1 (held for a retry, with a
// failure), node 1 owns orders 2 (not fetched yet: no high watermark).
func statsSwarm(t *testing.T) *managerHarness {
	h := servingHarness(t, 2)
	h.reportAll()
	at := h.sys.clock.UnixMilli()
	l0 := oneRoute(at, "g1", 1000,
		statsPartition{Topic: "orders", Partition: 0, Handled: 95, Committed: 90, HighWatermark: 100},
		statsPartition{Topic: "orders", Partition: 1, Handled: 7, Committed: 7, HighWatermark: 9, Paused: true, Attempt: 2, NextTryMs: at + 1500})
	l0.Routes[0].Failed, l0.Routes[0].Retried, l0.Routes[0].DeadLettered, l0.Routes[0].Produced, l0.Routes[0].Aborted = 3, 2, 1, 990, 4
	l0.Routes[0].Failures = []statsFailure{{Topic: "orders", Partition: 1, Offset: 7, Error: "refused", AtMs: at - 1000}}
	l0.Routes[0].LatencyMs = latencyHist{Le: []int64{1, 5, 10}, Counts: []int64{10, 5, 0, 1}, SumMs: 2100, Count: 16}
	h.sendStats(0, statsJSONLine(t, l0))
	h.sendStats(1, statsJSONLine(t, oneRoute(at, "g1", 0, statsPartition{Topic: "orders", Partition: 2, Handled: -1, Committed: -1, HighWatermark: -1})))
	return h
}

// getStatus is /status as the HTTP goroutine serves it from the board.
func getStatus(t *testing.T, h *managerHarness) map[string]any {
	t.Helper()
	srv := &statusServer{board: &h.m.board, now: func() time.Time { return h.sys.clock }}
	rec := httptest.NewRecorder()
	srv.status(rec, httptest.NewRequest("GET", "/status", nil))
	var out map[string]any
	if err := json.Unmarshal(rec.Body.Bytes(), &out); err != nil || rec.Code != 200 {
		t.Fatalf("/status %d: %v: %s", rec.Code, err, rec.Body)
	}
	return out
}

// pick is the fields of m named in keys (JSON numbers are float64).
func pick(m any, keys ...string) map[string]any {
	out := map[string]any{}
	for _, k := range keys {
		out[k] = m.(map[string]any)[k]
	}
	return out
}

// /status from canned stats lines: the partitions sorted with their owner,
// offsets, lag (null when unknown) and retry; per node the counters,
// records/s and failures.
func TestStatusFromStats(t *testing.T) {
	h := statsSwarm(t)
	st := getStatus(t, h)
	parts := st["partitions"].([]any)
	keys := []string{"group", "topic", "partition", "node", "route", "handled", "committed", "high_watermark", "lag", "stale", "paused", "attempt", "next_try"}
	next := rfc3339(h.sys.clock.Add(1500 * time.Millisecond))
	want := []map[string]any{
		{"group": "g1", "topic": "orders", "partition": 0.0, "node": 0.0, "route": 0.0, "handled": 95.0, "committed": 90.0, "high_watermark": 100.0, "lag": 10.0, "stale": false, "paused": false, "attempt": nil, "next_try": nil},
		{"group": "g1", "topic": "orders", "partition": 1.0, "node": 0.0, "route": 0.0, "handled": 7.0, "committed": 7.0, "high_watermark": 9.0, "lag": 2.0, "stale": false, "paused": true, "attempt": 2.0, "next_try": next},
		{"group": "g1", "topic": "orders", "partition": 2.0, "node": 1.0, "route": 0.0, "handled": nil, "committed": nil, "high_watermark": nil, "lag": nil, "stale": false, "paused": false, "attempt": nil, "next_try": nil},
	}
	if len(parts) != len(want) {
		t.Fatalf("%d partitions, want %d: %v", len(parts), len(want), parts)
	}
	for i := range want {
		if got := pick(parts[i], keys...); !reflect.DeepEqual(got, want[i]) {
			t.Errorf("partition %d:\n got %v\nwant %v", i, got, want[i])
		}
	}
	n0 := st["nodes"].([]any)[0]
	wantNode := map[string]any{"handled": 1000.0, "failed": 3.0, "retried": 2.0, "dead_lettered": 1.0, "skipped": 0.0,
		"produced": 990.0, "aborted": 4.0, "stats_age_ms": 0.0, "records_per_s": 0.0, "stats_garbage": 0.0,
		"failures": []any{map[string]any{"route": 0.0, "topic": "orders", "partition": 1.0, "offset": 7.0, "error": "refused", "at": rfc3339(h.sys.clock.Add(-time.Second))}}}
	if got := pick(n0, "handled", "failed", "retried", "dead_lettered", "skipped", "produced", "aborted", "stats_age_ms", "records_per_s", "stats_garbage", "failures"); !reflect.DeepEqual(got, wantNode) {
		t.Errorf("node 0:\n got %v\nwant %v", got, wantNode)
	}
	// A second line a second later, 500 records on: 500 records/s.
	h.sys.clock = h.sys.clock.Add(time.Second)
	h.sendStats(0, statsJSONLine(t, oneRoute(h.sys.clock.UnixMilli(), "g1", 1500)))
	if r := getStatus(t, h)["nodes"].([]any)[0].(map[string]any)["records_per_s"]; r != 500.0 {
		t.Errorf("records_per_s %v, want 500", r)
	}
}

// A partition whose node died, or that was not reported for three stats
// intervals, stays with its last values, stale; the lag history takes a
// sample every 5 s; a node's exit shows with its cause; before any stats,
// a node's numbers are null.
func TestStatusStaleHistoryExits(t *testing.T) {
	h := statsSwarm(t)
	h.exit(1, exitStatus{code: 1})
	h.advance(time.Second) // restarted: a new incarnation, no stats yet
	h.m.publish(h.sys.clock)
	st := getStatus(t, h)
	parts := st["partitions"].([]any)
	if got := pick(parts[2], "stale", "node"); got["stale"] != false {
		t.Errorf("orders 2 %v: its node restarted, and the line is 1 s old: not stale yet", got)
	}
	n1 := st["nodes"].([]any)[1].(map[string]any)
	exits := n1["exits"].([]any)
	if len(exits) != 1 || pick(exits[0], "exit", "reason", "status")["reason"] != "crash" {
		t.Errorf("node 1 exits %v, want one crash", exits)
	}
	for h.sys.clock.Sub(h.m.nodes[0].stats.at) <= staleAfter {
		h.sys.clock = h.sys.clock.Add(time.Second)
		h.reportAll()
		h.m.publish(h.sys.clock)
	}
	parts = getStatus(t, h)["partitions"].([]any)
	for i, p := range parts {
		if got := pick(p, "stale", "lag"); got["stale"] != true {
			t.Errorf("partition %d %v: not reported for over %v, want stale", i, got, staleAfter)
		}
	}
	if got := pick(parts[0], "lag", "lag_history"); !reflect.DeepEqual(got, map[string]any{"lag": 10.0, "lag_history": []any{10.0}}) {
		t.Errorf("orders 0 %v, want its last lag 10 and one sample", got)
	}
	h.sys.clock = h.sys.clock.Add(lagSampleEvery)
	h.m.publish(h.sys.clock)
	parts = getStatus(t, h)["partitions"].([]any)
	if got := pick(parts[0], "lag_history"); !reflect.DeepEqual(got["lag_history"], []any{10.0, 10.0}) {
		t.Errorf("orders 0 %v, want two samples of 10", got)
	}
	// orders 2 came after the first sample: one, unknown.
	if got := pick(parts[2], "lag_history"); !reflect.DeepEqual(got["lag_history"], []any{nil}) {
		t.Errorf("orders 2 %v, want one unknown sample", got)
	}
}

// A node that has sent no stats has null numbers, an empty history and no
// failures; its exits are there.
func TestStatusBeforeStats(t *testing.T) {
	h := servingHarness(t, 1)
	h.m.publish(h.sys.clock)
	n := getStatus(t, h)["nodes"].([]any)[0]
	want := map[string]any{"handled": nil, "records_per_s": nil, "stats_age_ms": nil, "exits": []any{}, "failures": []any{}}
	if got := pick(n, "handled", "records_per_s", "stats_age_ms", "exits", "failures"); !reflect.DeepEqual(got, want) {
		t.Errorf("node %v, want %v", got, want)
	}
}
