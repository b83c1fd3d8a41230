//go:build linux

package main

import (
	"sync"
	"sync/atomic"
)

// inflightWindow bounds how many records may be written to CMD and not
// yet answered: it is the capacity of the FIFO that pairs answers with
// records. Twice a default poll batch (-max-poll-records), so a whole
// batch streams out without the writer waiting on answers: a window of one
// batch or less
// makes the writer stall and wake once per window, which costs the pipe
// about a third of its rate. A handler that reads but never answers holds
// the batch in hand, which -consuming-ttl reports.
const inflightWindow = 2 * defaultMaxPollRecords

// answerWindow is the in-flight window between the writer and the reader:
// runs of records written to CMD (or about to be) and not yet all
// answered, in order. Writer and reader share no per-record channel: the
// writer queues a run (a slice of one batch) just before the bytes framing
// it go out, so an answer never arrives ahead of its record; the reader
// takes a run at a time and counts the answers it matched.
type answerWindow struct {
	mu   sync.Mutex
	runs []inflightRun

	// answered counts the answers matched to records (the reader only
	// writes it); the writer compares it with the records it has queued to
	// keep at most inflightWindow in flight. writerWaiting and freed wake
	// a writer blocked on a full window.
	answered      atomic.Int64
	writerWaiting atomic.Bool
	freed         chan struct{}

	queued, seen int64       // writer only: records queued in all; answers seen counted
	cur          inflightRun // reader only: the run being answered
}

// inflightRun is b.recs[from:to]: records framed on CMD's stdin, in order,
// whose answers are still to come.
type inflightRun struct {
	b        *pipeBatch
	from, to int
}

// newAnswerWindow is an empty window.
func newAnswerWindow() *answerWindow {
	return &answerWindow{freed: make(chan struct{}, 1)}
}

// push queues run (records encoded, not yet queued) for the reader and
// starts the next run at next. Writer only.
func (w *answerWindow) push(run *inflightRun, next int) {
	if run.to > run.from {
		w.mu.Lock()
		w.runs = append(w.runs, *run)
		w.mu.Unlock()
		w.queued += int64(run.to - run.from)
	}
	run.from, run.to = next, next
}

// full says whether one more record, after the queued ones and pending
// more encoded but not queued, would exceed the window. It looks at the
// answer count only when its last look says full. Writer only.
func (w *answerWindow) full(pending int) bool {
	if w.queued+int64(pending)-w.seen < inflightWindow {
		return false
	}
	w.seen = w.answered.Load()
	return w.queued+int64(pending)-w.seen >= inflightWindow
}

// wait blocks the writer until fewer than inflightWindow of the queued
// records are unanswered; false when dead closed meanwhile. Writer only.
func (w *answerWindow) wait(dead <-chan struct{}) bool {
	for {
		if w.seen = w.answered.Load(); w.queued-w.seen < inflightWindow {
			return true
		}
		// Say so before looking again: an answer counted after this sees
		// the flag and wakes us (the reader counts, then looks).
		w.writerWaiting.Store(true)
		if w.seen = w.answered.Load(); w.queued-w.seen < inflightWindow {
			w.writerWaiting.Store(false)
			return true
		}
		select {
		case <-w.freed:
		case <-dead:
			return false
		}
	}
}

// next is the record the next answer belongs to, counted as answered (which
// may wake the writer); ok is false when no record is in flight. Reader
// only.
func (w *answerWindow) next() (b *pipeBatch, i int, ok bool) {
	if w.cur.from == w.cur.to {
		w.mu.Lock()
		if len(w.runs) == 0 {
			w.mu.Unlock()
			return nil, 0, false
		}
		w.cur = w.runs[0]
		// Shift down rather than reslice: the queue holds a few runs, and
		// its array is reused instead of crawling forward and reallocating.
		n := copy(w.runs, w.runs[1:])
		w.runs[n] = inflightRun{}
		w.runs = w.runs[:n]
		w.mu.Unlock()
	}
	b, i = w.cur.b, w.cur.from
	if w.cur.from++; w.cur.from == w.cur.to {
		w.cur.b = nil // holds the batch no longer than its answers
	}
	if w.answered.Add(1); w.writerWaiting.Load() && w.writerWaiting.CompareAndSwap(true, false) {
		select {
		case w.freed <- struct{}{}:
		default:
		}
	}
	return b, i, true
}
