//go:build linux

package main

import (
	"fmt"
	"log/slog"
	"os"
	"time"

	"golang.org/x/sys/unix"
)

// epoll tokens: 0 is the signal eventfd; node i owns 1+2i (pidfd) and 2+2i
// (health pipe). A token names a role, and the loop looks up the node's
// current fd, so an event for an fd closed earlier in the same batch is
// recognised as stale instead of touching a recycled fd number.
const tokenSignals = 0

func pidfdToken(id int) int32 { return int32(1 + 2*id) }
func pipeToken(id int) int32  { return int32(2 + 2*id) }

// manager is the supervisor: one goroutine runs loop and owns every field.
type manager struct {
	cfg   *config
	log   *slog.Logger
	exe   string
	args  []string
	env   []string
	cpus  int
	epfd  int
	sigs  *signalPipe
	nodes []*node
	buf   []byte

	quiet    bool
	stopping bool     // graceful stop in progress: no restarts, no health stops
	forced   bool     // some node had to be killed (or overran its own shutdown)
	failed   bool     // some node ended the shutdown with an error
	roll     roll     // super_roll.go
	sys      superSys // the processes and the clock: hostSys but in tests

	pid           int
	board         statusBoard
	heartbeat     time.Duration // with -http: the loop turns at least this often, so /healthz can tell a live loop from a wedged one
	serving       bool          // with -http: publish snapshots and read node RSS; without it, neither costs the loop anything
	orphansReaped int
	adopted       adoption      // super_reaper.go
	reapPending   bool          // reapOrphans stopped at its cap: go on at the next turn
	forkLog       forkLog       // the last fork_failed line (forkFailed)
	statsBuf      []byte        // with -http: one read of a stats pipe (super_stats.go)
	parts         partitionView // with -http: the swarm's partitions (super_partitions.go)
	// afterTurn, when set, runs on the loop's goroutine after every turn:
	// the demo's one way to act on the nodes (demo_kill.go) without
	// sharing the loop's state with another goroutine.
	afterTurn func()
}

// newManager prepares the loop (epoll, signal eventfd, child subreaper);
// no node is spawned before run.
// sigIn, when not nil, is a channel that already traps some stop signals
// (super_earlystop.go): what it caught before the manager existed is acted on.
func newManager(cfg *config, log *slog.Logger, exe string, args []string, sigIn chan os.Signal) (*manager, error) {
	if err := cloexecInherited(); err != nil {
		return nil, fmt.Errorf("mark inherited fds close-on-exec: %w", err)
	}
	epfd, err := unix.EpollCreate1(unix.EPOLL_CLOEXEC)
	if err != nil {
		return nil, os.NewSyscallError("epoll_create1", err)
	}
	m := &manager{
		cfg: cfg, log: log, exe: exe, args: args, env: os.Environ(), cpus: availableCPUs(),
		epfd: epfd, buf: make([]byte, readChunk), sys: hostSys, pid: os.Getpid(),
	}
	if cfg.httpAddr != "" {
		m.heartbeat, m.serving = httpHeartbeat, true
		m.statsBuf = make([]byte, statsChunk)
	}
	m.nameProcess() // procname.go
	// Orphans anywhere below us (a dead node's handler, say) are
	// reparented to us instead of to init: super_reaper.go kills and reaps them.
	if err := setChildSubreaper(); err != nil {
		unix.Close(epfd)
		return nil, err
	}
	m.sigs, err = newSignalPipe(sigIn)
	if err != nil {
		unix.Close(epfd)
		return nil, err
	}
	if err := m.watch(m.sigs.efd, tokenSignals); err != nil {
		m.sigs.stop()
		unix.Close(m.sigs.efd)
		unix.Close(epfd)
		return nil, err
	}
	for i := 0; i < cfg.nodes; i++ {
		m.nodes = append(m.nodes, newNode(i))
	}
	return m, nil
}

// watch adds fd to epoll for reading under token.
func (m *manager) watch(fd int, token int32) error {
	ev := unix.EpollEvent{Events: unix.EPOLLIN, Fd: token}
	if err := unix.EpollCtl(m.epfd, unix.EPOLL_CTL_ADD, fd, &ev); err != nil {
		return os.NewSyscallError("epoll_ctl add", err)
	}
	return nil
}

// unwatchClose removes fd from epoll before closing it: closing alone does
// not remove it while another descriptor (a fork in flight) shares the file.
func (m *manager) unwatchClose(fd int) {
	if err := unix.EpollCtl(m.epfd, unix.EPOLL_CTL_DEL, fd, nil); err != nil {
		m.log.Warn("epoll_ctl del", "fd", fd, "err", err)
	}
	if err := unix.Close(fd); err != nil {
		m.log.Warn("close", "fd", fd, "err", err)
	}
}

