//go:build linux

package main

import (
	"testing"
	"time"
)

// Two nodes consume 10 000 records from 4 partitions; every record is
// handled at least once; TERM stops everything with exit 0.
func TestEveryRecordHandledThenTERMExits0(t *testing.T) {
	_, addr := newBroker(t, 4, "orders")
	const n = 10000
	produce(t, addr, "orders", n)
	s := startSwarm(t, swarmArgs(addr, "-nodes=2")...)
	pids := s.waitNodesReady(2, 0)

	seen := map[int]bool{}
	s.waitStdout(60*time.Second, "all records printed", collectPrinted(seen, n))
	for k := 0; k < n; k++ {
		if !seen[k] {
			t.Fatalf("record %d never handled", k)
		}
	}
	s.stopGracefully(20 * time.Second)
	s.checkNoneLeft(pids)
	if got := len(s.matching(logged("app.stopped"))); got != 3 {
		t.Errorf("app.stopped logged %d times, want 3 (2 nodes + supervisor)", got)
	}
}
