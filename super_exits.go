//go:build linux

package main

import "time"

// A node's exit history: its last maxExits exits with their cause, kept
// across restarts for /status, and a count per cause for /metrics. The
// cause is what the manager knows when it reaps the node, so it is never
// the node's own word.

// maxExits is how many exits /status shows per node.
const maxExits = 10

// exitReason is why a node's process ended.
type exitReason int

const (
	reasonCrash     exitReason = iota // exited or was killed on its own
	reasonHanging                     // stopped for missing its report deadline (status -1)
	reasonPolling                     // stopped for status 1
	reasonConsuming                   // stopped for status 2
	reasonMemory                      // stopped for status 3
	reasonStalled                     // stopped for status 4
	reasonUnhealthy                   // stopped for a status above statusStalled (none is defined)
	reasonRolling                     // stopped by a rolling restart (HUP)
	reasonStop                        // stopped by the swarm's graceful stop
	reasonForced                      // KILLed during the swarm's stop (shutdown timeout or a second stop signal)
	numReasons
)

func (r exitReason) String() string {
	return [...]string{"crash", "hanging", "polling", "consuming", "memory", "stalled", "unhealthy",
		"rolling", "stop", "forced"}[r]
}

// healthReason is the reason for a stop over status.
func healthReason(status int) exitReason {
	switch {
	case status == statusHanging:
		return reasonHanging
	case status >= statusPolling && status <= statusStalled:
		return reasonPolling + exitReason(status-statusPolling)
	}
	return reasonUnhealthy
}

// exitRecord is one exit as /status shows it.
type exitRecord struct {
	at     time.Time
	exit   string // exitStatus.String()
	status int    // highest status reported since that start; -1 when stopped as hanging
	uptime time.Duration
	reason exitReason
}

// exitReason classifies n's death, before died books it (the roll's mark
// is consumed there). A health stop is the cause even if a roll or the
// swarm's stop came after it; the swarm's stop is forced when it had to
// KILL the node.
func (m *manager) exitReason(n *node) exitReason {
	switch {
	case n.healthStop:
		return healthReason(n.stopStatus)
	case m.roll.current == n && m.roll.stopped:
		return reasonRolling
	case m.stopping && n.killed:
		return reasonForced
	case m.stopping:
		return reasonStop
	}
	return reasonCrash
}

// recordExit adds an exit to n's history, dropping the oldest beyond
// maxExits. The history is replaced, not modified, so a published
// snapshot can share it.
func (m *manager) recordExit(n *node, st exitStatus, uptime time.Duration, now time.Time) {
	r := exitRecord{at: now, exit: st.String(), status: n.status, uptime: uptime, reason: m.exitReason(n)}
	if n.healthStop && n.stopStatus == statusHanging {
		r.status = statusHanging
	}
	old := n.stats.exits
	if len(old) >= maxExits {
		old = old[len(old)-maxExits+1:]
	}
	n.stats.exits = append(append(make([]exitRecord, 0, len(old)+1), old...), r)
	n.stats.exitCounts[r.reason]++
}
