//go:build linux

package main

import (
	"time"

	"golang.org/x/sys/unix"
)

// maxReapsPerSignal bounds one call's work: a fork bomb of orphans must not
// keep the loop from its nodes. The rest is reaped at the next loop turn.
const maxReapsPerSignal = 1024

// reapOrphans runs on SIGCHLD when we are PID 1 or a subreaper. It never
// steals a node's exit status: it only peeks (WNOWAIT) at the next zombie,
// hands a node to its own pidfd path, and reaps by pid only processes we do
// not track. A zombie's pid cannot be reused until it is reaped, so a peeked
// pid that equals a tracked node's pid is that node.
func (m *manager) reapOrphans(now time.Time) {
	m.reapPending = false
	for i := 0; i < maxReapsPerSignal; i++ {
		var info siginfoChld
		err := waitidAll(&info, unix.WEXITED|unix.WNOHANG|unix.WNOWAIT)
		if err == unix.ECHILD {
			return // no children at all
		}
		if err != nil {
			m.log.Error("waitid P_ALL", "err", err)
			return
		}
		if info.pid == 0 {
			return // children, but none has exited
		}
		pid := int(info.pid)
		if n := m.nodeByPid(pid); n != nil {
			// Our own node: reap it through its pidfd, now, so the peek
			// moves on to the next zombie.
			m.onExit(n, now)
			continue
		}
		var ws unix.WaitStatus
		for {
			_, err = unix.Wait4(pid, &ws, unix.WNOHANG, nil)
			if err != unix.EINTR {
				break
			}
		}
		if err != nil {
			m.log.Warn("reap orphan", "orphan_pid", pid, "err", err)
			return
		}
		m.orphansReaped++
		m.log.Debug("swarm.manager.reaped_orphan", "orphan_pid", pid, "reaped_total", m.orphansReaped)
	}
	// At the cap: the loop turns once (other events get their turn) and
	// calls us again at once, no new SIGCHLD needed.
	m.reapPending = true
}

// nodeByPid finds the running node with this pid: only nodes we have not
// reaped, whose pids therefore cannot have been reused.
func (m *manager) nodeByPid(pid int) *node {
	for _, n := range m.nodes {
		if n.pidfd >= 0 && n.pid == pid {
			return n
		}
	}
	return nil
}
