//go:build linux

package main

import (
	"syscall"
	"testing"
)

// With -http every node holds one more fd, its stats pipe's read end, and
// a spawn one more, its write end: the budget counts them, so a limit that
// fit the nodes without stats pipes is refused with -http, and the -http
// connections get what is left after them.
func TestFdBudgetCountsStatsPipes(t *testing.T) {
	const open, nodes = 10, 100
	base := open + fdsLoop + fdsSpawn + fdsMargin + nodes*fdsPerNode
	noRaise := func(uint64) error { t.Fatal("raised a limit at its hard maximum"); return nil }
	withoutStats := uint64(base + fdsHTTP + httpMinConns)
	lim := syscall.Rlimit{Cur: withoutStats, Max: withoutStats}
	if _, err := fitFds(open, nodes, true, &lim, noRaise); err == nil {
		t.Errorf("-http with %d fds: accepted without room for %d stats pipes", withoutStats, nodes)
	}
	if _, err := fitFds(open, nodes, false, &lim, noRaise); err != nil {
		t.Errorf("without -http, %d fds: %v", withoutStats, err)
	}
	enough := withoutStats + fdsStats*(nodes+1)
	lim = syscall.Rlimit{Cur: enough, Max: enough}
	plan, err := fitFds(open, nodes, true, &lim, noRaise)
	if err != nil || plan.httpConns != httpMinConns {
		t.Errorf("-http with %d fds: %+v, %v; want %d connections", enough, plan, err, httpMinConns)
	}
}
