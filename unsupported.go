//go:build !linux

// swarm needs Linux: pidfds, epoll and /proc are its foundation.
package main

import (
	"fmt"
	"os"
	"runtime"
)

func main() {
	fmt.Fprintf(os.Stderr, "swarm: Linux only (pidfd, epoll); this is %s\n", runtime.GOOS)
	os.Exit(2)
}
