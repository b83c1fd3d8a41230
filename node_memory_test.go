//go:build linux

package main

import (
	"context"
	"io"
	"log/slog"
	"runtime"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
)

func TestGCPercentFor(t *testing.T) {
	const kib, mib = 1 << 10, 1 << 20
	for _, tc := range []struct {
		doc  string
		live int64
		want int
	}{
		{"nothing live: the 1 MiB floor, a quarter of the runtime's 4 MiB", 0, 25},
		{"a steady node (600 KiB live): goal 1.2 MiB, down to a 5% step", 600 * kib, 25},
		{"1 MiB live: goal 2 MiB", mib, 50},
		{"1.5 MiB live: goal 3 MiB", 3 * mib / 2, 75},
		{"2 MiB live: the runtime's own goal, GOGC=100", 2 * mib, 100},
		{"a node draining a backlog: GOGC=100", 40 * mib, 100},
	} {
		if got := gcPercentFor(tc.live); got != tc.want {
			t.Errorf("%s: gcPercentFor(%d) = %d, want %d", tc.doc, tc.live, got, tc.want)
		}
	}
}

// TestAfterNextGC: the hook tuneNodeGC re-arms runs once a GC has found
// its sentinel garbage.
func TestAfterNextGC(t *testing.T) {
	ran := make(chan struct{})
	afterNextGC(func() { close(ran) })
	deadline := time.Now().Add(10 * time.Second)
	for {
		runtime.GC()
		select {
		case <-ran:
			return
		case <-time.After(10 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatal("the hook did not run after GCs for 10 s")
		}
	}
}

// TestNodeClientMemoryOpts: a route's client gets the node's fetch limits.
func TestNodeClientMemoryOpts(t *testing.T) {
	cfg := &config{groupConfig: groupConfig{bootstrap: []string{"127.0.0.1:1"}, sessionTimeout: 10 * time.Second,
		heartbeatInterval: time.Second, balancer: "range"}}
	r := &route{Group: "g", Topics: []string{"t"}}
	cl, err := kgo.NewClient(clientOpts(context.Background(), cfg, r, 0, slog.New(slog.NewTextHandler(io.Discard, nil)))...)
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	for _, tc := range []struct {
		name string
		opt  any
		want int32
	}{
		{"FetchMaxBytes", kgo.FetchMaxBytes, nodeFetchMaxBytes},
		{"FetchMaxPartitionBytes (franz-go's)", kgo.FetchMaxPartitionBytes, 1 << 20},
	} {
		if got := cl.OptValue(tc.opt); got != tc.want {
			t.Errorf("%s = %v (%T), want %d", tc.name, got, got, tc.want)
		}
	}
}
