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
}

// statusBoard holds the latest snapshot.
type statusBoard struct{ cur atomic.Pointer[snapshot] }

func (b *statusBoard) load() *snapshot { return b.cur.Load() }

// publish is called by the loop only.
func (m *manager) publish(now time.Time) {
	s := &snapshot{at: now, pid: m.pid, quiet: m.quiet, stopping: m.stopping, nodes: make([]nodeSnapshot, len(m.nodes))}
	for i, n := range m.nodes {
		ns := nodeSnapshot{
			id: n.id, state: n.state.String(), status: n.status, lastReport: n.lastReport,
			reported: n.reported, restarts: n.restarts, rssBytes: n.rss, garbage: n.garbage,
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
