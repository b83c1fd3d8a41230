//go:build linux

package main

import (
	"time"

	"golang.org/x/sys/unix"
)

// The graceful stop: the first stop signal TERMs every node and ends
// restarts, health stops and the roll; each node's end is judged for the
// exit code; when every node is down the loop ends with finish.

// onStop begins the graceful stop on the first stop signal: TERM to every
// node, and no restarts, no health stops, no roll from now on. A second
// stop signal KILLs every node still alive at once; each KILLed node
// counts as forced when its pidfd reports the death, so the exit is 4.
func (m *manager) onStop(now time.Time) {
	if m.stopping {
		for _, n := range m.nodes {
			if n.state != nodeDown && !n.killed {
				m.kill(n, now)
			}
		}
		return
	}
	m.stopping = true
	m.roll.end()
	m.log.Info("app.stopping", "shutdown_timeout", m.cfg.shutdownTimeout)
	for _, n := range m.nodes {
		m.term(n, now)
	}
}

// judgeStop notes how a node ended during the graceful stop, for the exit
// code (finish): KILLed by us, or out of its own shutdown time
// (nodeExitForced), is forced; exit 0 or TERM's default action is clean;
// anything else is a failure.
func (m *manager) judgeStop(n *node, st exitStatus) {
	switch {
	case n.killed, st.code == nodeExitForced:
		m.forced = true
	case st.code == nodeExitOK, st.signal == unix.SIGTERM:
	default:
		m.failed = true
	}
}

// finish ends a graceful stop and returns the supervisor's exit code.
func (m *manager) finish() int {
	m.sweepAdopted() // super_reaper.go
	m.sigs.stop()
	code := m.exitCode()
	m.log.Info("app.stopped", "exit_code", code, "orphans_reaped", m.orphansReaped)
	return code
}

// exitCode is the exit code of a completed graceful stop (README): forced
// when some node had to be killed or overran its own shutdown, else failure
// when some node ended with an error, else OK.
func (m *manager) exitCode() int {
	switch {
	case m.forced:
		return exitForced
	case m.failed:
		return exitFailure
	}
	return exitOK
}
