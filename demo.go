//go:build linux

package main

// The demo: an embedded kfake broker, a topic full of sample orders, and the
// real swarm (this process as supervisor, nodes re-executed from
// /proc/self/exe) consuming it, with progress measured from the broker side
// so it shows what the group has committed, not what nodes claim.

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
	"golang.org/x/sys/unix"
)

// Demo defaults, used for every setting the user did not give.
const (
	demoTopic      = "demo-orders"
	demoPartitions = 8
	demoGroup      = "swarm-demo"
	// demoBurn is SHA-256 rounds per record: about 100 µs of CPU on a
	// 2020s x86 core, so the default 200 000 records keep two nodes on two
	// cores busy for roughly 10-20 s.
	demoBurn = 1000
	// demoTick is how often progress is measured; commits land about once
	// a second (the nodes' auto-commit interval), so faster is pointless.
	demoTick = 250 * time.Millisecond
	// demoPlainEvery spaces progress lines when output is not a terminal.
	demoPlainEvery = 2 * time.Second
	// demoRateWindow smooths records/s over the 1 s commit steps.
	demoRateWindow = 3 * time.Second
	// demoSettleWait bounds how long a finished demo waits for a settled
	// group before it stops anyway (a node that never joins, say).
	demoSettleWait = 15 * time.Second
)

// runDemo fills a topic and runs the swarm over it until every record is
// committed (or the user stops it), then prints a summary. It returns the
// manager's exit code. With -bootstrap given it uses that cluster instead
// of starting its own broker.
func runDemo(cfg *config) int {
	// validate gave the demo its defaults (demoDefaults) and resolved its
	// one route, the flag route with those defaults.
	setup := trapDemoSetup()
	defer setup.end()
	fail := setup.fail

	closeBroker, err := startDemoBroker(cfg)
	if err != nil {
		return fail(err)
	}
	defer closeBroker()
	cl, err := kgo.NewClient(append([]kgo.Opt{kgo.SeedBrokers(cfg.bootstrap...), kgo.DefaultProduceTopic(cfg.topics[0])},
		cfg.auth.kgoOpts()...)...)
	if err != nil {
		return fail(fmt.Errorf("create demo client: %w", err))
	}
	defer cl.Close()

	filled := time.Now()
	if err := fillDemo(setup.ctx, cl, cfg.demoRecords); err != nil {
		return fail(err)
	}
	p, err := newDemoProgress(setup.ctx, kadm.NewClient(cl), cfg, os.Stdout)
	if err != nil {
		return fail(err)
	}
	fds, err := demoStatusAddr(cfg)
	if err != nil {
		fmt.Fprintf(os.Stderr, "swarm: %v\n", err)
		if errors.As(err, new(*usageError)) {
			return exitUsage
		}
		return exitFailure
	}
	fmt.Fprintf(p.out, "swarm demo: %d records in %s (filled in %.1fs, broker %s); %d nodes, handler %s, group %s\n",
		p.total, strings.Join(cfg.topics, ","), time.Since(filled).Seconds(), strings.Join(cfg.bootstrap, ","),
		cfg.nodes, cfg.handler, cfg.group)

	m, closeStatus, err := p.startSwarm(fds)
	if err != nil {
		return fail(err)
	}
	defer closeStatus()
	// Only now: the manager's own registration takes the next signal.
	setup.cancel()
	return p.watch(m)
}

// startSwarm prepares the swarm as supervise() does, always with the
// status endpoint (its URL printed), and with the demo's kill hooked into
// the manager's loop. The returned function closes the endpoint.
func (p *demoProgress) startSwarm(fds fdPlan) (*manager, func(), error) {
	log := newLogger(os.Stderr, p.cfg.logFormat, p.cfg.logLevel, "role", "supervisor", "pid", os.Getpid())
	m, err := newManager(p.cfg, log, "/proc/self/exe", p.cfg.nodeArgs(), nil)
	if err != nil {
		return nil, nil, fmt.Errorf("start supervisor: %w", err)
	}
	ln, err := serveStatus(p.cfg.httpAddr, &m.board, log, fds.httpConns)
	if err != nil {
		return nil, nil, err
	}
	fmt.Fprintf(p.out, "swarm demo: status page %s\n", demoURL(ln.Addr()))
	m.afterTurn = func() { p.kill.killer.afterTurn(m) }
	return m, func() { ln.Close() }, nil
}

