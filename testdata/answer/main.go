// Command answer is the smallest useful swarm handler command: it answers
// every record with an empty line ("done"). The benchmark runs it to
// measure what the pipe itself costs.
//
// It flushes only when no more input is waiting, so a burst of records
// costs one write, not one per record, and the answers still go out the
// moment the node stops sending.
package main

import (
	"bufio"
	"os"
)

func main() {
	in := bufio.NewReaderSize(os.Stdin, 64<<10)
	out := bufio.NewWriterSize(os.Stdout, 64<<10)
	for {
		if in.Buffered() == 0 {
			if err := out.Flush(); err != nil {
				os.Exit(1)
			}
		}
		// ReadSlice, not ReadString: a long record would only split into
		// ErrBufferFull pieces, and nothing of it is kept.
		_, err := in.ReadSlice('\n')
		if err == bufio.ErrBufferFull {
			continue
		}
		if err != nil {
			out.Flush()
			return // EOF: the node is done with us
		}
		out.WriteByte('\n')
	}
}
