//go:build linux

package main

import (
	"context"
	"os"
	"os/signal"

	"golang.org/x/sys/unix"
)

// The manager traps the stop signals only once it exists, after the brokers
// answered (preflight, up to -connect-timeout). Until then a TERM would end
// the supervisor by its default action: harmless, nothing is spawned yet,
// but it is exit 143 where an operator expects 0, and an unanswered broker
// must not make a stop wait. earlyStop traps them from the start of
// supervise, on the channel the manager's signal pipe then adopts
// (newSignalPipe), so a signal caught in between is acted on by the
// manager, and none is delivered twice.
type earlyStop struct {
	sigs      chan os.Signal
	stoppedBy os.Signal // the signal that ended preflight, if one did
}

// trapEarlyStop starts trapping TERM, INT and QUIT.
func trapEarlyStop() *earlyStop {
	e := &earlyStop{sigs: make(chan os.Signal, 64)}
	signal.Notify(e.sigs, unix.SIGTERM, unix.SIGINT, unix.SIGQUIT)
	return e
}

// preflight runs the broker check, abandoned at once by a stop signal; it
// says whether a signal stopped it.
func (e *earlyStop) preflight(cfg *config) (stopped bool, err error) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- preflight(ctx, cfg) }()
	select {
	case err := <-done:
		return false, err
	case sig := <-e.sigs:
		// Not a failure: nothing was spawned, nothing was consumed. The
		// check is not waited for: a request to a silent broker does not
		// end with its context, and the process is about to exit.
		signal.Stop(e.sigs)
		e.stoppedBy = sig
		return true, nil
	}
}