// demoStatusAddr gives the demo its status endpoint: -http as given, or a
// free loopback port. The fd budget is checked as supervise checks it,
// with the broker's and the demo client's fds already open.
func demoStatusAddr(cfg *config) (fdPlan, error) {
	if !cfg.given["http"] {
		cfg.httpAddr = "127.0.0.1:0"
	}
	return planFds(cfg.nodes, true)
}

// demoURL is the status page's address for a browser: an unspecified
// listen address (-http :8080) is reachable on loopback.
func demoURL(addr net.Addr) string {
	ta, ok := addr.(*net.TCPAddr)
	if !ok {
		return "http://" + addr.String() + "/"
	}
	host := ta.IP
	if host.IsUnspecified() {
		host = net.IPv4(127, 0, 0, 1)
	}
	return "http://" + net.JoinHostPort(host.String(), strconv.Itoa(ta.Port)) + "/"
}

// demoSetup is the demo before its swarm runs: TERM or INT cancel ctx,
// which aborts the filling and the broker waits.
type demoSetup struct {
	ctx    context.Context
	cancel context.CancelFunc
	sigs   chan os.Signal
}

// trapDemoSetup registers TERM and INT for the demo's whole life: before the
// manager exists they must abort the setup, and after the manager's
// signal.Stop our SIGTERM to ourselves (sent when all is consumed) could
// otherwise meet the default action and kill us.
func trapDemoSetup() *demoSetup {
	s := &demoSetup{sigs: make(chan os.Signal, 1)}
	signal.Notify(s.sigs, unix.SIGINT, unix.SIGTERM)
	s.ctx, s.cancel = context.WithCancel(context.Background())
	go func() {
		select {
		case <-s.sigs:
			s.cancel()
		case <-s.ctx.Done():
		}
	}()
	return s
}

// end releases the signals and the setup context.
func (s *demoSetup) end() {
	signal.Stop(s.sigs)
	s.cancel()
}

// fail is the demo's exit for a setup error: a stop signal during setup is
// a graceful stop (nothing went wrong), anything else is a failure.
func (s *demoSetup) fail(err error) int {
	if s.ctx.Err() != nil {
		fmt.Fprintln(os.Stdout, "swarm demo: interrupted before the swarm started")
		return exitOK
	}
	fmt.Fprintf(os.Stderr, "swarm demo: %v\n", err)
	return exitFailure
}

// startDemoBroker starts the embedded kfake broker unless -bootstrap names a
// cluster, and points cfg at it. The returned function closes it.
func startDemoBroker(cfg *config) (func(), error) {
	if cfg.given["bootstrap"] {
		return func() {}, nil
	}
	// No Ports option: kfake listens on a free loopback port.
	broker, err := kfake.NewCluster(
		kfake.NumBrokers(1),
		kfake.SeedTopics(demoPartitions, cfg.topics...),
		kfake.GroupMinSessionTimeout(100*time.Millisecond),
		kfake.AllowAutoTopicCreation(),
	)
	if err != nil {
		return nil, fmt.Errorf("start broker: %w", err)
	}
	cfg.bootstrap = broker.ListenAddrs()
	return broker.Close, nil
}

// watch runs the swarm with the progress display beside it and prints the
// summary once the manager has stopped; it returns the manager's exit code.
func (p *demoProgress) watch(m *manager) int {
	p.began = time.Now()
	stop, stopped := make(chan struct{}), make(chan struct{})
	go func() { defer close(stopped); p.run(stop) }()
	code := m.run()
	close(stop)
	<-stopped
	for len(p.kill.killer.out) > 0 { // what the loop said after run returned
		p.onKill(<-p.kill.killer.out)
	}

	// Measured once more after every node's final commit, so an
	// interrupted demo reports what was really committed.
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	p.measure(ctx)
	p.summary(m)
	return code
}