// run starts every node and supervises until a stop completes. It returns
// the supervisor's exit code.
func (m *manager) run() int {
	m.log.Info("app.supervising", "nodes", m.cfg.nodes, "group", m.cfg.routeGroups(), "topics", m.cfg.routeTopics(), "routes", len(m.cfg.routes))
	now := m.sys.now()
	for _, n := range m.nodes {
		m.startNode(n, now)
	}
	events := make([]unix.EpollEvent, 2*len(m.nodes)+1)
	for !m.stopped() {
		now := m.sys.now()
		if m.serving {
			m.publish(now)
		}
		k, err := unix.EpollWait(m.epfd, events, m.timeout(now))
		if err == unix.EINTR {
			continue // the timeout is recomputed from the clock
		}
		if err != nil {
			m.log.Error("epoll_wait", "err", err)
			m.killEverything()
			return exitFailure
		}
		m.turn(events[:k])
		if m.afterTurn != nil {
			m.afterTurn()
		}
	}
	return m.finish()
}

// turn handles what one epoll_wait returned, then what came due meanwhile:
// orphans left to reap, and every deadline that has passed.
func (m *manager) turn(events []unix.EpollEvent) {
	now := m.sys.now()
	for _, ev := range events {
		m.dispatch(ev.Fd, now)
	}
	if m.reapPending {
		m.reapOrphans()
	}
	m.fireDeadlines(m.sys.now())
}

// stopped says whether a graceful stop has completed: every node is down.
func (m *manager) stopped() bool {
	return m.stopping && m.allDown()
}

// allDown says whether no node process exists any more.
func (m *manager) allDown() bool {
	for _, n := range m.nodes {
		if n.state != nodeDown {
			return false
		}
	}
	return true
}

// timeout is the epoll_wait timeout in ms to the nearest deadline, rounded
// up so the loop never wakes early and spins; -1 when nothing is due.
func (m *manager) timeout(now time.Time) int {
	if m.reapPending {
		return 0
	}
	next, ok := m.nextDeadline()
	if m.heartbeat > 0 && (!ok || next.Sub(now) > m.heartbeat) {
		next, ok = now.Add(m.heartbeat), true
	}
	if !ok {
		return -1
	}
	d := next.Sub(now)
	if d <= 0 || m.reapPending {
		return 0
	}
	// epoll_wait takes an int of milliseconds: a deadline weeks away
	// (-node-restart-timeout=720h) must wake us early, not overflow into
	// a negative, infinite wait. Waking early just recomputes.
	const maxWait = 24 * time.Hour
	return int((min(d, maxWait) + time.Millisecond - 1) / time.Millisecond)
}

// nextDeadline is the earliest moment at which some node needs action.
func (m *manager) nextDeadline() (time.Time, bool) {
	var next time.Time
	for _, n := range m.nodes {
		t, ok := m.deadline(n)
		if ok && (next.IsZero() || t.Before(next)) {
			next = t
		}
	}
	return next, !next.IsZero()
}

// deadline is the one deadline a node has in its current state.
func (m *manager) deadline(n *node) (time.Time, bool) {
	switch n.state {
	case nodeRunning:
		if m.stopping {
			return time.Time{}, false
		}
		return n.lastReport.Add(m.cfg.nodeReportTimeout), true
	case nodeStopping:
		if n.killed {
			return time.Time{}, false // KILL sent; its pidfd will report the death
		}
		return n.killAt, true
	default:
		if m.stopping || n.restartAt.IsZero() {
			return time.Time{}, false
		}
		return n.restartAt, true
	}
}

// dispatch routes one epoll event to the signal queue, a node's exit or a
// node's reports, by token.
func (m *manager) dispatch(token int32, now time.Time) {
	if token == tokenSignals {
		for _, s := range m.sigs.drain() {
			m.onSignal(s.(unix.Signal), now)
		}
		return
	}
	id := int((token - 1) / 2)
	if id < 0 || id >= len(m.nodes) {
		m.log.Error("epoll event for unknown token", "token", token)
		return
	}
	n := m.nodes[id]
	if token == pidfdToken(id) {
		if n.pidfd >= 0 {
			m.onExit(n)
		}
		return
	}
	if n.pipe >= 0 {
		m.onReadable(n, now)
	}
}

// fireDeadlines acts on every deadline that has passed.
func (m *manager) fireDeadlines(now time.Time) {
	for _, n := range m.nodes {
		t, ok := m.deadline(n)
		if !ok || t.After(now) {
			continue
		}
		switch n.state {
		case nodeRunning:
			// A report may be waiting in the pipe while the loop was late
			// (stopped, starved, or busy with other events): read it before
			// judging the node hung, so a late loop never kills a healthy
			// node. The pipe is non-blocking; this reads only what is there.
			if n.pipe >= 0 {
				m.onReadable(n, now)
				if t, ok := m.deadline(n); n.state != nodeRunning || !ok || t.After(now) {
					continue
				}
			}
			m.stopNode(n, statusHanging, now)
		case nodeStopping:
			m.kill(n, now)
		case nodeDown:
			m.startNode(n, now)
		}
	}
}

// stopNode TERMs an unhealthy node and arms its KILL deadline.
func (m *manager) stopNode(n *node, status int, now time.Time) {
	m.log.Warn("swarm.manager.stopping", "node", n.id, "node_pid", n.pid, "status", status,
		"late_ms", m.lateness(n, status, now))
	if n.state == nodeRunning {
		n.healthStop, n.stopStatus = true, status // the cause of its exit (super_exits.go)
	}
	m.term(n, now)
}

