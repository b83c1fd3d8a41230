// Command leaky is a swarm handler command (swarm [flags] -- leaky) that
// leaks memory on purpose, for the memory-limit tests: for every record it
// reads it keeps -kib KiB of freshly touched anonymous memory that is never
// freed, and answers the record as done (an empty line, which both codecs
// read as done). The memory is mmap'ed outside the Go heap, so neither the
// garbage collector nor GOMEMLIMIT can hold the growth back: only swarm's
// -memory-limit (node plus handler RSS) or the kernel stops it.
package main

import (
	"bufio"
	"flag"
	"fmt"
	"io"
	"os"
	"syscall"
)

func main() {
	kib := flag.Int("kib", 128, "KiB leaked per record")
	flag.Parse()
	fmt.Fprintf(os.Stderr, "leaky: pid %d leaking %d KiB per record\n", os.Getpid(), *kib)
	in := bufio.NewReaderSize(os.Stdin, 64<<10)
	out := bufio.NewWriter(os.Stdout)
	var leaked [][]byte
	page := os.Getpagesize()
	for {
		if _, err := in.ReadSlice('\n'); err != nil {
			if err == bufio.ErrBufferFull {
				continue // a long record: read on to its end
			}
			if err != io.EOF {
				fmt.Fprintln(os.Stderr, "leaky: read:", err)
				os.Exit(1)
			}
			out.Flush()
			return
		}
		b, err := syscall.Mmap(-1, 0, *kib<<10, syscall.PROT_READ|syscall.PROT_WRITE, syscall.MAP_ANON|syscall.MAP_PRIVATE)
		if err != nil {
			fmt.Fprintln(os.Stderr, "leaky: mmap:", err)
			os.Exit(1)
		}
		for i := 0; i < len(b); i += page {
			b[i] = 1 // touch every page: resident, counted in VmRSS
		}
		leaked = append(leaked, b)
		out.WriteByte('\n')
		// Answer at once when no more input is waiting (pipelined input is
		// answered in one write).
		if in.Buffered() == 0 {
			if err := out.Flush(); err != nil {
				os.Exit(1)
			}
		}
	}
}