// demoDefaults fills in the demo's choices for every setting the user left
// alone; what the user gave wins.
func demoDefaults(cfg *config) {
	set := func(name string, apply func()) {
		if !cfg.given[name] {
			apply()
		}
	}
	set("topics", func() { cfg.topics = []string{demoTopic} })
	set("group", func() { cfg.group = demoGroup })
	set("handler", func() { cfg.handler = "burn=" + strconv.Itoa(demoBurn) })
	set("report-interval", func() { cfg.reportInterval = time.Second })
	// Info logs of the supervisor and every node would scroll the progress
	// line away; warnings still show.
	set("log-level", func() { cfg.logLevel = "warn" })
}

// fillDemo produces n sample orders into the client's default topic and
// waits until every one is acknowledged.
func fillDemo(ctx context.Context, cl *kgo.Client, n int) error {
	var mu sync.Mutex
	var first error
	for i := 0; i < n && ctx.Err() == nil; i++ {
		r := &kgo.Record{
			Key:   []byte("customer-" + strconv.Itoa(i%997)),
			Value: fmt.Appendf(nil, `{"order":%d,"customer":%d,"amount_cents":%d}`, i, i%997, 100+i*7919%100000),
		}
		cl.Produce(ctx, r, func(_ *kgo.Record, err error) {
			if err != nil {
				mu.Lock()
				if first == nil {
					first = err
				}
				mu.Unlock()
			}
		})
	}
	if err := cl.Flush(ctx); err != nil {
		return fmt.Errorf("flush demo records: %w", err)
	}
	mu.Lock()
	defer mu.Unlock()
	if first != nil {
		return fmt.Errorf("produce demo records: %w", first)
	}
	return ctx.Err()
}

// rateSample is the consumed count at one moment, for records/s.
type rateSample struct {
	at       time.Time
	consumed int64
}

// demoProgress measures the group's committed offsets against the log's
// bounds. Only its own goroutine touches it until run has returned.
type demoProgress struct {
	adm   *kadm.Client
	cfg   *config
	out   *os.File
	tty   bool
	start map[topicPartition]int64 // log start offsets when the swarm began
	end   map[topicPartition]int64 // end offsets after filling: the goal
	total int64

	began, doneAt time.Time // doneAt: when the last record was committed
	settled       bool      // every node is in the group and every partition is assigned
	committed     map[topicPartition]int64
	owner         map[topicPartition]int // node that last held the partition
	perNode       []int64
	// pending: committed before any node was seen holding the partition,
	// credited to the first node seen holding it (attribute).
	pending  map[topicPartition]int64
	consumed int64
	samples  []rateSample
	kill     demoStandstill // demo_kill.go
}

// newDemoProgress reads the topics' bounds once; records produced later
// (there are none in the demo) would not count.
func newDemoProgress(ctx context.Context, adm *kadm.Client, cfg *config, out *os.File) (*demoProgress, error) {
	starts, err := adm.ListStartOffsets(ctx, cfg.topics...)
	if err == nil {
		err = starts.Error()
	}
	if err != nil {
		return nil, fmt.Errorf("list start offsets: %w", err)
	}
	ends, err := adm.ListEndOffsets(ctx, cfg.topics...)
	if err == nil {
		err = ends.Error()
	}
	if err != nil {
		return nil, fmt.Errorf("list end offsets: %w", err)
	}
	p := &demoProgress{
		adm: adm, cfg: cfg, out: out, tty: isTerminal(out),
		start: map[topicPartition]int64{}, end: map[topicPartition]int64{},
		committed: map[topicPartition]int64{}, owner: map[topicPartition]int{},
		perNode: make([]int64, cfg.nodes), pending: map[topicPartition]int64{},
		kill: demoStandstill{killer: newDemoKiller(cfg.nodes)},
	}
	starts.Each(func(o kadm.ListedOffset) { p.start[topicPartition{o.Topic, o.Partition}] = o.Offset })
	ends.Each(func(o kadm.ListedOffset) {
		tp := topicPartition{o.Topic, o.Partition}
		p.end[tp] = o.Offset
		p.committed[tp] = p.start[tp]
		p.total += o.Offset - p.start[tp]
	})
	return p, nil
}

// isTerminal says whether f is a terminal, the condition for redrawing one
// line in place instead of printing a line per update.
func isTerminal(f *os.File) bool {
	_, err := unix.IoctlGetTermios(int(f.Fd()), unix.TCGETS)
	return err == nil
}

