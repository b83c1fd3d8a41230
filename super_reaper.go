//go:build linux

package main

// The supervisor's side of adoption. The supervisor is always a child
// subreaper (setChildSubreaper), so whatever a node leaves behind when it
// dies without cleaning up (SIGKILL, a crash, the OOM killer) is
// reparented to the supervisor, not to init: the node's handler commands
// (which their parent-death signal is about to kill) and the orphans the
// node had adopted. A live node never lets anything reach us: it is a
// subreaper too (node_children.go) and kills its whole subtree on every
// exit path it controls. So every child of ours that is not a tracked node
// is a leftover, and is killed.
//
// Order of events when a node dies: the kernel reparents the node's
// children to us, then makes the node's pidfd readable and sends us
// SIGCHLD. A handler command dying of its parent-death signal a moment
// later is our child by then; its own children are reparented to us before
// its SIGCHLD reaches us. So acting at every SIGCHLD sees every leftover,
// one generation per round at worst.

import (
	"errors"
	"os"
	"strconv"
	"time"

	"golang.org/x/sys/unix"
)

// maxReapsPerSignal bounds one call's work: a fork bomb of orphans must not
// keep the loop from its nodes. The rest is reaped at the next loop turn.
const maxReapsPerSignal = 1024

// maxLoggedAdopted bounds the processes one killed_adopted line names.
const maxLoggedAdopted = 8

// sweepTimeout bounds how long an exit path waits for killed children to
// die: SIGKILL is not instant for a process in uninterruptible sleep, and
// an exit must not hang on one.
const sweepTimeout = 500 * time.Millisecond

// adoption is what the supervisor knows about adopted processes.
type adoption struct {
	killed     int  // leftovers killed so far
	listFailed bool // childPids failed once: logged once, not per SIGCHLD
}

// setChildSubreaper makes orphans anywhere below this process (a
// handler's children, a dead node's handler) reparent to it instead of to
// init (prctl(2), Linux 3.4).
func setChildSubreaper() error {
	if err := unix.Prctl(unix.PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0); err != nil {
		return os.NewSyscallError("prctl PR_SET_CHILD_SUBREAPER", err)
	}
	return nil
}

// reapOrphans runs on SIGCHLD: it reaps exited children that are not nodes,
// then kills the live ones.
func (m *manager) reapOrphans() {
	if m.reapZombies() {
		m.killAdopted()
	}
}

// reapZombies reaps exited children without ever stealing a node's exit
// status: it only peeks (WNOWAIT) at the next zombie, hands a node to its
// own pidfd path, and reaps by pid only processes we do not track. A
// zombie's pid cannot be reused until it is reaped, so a peeked pid that
// equals a tracked node's pid is that node. false: stopped at the cap,
// more next turn.
func (m *manager) reapZombies() bool {
	m.reapPending = false
	for i := 0; i < maxReapsPerSignal; i++ {
		var info siginfoChld
		err := waitidAll(&info, unix.WEXITED|unix.WNOHANG|unix.WNOWAIT)
		if err == unix.ECHILD {
			return true // no children at all
		}
		if err != nil {
			m.log.Error("waitid P_ALL", "err", err)
			return true
		}
		if info.pid == 0 {
			return true // children, but none has exited
		}
		pid := int(info.pid)
		if n := m.nodeByPid(pid); n != nil {
			// Our own node: reap it through its pidfd, now, so the peek
			// moves on to the next zombie.
			m.onExit(n)
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
			return true
		}
		m.orphansReaped++
		m.log.Debug("swarm.manager.reaped_orphan", "orphan_pid", pid, "reaped_total", m.orphansReaped)
	}
	// At the cap: the loop turns once (other events get their turn) and
	// calls us again at once, no new SIGCHLD needed.
	m.reapPending = true
	return false
}

// killAdopted sends SIGKILL to every live child that is not a node, each
// through a pidfd that openChild proved to be our child's. It does not
// wait: each death comes back as a SIGCHLD, is reaped then, and what the
// dead one had forked (reparented to us by then) is killed in turn.
func (m *manager) killAdopted() {
	kids, err := childPids()
	if err != nil {
		if !m.adopted.listFailed {
			m.adopted.listFailed = true
			m.log.Error("list adopted processes: leftovers of dead nodes are reaped, not killed", "err", err)
		}
		return
	}
	var named []string
	for _, k := range kids {
		if m.nodeByPid(k.pid) != nil {
			continue
		}
		if m.killChild(k.pid) {
			m.adopted.killed++
			if len(named) < maxLoggedAdopted {
				named = append(named, strconv.Itoa(k.pid)+" "+k.comm())
			}
		}
	}
	if len(named) > 0 {
		m.log.Warn("swarm.manager.killed_adopted", "processes", named, "killed_total", m.adopted.killed)
	}
}

// killChild kills pid if it is a live child of ours; true if it was.
func (m *manager) killChild(pid int) bool {
	fd, exited, err := openChild(pid)
	if err != nil {
		if !errors.Is(err, errNotChild) {
			m.log.Warn("open adopted process", "orphan_pid", pid, "err", err)
		}
		return false
	}
	defer unix.Close(fd)
	if exited {
		return false // reaped by reapZombies
	}
	if err := killTree(fd); err != nil {
		m.log.Warn("kill adopted process", "orphan_pid", pid, "err", err)
		return false
	}
	return true
}

// sweepAdopted runs when the supervisor is about to exit, every node down:
// nothing adopted may outlive it. It kills every child, waits for them to
// die (their children come to us meanwhile and are killed in the next
// round), and reaps them all.
func (m *manager) sweepAdopted() {
	killed, left, err := sweepChildren(time.Now().Add(sweepTimeout), func(pid int) bool { return m.nodeByPid(pid) != nil })
	if err != nil {
		m.log.Error("sweep adopted processes", "err", err)
	}
	m.adopted.killed += killed
	for m.reapPending = true; m.reapPending; {
		m.reapZombies()
	}
	if killed > 0 || left > 0 {
		m.log.Warn("swarm.manager.killed_adopted", "killed", killed, "still_alive", left, "killed_total", m.adopted.killed)
	}
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
