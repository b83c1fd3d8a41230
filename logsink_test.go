//go:build linux

package main

import (
	"encoding/json"
	"strings"
	"sync"
	"testing"
	"time"
)

// Logging never blocks on its output: with the writer stuck, log calls
// return, lines past the queue's bound are dropped and counted, and once the
// writer moves again the queued lines come out in order, followed by one
// line with the number dropped.
func TestLoggerNeverBlocksOnStuckOutput(t *testing.T) {
	out := &gatedWriter{gate: make(chan struct{}), entered: make(chan struct{}, 1)}
	log := newLogger(out, "json", "info", "role", "supervisor")
	before := logLinesDropped()
	// One line first, and wait until the writer is stuck writing it: the
	// queue behind it is then empty and the count below is exact.
	go log.Info("line", "i", 0)
	select {
	case <-out.entered:
	case <-time.After(10 * time.Second):
		t.Fatal("the writer never tried to write")
	}
	const extra = 100
	done := make(chan struct{})
	go func() {
		for i := 1; i <= logQueueLines+extra; i++ {
			log.Info("line", "i", i)
		}
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(20 * time.Second):
		close(out.gate)
		t.Fatal("log calls blocked on a stuck output")
	}
	if d := logLinesDropped() - before; d != extra {
		t.Errorf("%d lines dropped, want %d", d, extra)
	}
	close(out.gate)
	waitFor(t, 10*time.Second, "the drop report line", func() bool {
		return strings.Contains(out.text(), `"msg":"swarm.log.dropped"`)
	})
	lines := strings.Split(strings.TrimSpace(out.text()), "\n")
	last := logLine{}
	if err := json.Unmarshal([]byte(lines[len(lines)-1]), &last); err != nil {
		t.Fatal(err)
	}
	if last.msg() != "swarm.log.dropped" || last.role() != "supervisor" || last.int("lines") != extra {
		t.Errorf("last line %v, want swarm.log.dropped with the supervisor's attributes and lines %d", last, extra)
	}
	prev := -1
	for _, l := range lines[:len(lines)-1] {
		var ll logLine
		if err := json.Unmarshal([]byte(l), &ll); err != nil {
			t.Fatalf("line %q: %v", l, err)
		}
		if i := ll.int("i"); i != prev+1 {
			t.Fatalf("line i=%d after i=%d: out of order or gap before the drops", i, prev)
		}
		prev = ll.int("i")
	}
	if prev != logQueueLines {
		t.Errorf("last line written before the report is i=%d, want %d", prev, logQueueLines)
	}
}

// gatedWriter blocks every Write until gate is closed, like a pipe nobody
// reads, and keeps what it was given.
type gatedWriter struct {
	gate    chan struct{}
	entered chan struct{} // gets a token when a Write starts
	mu      sync.Mutex
	buf     strings.Builder
}

func (g *gatedWriter) Write(p []byte) (int, error) {
	select {
	case g.entered <- struct{}{}:
	default:
	}
	<-g.gate
	g.mu.Lock()
	defer g.mu.Unlock()
	g.buf.Write(p)
	return len(p), nil
}

func (g *gatedWriter) text() string {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.buf.String()
}
