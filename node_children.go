//go:build linux

package main

// The node's side of adoption. A node is a child subreaper: whatever its
// handler commands orphan (a double fork, `setsid daemon &`, the children
// of a CMD that died) is reparented to the node, not to the supervisor or
// init. It lives as long as the node does (a handler may keep helpers),
// its zombies are reaped here, and every exit path the node controls kills
// the whole subtree first (sweepNodeChildren). When the node cannot (it was
// SIGKILLed, it crashed), its children go to the supervisor, which kills
// them (super_reaper.go).
//
// The handler commands themselves are reaped by their owners through their
// pidfds (node_cmd_process.go): the reaper here must leave them alone, so their
// pids are registered, under the same lock, from the fork on.

import (
	"log/slog"
	"os"
	"os/signal"
	"sync"
	"time"

	"golang.org/x/sys/unix"
)

// nodeChildren is the node's registry of handler commands not yet reaped
// by their owners. mu also serialises the adopted-orphan reaper with a
// handler's fork, so a CMD that exits at once is never taken for an orphan,
// and every reaping with a sweep, which must find each dead child unreaped
// (sweepChildren).
var nodeChildren = struct {
	mu       sync.Mutex
	handlers map[int]bool
	reaped   int // adopted orphans reaped, for the node's last log line
}{handlers: map[int]bool{}}

// forkHandler runs fork (a ForkExec of a handler command) and registers
// the pid it returns, with the reaper held off meanwhile.
func forkHandler(fork func() (int, error)) (int, error) {
	nodeChildren.mu.Lock()
	defer nodeChildren.mu.Unlock()
	pid, err := fork()
	if err == nil {
		nodeChildren.handlers[pid] = true
	}
	return pid, err
}

// reapHandler reaps a dead handler command for its owner and drops its
// pid, under mu: not while a sweep runs, which would otherwise miss what
// CMD left behind if CMD vanished between two of its reads.
func reapHandler(pidfd, pid int) (exitStatus, error) {
	nodeChildren.mu.Lock()
	defer nodeChildren.mu.Unlock()
	st, _, err := reap(pidfd)
	delete(nodeChildren.handlers, pid)
	return st, err
}

// adoptOrphans makes the node a child subreaper and reaps the zombies of
// what it adopts, at every SIGCHLD. SIGCHLD is notified before the prctl,
// so no adopted orphan can die unnoticed.
func adoptOrphans(log *slog.Logger) error {
	chld := make(chan os.Signal, 1)
	signal.Notify(chld, unix.SIGCHLD)
	if err := setChildSubreaper(); err != nil {
		signal.Stop(chld)
		return err
	}
	go func() {
		for range chld {
			reapNodeOrphans(log)
		}
	}()
	return nil
}

// reapNodeOrphans reaps every exited child that is not a handler command.
// Live ones are left alone: they may run as long as the node does.
func reapNodeOrphans(log *slog.Logger) {
	nodeChildren.mu.Lock()
	defer nodeChildren.mu.Unlock()
	kids, err := childPids()
	if err != nil {
		log.Warn("list adopted processes", "err", err)
		return
	}
	for _, k := range kids {
		if nodeChildren.handlers[k.pid] {
			continue
		}
		fd, exited, err := openChild(k.pid)
		if err != nil {
			continue // not ours (any more)
		}
		if exited {
			var info siginfoChld
			if err := waitidPidfd(fd, &info, unix.WEXITED|unix.WNOHANG); err != nil {
				log.Warn("reap adopted process", "orphan_pid", k.pid, "err", os.NewSyscallError("waitid", err))
			} else {
				nodeChildren.reaped++
			}
		}
		unix.Close(fd)
	}
}

// sweepNodeChildren kills everything the node started or adopted and
// waits (at most sweepTimeout) for it to die: the last thing on every exit
// path the node controls, so nothing it started outlives it. The handler
// commands are killed too, if still alive; zombies are left to whoever
// inherits them, the supervisor. Nothing is reaped meanwhile (mu held):
// the sweep's proof that nothing is left needs every death to stay in
// sight.
func sweepNodeChildren(log *slog.Logger) {
	nodeChildren.mu.Lock()
	killed, left, err := sweepChildren(time.Now().Add(sweepTimeout), nil)
	reaped := nodeChildren.reaped
	nodeChildren.mu.Unlock()
	switch {
	case err != nil:
		log.Error("swarm.node.children_swept", "err", err, "killed", killed, "orphans_reaped", reaped)
	case left > 0:
		log.Error("swarm.node.children_swept", "killed", killed, "still_alive", left, "orphans_reaped", reaped)
	default:
		log.Info("swarm.node.children_swept", "killed", killed, "orphans_reaped", reaped)
	}
}
