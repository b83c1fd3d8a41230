//go:build linux

package main

// The demo's mid-run failure: one node is SIGKILLed once about a third of
// the records are committed, and the demo measures from the broker side how
// long that node's partitions stood still.

import (
	"fmt"
	"sync/atomic"
	"time"

	"golang.org/x/sys/unix"
)

// demoKillAt is the share of the records committed when the node is killed.
const demoKillAt = 3 // a third

// demoKiller SIGKILLs one node once, from inside the manager's loop. The
// progress goroutine only raises want; the loop's afterTurn hook, on the
// goroutine that owns the nodes, signals the node through its pidfd as the
// manager itself does (never by a pid number that could be stale) and
// reports on out. The demo always serves -http, so the loop turns at least
// every httpHeartbeat: the kill is at most that late, and its time is the
// one the loop saw.
type demoKiller struct {
	want atomic.Bool
	out  chan demoKillEvent // the kill, then the replacement: never more than 2

	id             int       // the node to kill
	sent, replaced bool      // loop side only
	at             time.Time // loop side only: when the KILL was sent
}

// demoKillEvent is what the loop tells the demo: the node was killed at
// at, or (replaced) its next incarnation started at at.
type demoKillEvent struct {
	at       time.Time
	replaced bool
	err      error
}

// newDemoKiller targets node 1, or node 0 in a swarm of one.
func newDemoKiller(nodes int) *demoKiller {
	return &demoKiller{out: make(chan demoKillEvent, 2), id: min(1, nodes-1)}
}

// afterTurn is the manager's hook (loop goroutine): it sends the KILL once
// it is wanted and the node runs, then reports the node's restart. A stop
// in progress cancels the kill: the demo is ending anyway.
func (k *demoKiller) afterTurn(m *manager) {
	n := m.nodes[k.id]
	switch {
	case !k.sent && k.want.Load() && !m.stopping && n.state == nodeRunning:
		k.sent, k.at = true, m.sys.now()
		err := n.signal(m.sys.signal, unix.SIGKILL)
		k.replaced = err != nil // nothing to wait for
		k.out <- demoKillEvent{at: k.at, err: err}
	case k.sent && !k.replaced && n.pidfd >= 0 && n.startedAt.After(k.at):
		k.replaced = true
		k.out <- demoKillEvent{at: n.startedAt, replaced: true}
	}
}

// demoStandstill is the progress goroutine's view of the kill: which of
// the killed node's partitions still stand still, and for how long each
// stood.
type demoStandstill struct {
	killer    *demoKiller
	wanted    bool
	at        time.Time // the kill; zero until the loop reported it
	atRecords int64
	err       error
	replaced  time.Duration            // kill to restart; 0 until known
	waiting   map[topicPartition]int64 // committed offset at the kill
	parts     int                      // the node's partitions at the kill
	left      int                      // of those, the ones with records left
	longest   time.Duration
	before    int64 // the node's records before the kill (its first incarnation)
	printed   bool
}

// maybeWant asks for the kill once a third of the records are committed
// and the group is settled: then every partition's holder is known, and
// the kill shows a recovery, not the group's first join still under way.
func (p *demoProgress) maybeWant() {
	s := &p.kill
	if !s.wanted && p.settled && p.consumed*demoKillAt >= p.total {
		s.wanted = true
		s.killer.want.Store(true)
	}
}

// onKill takes the loop's report. At the kill it measures once more: the
// dead node commits nothing after it, so what is committed now is where
// its partitions stand still.
func (p *demoProgress) onKill(ev demoKillEvent) {
	s := &p.kill
	if ev.replaced {
		s.replaced = ev.at.Sub(s.at)
		p.printKill(false)
		return
	}
	s.at, s.err = ev.at, ev.err
	if ev.err != nil {
		p.printKill(false)
		return
	}
	p.measureNow()
	s.atRecords = p.consumed
	s.before = p.perNode[s.killer.id]
	s.waiting = map[topicPartition]int64{}
	for tp, id := range p.owner {
		if id != s.killer.id {
			continue
		}
		s.parts++
		if p.committed[tp] < p.end[tp] {
			s.waiting[tp] = p.committed[tp]
		}
	}
	s.left = len(s.waiting)
}

// trackStandstill ends the stand-still of each waiting partition that has
// committed again since the kill.
func (p *demoProgress) trackStandstill(now time.Time) {
	s := &p.kill
	for tp, at := range s.waiting {
		if p.committed[tp] > at {
			s.longest = max(s.longest, now.Sub(s.at))
			delete(s.waiting, tp)
		}
	}
	p.printKill(false)
}

// killSettled says whether the kill is over for the demo: never wanted,
// or reported in full.
func (p *demoProgress) killSettled() bool {
	return !p.kill.wanted || p.kill.printed
}

// printKill prints the kill's one line once every partition moved again
// and the node was replaced, or (final) with what is known at the end.
func (p *demoProgress) printKill(final bool) {
	s := &p.kill
	if s.printed || s.at.IsZero() && s.err == nil {
		return
	}
	if !final && s.err == nil && (len(s.waiting) > 0 || s.replaced == 0) {
		return
	}
	s.printed = true
	if p.tty {
		fmt.Fprintln(p.out)
	}
	if s.err != nil {
		fmt.Fprintf(p.out, "swarm demo: could not kill node %d: %v\n", s.killer.id, s.err)
		return
	}
	line := fmt.Sprintf("swarm demo: killed node %d (SIGKILL) at %d records; %s", s.killer.id, s.atRecords, s.partsText())
	switch {
	case len(s.waiting) > 0:
		line += fmt.Sprintf(": %d still stood still after %.1fs", len(s.waiting), time.Since(s.at).Seconds())
	case s.left == 0:
		line += " had nothing left to commit"
	default:
		line += fmt.Sprintf(" stood still %.1fs (longest)", s.longest.Seconds())
	}
	if s.replaced > 0 {
		line += ", replaced in " + demoMillis(s.replaced)
	}
	fmt.Fprintln(p.out, line)
}

// partsText names the killed node's partitions for the kill line.
func (s *demoStandstill) partsText() string {
	text := fmt.Sprintf("its %d partitions", s.parts)
	if s.left > 0 && s.left < s.parts {
		text = fmt.Sprintf("its %d partitions with records left (of %d)", s.left, s.parts)
	}
	return text
}

// demoMillis shows a short duration in ms, with a decimal below 10 ms: a
// restart often takes less than one.
func demoMillis(d time.Duration) string {
	ms := float64(d) / float64(time.Millisecond)
	if ms < 10 {
		return fmt.Sprintf("%.1f ms", ms)
	}
	return fmt.Sprintf("%.0f ms", ms)
}
