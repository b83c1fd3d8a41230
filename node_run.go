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
	tuneNodeGC()
	n, err := newNodeRun(args, sigs)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return nodeExitError
	}
	return n.run()
}

// nodeRun is one node process from its first report to its exit code. The
// main goroutine owns every field but the ones named otherwise: it runs
// the steps in run, then the watch loop, which alone decides when to stop.
type nodeRun struct {
	id, sup int
	cfg     *config
	log     *slog.Logger
	sigs    <-chan os.Signal
	routes  []*routeRun
	rep     *reporter
	// cmds are the handler commands; the orphan path and the shutdown
	// budget kill them from goroutines of their own.
	cmds handlerCommands
	// orphanOnce is the one Once left: the supervisor's pidfd and the
	// reporter's getppid check (two goroutines) can both see it gone, and
	// the second must wait for the first one's exit instead of sweeping
	// the same children at the same time (Do blocks it until then).
	orphanOnce sync.Once

	// stats is the stats writer, nil when the node sends none (-stats-
	// interval 0, or no stats pipe on fd 4).
	stats *statsWriter

	startQuiet bool          // SWARM_QUIET=1: spawned during a TSTP
	quiet      chan struct{} // closed when the node stops taking records
	cancel     context.CancelFunc
	done       chan *routeRun // a route's run has ended
	stopping   bool           // a stop signal came
	budgetSet  bool           // the shutdown budget timer runs
	remaining  int            // routes still running
	failed     *routeRun      // the first route that ended with an error
	handled    int64          // records handled by the routes that ended
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

// nodeIdentity is what the supervisor tells a node in its environment besides
// the routes and the flags: who it is and whom to watch.
type nodeIdentity struct {
	id, sup int
	quiet   bool
}

// readNodeIdentity reads the node's identity; anything malformed means it was
// not started by a supervisor.
func readNodeIdentity() (nodeIdentity, error) {
	idS, supS := os.Getenv(nodeIDEnv), os.Getenv(supervisorPIDEnv)
	id, idErr := strconv.Atoi(idS)
	sup, supErr := strconv.Atoi(supS)
	if idErr != nil || supErr != nil || id < 0 || sup < 1 {
		return nodeIdentity{}, fmt.Errorf("swarm node: bad SWARM_NODE_ID %q or SWARM_SUPERVISOR_PID %q", idS, supS)
	}
	return nodeIdentity{id: id, sup: sup, quiet: os.Getenv(quietEnv) == "1"}, nil
}

// newNodeRun reads the node's identity and config and names the process.
// Its errors are whole lines for stderr: there is no logger yet.
func newNodeRun(args []string, sigs <-chan os.Signal) (*nodeRun, error) {
	env, err := readNodeIdentity()
	if err != nil {
		return nil, err
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
		return nil, fmt.Errorf("swarm node %d: %w", env.id, err)
	}
	n := &nodeRun{id: env.id, sup: env.sup, cfg: cfg, sigs: sigs, startQuiet: env.quiet,
		quiet: make(chan struct{}), done: make(chan *routeRun, len(cfg.routes))}
	// Before the node opens anything: a free fd 4 must not be mistaken
	// for a pipe the node made itself.
	if cfg.statsInterval > 0 && openStatsPipe(statsFd) {
		n.stats = &statsWriter{fd: statsFd, build: n.statsLine}
	}
	n.log = newLogger(os.Stderr, cfg.logFormat, cfg.logLevel, "role", "node", "node", n.id, "pid", os.Getpid())
	if err := setProcName(nodeComm(n.id)); err != nil {
		n.log.Warn("name node process", "err", err)
	}
	// One consumer per route: its own client, poll loop, handler and
	// health, with log lines that name the route.
	now := time.Now()
	for i := range cfg.routes {
		r := &cfg.routes[i]
		rr := &routeRun{r: r, health: &nodeHealth{}, log: n.log.With("route", r.Index, "group", r.Group)}
		rr.health.polled(now)
		n.routes = append(n.routes, rr)
	}
	return n, nil
}

// run is the node's life in order; each step that fails ends it with 1.
func (n *nodeRun) run() int {
	// What the handlers fork is adopted by this node and dies with it:
	// the sweep is the last thing every return does (the os.Exit paths
	// sweep in killHandlers).
	if err := adoptOrphans(n.log); err != nil {
		n.log.Warn("adopt orphans: what handlers orphan goes to the supervisor instead", "err", err)
	}
	defer sweepNodeChildren(n.log)
	if err := watchSupervisor(n.sup, n.orphaned); err != nil {
		n.orphaned(err.Error())
	}
	if err := n.reportHealthy(); err != nil {
		n.log.Error("first health report", "err", err)
		return nodeExitError
	}
	n.log.Info("swarm.node.after_fork", "supervisor_pid", n.sup, "routes", n.routeIndexes())
	// Every handler before any Kafka client: a handler that cannot start
	// must not make the node join a group.
	if !n.startHandlers() || !n.startConsumers() {
		return nodeExitError
	}
	stopReports := make(chan struct{})
	defer close(stopReports)
	go n.rep.loop(stopReports, n.orphaned)
	if n.stats != nil {
		go n.stats.loop(n.cfg.statsInterval, stopReports, func(err error) {
			n.log.Warn("stats.stopped", "err", err)
		})
	}

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	n.cancel = cancel
	failures := n.cmds.failures(ctx)
	n.startRoutes(ctx)
	return n.watch(failures)
}

// reportHealthy creates the reporter over every route's health and sends
// its first report: a node that cannot report cannot be supervised.
func (n *nodeRun) reportHealthy() error {
	healths := make([]*nodeHealth, len(n.routes))
	for i, rr := range n.routes {
		healths[i] = rr.health
	}
	n.rep = &reporter{fd: healthFd, cfg: n.cfg, supervisor: n.sup, healths: healths, extraRSS: n.cmds.rss}
	return n.rep.write(statusHealthy)
}

// routeIndexes are the indexes of the routes this node runs, for its logs.
func (n *nodeRun) routeIndexes() []int {
	idx := make([]int, len(n.routes))
	for i, rr := range n.routes {
		idx[i] = rr.r.Index
	}
	return idx
}

// startHandlers starts every route's handler: a built-in, or its command.
// On a failure it logs why, closes what it started and returns false.
func (n *nodeRun) startHandlers() bool {
	for _, rr := range n.routes {
		var err error
		if len(rr.r.Command) == 0 {
			if rr.h, err = newHandler(rr.r.Handler, os.Stdout); err != nil {
				rr.log.Error("create handler", "err", err)
				n.closeHandlers()
				return false
			}
			continue
		}
		if err = n.cmds.start(n.cfg, rr, n.id); err != nil {
			rr.log.Error("start handler", "err", err)
			n.closeHandlers()
			return false
		}
	}
	return true
}

// closeHandlers ends what was started when the node cannot run: a
// command may not have its handler yet.
func (n *nodeRun) closeHandlers() {
	for _, rr := range n.routes {
		switch {
		case rr.proc != nil:
			_ = rr.proc.close()
		case rr.h != nil:
			_ = rr.h.close()
		}
	}
}

// startConsumers creates every route's group client (each joins on its
// first poll). On a failure it logs why, closes every client and handler
// and returns false.
func (n *nodeRun) startConsumers() bool {
	for _, rr := range n.routes {
		var err error
		if rr.c, err = newConsumer(n.cfg, rr.r, n.id, rr.health, rr.log); err != nil {
			rr.log.Error("start consumer", "err", err)
			n.closeClients()
			n.closeHandlers()
			return false
		}
		attach(rr)
		if rr.c.stats != nil {
			rr.health.stalled = rr.c.stalled
		}
		var inst any
		if n.cfg.instanceID != "" {
			inst = instanceID(n.cfg.instanceID, n.id, rr.r.Index)
		}
		rr.log.Info("route.started", "topics", rr.r.Topics, "client_id", rr.r.clientID(n.id), "instance_id", inst)
	}
	return true
}

// closeClients closes the clients made when the node cannot run.
func (n *nodeRun) closeClients() {
	for _, rr := range n.routes {
		if rr.c != nil {
			rr.c.cancel()
			rr.c.cl.Close()
		}
	}
}

// startRoutes runs every route's poll loop in a goroutine of its own.
func (n *nodeRun) startRoutes(ctx context.Context) {
	if n.startQuiet {
		n.goQuiet()
	}
	n.remaining = len(n.routes)
	for _, rr := range n.routes {
		go rr.run(ctx, n.quiet, n.done)
	}
}

// run consumes until ctx ends or the route fails, then reports on done.
// The client is closed (handled records committed) before the handler
// gets its stdin EOF, as with a single route.
func (rr *routeRun) run(ctx context.Context, quiet <-chan struct{}, done chan<- *routeRun) {
	rr.err = rr.c.run(ctx, quiet, rr.h)
	if cerr := rr.h.close(); cerr != nil && rr.err == nil {
		rr.err = cerr
	}
	done <- rr
}
