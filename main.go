//go:build linux

// Command swarm runs one Kafka consumer group as a supervised swarm of node
// processes: the supervisor (this process) re-executes itself once per node
// and watches every node through a pidfd and a health pipe in one epoll loop.
package main

import (
	"errors"
	"fmt"
	"os"
	"os/signal"
	"time"

	"golang.org/x/sys/unix"
)

// version is set at build time with -ldflags "-X main.version=...".
var version = "dev"

// Exit codes of the supervisor (see README).
const (
	exitOK      = 0
	exitFailure = 1
	exitUsage   = 2
	exitForced  = 4
)

// exitLogFlush bounds how long a process waits at exit for its queued log
// lines: a stderr nobody reads must not keep it alive.
const exitLogFlush = 2 * time.Second

func main() {
	code := run(os.Args[1:])
	flushLogs(exitLogFlush)
	os.Exit(code)
}

// run dispatches on the role: a process started by a supervisor (both
// identity variables set) is a node; anything else is a supervisor or demo.
func run(args []string) int {
	// A closed stdout or stderr (swarm ... | head) must give EPIPE on write,
	// not kill the supervisor and its nodes mid-batch: the Go runtime exits
	// on SIGPIPE for fds 1 and 2 unless the signal is being notified. Not
	// signal.Ignore: a handler command would inherit SIG_IGN across exec.
	signal.Notify(make(chan os.Signal, 1), unix.SIGPIPE)
	if os.Getenv(nodeIDEnv) != "" && os.Getenv(supervisorPIDEnv) != "" {
		// A node may wait a moment for its own log lines (its record
		// path is allowed to; its health reporter never logs), so a line
		// logged right before os.Exit is not lost.
		logWait = nodeLogWait
		return runNode(args)
	}
	cfg, err := parseConfig(args, os.Getenv)
	if err != nil {
		var ue *usageError
		if errors.As(err, &ue) {
			fmt.Fprintf(os.Stderr, "swarm: %v (run swarm -h for usage)\n", err)
			return exitUsage
		}
		fmt.Fprintf(os.Stderr, "swarm: %v\n", err)
		return exitFailure
	}
	switch {
	case cfg.help:
		printUsage(os.Stdout)
		return exitOK
	case cfg.version:
		fmt.Println("swarm", version)
		return exitOK
	}
	if err := probeKernel(); err != nil {
		fmt.Fprintf(os.Stderr, "swarm: %v\n", err)
		return exitUsage
	}
	if cfg.demo {
		return runDemo(cfg)
	}
	return supervise(cfg)
}

// supervise runs the swarm until it is stopped.
func supervise(cfg *config) int {
	fds, err := planFds(cfg.nodes, cfg.httpAddr != "")
	if err != nil {
		fmt.Fprintf(os.Stderr, "swarm: %v\n", err)
		var ue *usageError
		if errors.As(err, &ue) {
			return exitUsage
		}
		return exitFailure
	}
	early := trapEarlyStop()
	if stopped, err := early.preflight(cfg); stopped {
		log := newLogger(os.Stderr, cfg.logFormat, cfg.logLevel, "role", "supervisor", "pid", os.Getpid())
		log.Info("app.stopped", "signal", unix.SignalName(early.stoppedBy.(unix.Signal)), "reason", "stopped before any node was started")
		return exitOK
	} else if err != nil {
		fmt.Fprintf(os.Stderr, "swarm: %v\n", err)
		var ue *usageError
		if errors.As(err, &ue) {
			return exitUsage
		}
		return exitFailure
	}
	log := newLogger(os.Stderr, cfg.logFormat, cfg.logLevel, "role", "supervisor", "pid", os.Getpid())
	// /proc/self/exe, not os.Args[0]: it names this very binary even if the
	// file on disk was replaced or PATH says otherwise.
	m, err := newManager(cfg, log, "/proc/self/exe", cfg.nodeArgs(), early.sigs)
	if err != nil {
		log.Error("start supervisor", "err", err)
		return exitFailure
	}
	if cfg.httpAddr != "" {
		ln, err := serveStatus(cfg.httpAddr, &m.board, log, fds.httpConns)
		if err != nil {
			fmt.Fprintf(os.Stderr, "swarm: %v\n", err)
			return exitFailure
		}
		defer ln.Close()
	}
	return m.run()
}
