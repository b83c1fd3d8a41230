//go:build linux

package main

// The `-- CMD ARGS...` handler: one long-lived user process per route of a
// node, fed records on its stdin and read for one answer line per record
// on its stdout. The node side is four goroutines around the process:
//
//	owner   starts CMD on a thread it keeps locked for CMD's whole life (the
//	        parent-death signal follows the creating thread), then waits
//	        for CMD to exit, kills what CMD left in its process group, reaps
//	        (node_cmd_process.go).
//	stderr  passes CMD's stderr through, one prefixed line per line
//	        (node_cmd_stderr.go).
//	writer  frames the records of a batch onto stdin, at most
//	        inflightWindow ahead of the answers (node_cmd_window.go).
//	reader  matches answer lines to records in order; each batch produces
//	        its outputs as the answers come (node_cmd_batch.go).
//
// The process starts first and needs no Kafka client; the writer and the
// reader start with the handler, which is built with the route's client.
// handle hands a batch to the writer and waits until every record of it is
// answered (and every produced record acknowledged), or until CMD fails.

import (
	"bufio"
	"errors"
	"fmt"
	"io"
)

const (
	// maxAnswerLine bounds one answer line. A record to produce is at most
	// 1 MiB by default (franz-go's batch limit), 4/3 of that in base64; a
	// longer line is a broken handler, not a record.
	maxAnswerLine = 16 << 20
	// pipeIOBuf is the write size to CMD's stdin and the read buffer on its
	// stdout: a pipe's default capacity (pipe(7)), so a write fills the
	// pipe in one call and a read takes what one holds.
	pipeIOBuf = 64 << 10
)

// cmdHandler is the recordHandler for `-- CMD ARGS...`: the running CMD,
// the window of records in flight to it, and where its results go. Its
// close is the process's.
type cmdHandler struct {
	*cmdProcess
	out     outlet
	pol     failurePolicy // what a failed record's fate is (node_retry.go)
	win     *answerWindow
	batches chan *pipeBatch // handle -> writer
}

// newCmdHandler starts feeding route r's running CMD p, producing its
// outputs and dead letters with prod.
func newCmdHandler(p *cmdProcess, r *route, prod producer, pol failurePolicy) *cmdHandler {
	h := &cmdHandler{
		cmdProcess: p,
		pol:        pol,
		out: outlet{prod: prod, outputTopic: r.OutputTopic, deadLetter: r.DeadLetterTopic,
			group: r.Group, log: p.log},
		win:     newAnswerWindow(),
		batches: make(chan *pipeBatch),
	}
	go h.writeRecords()
	go h.readAnswers(p.readingStdout())
	return h
}

// handle sends the delivery through CMD and sets each record's outcome
// (pipeBatch.settle). The error is CMD's failure or a refused produce.
func (h *cmdHandler) handle(d *delivery) error {
	if len(d.recs) == 0 {
		return nil
	}
	b := newPipeBatch(d, &h.out, &h.pol)
	select {
	case h.batches <- b:
	case <-h.dead:
		return h.err()
	}
	select {
	case <-b.answered:
	case <-h.dead:
		// What was answered before the failure still counts.
	}
	b.seal()
	return b.settle(h.err())
}

// writeRecords is the writer goroutine: frames each batch onto CMD's stdin
// until CMD fails or is closed. Frames are encoded straight into one buffer
// that goes out in pipe-sized writes.
func (h *cmdHandler) writeRecords() {
	buf := make([]byte, 0, 2*pipeIOBuf)
	for {
		var b *pipeBatch
		select {
		case b = <-h.batches:
		case <-h.dead:
			return
		case <-h.closing:
			return
		}
		var ok bool
		if buf, ok = h.writeBatch(b, buf); !ok {
			return
		}
	}
}

