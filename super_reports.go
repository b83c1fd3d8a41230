//go:build linux

package main

import (
	"math/bits"
	"strconv"
	"time"
)

// A node's reports, as the supervisor handles them: its health pipe
// becomes readable, takeReports reads the statuses (super_health.go parses
// them), and onReport acts on a running node's: the report deadline moves
// on, an unhealthy status stops the node, a healthy one may move the
// rolling restart on.

// onReadable takes the node's reports and acts on them while it runs. A
// stopping node's reports are kept for /status, acted on never.
func (m *manager) onReadable(n *node, now time.Time) {
	highest, ok := m.takeReports(n)
	if ok && n.state == nodeRunning {
		m.onReport(n, highest, now)
	}
}

// takeReports reads what the node's pipe holds and keeps the highest
// status since its start; ok when a valid status arrived. At EOF or on a
// read error the pipe is closed.
func (m *manager) takeReports(n *node) (highest int, ok bool) {
	highest, ok, garbage, eof, err := n.readReports(m.buf)
	m.countGarbage(n, garbage)
	if err != nil {
		m.log.Error("read health pipe", "node", n.id, "node_pid", n.pid, "err", err)
		eof = true
	}
	if eof {
		// Level-triggered EPOLLHUP would fire forever: stop watching. The
		// pidfd still tells us when the node is gone; a node that closed
		// its pipe but lives on will miss its report deadline.
		m.unwatchClose(n.pipe)
		n.pipe = -1
	}
	if ok {
		n.status = max(n.status, highest)
	}
	return highest, ok
}

// countGarbage adds lines that were no status to the node's count. The
// first garbage is logged and then every power of two: a flood of garbage
// must not become a flood of log lines.
func (m *manager) countGarbage(n *node, garbage int) {
	if garbage == 0 {
		return
	}
	before := n.garbage
	n.garbage += garbage
	if before == 0 || bits.Len(uint(before)) != bits.Len(uint(n.garbage)) {
		m.log.Warn("swarm.manager.garbage", "node", n.id, "node_pid", n.pid, "garbage_lines", n.garbage)
	}
}

// onReport acts on a running node's reports, highest the highest status
// among them: one bad report is enough to stop the node.
func (m *manager) onReport(n *node, highest int, now time.Time) {
	n.lastReport = now
	// Safe to read by pid: a node is reaped only by this loop, so its pid
	// cannot have been reused yet.
	if m.serving {
		if rss, err := rssOf("/proc/" + strconv.Itoa(n.pid) + "/status"); err == nil {
			n.rss = rss
		}
	}
	if !n.reported {
		m.firstReport(n, highest, now)
	}
	if highest > statusHealthy && !m.stopping {
		m.stopNode(n, highest, now)
		return
	}
	if highest == statusHealthy {
		m.rollHealthy(n, now)
	}
	m.rollNext(now)
}

// firstReport marks the node as started and delivers the signals held back
// until it could handle them (signalNode).
func (m *manager) firstReport(n *node, highest int, now time.Time) {
	n.reported = true
	m.log.Info("swarm.manager.first_report", "node", n.id, "node_pid", n.pid, "status", highest, "after_ms", now.Sub(n.startedAt).Milliseconds())
	for _, sig := range n.deferred {
		m.signalNode(n, sig)
	}
	n.deferred = n.deferred[:0]
}
