//go:build linux

package main

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"strconv"
	"sync"
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
	// The supervisor passes every node-level setting as a flag and the
	// node's routes in SWARM_NODE_ROUTES; the environment must not change
	// what it validated. The one exception is the SASL password, which is
	// never a flag (it would show in ps): the node inherits
	// SWARM_SASL_PASSWORD as the supervisor read it.
	cfg, err := parseNodeConfig(args, func(name string) string {
		if name == saslPasswordEnv {
			return os.Getenv(name)
		}
		return ""
	}, os.Getenv(nodeRoutesEnv))
	if err != nil {
		fmt.Fprintf(os.Stderr, "swarm node %d: %v\n", id, err)
		return nodeExitError
	}
	log := newLogger(os.Stderr, cfg.logFormat, cfg.logLevel, "role", "node", "node", id, "pid", os.Getpid())
	supervisorPid = sup
	if err := setProcName(nodeComm(id)); err != nil {
		log.Warn("name node process", "err", err)
	}
	// What the handlers fork is adopted by this node and dies with it:
	// the sweep is the last thing every return does (the os.Exit paths
	// below sweep in killHandlers).
	if err := adoptOrphans(log); err != nil {
		log.Warn("adopt orphans: what handlers orphan goes to the supervisor instead", "err", err)
	}
	defer sweepNodeChildren(log)

	// The handler commands, once started: every way out of this process
	// kills them first (os.Exit runs no defers), and then everything else
	// the node started or adopted, so nothing outlives the node, with
	// Pdeathsig and the supervisor's reaper as the backstops.
	var cmdMu sync.Mutex
	var cmdHandlers []*cmdProcess
	killHandlers := func() {
		cmdMu.Lock()
		for _, eh := range cmdHandlers {
			eh.kill()
		}
		cmdMu.Unlock()
		sweepNodeChildren(log)
	}
	// The supervisor's pidfd and the reporter's getppid check can both see
	// it gone: one of them sweeps and exits, the other waits for that exit
	// instead of sweeping the same children at the same time.
	var orphanOnce sync.Once
	orphaned := func(why string) {
		orphanOnce.Do(func() {
			// No commit: the records in hand are delivered again to whoever
			// takes the partitions. Exiting at once is what stops the intake.
			log.Error("swarm.node.orphaned", "reason", why)
			killHandlers()
			os.Exit(nodeExitOrphaned)
		})
	}
	if err := watchSupervisor(sup, orphaned); err != nil {
		orphaned(err.Error())
	}

	// One consumer per route: its own client, poll loop, handler and
	// health, with log lines that name the route.
	runs := make([]*routeRun, len(cfg.routes))
	healths := make([]*nodeHealth, len(cfg.routes))
	now := time.Now()
	for i := range cfg.routes {
		r := &cfg.routes[i]
		runs[i] = &routeRun{r: r, health: &nodeHealth{},
			log: log.With("route", r.Index, "group", r.Group)}
		runs[i].health.polled(now)
		healths[i] = runs[i].health
	}
	rep := &reporter{fd: healthFd, cfg: cfg, healths: healths}
	if err := rep.write(statusHealthy); err != nil {
		log.Error("first health report", "err", err)
		return nodeExitError
	}
	routeIdx := make([]int, len(cfg.routes))
	for i, r := range cfg.routes {
		routeIdx[i] = r.Index
	}
	log.Info("swarm.node.after_fork", "supervisor_pid", sup, "routes", routeIdx)

	// closeHandlers ends what was started when the node cannot run.
	closeHandlers := func() {
		for _, rr := range runs {
			if rr.proc != nil {
				_ = rr.proc.close()
			} else if rr.h != nil {
				_ = rr.h.close()
			}
		}
	}
	// Every handler before any Kafka client: a handler that cannot start
	// must not make the node join a group.
	for _, rr := range runs {
		if len(rr.r.Command) == 0 {
			if rr.h, err = newHandler(rr.r.Handler, os.Stdout); err != nil {
				rr.log.Error("create handler", "err", err)
				closeHandlers()
				return nodeExitError
			}
			continue
		}
		eh, err := startCmdProcess(cfg, rr.r, id, stderrPrefix(id, rr.r, cfg.totalRoutes), rr.log, os.Stderr)
		if err != nil {
			rr.log.Error("start handler", "err", err)
			closeHandlers()
			return nodeExitError
		}
		cmdMu.Lock()
		cmdHandlers = append(cmdHandlers, eh)
		cmdMu.Unlock()
		rr.proc = eh
	}
	if len(cmdHandlers) > 0 {
		ehs := append([]*cmdProcess(nil), cmdHandlers...)
		rep.extraRSS = func() int64 {
			var sum int64
			for _, eh := range ehs {
				sum += eh.rss()
			}
			return sum
		}
	}
	for _, rr := range runs {
		if rr.c, err = newConsumer(cfg, rr.r, id, rr.health, rr.log); err != nil {
			rr.log.Error("start consumer", "err", err)
			for _, o := range runs {
				if o.c != nil {
					o.c.cancel()
					o.c.cl.Close()
				}
			}
			closeHandlers()
			return nodeExitError
		}
		if rr.proc != nil {
			// Output and dead-letter records go through the route's own client.
			rr.h = newCmdHandler(rr.proc, rr.r, rr.c.cl)
		}
		var inst any
		if cfg.instanceID != "" {
			inst = instanceID(cfg.instanceID, id, rr.r.Index)
		}
		rr.log.Info("route.started", "topics", rr.r.Topics, "client_id", rr.r.clientID(id), "instance_id", inst)
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
	// handlerFailed closes when any route's CMD has failed: that node
	// stops whole (what every route handled is committed), exits 1 and is
	// restarted with all its routes.
	handlerFailed := make(chan struct{})
	var failOnce sync.Once
	for _, eh := range cmdHandlers {
		go func(failed <-chan struct{}) {
			select {
			case <-failed:
				failOnce.Do(func() { close(handlerFailed) })
			case <-ctx.Done():
			}
		}(eh.failed())
	}
	done := make(chan *routeRun, len(runs))
	for _, rr := range runs {
		go func() {
			// The client is closed (handled records committed) before the
			// handler gets its stdin EOF, as with a single route.
			rr.err = rr.c.run(ctx, quiet, rr.h)
			if cerr := rr.h.close(); cerr != nil && rr.err == nil {
				rr.err = cerr
			}
			done <- rr
		}()
	}

	// beginStop cancels every route and arms the node's own shutdown
	// budget, whatever started the stop (a signal, a failed handler, a
	// route that ended): no path may leave the node waiting on a stuck
	// batch with no deadline. The budget ends before the supervisor's KILL,
	// so an overrun is reported as exit 2, not a bare KILL.
	var stopOnce sync.Once
	beginStop := func() {
		stop()
		stopOnce.Do(func() {
			budget := cfg.shutdownTimeout * 9 / 10
			time.AfterFunc(budget, func() {
				log.Error("app.stopping.error", "err", "shutdown overran its budget", "budget", budget)
				killHandlers()
				os.Exit(nodeExitForced)
			})
		})
	}
	stopping := false
	remaining := len(runs)
	var failed *routeRun // the first route that ended with an error
	var handled int64
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
				beginStop()
			case unix.SIGTSTP:
				goQuiet()
			case unix.SIGTTIN:
				go writeDump(fmt.Sprintf("swarm node %d pid %d", id, os.Getpid()))
			}
		case <-handlerFailed:
			// A CMD is gone or broken (handler.failed says why). A batch in
			// hand ends by itself; an idle consumer must be told. What was
			// done is committed, then the node exits 1.
			handlerFailed = nil
			beginStop()
		case rr := <-done:
			remaining--
			n := rr.c.handled.Load()
			handled += n
			if rr.err != nil {
				rr.log.Error("route.stopped", "err", rr.err, "handled", n)
				if failed == nil {
					failed = rr
				}
			} else {
				rr.log.Info("route.stopped", "handled", n)
			}
			// One route ending takes the node down: the others stop,
			// commit what they handled, and the node is restarted whole.
			beginStop()
			if remaining > 0 {
				continue
			}
			if failed != nil {
				log.Error("app.stopped", "err", failed.err, "route", failed.r.Index, "group", failed.r.Group, "handled", handled)
				return nodeExitError
			}
			if !stopping {
				log.Error("app.stopped", "err", "consumer ended without a stop signal", "handled", handled)
				return nodeExitError
			}
			log.Info("app.stopped", "handled", handled)
			return nodeExitOK
		}
	}
}

// routeRun is one route as a node runs it.
type routeRun struct {
	r      *route
	log    *slog.Logger
	h      recordHandler
	proc   *cmdProcess // the route's CMD, when it has one; h is built around it with the route's client
	health *nodeHealth
	c      *consumer
	err    error // how run ended; read after it is sent on done
}