// writeBatch frames b's records, at most inflightWindow records ahead of
// the answers; the run of records a write frames is queued for the reader
// just before it. false means writing stopped for good.
func (h *cmdHandler) writeBatch(b *pipeBatch, buf []byte) ([]byte, bool) {
	run := inflightRun{b: b}
	for i, r := range b.recs {
		if b.stopped(i) {
			// After a record of its partition to retry: never sent, it
			// comes again with that one.
			h.win.push(&run, i+1)
			b.complete(i, recResult{})
			continue
		}
		if r.Attrs.IsControl() {
			// A transaction marker (kept with -exactly-once, node_txn.go):
			// not a record of the user's, done once the ones before it.
			h.win.push(&run, i+1)
			b.complete(i, recResult{complete: true})
			continue
		}
		start := len(buf)
		var err error
		if buf, err = h.codec.encode(buf, r, b.d.attempt(i)); err != nil {
			// Never sent, so never answered: its result is known now,
			// and the run of records around it is cut in two.
			buf = buf[:start]
			h.win.push(&run, i+1)
			b.complete(i, recResult{complete: true, failed: true, reason: err.Error()})
			continue
		}
		if h.win.full(run.to - run.from) {
			// Window full: CMD must see the frames already in it before it
			// can answer and free a slot; this frame waits.
			h.win.push(&run, i)
			if !h.write(buf[:start]) {
				return buf, false
			}
			buf = buf[:copy(buf, buf[start:])]
			if !h.win.wait(h.dead) {
				return buf, false
			}
		}
		run.to = i + 1
		if len(buf) >= pipeIOBuf {
			h.win.push(&run, i+1)
			if !h.write(buf) {
				return buf, false
			}
			buf = buf[:0]
		}
	}
	h.win.push(&run, len(b.recs))
	if len(buf) > 0 && !h.write(buf) {
		return buf, false
	}
	return buf[:0], true
}

// write writes framed records to CMD's stdin; false when CMD is gone.
func (h *cmdHandler) write(b []byte) bool {
	if _, err := h.stdin.Write(b); err != nil {
		h.failAfterExit(fmt.Errorf("write records to handler stdin: %w", err))
		return false
	}
	return true
}

// readAnswers is the reader goroutine: one answer line per record, in the
// order the records were written. It closes done when it stops.
func (h *cmdHandler) readAnswers(done chan<- struct{}) {
	defer close(done)
	br := bufio.NewReaderSize(h.stdout, pipeIOBuf)
	var long []byte // a line longer than the buffer, gathered
	for {
		line, err := br.ReadSlice('\n')
		if err == bufio.ErrBufferFull {
			if len(long)+len(line) > maxAnswerLine {
				h.fail(fmt.Errorf("handler answered a line longer than %d bytes", maxAnswerLine))
				return
			}
			long = append(long, line...)
			continue
		}
		if err != nil {
			if !h.isClosing() {
				if errors.Is(err, io.EOF) {
					err = errors.New("handler closed its stdout")
				} else {
					err = fmt.Errorf("read handler stdout: %w", err)
				}
				h.failAfterExit(err)
			}
			return
		}
		if len(long) > 0 {
			line = append(long, line...)
			long = long[:0]
		}
		if !h.answer(line[:len(line)-1]) {
			return
		}
	}
}

// answer applies one answer line to the record it belongs to. false means
// the protocol is broken and reading stops.
func (h *cmdHandler) answer(line []byte) bool {
	b, i, ok := h.win.next()
	if !ok {
		h.fail(fmt.Errorf("handler answered a line with no record in flight: %q", clip(line)))
		return false
	}
	a, err := h.codec.decode(line)
	if err != nil {
		h.fail(fmt.Errorf("handler answered garbage for record %s: %w; the line: %q", recordName(b.recs[i]), err, clip(line)))
		return false
	}
	b.answer(i, a)
	return true
}

// clip shortens a line for an error message.
func clip(b []byte) []byte {
	if len(b) > 200 {
		return b[:200]
	}
	return b
}
