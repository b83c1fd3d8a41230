//go:build linux

package main

import (
	"fmt"
	"os"
	"time"

	"golang.org/x/sys/unix"
)

// The supervisor's signals arrive through the signal pipe (super_signalpipe.go) as
// epoll events like any other, and each is applied here by the loop: the
// stop signals in super_stop.go, HUP in super_roll.go.

// onSignal applies one supervisor signal (see the README's signal table).
func (m *manager) onSignal(sig unix.Signal, now time.Time) {
	if sig != unix.SIGCHLD { // as PID 1 every orphan's death is one: not news
		m.log.Info("process.notice_signal", "signal", unix.SignalName(sig))
	}
	switch sig {
	case unix.SIGTERM, unix.SIGINT, unix.SIGQUIT:
		m.onStop(now)
	case unix.SIGTSTP:
		m.quiet = true
		m.log.Info("app.quiet")
		for _, n := range m.nodes {
			m.signalNode(n, sig)
		}
	case unix.SIGTTIN:
		// From a goroutine: a dump can be megabytes, and the loop must
		// not wait on a slow stderr reader meanwhile.
		go writeDump(fmt.Sprintf("swarm supervisor %d", os.Getpid()))
		for _, n := range m.nodes {
			m.signalNode(n, sig)
		}
	case unix.SIGCHLD:
		m.reapOrphans()
	case unix.SIGHUP:
		m.onHUP(now) // super_roll.go
	}
}

// signalNode delivers sig, or holds TSTP and TTIN back until the node has
// reported once: before its handlers are installed, their default action
// would stop the process.
func (m *manager) signalNode(n *node, sig unix.Signal) {
	if n.pidfd < 0 {
		return
	}
	if !n.reported && (sig == unix.SIGTSTP || sig == unix.SIGTTIN) {
		n.deferred = append(n.deferred, sig)
		return
	}
	if err := n.signal(m.sys.signal, sig); err != nil {
		m.log.Error("forward signal", "node", n.id, "node_pid", n.pid, "signal", unix.SignalName(sig), "err", err)
	}
}
