//go:build linux

package main

// Logging that never blocks the supervisor's loop. stderr may be a pipe that
// nobody reads (a stuck log shipper, a full `docker logs` driver): a write(2)
// to it then blocks for as long as the reader sleeps. So a log call only
// queues its line in a bounded buffer; one writer goroutine per sink does the
// write(2)s and is the only one that can be stuck. When the buffer is full
// lines are dropped and counted, and once stderr takes writes again the
// writer reports the count in one line of its own.

import (
	"io"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"
)

// Bounds of one sink's queue: lines beyond either are dropped. 1 MiB holds a
// few thousand ordinary lines, enough to ride out a slow reader without
// losing anything, and small next to a node's memory.
const (
	logQueueBytes = 1 << 20
	logQueueLines = 8192
)

// logFlushStall: at exit, a sink whose output has not moved for this long
// is given up on.
const logFlushStall = 250 * time.Millisecond

// Node processes wait up to this long for each of their lines to be written
// while stderr is moving (see logSink.wait); the supervisor never waits.
const nodeLogWait = 250 * time.Millisecond

// logSink is the io.Writer under a slog handler: Write queues a copy of the
// line and returns; run writes the queue out in order.
type logSink struct {
	out io.Writer
	// wait > 0: Write waits up to wait for its own line to be written, so
	// a line logged just before os.Exit is not lost, unless stderr is
	// already known to be stuck (stalled). The supervisor uses 0.
	wait time.Duration
	// dropReport formats the line that reports drops (same format and
	// attributes as the sink's logger).
	dropReport func(dropped, total uint64) []byte

	mu       sync.Mutex
	queue    [][]byte
	bytes    int
	enqueued uint64        // lines queued so far, ever
	written  uint64        // lines written (or given up on) so far, ever
	progress chan struct{} // closed and replaced whenever written moves
	stalled  bool          // a waiter timed out: stderr is stuck; waits are skipped until it moves
	wake     chan struct{} // capacity 1: there is work for run

	dropped  atomic.Uint64 // lines dropped because the queue was full, ever
	reported uint64        // dropped count already reported; run only
}

// logSinks are every sink of this process, for flushLogs and the drop count
// in /metrics.
var (
	logSinksMu sync.Mutex
	logSinks   []*logSink
)

// logWait is how long a Write waits for its line (see logSink.wait); run
// sets it to nodeLogWait before a node builds its logger.
var logWait time.Duration

// newLogSink starts a sink writing to out and its writer goroutine.
func newLogSink(out io.Writer, wait time.Duration, dropReport func(dropped, total uint64) []byte) *logSink {
	s := &logSink{out: out, wait: wait, dropReport: dropReport,
		progress: make(chan struct{}), wake: make(chan struct{}, 1)}
	logSinksMu.Lock()
	logSinks = append(logSinks, s)
	logSinksMu.Unlock()
	go s.run()
	return s
}

// Write queues a copy of p (slog reuses its buffer) and never blocks on the
// output. A line that does not fit is dropped and counted. It always
// reports success: a logger has nowhere to report its own failure.
func (s *logSink) Write(p []byte) (int, error) {
	s.mu.Lock()
	if len(s.queue) >= logQueueLines || s.bytes+len(p) > logQueueBytes {
		s.mu.Unlock()
		s.dropped.Add(1)
		return len(p), nil
	}
	s.queue = append(s.queue, append([]byte(nil), p...))
	s.bytes += len(p)
	s.enqueued++
	seq := s.enqueued
	waitForIt := s.wait > 0 && !s.stalled
	s.mu.Unlock()
	select {
	case s.wake <- struct{}{}:
	default: // a wakeup is pending already
	}
	if waitForIt {
		s.waitWritten(seq)
	}
	return len(p), nil
}

// waitWritten waits until line seq is written or s.wait has passed; in the
// second case stderr is stuck, and later Writes stop waiting until it moves.
func (s *logSink) waitWritten(seq uint64) {
	timer := time.NewTimer(s.wait)
	defer timer.Stop()
	for {
		s.mu.Lock()
		if s.written >= seq {
			s.mu.Unlock()
			return
		}
		ch := s.progress
		s.mu.Unlock()
		select {
		case <-ch:
		case <-timer.C:
			s.mu.Lock()
			s.stalled = true
			s.mu.Unlock()
			return
		}
	}
}

// run is the writer goroutine: it takes the whole queue at once and writes
// it line by line (each line one write(2), so lines of processes sharing the
// pipe do not tear up to PIPE_BUF). Once the queue is empty it reports the
// drops, if any: after every line that was queued before them.
func (s *logSink) run() {
	for range s.wake {
		for {
			s.mu.Lock()
			batch := s.queue
			s.queue, s.bytes = nil, 0
			s.mu.Unlock()
			if len(batch) == 0 {
				s.reportDrops()
				break
			}
			for _, line := range batch {
				// EPIPE (stderr closed) or any other error: the line is
				// gone; there is nowhere else to say so.
				_, _ = s.out.Write(line)
			}
			s.mu.Lock()
			s.written += uint64(len(batch))
			s.stalled = false
			close(s.progress)
			s.progress = make(chan struct{})
			s.mu.Unlock()
		}
	}
}

// reportDrops writes one line with the lines dropped since the last report,
// now that the output has taken writes again.
func (s *logSink) reportDrops() {
	total := s.dropped.Load()
	if total == s.reported || s.dropReport == nil {
		return
	}
	_, _ = s.out.Write(s.dropReport(total-s.reported, total))
	s.reported = total
}

// flush waits until everything queued so far is written, at exit. It gives
// up after timeout in all, or as soon as the output has not moved for
// logFlushStall: a stuck stderr must not keep the process alive (nor make a
// node overrun its shutdown budget).
func (s *logSink) flush(timeout time.Duration) {
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	s.mu.Lock()
	seq := s.enqueued
	s.mu.Unlock()
	for {
		s.mu.Lock()
		done, ch := s.written >= seq, s.progress
		s.mu.Unlock()
		if done {
			return
		}
		stall := time.NewTimer(logFlushStall)
		select {
		case <-ch:
			stall.Stop()
		case <-stall.C:
			return
		case <-deadline.C:
			stall.Stop()
			return
		}
	}
}

// flushLogs flushes every sink, all within timeout.
func flushLogs(timeout time.Duration) {
	deadline := time.Now().Add(timeout)
	logSinksMu.Lock()
	sinks := append([]*logSink(nil), logSinks...)
	logSinksMu.Unlock()
	for _, s := range sinks {
		s.flush(max(0, time.Until(deadline)))
	}
}

// logLinesDropped is how many log lines this process has dropped so far.
func logLinesDropped() uint64 {
	logSinksMu.Lock()
	defer logSinksMu.Unlock()
	var n uint64
	for _, s := range logSinks {
		n += s.dropped.Load()
	}
	return n
}

// dropReporter formats the drop report with a handler of its own over a
// buffer, in the sink's format and with its logger's attributes.
func dropReporter(format string, attrs []any) func(dropped, total uint64) []byte {
	return func(dropped, total uint64) []byte {
		var b lineBuffer
		slog.New(newSlogHandler(&b, format, slog.LevelWarn)).With(attrs...).
			Warn("swarm.log.dropped", "lines", dropped, "total", total, "reason", "stderr was not taking writes")
		return b.data
	}
}

// lineBuffer collects what one log call writes.
type lineBuffer struct{ data []byte }

func (b *lineBuffer) Write(p []byte) (int, error) {
	b.data = append(b.data, p...)
	return len(p), nil
}
