//go:build linux

package main

// The demo's progress: committed offsets against the log's bounds, shown as
// a line (redrawn in place on a terminal) and, at the end, a summary.

import (
	"context"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"golang.org/x/sys/unix"
)

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
