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