// lateness is how far past its configured deadline a report-timeout stop
// fired: the figure that shows the loop has no polling tick.
func (m *manager) lateness(n *node, status int, now time.Time) float64 {
	if status != statusHanging {
		return 0
	}
	return float64(now.Sub(n.lastReport.Add(m.cfg.nodeReportTimeout)).Microseconds()) / 1000
}

// term sends TERM to a running node and arms its KILL deadline.
func (m *manager) term(n *node, now time.Time) {
	if n.state != nodeRunning {
		return
	}
	n.state = nodeStopping
	n.killAt = now.Add(m.cfg.shutdownTimeout)
	if err := n.signal(m.sys.signal, unix.SIGTERM); err != nil {
		m.log.Error("swarm.manager.term", "node", n.id, "node_pid", n.pid, "err", err)
	}
}

// kill sends KILL to a node; its pidfd then reports the death.
func (m *manager) kill(n *node, now time.Time) {
	late := 0.0
	if !n.killAt.IsZero() && !now.Before(n.killAt) { // early on a second stop signal: not late
		late = float64(now.Sub(n.killAt).Microseconds()) / 1000
	}
	m.log.Warn("swarm.manager.terminating", "node", n.id, "node_pid", n.pid, "late_ms", late)
	n.state = nodeStopping
	n.killed = true
	if err := n.signal(m.sys.signal, unix.SIGKILL); err != nil {
		m.log.Error("swarm.manager.kill", "node", n.id, "node_pid", n.pid, "err", err)
	}
}

// startNode starts a node (again) and watches its pidfd and health pipe.
func (m *manager) startNode(n *node, now time.Time) {
	late := 0.0
	if !n.restartAt.IsZero() {
		late = float64(now.Sub(n.restartAt).Microseconds()) / 1000
	}
	if n.forkFailures == 0 {
		// A retry after a failed fork is not news: the fork_failed line
		// said when it would come.
		m.log.Info("swarm.manager.before_fork", "node", n.id, "late_ms", late)
	}
	env := nodeEnv(m.env, n.id, m.cfg.nodes, m.cfg.memoryLimitMiB, m.quiet, m.cpus)
	if n.id < len(m.cfg.routeJSON) {
		// The routes this node runs, as resolved and checked at start.
		env = append(env, nodeRoutesEnv+"="+m.cfg.routeJSON[n.id])
	}
	ranBefore := n.pid != 0 // a node that never ran is not restarted by its first start
	if err := n.start(m.sys.spawn, m.exe, m.args, env, m.serving, now); err != nil {
		// Treated like a death at once, so the backoff keeps a failing
		// fork (EAGAIN, EMFILE, ENOMEM) from spinning.
		n.forkFailures++
		m.died(n, 0, now)
		m.forkFailed(n, err, now)
		return
	}
	forkFailures := n.forkFailures
	n.forkFailures = 0
	if err := m.watch(n.pidfd, pidfdToken(n.id)); err != nil {
		// Unwatched, its death would never be seen: take it back at once
		// (KILL, then a blocking reap: it is dying) and count a death.
		m.log.Error("watch node pidfd", "node", n.id, "node_pid", n.pid, "err", err)
		m.abandonStart(n, now)
		return
	}
	if err := m.watch(n.pipe, pipeToken(n.id)); err != nil {
		// Without its pipe the node looks hung and is stopped at its
		// report deadline: degraded, but supervised.
		m.log.Error("watch node pipe", "node", n.id, "node_pid", n.pid, "err", err)
	}
	if ranBefore {
		n.restarts++
	}
	if forkFailures > 0 {
		m.log.Info("swarm.manager.after_fork", "node", n.id, "node_pid", n.pid, "restarts", n.restarts, "fork_failures", forkFailures)
		return
	}
	m.log.Info("swarm.manager.after_fork", "node", n.id, "node_pid", n.pid, "restarts", n.restarts)
}

// forkLog is the last fork_failed line, so a failing fork is logged once
// per backoff step for the whole swarm: when fds or processes run out, every
// node's fork fails the same way, and a line per node and attempt (4 115
// lines in 6 s for 1 024 nodes) says nothing the first did not.
type forkLog struct {
	err        string
	delay      time.Duration
	at         time.Time
	suppressed int // failures not logged since that line
}

// forkFailed logs a failed fork unless a line with the same error was
// logged within the current backoff step (at least as long a delay, less
// than that delay ago); those are counted in the next line.
func (m *manager) forkFailed(n *node, err error, now time.Time) {
	f := &m.forkLog
	msg := err.Error()
	if msg == f.err && n.delay <= f.delay && now.Sub(f.at) < f.delay {
		f.suppressed++
		return
	}
	failing := 0
	for _, o := range m.nodes {
		if o.forkFailures > 0 {
			failing++
		}
	}
	m.log.Error("swarm.manager.fork_failed", "node", n.id, "err", err, "restart_in", n.delay,
		"attempts", n.forkFailures, "failing_nodes", failing, "suppressed", f.suppressed)
	*f = forkLog{err: msg, delay: n.delay, at: now}
}
