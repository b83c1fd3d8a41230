//go:build linux

package main

// The node's side of liveness: it reports its health to the supervisor
// on fd 3, and watches the supervisor so that it never outlives it.

import (
	"errors"
	"fmt"
	"os"
	"strconv"
	"sync/atomic"
	"time"

	"golang.org/x/sys/unix"
)

// nodeHealth is what the consumer tells the reporter. Plain atomics: the
// consumer must never wait on the reporter, nor the reporter on a record.
type nodeHealth struct {
	lastPoll   atomic.Int64 // unix ns of the last return from PollFetches
	batchStart atomic.Int64 // unix ns when the running batch began; 0 when idle
	quiet      atomic.Bool  // quiet nodes do not poll, so they cannot stall
	// stalled judges the route's partitions (node_stall.go); set before
	// the reporter starts, nil until the route has a consumer.
	stalled func(now time.Time, ttl time.Duration) bool
}

// polled records a turn of the poll loop.
func (h *nodeHealth) polled(now time.Time) { h.lastPoll.Store(now.UnixNano()) }

// beginBatch records that a batch went to the handler.
func (h *nodeHealth) beginBatch(now time.Time) {
	h.batchStart.Store(now.UnixNano())
}

// endBatch also counts as a turn of the poll loop: a long batch (judged
// by -consuming-ttl) must not look like a stalled poll the moment it ends.
func (h *nodeHealth) endBatch(now time.Time) {
	h.lastPoll.Store(now.UnixNano())
	h.batchStart.Store(0)
}

// status is one consumer's part of the node's health: its poll loop, its
// batch and its partitions, the highest status winning. Memory is the
// node's as a whole (reporter.status).
func (h *nodeHealth) status(cfg *config, now time.Time) int {
	// A quiet node takes no records on purpose: its partitions do not
	// stall.
	if cfg.stallTTL > 0 && h.stalled != nil && !h.quiet.Load() && h.stalled(now, cfg.stallTTL) {
		return statusStalled
	}
	start := h.batchStart.Load()
	switch {
	case start != 0 && now.Sub(time.Unix(0, start)) > cfg.consumingTTL:
		return statusConsuming
	case start == 0 && !h.quiet.Load() && now.Sub(time.Unix(0, h.lastPoll.Load())) > cfg.pollingTTL:
		return statusPolling
	}
	return statusHealthy
}

// reporter writes the node's status to fd 3 from a goroutine of its own, so
// a long record never looks like a hang while a wedged process does.
type reporter struct {
	fd  int
	cfg *config
	// supervisor is SWARM_SUPERVISOR_PID: the node's parent while it
	// lives.
	supervisor int
	// healths are the node's consumers, one per route: the node's status
	// is the worst of theirs, so a stalled loop or a long batch in any
	// route stops the whole node.
	healths []*nodeHealth
	// extraRSS is the handler commands' VmRSS (every route's), counted with
	// the node's own against -memory-limit: users' leaks live in handlers.
	// nil: none.
	extraRSS func() int64
}

// write sends one status line. The pipe is non-blocking: if the supervisor
// is not reading (stopped, or the pipe is full), the report is dropped
// rather than wedging the node; a dead supervisor is the watchdog's job.
func (r *reporter) write(status int) error {
	line := []byte(strconv.Itoa(status) + "\n")
	for {
		_, err := unix.Write(r.fd, line)
		switch {
		case err == unix.EINTR:
			continue
		case err == unix.EAGAIN, err == unix.EPIPE:
			return nil
		case err != nil:
			return os.NewSyscallError("write health pipe", err)
		}
		return nil
	}
}

// loop reports every interval until stop is closed. It also compares
// getppid() each time: the backstop to the pidfd watchdog.
func (r *reporter) loop(stop <-chan struct{}, orphaned func(string)) {
	t := time.NewTicker(r.cfg.reportInterval)
	defer t.Stop()
	for {
		select {
		case <-stop:
			return
		case now := <-t.C:
			if os.Getppid() != r.supervisor {
				orphaned("parent changed")
				return
			}
			rss, _ := readRSS()
			if r.extraRSS != nil {
				rss += r.extraRSS()
			}
			_ = r.write(r.status(now, rss))
		}
	}
}

// status is the worst status over the node's consumers; rssBytes is the
// node's memory with its handlers'.
func (r *reporter) status(now time.Time, rssBytes int64) int {
	st := statusHealthy
	if r.cfg.memoryLimitMiB > 0 && rssBytes > r.cfg.memoryLimitMiB*1024*1024 {
		st = statusMemory
	}
	for _, h := range r.healths {
		st = max(st, h.status(r.cfg, now))
	}
	return st
}

// watchSupervisor opens a pidfd on the supervisor and calls orphaned the
// moment it exits. The order matters: open the pidfd first, then confirm it
// is still our parent, so the pidfd cannot refer to a recycled pid.
func watchSupervisor(pid int, orphaned func(string)) error {
	fd, err := unix.PidfdOpen(pid, 0)
	if err != nil {
		if errors.Is(err, unix.ESRCH) {
			return errors.New("supervisor already gone")
		}
		return os.NewSyscallError("pidfd_open", err)
	}
	if os.Getppid() != pid {
		unix.Close(fd)
		return fmt.Errorf("parent is %d, not supervisor %d", os.Getppid(), pid)
	}
	go func() {
		// A blocking poll parks one OS thread; that is the price of an
		// instant notice without a tick.
		fds := []unix.PollFd{{Fd: int32(fd), Events: unix.POLLIN}}
		for {
			_, err := unix.Poll(fds, -1)
			if err == unix.EINTR {
				continue
			}
			if err != nil {
				orphaned(fmt.Sprintf("poll supervisor pidfd: %v", err))
				return
			}
			orphaned("supervisor exited")
			return
		}
	}()
	return nil
}
