//go:build linux

package main

import (
	"sync/atomic"
	"time"
)

// snapshot is the supervisor's state as the loop last saw it. The loop
// builds a fresh one after every turn and publishes it with one atomic
// store; readers (the HTTP goroutine) never touch manager state and the
// loop never waits for a reader.
type snapshot struct {
	at       time.Time // when the loop published it: its liveness
	pid      int
	quiet    bool
	stopping bool
	nodes    []nodeSnapshot
	parts    []partSnapshot // sorted by group, topic, partition (super_partitions.go)
}

// nodeSnapshot is one node's row.
type nodeSnapshot struct {
	id         int
	pid        int
	state      string
	status     int
	lastReport time.Time
	reported   bool
	restarts   int
	lastExit   string
	rssBytes   int64
	garbage    int

	// From the node's stats (super_stats.go): shared with the loop, which
	// replaces these and never modifies them.
	stats        *statsLine // nil before the first line
	statsAt      time.Time
	rate         float64
	statsGarbage int
	exits        []exitRecord
	exitCounts   [numReasons]int
}

// statusBoard holds the latest snapshot.
type statusBoard struct{ cur atomic.Pointer[snapshot] }

func (b *statusBoard) load() *snapshot { return b.cur.Load() }

// publish is called by the loop only, with -http. It reads every node's
// stats pipe first: the one moment stats are read, after every loop turn
// (at least once per heartbeat); a pipe with nothing in it costs one EAGAIN.
func (m *manager) publish(now time.Time) {
	for _, n := range m.nodes {
		if n.stats.fd >= 0 {
			m.readStats(n, now)
		}
	}
	m.parts.sample(now)
	s := &snapshot{at: now, pid: m.pid, quiet: m.quiet, stopping: m.stopping, nodes: make([]nodeSnapshot, len(m.nodes))}
	s.parts = m.parts.snapshot(now, func(id int) bool { return id >= len(m.nodes) || m.nodes[id].state == nodeDown })
	for i, n := range m.nodes {
		ns := nodeSnapshot{
			id: n.id, state: n.state.String(), status: n.status, lastReport: n.lastReport,
			reported: n.reported, restarts: n.restarts, rssBytes: n.rss, garbage: n.garbage,
			stats: n.stats.latest, statsAt: n.stats.at, rate: n.stats.rate, statsGarbage: n.stats.garbage,
			exits: n.stats.exits, exitCounts: n.stats.exitCounts,
		}
		if n.state != nodeDown {
			ns.pid = n.pid
		}
		if n.deaths > 0 {
			ns.lastExit = n.lastExit.String()
		}
		s.nodes[i] = ns
	}
	m.board.cur.Store(s)
}
