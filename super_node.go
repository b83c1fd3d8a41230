//go:build linux

package main

import (
	"errors"
	"fmt"
	"os"
	"runtime"
	"time"

	"golang.org/x/sys/unix"
)

// nodeState is where a node is in its life, as the supervisor sees it.
type nodeState int

const (
	nodeDown     nodeState = iota // not running; restartAt says when it starts again
	nodeRunning                   // spawned, being supervised
	nodeStopping                  // TERM sent; killAt says when KILL follows
)

func (s nodeState) String() string {
	return [...]string{"down", "running", "stopping"}[s]
}

// Crash-loop backoff (see README): a death within backoffWindow of the
// node's start doubles the previous delay, from at least backoffFloor, up
// to backoffCap.
const (
	backoffWindow = 10 * time.Second
	backoffFloor  = 100 * time.Millisecond
	backoffCap    = time.Minute
)

// node is one node process as the supervisor sees it. Only the manager's
// loop goroutine touches it.
type node struct {
	id    int
	state nodeState

	pid   int // for logs and /proc only: never signalled or waited on by number
	pidfd int // -1 when down
	pipe  int // read end of the health pipe; -1 when down or at EOF

	startedAt  time.Time
	lastReport time.Time // when the supervisor last read a valid status
	reported   bool      // a valid status arrived since this start
	status     int       // highest status seen since this start
	parser     healthParser
	garbage    int   // garbage lines since this start
	rss        int64 // VmRSS in bytes, read at the last report

	killAt    time.Time // stopping: when KILL is due
	killed    bool      // we sent KILL to this incarnation
	restartAt time.Time // down: when to spawn again (zero: never, e.g. while stopping)
	delay     time.Duration
	deaths    int
	restarts  int
	// forkFailures counts failed forks since the node last started.
	forkFailures int
	lastExit     exitStatus
	deferred     []unix.Signal // signals held back until the node has reported once

	// healthStop: the manager stopped this incarnation for stopStatus
	// (an unhealthy report or statusHanging), the cause of its exit.
	healthStop bool
	stopStatus int
	stats      nodeStats // super_stats.go; with -http only
}

// newNode is node id before its first start.
func newNode(id int) *node {
	return &node{id: id, pidfd: -1, pipe: -1, stats: nodeStats{fd: -1}}
}

// availableCPUs is the CPUs this process may use: the affinity mask and,
// since Go 1.25, a cgroup CPU limit too (through the runtime's default
// GOMAXPROCS), so a container limited to 2 CPUs on a 64-core host gets 2
// nodes by default, not 64. A GOMAXPROCS the user set for the supervisor
// counts as their word on it.
func availableCPUs() int {
	return runtime.GOMAXPROCS(0)
}

// start spawns the node with a fresh health pipe, and with withStats a
// stats pipe as its fd 4 (super_stats.go). The supervisor's copies of the
// write ends are closed at once, so EOF on a read end means every writer
// is gone. fork is superSys.spawn.
func (n *node) start(fork func(spawnSpec) (pid, pidfd int, err error), exe string, args, env []string, withStats bool, now time.Time) error {
	var p [2]int
	if err := unix.Pipe2(p[:], unix.O_CLOEXEC|unix.O_NONBLOCK); err != nil {
		return os.NewSyscallError("pipe2", err)
	}
	files := []uintptr{0, 1, 2, uintptr(p[1])}
	statsRead := -1
	if withStats {
		r, w, err := makeStatsPipe()
		if err != nil {
			unix.Close(p[0])
			unix.Close(p[1])
			return err
		}
		statsRead, files = r, append(files, uintptr(w))
	}
	pid, pidfd, err := fork(spawnSpec{
		path:  exe,
		argv:  append([]string{nodeTitle(n.id)}, args...), // procname.go
		env:   env,
		files: files,
	})
	// Our copies of the write ends go whatever happened. Linux releases
	// the fd even when close reports an error (EINTR included), and a
	// child that is running must be supervised, not dropped over it.
	for _, w := range files[healthFd:] {
		_ = unix.Close(int(w))
	}
	if err != nil {
		unix.Close(p[0])
		if statsRead >= 0 {
			unix.Close(statsRead)
		}
		return err
	}
	n.pid, n.pidfd, n.pipe = pid, pidfd, p[0]
	n.stats.fd, n.stats.parser, n.stats.fresh, n.stats.rate, n.stats.garbage = statsRead, statsParser{}, false, 0, 0
	n.healthStop, n.stopStatus = false, 0
	n.state = nodeRunning
	n.startedAt, n.lastReport = now, now
	n.reported, n.status, n.garbage, n.killed = false, statusHealthy, 0, false
	n.parser = healthParser{}
	n.restartAt, n.killAt = time.Time{}, time.Time{}
	n.deferred = n.deferred[:0]
	return nil
}

// readReports drains what the pipe holds now, bounded per call so one
// node flooding its pipe cannot starve the loop. eof is true when every
// writer has closed its end.
func (n *node) readReports(buf []byte) (highest int, ok bool, garbage int, eof bool, err error) {
	highest = -1
	for i := 0; i < readsPerWakeup; i++ {
		r, rerr := unix.Read(n.pipe, buf)
		switch {
		case rerr == unix.EINTR:
			continue
		case rerr == unix.EAGAIN:
			return highest, ok, garbage, false, nil
		case rerr != nil:
			return highest, ok, garbage, false, os.NewSyscallError("read", rerr)
		case r == 0:
			return highest, ok, garbage, true, nil
		}
		h, k, g := n.parser.feed(buf[:r])
		if k {
			ok = true
			highest = max(highest, h)
		}
		garbage += g
	}
	return highest, ok, garbage, false, nil
}

// signal sends sig through the pidfd with send (superSys.signal). Never by
// pid number.
func (n *node) signal(send func(pidfd int, sig unix.Signal) error, sig unix.Signal) error {
	if n.pidfd < 0 {
		return errors.New("signal node: not running")
	}
	if err := send(n.pidfd, sig); err != nil {
		return fmt.Errorf("signal node %d: %w", n.id, err)
	}
	return nil
}

// nextDelay is the crash-loop backoff rule: the first death waits exactly
// base; a death within backoffWindow of the node's start doubles the
// previous delay (at least backoffFloor, at most backoffCap, never below
// base); a node that ran longer goes back to base.
func nextDelay(base, prev, uptime time.Duration, deaths int) time.Duration {
	if deaths <= 1 || uptime >= backoffWindow {
		return base
	}
	d := max(2*prev, backoffFloor)
	return max(min(d, backoffCap), base)
}
