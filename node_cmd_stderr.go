//go:build linux

package main

import (
	"bufio"
	"io"
	"os"
	"strconv"
)

// stderrPrefix starts each line of CMD's stderr: the node, and the route
// when the swarm has more than one.
func stderrPrefix(nodeID int, r *route, totalRoutes int) string {
	if totalRoutes > 1 {
		return "[node " + strconv.Itoa(nodeID) + " route " + strconv.Itoa(r.Index) + "] "
	}
	return "[node " + strconv.Itoa(nodeID) + "] "
}

// pumpStderr passes CMD's stderr through, each line prefixed with the node
// id (and route: stderrPrefix), and closes done at EOF. Each piece is
// written whole and at most PIPE_BUF bytes, so lines of different nodes and
// handlers on the shared stderr never interleave.
func pumpStderr(stderr *os.File, w io.Writer, prefix string, done chan<- struct{}) {
	defer close(done)
	br := bufio.NewReaderSize(stderr, pipeBuf-len(prefix)-1)
	out := make([]byte, 0, pipeBuf)
	for {
		line, err := br.ReadSlice('\n')
		if len(line) > 0 {
			out = append(append(out[:0], prefix...), line...)
			if out[len(out)-1] != '\n' {
				out = append(out, '\n') // a longer line goes on in the next piece
			}
			_, _ = w.Write(out)
		}
		if err != nil && err != bufio.ErrBufferFull {
			return
		}
	}
}
