//go:build linux

package main

// The node's stats writer: every -stats-interval one stats line
// (node_statsline.go) on fd 4, a pipe of its own, so that no amount of
// stats can delay or corrupt a health report on fd 3. The pipe is
// non-blocking; a line the pipe does not take whole is finished at the
// next tick before a new one is built, so framing never breaks and a
// stalled supervisor costs the node one pending line at most.

import (
	"errors"
	"os"
	"time"

	"golang.org/x/sys/unix"
)

// openStatsPipe says whether fd is a pipe the node may send stats on, and
// makes it non-blocking and closed at exec (a handler command must not
// hold the supervisor's pipe). Anything else on fd (nothing, a file, a
// socket) means the supervisor passed no stats pipe: send nothing.
func openStatsPipe(fd int) bool {
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil || st.Mode&unix.S_IFMT != unix.S_IFIFO {
		return false
	}
	if err := unix.SetNonblock(fd, true); err != nil {
		return false
	}
	// A handler command must not inherit it (fcntl(2) F_SETFD).
	if _, err := unix.FcntlInt(uintptr(fd), unix.F_SETFD, unix.FD_CLOEXEC); err != nil {
		return false
	}
	return true
}

// statsWriter sends the stats lines; one goroutine owns it.
type statsWriter struct {
	fd      int
	build   func(now time.Time) ([]byte, error)
	pending []byte // the unwritten rest of the last line
}

// errStatsClosed says the supervisor closed its end: nothing more to send.
var errStatsClosed = errors.New("stats pipe closed")

// tick finishes the pending line, then, if the pipe took all of it, sends
// a new one.
func (w *statsWriter) tick(now time.Time) error {
	if len(w.pending) > 0 {
		if err := w.flush(); err != nil || len(w.pending) > 0 {
			return err
		}
	}
	line, err := w.build(now)
	if err != nil {
		return err
	}
	w.pending = line
	return w.flush()
}

// flush writes what the pipe takes of pending without waiting.
func (w *statsWriter) flush() error {
	for len(w.pending) > 0 {
		n, err := unix.Write(w.fd, w.pending)
		switch {
		case err == unix.EINTR:
			continue
		case err == unix.EAGAIN:
			return nil
		case err == unix.EPIPE:
			w.pending = nil
			return errStatsClosed
		case err != nil:
			return os.NewSyscallError("write stats pipe", err)
		}
		w.pending = w.pending[n:]
	}
	w.pending = nil
	return nil
}

// loop sends a line every interval until stop is closed or the pipe is
// unusable, which it says once in the log.
func (w *statsWriter) loop(interval time.Duration, stop <-chan struct{}, logErr func(error)) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-stop:
			return
		case now := <-t.C:
			if err := w.tick(now); err != nil {
				logErr(err)
				return
			}
		}
	}
}
