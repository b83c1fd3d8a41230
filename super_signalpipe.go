//go:build linux

package main

import (
	"encoding/binary"
	"os"
	"os/signal"

	"golang.org/x/sys/unix"
)

// supervisorSignals are the signals the supervisor acts on. Each one is
// trapped, which also matters as PID 1: the kernel drops signals that PID 1
// does not handle, so an untrapped TERM would silently do nothing.
var supervisorSignals = []os.Signal{
	unix.SIGTERM, unix.SIGINT, unix.SIGQUIT, // graceful stop; a second one kills
	unix.SIGTSTP, // quiet
	unix.SIGTTIN, // stack dumps
	unix.SIGHUP,  // rolling restart
	unix.SIGCHLD, // an adopted process died or was left by a dead node (super_reaper.go)
}

// signalPipe carries signals from signal.Notify into the event loop: the
// relay goroutine queues the signal and bumps an eventfd the loop polls. The
// loop is the only reader of the queue.
type signalPipe struct {
	efd   int
	queue chan os.Signal
	in    chan os.Signal
}

// newSignalPipe traps the supervisor's signals.
//
// in, when not nil, is a channel already notified of some signals: adding
// the rest to the same channel (rather than a new one) means a signal
// caught before is kept, and one arriving now is delivered once, not to two
// channels.
func newSignalPipe(in chan os.Signal) (*signalPipe, error) {
	efd, err := unix.Eventfd(0, unix.EFD_CLOEXEC|unix.EFD_NONBLOCK)
	if err != nil {
		return nil, os.NewSyscallError("eventfd", err)
	}
	if in == nil {
		in = make(chan os.Signal, 64)
	}
	p := &signalPipe{efd: efd, queue: make(chan os.Signal, 64), in: in}
	signal.Notify(p.in, supervisorSignals...)
	go p.relay()
	return p, nil
}

// relay moves notified signals into the queue and wakes the loop.
func (p *signalPipe) relay() {
	one := make([]byte, 8)
	binary.NativeEndian.PutUint64(one, 1)
	for s := range p.in {
		p.queue <- s
		for {
			_, err := unix.Write(p.efd, one)
			if err == unix.EINTR {
				continue
			}
			// EAGAIN means the counter is saturated: the loop is already due
			// to wake, nothing is lost.
			break
		}
	}
}

// drain clears the eventfd and returns the queued signals, oldest first.
func (p *signalPipe) drain() []os.Signal {
	buf := make([]byte, 8)
	for {
		_, err := unix.Read(p.efd, buf)
		if err != unix.EINTR {
			break
		}
	}
	var out []os.Signal
	for {
		select {
		case s := <-p.queue:
			out = append(out, s)
		default:
			return out
		}
	}
}

// stop ends the notification of supervisor signals.
func (p *signalPipe) stop() {
	signal.Stop(p.in)
}
