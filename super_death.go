//go:build linux

package main

import (
	"context"
	"log/slog"
	"time"

	"golang.org/x/sys/unix"
)

// A node's death, as the supervisor handles it: its pidfd becomes readable
// (or PID 1's orphan reaping finds it first), onExit reaps it, died books
// the death and schedules the restart, and fireDeadlines starts the node
// again when the restart is due.

// onExit reaps a node whose pidfd became readable and schedules its restart.
func (m *manager) onExit(n *node) {
	st, done, err := m.sys.reap(n.pidfd)
	if err != nil {
		// The pidfd said the process ended but its status is lost: still a
		// death, of unknown cause, so it is restarted like any other.
		m.log.Error("reap node", "node", n.id, "node_pid", n.pid, "err", err)
		st = exitStatus{code: -1}
	} else if !done {
		return // spurious wakeup; the pidfd fires again at the real exit
	}
	// The reap is the moment of death for the books (uptime, restart due):
	// the turn that got here may have done other work first.
	now := m.sys.now()
	m.release(n, now)
	n.lastExit = st
	wasStopping := n.state == nodeStopping
	uptime := now.Sub(n.startedAt)
	m.recordExit(n, st, uptime, now) // super_exits.go; before died, which consumes the roll's mark
	m.died(n, uptime, now)
	if m.stopping {
		m.judgeStop(n, st)
		m.log.Info("swarm.node.exited", "node", n.id, "node_pid", n.pid, "exit", st.String(), "uptime", uptime.Round(time.Millisecond))
		return
	}
	level := slog.LevelWarn
	if wasStopping {
		level = slog.LevelInfo
	}
	m.log.Log(context.Background(), level, "swarm.node.exited", "node", n.id, "node_pid", n.pid, "exit", st.String(),
		"uptime", uptime.Round(time.Millisecond), "restart_in", n.delay)
}

// release lets go of a dead node's pipes and pidfd. The pipes are read
// once more first: the node's last words are kept for /status, acted on
// never (no TERM to a zombie, no roll step).
func (m *manager) release(n *node, now time.Time) {
	if n.pipe >= 0 {
		m.takeReports(n)
	}
	if n.stats.fd >= 0 {
		m.readStats(n, now)
		m.closeStats(n)
	}
	if n.pipe >= 0 {
		m.unwatchClose(n.pipe)
		n.pipe = -1
	}
	m.unwatchClose(n.pidfd)
	n.pidfd = -1
}

// died books a death of n: a process that ended, one that could not be
// supervised, or a fork that failed (uptime 0). The restart is due after
// the crash-loop backoff (nextDelay), or at once when the rolling restart
// stopped it.
func (m *manager) died(n *node, uptime time.Duration, now time.Time) {
	n.state = nodeDown
	n.deaths++
	if m.roll.tookDown(n) {
		n.delay = 0
	} else {
		n.delay = nextDelay(m.cfg.nodeRestartTimeout, n.delay, uptime, n.deaths)
	}
	n.restartAt = now.Add(n.delay)
}

// killAndReap KILLs n and reaps it, blocking (it is dying), where its death
// cannot come back through the loop: a node whose pidfd could not be
// watched, and the loop's own failure.
func (m *manager) killAndReap(n *node) error {
	_ = n.signal(m.sys.signal, unix.SIGKILL) // ESRCH is success; a bad pidfd fails the reap too
	err := m.sys.reapDying(n.pidfd)
	unix.Close(n.pidfd)
	n.pidfd = -1
	return err
}

// abandonStart takes back a node that was spawned but cannot be supervised
// and books it as a death, so its restart follows the backoff.
func (m *manager) abandonStart(n *node, now time.Time) {
	if err := m.killAndReap(n); err != nil {
		m.log.Error("reap abandoned node", "node", n.id, "node_pid", n.pid, "err", err)
	}
	if n.pipe >= 0 {
		unix.Close(n.pipe)
		n.pipe = -1
	}
	m.closeStats(n)
	m.died(n, 0, now)
}

// killEverything is the last resort when the loop itself broke: KILL every
// node and reap it, blocking, so no node outlives its supervisor.
func (m *manager) killEverything() {
	for _, n := range m.nodes {
		if n.pidfd >= 0 {
			_ = m.killAndReap(n) // nothing is left to do about a failure
		}
	}
	m.sweepAdopted() // super_reaper.go
}
