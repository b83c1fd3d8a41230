//go:build linux

package main

import (
	"context"
	"encoding/binary"
	"log/slog"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// The manager's state machine, driven in-process: the processes and the
// clock are fakes behind superSys (super_sys.go), everything else is the
// real code. Each test step is one or more loop turns (manager.turn) over
// what a zero-timeout epoll_wait on the manager's real epoll returns: the
// fake process's health pipe is a real pipe, and its pidfd a real eventfd
// that becomes readable when the process dies, so events and fds behave as
// they do with real nodes. Nothing sleeps; time moves only when a test says.

// managerConfig is the configuration every case runs with: n nodes and
// round timings. Set field by field, so it does not depend on which part of
// config holds each.
func managerConfig(nodes int) *config {
	cfg := &config{}
	cfg.nodes = nodes
	cfg.nodeRestartTimeout = time.Second
	cfg.nodeReportTimeout = 3 * time.Second
	cfg.shutdownTimeout = 5 * time.Second
	cfg.reportInterval = time.Second
	return cfg
}

// fakeProc is one node process as fakeSys plays it.
type fakeProc struct {
	node    int
	pid     int
	pidfd   int // an eventfd, readable once the process has died; or /dev/null, which epoll refuses
	report  int // write end of its health pipe; -1 once it died
	stats   int // write end of its stats pipe (fd 4) when its supervisor serves -http; else -1
	signals []unix.Signal
	exit    *exitStatus // how it ended; nil while it runs
	reaped  bool
}

// fakeSys is superSys with fake processes and a clock that moves only
// when the test moves it.
type fakeSys struct {
	t          *testing.T
	clock      time.Time
	procs      []*fakeProc // every process ever spawned, in order
	byPidfd    map[int]*fakeProc
	forkErr    error // when set, every spawn fails with it
	ignoreTERM bool  // processes live on after TERM; else TERM makes them exit 0
	unwatched  bool  // spawns hand out a pidfd that epoll refuses
	serving    bool  // the manager serves -http: every node gets a stats pipe
}

// superSys is the seam the manager gets.
func (f *fakeSys) superSys() superSys {
	return superSys{
		now:       func() time.Time { return f.clock },
		spawn:     f.spawn,
		signal:    f.signal,
		reap:      f.reap,
		reapDying: f.reapDying,
	}
}

// spawn starts a fake process: it keeps a copy of the health pipe's write
// end, as a node keeps fd 3, and reads its node id from its environment.
func (f *fakeSys) spawn(s spawnSpec) (pid, pidfd int, err error) {
	if f.forkErr != nil {
		return 0, -1, f.forkErr
	}
	p := &fakeProc{node: -1, pid: 100000 + len(f.procs), stats: -1}
	for _, kv := range s.env {
		if v, ok := strings.CutPrefix(kv, "SWARM_NODE_ID="); ok {
			p.node, _ = strconv.Atoi(v)
		}
	}
	if p.report, err = unix.FcntlInt(s.files[healthFd], unix.F_DUPFD_CLOEXEC, 0); err != nil {
		f.t.Fatalf("dup health pipe: %v", err)
	}
	if len(s.files) > statsFd {
		if p.stats, err = unix.FcntlInt(s.files[statsFd], unix.F_DUPFD_CLOEXEC, 0); err != nil {
			f.t.Fatalf("dup stats pipe: %v", err)
		}
	}
	if f.unwatched {
		p.pidfd, err = unix.Open("/dev/null", unix.O_RDONLY|unix.O_CLOEXEC, 0)
	} else {
		p.pidfd, err = unix.Eventfd(0, unix.EFD_CLOEXEC|unix.EFD_NONBLOCK)
	}
	if err != nil {
		f.t.Fatalf("fake pidfd: %v", err)
	}
	f.procs = append(f.procs, p)
	f.byPidfd[p.pidfd] = p
	return p.pid, p.pidfd, nil
}

// signal records sig; KILL ends the process, and so does TERM unless the
// processes ignore it. A dead process takes signals silently, as ESRCH is
// no error to sendSignal.
func (f *fakeSys) signal(pidfd int, sig unix.Signal) error {
	p := f.byPidfd[pidfd]
	p.signals = append(p.signals, sig)
	switch {
	case p.exit != nil:
	case sig == unix.SIGKILL:
		f.die(p, exitStatus{code: -1, signal: unix.SIGKILL})
	case sig == unix.SIGTERM && !f.ignoreTERM:
		f.die(p, exitStatus{code: nodeExitOK})
	}
	return nil
}

// die ends p: its pipe's write end closes (EOF for the manager) and its
// pidfd becomes readable.
func (f *fakeSys) die(p *fakeProc, st exitStatus) {
	if p.exit != nil {
		f.t.Fatalf("process %d died twice", p.pid)
	}
	p.exit = &st
	if err := unix.Close(p.report); err != nil {
		f.t.Fatalf("close health pipe: %v", err)
	}
	p.report = -1
	if p.stats >= 0 {
		if err := unix.Close(p.stats); err != nil {
			f.t.Fatalf("close stats pipe: %v", err)
		}
		p.stats = -1
	}
	if f.unwatched {
		return // nobody watches this pidfd
	}
	if _, err := unix.Write(p.pidfd, binary.NativeEndian.AppendUint64(nil, 1)); err != nil {
		f.t.Fatalf("write eventfd: %v", err)
	}
}

// reap collects p's exit once.
func (f *fakeSys) reap(pidfd int) (exitStatus, bool, error) {
	p := f.byPidfd[pidfd]
	if p.reaped {
		f.t.Fatalf("process %d reaped twice", p.pid)
	}
	if p.exit == nil {
		return exitStatus{}, false, nil
	}
	p.reaped = true
	return *p.exit, true, nil
}

// reapDying is the blocking reap: only ever of a process sent KILL.
func (f *fakeSys) reapDying(pidfd int) error {
	p := f.byPidfd[pidfd]
	if p.exit == nil {
		f.t.Fatalf("blocking reap of live process %d: it would hang", p.pid)
	}
	p.reaped = true
	return nil
}

// logRecorder keeps every record the manager logs.
type logRecorder struct{ recs []slog.Record }

func (l *logRecorder) Enabled(context.Context, slog.Level) bool { return true }
func (l *logRecorder) WithAttrs([]slog.Attr) slog.Handler       { return l }
func (l *logRecorder) WithGroup(string) slog.Handler            { return l }
func (l *logRecorder) Handle(_ context.Context, r slog.Record) error {
	l.recs = append(l.recs, r.Clone())
	return nil
}

// managerHarness is a manager on a fakeSys, driven by the test.
type managerHarness struct {
	t    *testing.T
	m    *manager
	sys  *fakeSys
	logs *logRecorder
}

// newManagerHarness builds a manager of n nodes the way newManager does,
// without what would change the test process itself (subreaper, signal
// handlers), and spawns every node as run does.
// setup, when not nil, prepares the fakes before that first spawn.
func newManagerHarness(t *testing.T, nodes int, setup func(*fakeSys)) *managerHarness {
	t.Helper()
	epfd, err := unix.EpollCreate1(unix.EPOLL_CLOEXEC)
	if err != nil {
		t.Fatal(err)
	}
	sys := &fakeSys{t: t, clock: time.Unix(1_000_000, 0), byPidfd: map[int]*fakeProc{}}
	if setup != nil {
		setup(sys)
	}
	logs := &logRecorder{}
	m := &manager{cfg: managerConfig(nodes), log: slog.New(logs), exe: "swarm", epfd: epfd, buf: make([]byte, readChunk), sys: sys.superSys()}
	if sys.serving {
		m.serving, m.statsBuf = true, make([]byte, statsChunk)
	}
	for i := 0; i < nodes; i++ {
		m.nodes = append(m.nodes, newNode(i))
	}
	h := &managerHarness{t: t, m: m, sys: sys, logs: logs}
	t.Cleanup(h.close)
	for _, n := range m.nodes {
		m.startNode(n, sys.clock)
	}
	h.settle()
	return h
}

// close releases every fd the manager and the fake processes still hold.
func (h *managerHarness) close() {
	for _, n := range h.m.nodes {
		if n.pidfd >= 0 {
			unix.Close(n.pidfd)
		}
		if n.pipe >= 0 {
			unix.Close(n.pipe)
		}
		if n.stats.fd >= 0 {
			unix.Close(n.stats.fd)
		}
	}
	for _, p := range h.sys.procs {
		if p.report >= 0 {
			unix.Close(p.report)
		}
		if p.stats >= 0 {
			unix.Close(p.stats)
		}
	}
	unix.Close(h.m.epfd)
}

// settle turns the loop until nothing is ready any more: every death and
// report the fakes made is handled, and every deadline due now fired.
func (h *managerHarness) settle() {
	h.t.Helper()
	events := make([]unix.EpollEvent, 2*len(h.m.nodes)+1)
	k := 0 // the first turn fires what is due even with nothing to read
	for i := 0; ; i++ {
		if i == 100 {
			h.t.Fatal("the loop never settled")
		}
		h.m.turn(events[:k])
		var err error
		for k, err = unix.EpollWait(h.m.epfd, events, 0); err == unix.EINTR; {
			k, err = unix.EpollWait(h.m.epfd, events, 0)
		}
		if err != nil {
			h.t.Fatal(err)
		}
		if k == 0 {
			return
		}
	}
}

// advance moves the clock on by d and lets the loop act on it.
func (h *managerHarness) advance(d time.Duration) {
	h.t.Helper()
	h.sys.clock = h.sys.clock.Add(d)
	h.settle()
}

// signal delivers a supervisor signal as the loop does.
func (h *managerHarness) signal(sig unix.Signal) {
	h.t.Helper()
	h.m.onSignal(sig, h.sys.clock)
	h.settle()
}

// proc is node id's latest process.
func (h *managerHarness) proc(id int) *fakeProc {
	h.t.Helper()
	for i := len(h.sys.procs) - 1; i >= 0; i-- {
		if p := h.sys.procs[i]; p.node == id {
			return p
		}
	}
	h.t.Fatalf("node %d was never spawned", id)
	return nil
}

// spawns is how many processes node id has had.
func (h *managerHarness) spawns(id int) int {
	k := 0
	for _, p := range h.sys.procs {
		if p.node == id {
			k++
		}
	}
	return k
}

// report has node id's process write status lines.
func (h *managerHarness) report(id int, lines string) {
	h.t.Helper()
	p := h.proc(id)
	if _, err := unix.Write(p.report, []byte(lines)); err != nil {
		h.t.Fatalf("node %d report: %v", id, err)
	}
	h.settle()
}

// reportAll has every live process report healthy.
func (h *managerHarness) reportAll() {
	h.t.Helper()
	for _, n := range h.m.nodes {
		if p := h.proc(n.id); p.exit == nil {
			h.report(n.id, "0\n")
		}
	}
}

// exit ends node id's process with st.
func (h *managerHarness) exit(id int, st exitStatus) {
	h.t.Helper()
	h.sys.die(h.proc(id), st)
	h.settle()
}

// wantState checks node id's state.
func (h *managerHarness) wantState(id int, want nodeState) {
	h.t.Helper()
	if got := h.m.nodes[id].state; got != want {
		h.t.Fatalf("node %d is %v, want %v", id, got, want)
	}
}

// wantSignals checks the signals node id's latest process got.
func (h *managerHarness) wantSignals(id int, want ...unix.Signal) {
	h.t.Helper()
	got := h.proc(id).signals
	if len(got) != len(want) {
		h.t.Fatalf("node %d's process got signals %v, want %v", id, got, want)
	}
	for i := range got {
		if got[i] != want[i] {
			h.t.Fatalf("node %d's process got signals %v, want %v", id, got, want)
		}
	}
}

// wantRestartIn checks that node id is down with its restart due in d.
func (h *managerHarness) wantRestartIn(id int, d time.Duration) {
	h.t.Helper()
	n := h.m.nodes[id]
	if n.state != nodeDown || n.restartAt.Sub(h.sys.clock) != d {
		h.t.Fatalf("node %d is %v with restart in %v, want down with restart in %v", id, n.state, n.restartAt.Sub(h.sys.clock), d)
	}
}

// wantExit checks that the graceful stop is complete with exit code code.
func (h *managerHarness) wantExit(code int) {
	h.t.Helper()
	if !h.m.stopped() {
		h.t.Fatalf("the stop is not complete")
	}
	if got := h.m.exitCode(); got != code {
		h.t.Fatalf("exit code %d, want %d", got, code)
	}
}

// logged is the attributes of every record with this message.
func (h *managerHarness) logged(msg string) []map[string]slog.Value {
	var out []map[string]slog.Value
	for _, r := range h.logs.recs {
		if r.Message != msg {
			continue
		}
		attrs := map[string]slog.Value{}
		r.Attrs(func(a slog.Attr) bool {
			attrs[a.Key] = a.Value
			return true
		})
		out = append(out, attrs)
	}
	return out
}

// TestManagerStateMachine drives the supervisor's rules with fake processes
// and a fake clock (nodeRestartTimeout 1 s, nodeReportTimeout 3 s,
// shutdownTimeout 5 s, reportInterval 1 s).
func TestManagerStateMachine(t *testing.T) {
	for _, tc := range []struct {
		doc   string
		nodes int
		setup func(*fakeSys) // before the nodes' first spawn
		run   func(h *managerHarness)
	}{
		{
			doc: "a crash restarts the node after nodeRestartTimeout; a crash soon after its start doubles the delay", nodes: 1,
			run: func(h *managerHarness) {
				h.report(0, "0\n")
				h.advance(2 * time.Second)
				h.exit(0, exitStatus{code: 1})
				h.wantRestartIn(0, time.Second)
				h.advance(time.Second - time.Millisecond)
				h.wantState(0, nodeDown)
				h.advance(time.Millisecond)
				h.wantState(0, nodeRunning)
				if h.spawns(0) != 2 || h.m.nodes[0].restarts != 1 {
					h.t.Fatalf("%d spawns, %d restarts; want 2 and 1", h.spawns(0), h.m.nodes[0].restarts)
				}
				h.exit(0, exitStatus{code: 1})
				h.wantRestartIn(0, 2*time.Second)
			},
		},
		{
			doc: "a node that misses its report deadline gets TERM, then KILL at shutdownTimeout, then a restart", nodes: 1,
			run: func(h *managerHarness) {
				h.sys.ignoreTERM = true
				h.advance(3*time.Second - time.Millisecond)
				h.wantSignals(0)
				h.advance(time.Millisecond)
				h.wantSignals(0, unix.SIGTERM)
				h.wantState(0, nodeStopping)
				if l := h.logged("swarm.manager.stopping"); len(l) != 1 || l[0]["status"].Int64() != statusHanging {
					h.t.Fatalf("stopping lines %v, want one with status %d", l, statusHanging)
				}
				h.advance(5*time.Second - time.Millisecond)
				h.wantSignals(0, unix.SIGTERM)
				h.advance(time.Millisecond)
				h.wantSignals(0, unix.SIGTERM, unix.SIGKILL)
				h.wantRestartIn(0, time.Second)
				h.advance(time.Second)
				h.wantState(0, nodeRunning)
			},
		},
		{
			doc: "an unhealthy report TERMs the node at once", nodes: 2,
			run: func(h *managerHarness) {
				h.report(0, "0\n")
				h.report(1, "0\n3\n")
				h.wantSignals(0)
				h.wantSignals(1, unix.SIGTERM)
			},
		},
		{
			doc: "a rolling restart takes one node down at a time and moves on once the replacement stayed healthy a report interval", nodes: 3,
			run: func(h *managerHarness) {
				h.sys.ignoreTERM = true
				h.reportAll()
				h.signal(unix.SIGHUP)
				for id := 0; id < 3; id++ {
					for other := id + 1; other < 3; other++ {
						h.wantSignals(other)
					}
					h.wantSignals(id, unix.SIGTERM)
					h.exit(id, exitStatus{code: nodeExitOK})
					h.wantState(id, nodeRunning) // back at once: no backoff
					h.report(id, "0\n")
					if id < 2 {
						h.wantSignals(id + 1) // a first report proves only a start
					}
					h.advance(time.Second)
					h.reportAll()
				}
				for id := 0; id < 3; id++ {
					if h.spawns(id) != 2 {
						h.t.Fatalf("node %d spawned %d times, want 2", id, h.spawns(id))
					}
					h.wantSignals(id)
				}
				if l := h.logged("swarm.manager.rolling_restart_done"); len(l) != 1 {
					h.t.Fatalf("%d rolling_restart_done lines, want 1", len(l))
				}
			},
		},
		{
			doc: "a HUP during a roll starts it over, leaving out the node being restarted", nodes: 3,
			run: func(h *managerHarness) {
				h.sys.ignoreTERM = true
				h.reportAll()
				h.signal(unix.SIGHUP)
				h.exit(0, exitStatus{code: nodeExitOK})
				h.report(0, "0\n")
				h.signal(unix.SIGHUP)
				if l := h.logged("swarm.manager.rolling_restart"); len(l) != 2 || !l[1]["restarted_roll"].Bool() {
					h.t.Fatalf("rolling_restart lines %v, want a second one with restarted_roll", l)
				}
				h.advance(time.Second)
				h.reportAll()
				h.wantSignals(0)
				h.wantSignals(1, unix.SIGTERM)
				h.wantSignals(2)
			},
		},
		{
			doc: "a crash during a roll holds it until the node is back", nodes: 2,
			run: func(h *managerHarness) {
				h.sys.ignoreTERM = true
				h.reportAll()
				h.exit(1, exitStatus{code: 1})
				h.signal(unix.SIGHUP)
				h.wantSignals(0)
				h.advance(time.Second) // node 1's restart
				h.reportAll()
				h.wantSignals(0, unix.SIGTERM)
				h.exit(0, exitStatus{code: nodeExitOK})
				h.wantState(0, nodeRunning)
			},
		},
		{
			doc: "a stop ends the roll and restarts nothing", nodes: 2,
			run: func(h *managerHarness) {
				h.sys.ignoreTERM = true
				h.reportAll()
				h.signal(unix.SIGHUP)
				h.signal(unix.SIGTERM)
				if h.m.roll.current != nil || len(h.m.roll.queue) > 0 {
					h.t.Fatalf("the roll goes on after the stop: %+v", h.m.roll)
				}
				h.wantSignals(0, unix.SIGTERM)
				h.wantSignals(1, unix.SIGTERM)
				h.exit(0, exitStatus{code: nodeExitOK})
				h.advance(time.Second) // a roll's restart would be due at once
				h.wantState(0, nodeDown)
				h.exit(1, exitStatus{code: nodeExitOK})
				if h.spawns(0) != 1 || h.spawns(1) != 1 {
					h.t.Fatalf("spawns %d, %d during a stop, want 1 each", h.spawns(0), h.spawns(1))
				}
				h.wantExit(exitOK)
			},
		},
		{
			doc: "a node that ignores TERM during a stop is KILLed at shutdownTimeout: exit 4", nodes: 1,
			run: func(h *managerHarness) {
				h.sys.ignoreTERM = true
				h.signal(unix.SIGTERM)
				h.advance(5*time.Second - time.Millisecond)
				h.wantState(0, nodeStopping)
				h.advance(time.Millisecond)
				h.wantSignals(0, unix.SIGTERM, unix.SIGKILL)
				h.wantExit(exitForced)
			},
		},
		{
			doc: "a second stop signal KILLs every node at once: exit 4", nodes: 2,
			run: func(h *managerHarness) {
				h.sys.ignoreTERM = true
				h.reportAll()
				h.signal(unix.SIGTERM)
				h.wantState(0, nodeStopping)
				h.signal(unix.SIGINT)
				h.wantSignals(0, unix.SIGTERM, unix.SIGKILL)
				h.wantSignals(1, unix.SIGTERM, unix.SIGKILL)
				h.wantExit(exitForced)
			},
		},
		{
			doc: "a node whose pidfd cannot be watched is KILLed, reaped and restarted with backoff", nodes: 1,
			setup: func(f *fakeSys) { f.unwatched = true },
			run: func(h *managerHarness) {
				p := h.proc(0)
				if !p.reaped || len(p.signals) != 1 || p.signals[0] != unix.SIGKILL {
					h.t.Fatalf("abandoned process: reaped %v, signals %v; want reaped after KILL", p.reaped, p.signals)
				}
				h.wantRestartIn(0, time.Second)
				h.sys.unwatched = false
				h.advance(time.Second)
				h.wantState(0, nodeRunning)
			},
		},
		{
			doc: "a failed fork is retried with backoff, logged once per step for the swarm", nodes: 2,
			setup: func(f *fakeSys) { f.forkErr = unix.EAGAIN },
			run: func(h *managerHarness) {
				h.wantRestartIn(0, time.Second)
				h.wantRestartIn(1, time.Second)
				h.advance(time.Second)
				h.wantRestartIn(0, 2*time.Second)
				h.advance(2 * time.Second)
				h.wantRestartIn(0, 4*time.Second)
				failed := h.logged("swarm.manager.fork_failed")
				if len(failed) != 3 {
					h.t.Fatalf("%d fork_failed lines for 3 steps of 2 nodes, want 3", len(failed))
				}
				for i, want := range []time.Duration{time.Second, 2 * time.Second, 4 * time.Second} {
					if got := failed[i]["restart_in"].Duration(); got != want {
						h.t.Fatalf("fork_failed %d: restart_in %v, want %v", i, got, want)
					}
				}
				h.sys.forkErr = nil
				h.advance(4 * time.Second)
				h.wantState(0, nodeRunning)
				h.wantState(1, nodeRunning)
				after := h.logged("swarm.manager.after_fork")
				if len(after) != 2 || after[0]["fork_failures"].Int64() != 3 {
					h.t.Fatalf("after_fork lines %v, want 2 with fork_failures 3", after)
				}
				if before := h.logged("swarm.manager.before_fork"); len(before) != 2 {
					h.t.Fatalf("%d before_fork lines, want 2: a retry is not news", len(before))
				}
			},
		},
	} {
		t.Run(tc.doc, func(t *testing.T) {
			tc.run(newManagerHarness(t, tc.nodes, tc.setup))
		})
	}
}

// TestStopExitCode checks how the nodes' ends during a graceful stop make
// the supervisor's exit code (README): 4 when some node had to be killed or
// overran its own shutdown, else 1 when some node failed, else 0.
func TestStopExitCode(t *testing.T) {
	clean := exitStatus{code: nodeExitOK}
	for _, tc := range []struct {
		doc   string
		exits []exitStatus // one per node, in order, after the TERM
		want  int
	}{
		{"every node exits 0", []exitStatus{clean, clean}, exitOK},
		{"TERM's default action is a clean end", []exitStatus{{code: -1, signal: unix.SIGTERM}, clean}, exitOK},
		{"a node that exits with an error fails the stop", []exitStatus{clean, {code: nodeExitError}}, exitFailure},
		{"a node killed by another signal fails the stop", []exitStatus{{code: -1, signal: unix.SIGSEGV}, clean}, exitFailure},
		{"a node out of its own shutdown time is forced, over a failure", []exitStatus{{code: nodeExitForced}, {code: nodeExitError}}, exitForced},
	} {
		t.Run(tc.doc, func(t *testing.T) {
			h := newManagerHarness(t, len(tc.exits), func(f *fakeSys) { f.ignoreTERM = true })
			h.signal(unix.SIGTERM)
			for id, st := range tc.exits {
				h.exit(id, st)
			}
			h.wantExit(tc.want)
		})
	}
}
