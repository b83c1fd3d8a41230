//go:build linux

package main

import "time"

// roll is a rolling restart (SIGHUP): every node is stopped and replaced in
// turn, the next one only after the replacement has proved healthy. A step
// is taken only while every node is running and has reported, so at most
// one node is ever down, whether the roll took it down or it died on its
// own. A replacement that never becomes healthy holds the roll, on purpose.
// The zero value is no roll.
type roll struct {
	queue   []int // ids of the nodes still to restart, in order
	current *node // the node being restarted, until its replacement proves healthy
	stopped bool  // current's old process was stopped by the roll and has not died yet
}

// begin starts a roll on a HUP, or starts the one under way over: every
// node is queued but the one being restarted right now, which is fresh
// already. restarted says whether a roll was under way.
func (r *roll) begin(nodes []*node) (restarted bool) {
	restarted = r.current != nil || len(r.queue) > 0
	r.queue = r.queue[:0]
	for _, n := range nodes {
		if n != r.current {
			r.queue = append(r.queue, n.id)
		}
	}
	return restarted
}

// next is the node the roll stops now, or nil: none is queued, a
// replacement has not proved healthy yet, or some node is down or has not
// reported.
func (r *roll) next(nodes []*node) *node {
	if r.current != nil || len(r.queue) == 0 {
		return nil
	}
	for _, n := range nodes {
		if n.state != nodeRunning || !n.reported {
			return nil
		}
	}
	r.current, r.stopped = nodes[r.queue[0]], true
	r.queue = r.queue[1:]
	return r.current
}

// tookDown says, once per death, whether n died of the roll's stop: such a
// node comes back at once, not after a crash's backoff.
func (r *roll) tookDown(n *node) bool {
	if n != r.current || !r.stopped {
		return false
	}
	r.stopped = false
	return true
}

// proved notes a healthy report from n. The roll moves on once the
// replacement has stayed healthy for a whole report interval: its very
// first report is written before its handlers and Kafka clients exist, so
// it proves only that it started. done: that replacement was the roll's last.
func (r *roll) proved(n *node, now time.Time, interval time.Duration) (done bool) {
	if n != r.current || now.Sub(n.startedAt) < interval {
		return false
	}
	r.current = nil
	return len(r.queue) == 0
}

// end drops the roll: a graceful stop restarts nothing.
func (r *roll) end() { *r = roll{} }

// onHUP starts a rolling restart, or starts the one under way over.
func (m *manager) onHUP(now time.Time) {
	if m.stopping {
		return
	}
	restarted := m.roll.begin(m.nodes)
	m.log.Info("swarm.manager.rolling_restart", "nodes", len(m.nodes), "restarted_roll", restarted)
	m.rollNext(now)
}

// rollNext TERMs the roll's next node if the roll may take one down now.
// It runs after every report, so the roll moves on as soon as the last
// replacement proved healthy and every node is up.
func (m *manager) rollNext(now time.Time) {
	n := m.roll.next(m.nodes)
	if n == nil {
		return
	}
	m.log.Info("swarm.manager.stopping", "node", n.id, "node_pid", n.pid, "status", statusHealthy, "reason", "rolling restart")
	m.term(n, now)
}

// rollHealthy hands a running node's healthy report to the roll.
func (m *manager) rollHealthy(n *node, now time.Time) {
	if m.roll.proved(n, now, m.cfg.reportInterval) {
		m.log.Info("swarm.manager.rolling_restart_done")
	}
}
