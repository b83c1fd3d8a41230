//go:build linux

package main

// The supervisor's file descriptor budget. Every node costs fds for as long
// as it is supervised, a restart needs a few more for a moment, and -http
// connections come on top. Without a check, -nodes 1024 under `ulimit -n 20`
// fails a thousand forks with EMFILE and retries them forever; with one, it
// is a single line and exit 2 before anything is spawned.
//
// RLIMIT_NOFILE: since Go 1.19 the runtime raises its own soft limit to the
// hard one at start (to hard-1 since Go 1.22, so it can tell a later
// prlimit(1) from its own change), and syscall.ForkExec puts the original
// soft limit back in every child, so nodes and the handler commands they
// start see the limit the user set (select(2)-based programs rely on 1024).
// Calling setrlimit ourselves would turn that restore off for every child,
// so we raise only when the runtime's raise was not enough.

import (
	"fmt"
	"os"
	"syscall"
)

const (
	// fdsPerNode: a node's pidfd and the read end of its health pipe.
	fdsPerNode = 2
	// fdsStats: with -http, the read end of a node's stats pipe per node,
	// and its write end during a spawn (super_stats.go).
	fdsStats = 1
	// fdsSpawn: one spawn at a time holds the write end of the new health
	// pipe and ForkExec's own close-on-exec error pipe (two ends).
	fdsSpawn = 3
	// fdsLoop: the loop's epoll and signal eventfd, the runtime's netpoller
	// (epoll and eventfd, if not open yet) and one /proc file being read
	// (a node's RSS).
	fdsLoop = 5
	// fdsMargin: slack for what the runtime or the kernel opens that we
	// did not count.
	fdsMargin = 8
	// httpMaxConns is the most -http connections served at once: plenty
	// for probes, scrapers and a browser, few enough to cost little. It is
	// lowered to what the fd limit leaves, down to httpMinConns.
	httpMaxConns = 64
	httpMinConns = 4
	// fdsHTTP: the listener, plus one accepted connection beyond the cap
	// for the moment before it is closed.
	fdsHTTP = 2
)

// fdPlan is the outcome of the budget: how many -http connections fit.
type fdPlan struct {
	httpConns int // 0 without -http
}

// planFds checks the fd limit against what -nodes and -http need, raising
// the soft limit toward the hard one if that is needed and enough. The
// error is a usageError: one line, exit 2, nothing spawned.
func planFds(nodes int, withHTTP bool) (fdPlan, error) {
	open, err := openFds()
	if err != nil {
		return fdPlan{}, err
	}
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		return fdPlan{}, os.NewSyscallError("getrlimit RLIMIT_NOFILE", err)
	}
	return fitFds(open, nodes, withHTTP, &lim, func(want uint64) error {
		raised := syscall.Rlimit{Cur: want, Max: lim.Max}
		if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &raised); err != nil {
			return os.NewSyscallError("setrlimit RLIMIT_NOFILE", err)
		}
		lim.Cur = want
		return nil
	})
}

// fitFds is planFds without the syscalls: open fds now, the limit, and how
// to raise the soft limit.
func fitFds(open, nodes int, withHTTP bool, lim *syscall.Rlimit, raise func(uint64) error) (fdPlan, error) {
	need := open + fdsLoop + fdsSpawn + fdsMargin + nodes*fdsPerNode
	minNeed, maxNeed := need, need
	if withHTTP {
		need += fdsStats + nodes*fdsStats
		minNeed = need + fdsHTTP + httpMinConns
		maxNeed = need + fdsHTTP + httpMaxConns
	}
	if lim.Cur < uint64(maxNeed) && lim.Cur < lim.Max {
		if err := raise(min(lim.Max, uint64(maxNeed))); err != nil {
			return fdPlan{}, err
		}
	}
	if lim.Cur < uint64(minNeed) {
		what := fmt.Sprintf("-nodes %d", nodes)
		if withHTTP {
			what += " with -http"
		}
		return fdPlan{}, usagef("%s needs %d open files but RLIMIT_NOFILE allows %d (hard limit %d): raise it (ulimit -n) or lower -nodes",
			what, minNeed, lim.Cur, lim.Max)
	}
	if !withHTTP {
		return fdPlan{}, nil
	}
	return fdPlan{httpConns: min(httpMaxConns, int(lim.Cur)-need-fdsHTTP)}, nil
}

// openFds counts this process's open fds: what we inherited or the runtime
// opened counts against the same limit.
func openFds() (int, error) {
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		return 0, fmt.Errorf("count open fds: %w", err)
	}
	// The directory's own fd is in the listing and closed again.
	return len(ents) - 1, nil
}
