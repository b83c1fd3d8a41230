//go:build linux

package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sys/unix"
)

// Node exit codes (see README).
const (
	nodeExitOK       = 0
	nodeExitError    = 1
	nodeExitForced   = 2
	nodeExitOrphaned = 3
)

// runNode is a node's whole life: report, consume, stop when told.
func runNode(args []string) int {
	// First of all: until Notify runs, TERM, TSTP and TTIN keep their default
	// actions (terminate, stop the process).
	sigs := make(chan os.Signal, 8)
	signal.Notify(sigs, unix.SIGTERM, unix.SIGINT, unix.SIGQUIT, unix.SIGTSTP, unix.SIGTTIN)

	id, idErr := strconv.Atoi(os.Getenv("SWARM_NODE_ID"))
	sup, supErr := strconv.Atoi(os.Getenv("SWARM_SUPERVISOR_PID"))
	if idErr != nil || supErr != nil || id < 0 || sup < 1 {
		fmt.Fprintf(os.Stderr, "swarm node: bad SWARM_NODE_ID %q or SWARM_SUPERVISOR_PID %q\n",
			os.Getenv("SWARM_NODE_ID"), os.Getenv("SWARM_SUPERVISOR_PID"))
		return nodeExitError
	}
	// The supervisor passes every setting as a flag; the environment must
	// not change what it validated. The one exception is the SASL
	// password, which is never a flag (it would show in ps): the node
	// inherits SWARM_SASL_PASSWORD as the supervisor read it.
	cfg, err := parseConfig(args, func(name string) string {
		if name == saslPasswordEnv {
			return os.Getenv(name)
		}
		return ""
	})
	if err != nil {
		fmt.Fprintf(os.Stderr, "swarm node %d: %v\n", id, err)
		return nodeExitError
	}
	log := newLogger(os.Stderr, cfg.logFormat, cfg.logLevel, "role", "node", "node", id, "pid", os.Getpid())
	supervisorPid = sup

	// cmdHandler is the handler command, once started: every way out of
	// this process kills it first (os.Exit runs no defers), so CMD never
	// outlives its node, with Pdeathsig only as the backstop.
	var cmdHandler atomic.Pointer[execHandler]
	killHandler := func() {
		if eh := cmdHandler.Load(); eh != nil {
			eh.kill()
		}
	}
	orphaned := func(why string) {
		// No commit: the records in hand are delivered again to whoever
		// takes the partitions. Exiting at once is what stops the intake.
		log.Error("swarm.node.orphaned", "reason", why)
		killHandler()
		os.Exit(nodeExitOrphaned)
	}
	if err := watchSupervisor(sup, orphaned); err != nil {
		orphaned(err.Error())
	}

	health := &nodeHealth{}
	health.polled(time.Now())
	rep := &reporter{fd: healthFd, cfg: cfg, health: health}
	if err := rep.write(statusHealthy); err != nil {
		log.Error("first health report", "err", err)
		return nodeExitError
	}
	log.Info("swarm.node.after_fork", "supervisor_pid", sup)

	var h recordHandler
	var handlerFailed <-chan struct{} // nil for built-ins: never ready
	if len(cfg.command) > 0 {
		// Before the Kafka client: a handler that cannot start must not
		// make the node join the group.
		eh, err := startExecHandler(cfg, id, log, os.Stderr)
		if err != nil {
			log.Error("start handler", "err", err)
			return nodeExitError
		}
		cmdHandler.Store(eh)
		rep.extraRSS = eh.rss
		handlerFailed = eh.failed()
		h = eh
	} else if h, err = newHandler(cfg.handler, os.Stdout); err != nil {
		log.Error("create handler", "err", err)
		return nodeExitError
	}
	c, err := newConsumer(cfg, id, h, health, log)
	if err != nil {
		log.Error("start consumer", "err", err)
		_ = h.close()
		return nodeExitError
	}
	if eh := cmdHandler.Load(); eh != nil {
		// Output and dead-letter records go through the node's own client.
		eh.setProducer(c.cl)
	}

	stopReports := make(chan struct{})
	defer close(stopReports)
	go rep.loop(stopReports, orphaned)

	ctx, stop := context.WithCancel(context.Background())
	defer stop()
	quiet := make(chan struct{})
	var quietOnce sync.Once
	goQuiet := func() { quietOnce.Do(func() { close(quiet) }) }
	if os.Getenv("SWARM_QUIET") == "1" {
		goQuiet()
	}
	done := make(chan error, 1)
	go func() { done <- c.run(ctx, quiet) }()

	stopping := false
	for {
		select {
		case s := <-sigs:
			switch s {
			case unix.SIGTERM, unix.SIGINT, unix.SIGQUIT:
				if stopping {
					continue
				}
				stopping = true
				log.Info("app.stopping", "signal", unix.SignalName(s.(unix.Signal)))
				stop()
				// The node's own budget ends before the supervisor's KILL,
				// so an overrun is reported as exit 2, not a bare KILL.
				budget := cfg.shutdownTimeout * 9 / 10
				time.AfterFunc(budget, func() {
					log.Error("app.stopping.error", "err", "shutdown overran its budget", "budget", budget)
					killHandler()
					os.Exit(nodeExitForced)
				})
			case unix.SIGTSTP:
				goQuiet()
			case unix.SIGTTIN:
				writeDump(fmt.Sprintf("swarm node %d pid %d", id, os.Getpid()))
			}
		case <-handlerFailed:
			// CMD is gone or broken (handler.failed says why). A batch in
			// hand ends by itself; an idle consumer must be told. What was
			// done is committed, then the node exits 1.
			handlerFailed = nil
			stop()
		case err := <-done:
			if cerr := h.close(); cerr != nil && err == nil {
				err = cerr
			}
			if err != nil {
				log.Error("app.stopped", "err", err, "handled", c.handled.Load())
				return nodeExitError
			}
			if !stopping {
				log.Error("app.stopped", "err", "consumer ended without a stop signal")
				return nodeExitError
			}
			log.Info("app.stopped", "handled", c.handled.Load())
			return nodeExitOK
		}
	}
}
