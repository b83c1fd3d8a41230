//go:build linux

package main

// Writing to the stderr and stdout that the supervisor, every node and
// every handler share: in whole lines of at most PIPE_BUF bytes a write, so
// one process's lines never tear another's (pipe(7): writes up to PIPE_BUF
// are atomic).

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"runtime"
)

// pipeBuf is PIPE_BUF: writes up to this size to a pipe are atomic.
const pipeBuf = 4096

// writeLines writes b, which ends in a newline, in pieces that end at line
// boundaries and are at most pipeBuf bytes where a line allows it.
func writeLines(w io.Writer, b []byte) error {
	for len(b) > 0 {
		n := len(b)
		if n > pipeBuf {
			if i := bytes.LastIndexByte(b[:pipeBuf], '\n'); i >= 0 {
				n = i + 1
			} else if i := bytes.IndexByte(b, '\n'); i >= 0 {
				n = i + 1 // one line longer than pipeBuf: cannot be atomic
			}
		}
		if _, err := w.Write(b[:n]); err != nil {
			return err
		}
		b = b[n:]
	}
	return nil
}

// writeDump writes all goroutine stacks to stderr under a heading, in
// whole lines of at most PIPE_BUF per write: stderr is shared by the
// supervisor and every node, and a dump must not tear their log lines.
func writeDump(who string) {
	_ = writeLines(os.Stderr, []byte(who+" goroutine dump:\n"+goroutineDump()+"\n"))
}

// goroutineDump returns the stacks of every goroutine of this process.
func goroutineDump() string {
	buf := make([]byte, 1<<16)
	for {
		n := runtime.Stack(buf, true)
		if n < len(buf) {
			return string(buf[:n])
		}
		if len(buf) >= 64<<20 {
			return string(buf[:n]) + fmt.Sprintf("\n... truncated at %d bytes", n)
		}
		buf = make([]byte, 2*len(buf))
	}
}