// run measures every demoTick and shows progress until stop is closed or
// every record is committed; then it asks the manager to stop, once the
// group is settled: a node stopped while its JoinGroup is in flight waits,
// inside franz-go's Close, until the broker ends that rebalance, which
// with static members that never rejoin takes the whole rebalance timeout
// (60 s). A small demo finishes before the last node has even joined.
func (p *demoProgress) run(stop <-chan struct{}) {
	t := time.NewTicker(demoTick)
	defer t.Stop()
	var printed time.Time
	for {
		select {
		case <-stop:
			if p.tty {
				fmt.Fprintln(p.out) // keep the last progress line above the summary
			}
			return
		case ev := <-p.kill.killer.out:
			p.onKill(ev) // demo_kill.go
			continue
		case <-t.C:
		}
		p.measureNow()
		now := time.Now()
		p.maybeWant()
		p.trackStandstill(now)
		if p.consumed >= p.total && p.doneAt.IsZero() {
			p.doneAt = now
		}
		done := !p.doneAt.IsZero() && (p.settled && p.killSettled() || now.Sub(p.doneAt) >= demoSettleWait)
		switch {
		case p.tty:
			p.drawLine()
		case done || now.Sub(printed) >= demoPlainEvery:
			printed = now
			fmt.Fprintln(p.out, "progress: "+p.line())
		}
		if done {
			if p.tty {
				fmt.Fprintln(p.out)
			}
			// The manager's ordinary graceful stop, through its own signal
			// pipe and loop: no second way to stop it. It is our own pid.
			if err := unix.Kill(os.Getpid(), unix.SIGTERM); err != nil {
				fmt.Fprintf(os.Stderr, "swarm demo: stop swarm: %v\n", err)
			}
			return
		}
	}
}

// measureNow is measure with the tick's own deadline.
func (p *demoProgress) measureNow() {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	p.measure(ctx)
}

// measure reads committed offsets and the group's assignment from the
// broker. A failed read (the group does not exist yet) keeps the last view.
// Newly committed records are credited to the node that held the partition
// at the previous look, so a partition that moves in a rebalance is mostly
// credited right; it is an estimate, the total is exact.
func (p *demoProgress) measure(ctx context.Context) {
	offs, err := p.adm.FetchOffsets(ctx, p.cfg.group)
	if err != nil {
		return
	}
	current, members := p.groupOwners(ctx)
	p.consumed = 0
	for tp, end := range p.end {
		c := p.committed[tp]
		if o, ok := offs.Lookup(tp.topic, tp.partition); ok && o.Err == nil && o.At >= 0 {
			c = min(max(o.At, c), end) // commits only move forward here
		}
		p.attribute(tp, c-p.committed[tp], current)
		p.committed[tp] = c
		p.consumed += c - p.start[tp]
	}
	// Between the two rounds of a cooperative rebalance the group is
	// Stable with revoked partitions unassigned: all must be held.
	p.settled = members == p.cfg.nodes && p.seeOwners(current) == len(p.end)
	now := time.Now()
	p.samples = append(p.samples, rateSample{now, p.consumed})
	for len(p.samples) > 2 && now.Sub(p.samples[1].at) >= demoRateWindow {
		p.samples = p.samples[1:]
	}
}

// attribute credits delta records newly committed on tp to the node that
// held tp at the previous look, else to the one holding it now; a
// partition no node was seen holding yet (its first owner left before a
// look found it) waits in pending for the first node seen holding it, so
// every committed record is credited to some node.
func (p *demoProgress) attribute(tp topicPartition, delta int64, current map[topicPartition]int) {
	if delta <= 0 {
		return
	}
	id, ok := p.owner[tp]
	if !ok {
		id, ok = current[tp]
	}
	if ok {
		p.perNode[id] += delta
	} else {
		p.pending[tp] += delta
	}
}

// seeOwners records who holds each partition now, credits what waited in
// pending for its partition's first holder, and says how many of the
// demo's partitions are held.
func (p *demoProgress) seeOwners(current map[topicPartition]int) int {
	assigned := 0
	for tp, id := range current {
		p.owner[tp] = id
		p.perNode[id] += p.pending[tp]
		delete(p.pending, tp)
		if _, ok := p.end[tp]; ok {
			assigned++
		}
	}
	return assigned
}

