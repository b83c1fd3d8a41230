//go:build linux

package main

import (
	"fmt"
	"os"
	"time"

	"golang.org/x/sys/unix"
)

// watch waits for what ends the node: a stop signal, a failed handler
// command, a route that ended. Any of them stops every route; the node
// exits once all have ended. failures fires when a command has failed.
func (n *nodeRun) watch(failures <-chan struct{}) int {
	for {
		select {
		case s := <-n.sigs:
			n.onSignal(s.(unix.Signal))
		case <-failures:
			// A CMD is gone or broken (handler.failed says why). A batch in
			// hand ends by itself; an idle consumer must be told. What was
			// done is committed, then the node exits 1.
			failures = nil
			n.beginStop()
		case rr := <-n.done:
			n.routeEnded(rr)
			// One route ending takes the node down: the others stop,
			// commit what they handled, and the node is restarted whole.
			n.beginStop()
			if n.remaining == 0 {
				return n.exitCode()
			}
		}
	}
}

// onSignal acts on one of the signals runNode asked for.
func (n *nodeRun) onSignal(s unix.Signal) {
	switch s {
	case unix.SIGTERM, unix.SIGINT, unix.SIGQUIT:
		if n.stopping {
			return
		}
		n.stopping = true
		n.log.Info("app.stopping", "signal", unix.SignalName(s))
		n.beginStop()
	case unix.SIGTSTP:
		n.goQuiet()
	case unix.SIGTTIN:
		go writeDump(fmt.Sprintf("swarm node %d pid %d", n.id, os.Getpid()))
	}
}

// goQuiet stops the intake for good: the consumers keep their membership
// but take no more records. Only the main goroutine closes quiet.
func (n *nodeRun) goQuiet() {
	select {
	case <-n.quiet:
	default:
		close(n.quiet)
	}
}

// beginStop cancels every route and arms the node's own shutdown budget,
// whatever started the stop: no path may leave the node waiting on a
// stuck batch with no deadline. The budget ends before the supervisor's
// KILL, so an overrun is reported as exit 2, not a bare KILL.
func (n *nodeRun) beginStop() {
	n.cancel()
	if n.budgetSet {
		return
	}
	n.budgetSet = true
	time.AfterFunc(n.stopBudget(), n.overran)
}

// stopBudget is how long the node's stop may take.
func (n *nodeRun) stopBudget() time.Duration { return n.cfg.shutdownTimeout * 9 / 10 }

// overran ends a stop that took its whole budget, from the timer's
// goroutine.
func (n *nodeRun) overran() {
	n.log.Error("app.stopping.error", "err", "shutdown overran its budget", "budget", n.stopBudget())
	n.killHandlers()
	os.Exit(nodeExitForced)
}

// routeEnded counts and logs one route whose run has ended.
func (n *nodeRun) routeEnded(rr *routeRun) {
	n.remaining--
	handled := rr.c.handled.Load()
	n.handled += handled
	if rr.err == nil {
		rr.log.Info("route.stopped", "handled", handled)
		return
	}
	rr.log.Error("route.stopped", "err", rr.err, "handled", handled)
	if n.failed == nil {
		n.failed = rr
	}
}

// exitCode logs how the node stopped, once every route has ended: 0 only
// for a stop signal with every route ending well.
func (n *nodeRun) exitCode() int {
	if n.failed != nil {
		n.log.Error("app.stopped", "err", n.failed.err, "route", n.failed.r.Index, "group", n.failed.r.Group, "handled", n.handled)
		return nodeExitError
	}
	if !n.stopping {
		n.log.Error("app.stopped", "err", "consumer ended without a stop signal", "handled", n.handled)
		return nodeExitError
	}
	n.log.Info("app.stopped", "handled", n.handled)
	return nodeExitOK
}

// orphaned exits at once when the supervisor is gone, from whichever
// goroutine saw it first (see orphanOnce). No commit: the records in hand
// are delivered again to whoever takes the partitions. Exiting at once is
// what stops the intake.
func (n *nodeRun) orphaned(why string) {
	n.orphanOnce.Do(func() {
		n.log.Error("swarm.node.orphaned", "reason", why)
		n.killHandlers()
		os.Exit(nodeExitOrphaned)
	})
}

// killHandlers is the first thing every os.Exit does (it runs no defers):
// kill the handler commands, then everything else the node started or
// adopted, so nothing outlives the node, with Pdeathsig and the
// supervisor's reaper as the backstops.
func (n *nodeRun) killHandlers() {
	n.cmds.kill()
	sweepNodeChildren(n.log)
}