// groupOwners is which node holds each partition now, from the group's
// member assignments, and how many members a Stable group has.
func (p *demoProgress) groupOwners(ctx context.Context) (map[topicPartition]int, int) {
	current := map[topicPartition]int{}
	members := 0
	groups, err := p.adm.DescribeGroups(ctx, p.cfg.group)
	if err != nil {
		return current, 0
	}
	for _, g := range groups {
		if g.State == "Stable" {
			members += len(g.Members)
		}
		for _, mem := range g.Members {
			id, ok := demoNodeID(p.cfg.group, mem.ClientID)
			a, isConsumer := mem.Assigned.AsConsumer()
			if !ok || id >= len(p.perNode) || !isConsumer {
				continue
			}
			for _, t := range a.Topics {
				for _, part := range t.Partitions {
					current[topicPartition{t.Topic, part}] = id
				}
			}
		}
	}
	return current, members
}

// demoNodeID reads the node id out of a client id "<group>-node-<id>".
func demoNodeID(group, clientID string) (int, bool) {
	s, ok := strings.CutPrefix(clientID, group+"-node-")
	if !ok {
		return 0, false
	}
	id, err := strconv.Atoi(s)
	return id, err == nil && id >= 0
}

// line is one progress report: consumed/total, records/s, per node.
func (p *demoProgress) line() string {
	var b strings.Builder
	pct := 100 * float64(p.consumed) / float64(max(p.total, 1))
	fmt.Fprintf(&b, "%d/%d records (%.1f%%)  %.0f records/s  nodes", p.consumed, p.total, pct, p.rate())
	for id, n := range p.perNode {
		fmt.Fprintf(&b, " %d:%d", id, n)
	}
	return b.String()
}

// rate is records/s over the last demoRateWindow.
func (p *demoProgress) rate() float64 {
	if len(p.samples) < 2 {
		return 0
	}
	a, z := p.samples[0], p.samples[len(p.samples)-1]
	if d := z.at.Sub(a.at).Seconds(); d > 0 {
		return float64(z.consumed-a.consumed) / d
	}
	return 0
}

// drawLine redraws the progress line in place, cut to the terminal's
// width: a wrapped line could not be redrawn with \r.
func (p *demoProgress) drawLine() {
	s := p.line()
	if ws, err := unix.IoctlGetWinsize(int(p.out.Fd()), unix.TIOCGWINSZ); err == nil && ws.Col > 1 && len(s) >= int(ws.Col) {
		s = s[:ws.Col-1]
	}
	fmt.Fprint(p.out, "\r\033[K"+s)
}

// summary prints the outcome: records, time, rate, and each node's share
// and restarts. m has stopped, so its state may be read here.
func (p *demoProgress) summary(m *manager) {
	end := p.doneAt
	if end.IsZero() {
		end = time.Now()
	}
	secs := end.Sub(p.began).Seconds()
	restarts := 0
	for _, n := range m.nodes {
		restarts += n.restarts
	}
	if p.consumed >= p.total {
		fmt.Fprintf(p.out, "swarm demo: all %d records consumed in %.1fs (%.0f records/s) by %d nodes, %d restarts\n",
			p.consumed, secs, float64(p.consumed)/max(secs, 1e-3), len(m.nodes), restarts)
	} else {
		fmt.Fprintf(p.out, "swarm demo: stopped at %d of %d records after %.1fs (%.0f records/s) with %d nodes, %d restarts\n",
			p.consumed, p.total, secs, float64(p.consumed)/max(secs, 1e-3), len(m.nodes), restarts)
	}
	p.printKill(true)
	for _, n := range m.nodes {
		line := fmt.Sprintf("  node %d: %d records", n.id, p.perNode[n.id])
		if s := &p.kill; n.id == s.killer.id && !s.at.IsZero() && s.err == nil {
			line += fmt.Sprintf(" (%d before its kill, %d after)", s.before, p.perNode[n.id]-s.before)
		}
		fmt.Fprintf(p.out, "%s, %d restarts\n", line, n.restarts)
	}
	var unseen int64
	for _, n := range p.pending {
		unseen += n
	}
	if unseen > 0 {
		// Only when stopped before a partition was ever seen held.
		fmt.Fprintf(p.out, "  (%d records committed before any node was seen holding their partitions)\n", unseen)
	}
}
