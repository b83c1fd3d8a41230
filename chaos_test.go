//go:build linux

package main

// Chaos: nodes and handler processes SIGKILLed at random while a swarm
// works through a topic with a handler command. Afterwards every record
// must have been handled at least once, the group's commits must reach the
// end of every partition, and no handler may have outlived its node.

import (
	"fmt"
	"math/rand/v2"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// incarnations follows, from the log, which node and handler pids are
// current for every node id, and every handler pid ever started.
type incarnations struct {
	scanned  int
	node     map[int]int // node id -> pid of its latest start
	handler  map[int]int // node id -> handler pid of its latest start
	handlerN map[int]int // node id -> the node pid that started that handler
	handlers []int       // every handler pid, in start order
}

// newIncarnations follows nothing yet.
func newIncarnations() *incarnations {
	return &incarnations{node: map[int]int{}, handler: map[int]int{}, handlerN: map[int]int{}}
}

// update reads the log lines s has gathered since the last call.
func (in *incarnations) update(s *swarmProc) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for ; in.scanned < len(s.logs); in.scanned++ {
		l := s.logs[in.scanned]
		if l.role() != "node" {
			continue
		}
		switch l.msg() {
		case "swarm.node.after_fork":
			in.node[l.int("node")] = l.int("pid")
		case "handler.started":
			in.handler[l.int("node")] = l.int("handler_pid")
			in.handlerN[l.int("node")] = l.int("pid")
			in.handlers = append(in.handlers, l.int("handler_pid"))
		}
	}
}

// running is the node ids whose latest node and handler are both alive.
func (in *incarnations) running() []int {
	var ids []int
	for id, pid := range in.node {
		if alive(pid) && in.handlerN[id] == pid && alive(in.handler[id]) {
			ids = append(ids, id)
		}
	}
	return ids
}

// Random SIGKILLs of nodes and handlers lose no record, leave commits at
// the end of every partition and no handler alive without its node.
// 3 nodes, 6 partitions, 50 000 records, a handler logging every (partition,
// offset) it answers. For 10 s a random node is SIGKILLed every 500 ms;
// twice the handler process of a node instead. The records are produced
// during those 10 s, so that every kill finds records in flight: produced
// up front, they would all be handled before the first kill.
func TestRandomKillsLoseNoRecordAndLeaveNoHandler(t *testing.T) {
	h, _ := handlerPrograms(t)
	_, addr := newBroker(t, 6, "orders")
	const n = 50000
	logPath := filepath.Join(t.TempDir(), "handled")
	s, in := runChaos(t, addr, n, []string{"--", h, "-log=" + logPath})
	adm := newAdmin(t, addr)
	ends, committed := offsetsOf(t, adm, "g1", "orders")
	lines, distinct, bad := checkEveryOffsetHandled(t, logPath, ends, n)
	t.Logf("committed %v = ends %v; %d records handled %d times: %d duplicates (%.1f%%), %d unparsable log lines",
		committed, ends, n, lines, lines-distinct, 100*float64(lines-distinct)/float64(n), bad)

	s.signal(syscall.SIGTERM)
	code := s.waitExit(30 * time.Second)
	t.Logf("%d handler processes in all; the swarm exited %d after TERM", len(in.handlers), code)
	if left := fmt.Sprint(aliveOf(in.handlers)); left != "[]" {
		t.Errorf("handlers alive after the swarm exited: %s", left)
	}
}

// runChaos runs a swarm of 3 nodes (args after the harness's and the
// node count, the command included) on topic orders while n records are
// produced over 10 s and, every 500 ms, a random node is SIGKILLed (twice
// its handler instead); then it waits until the group's commits reach the
// end and checks that no handler outlived its node.
func runChaos(t *testing.T, addr string, n int, args []string) (*swarmProc, *incarnations) {
	t.Helper()
	const (
		nodes    = 3
		every    = 500 * time.Millisecond
		duration = 10 * time.Second
	)
	// A short restart delay keeps the crash-loop backoff of a node killed
	// again and again within 10 s (50 ms, 100, 200, ... ms) inside the test.
	s := startSwarm(t, swarmArgs(addr, append([]string{"-nodes=3", "-node-restart-timeout=50ms"}, args...)...)...)
	s.waitNodesReady(nodes, 0)
	in := newIncarnations()
	for id := 0; id < nodes; id++ {
		s.handlerStarted(id, 0)
	}
	produced := make(chan error, 1)
	go func() { produced <- produceSpread(addr, "orders", 0, n, duration) }()
	killAtRandom(t, s, in, int(duration/every), every)
	if err := <-produced; err != nil {
		t.Fatalf("produce: %v", err)
	}
	waitCommittedToEnd(t, newAdmin(t, addr), "g1", "orders", 90*time.Second)
	checkNoOrphanHandler(t, s, in)
	return s, in
}

// checkNoOrphanHandler checks that no handler outlived its node: only the
// current ones are alive.
func checkNoOrphanHandler(t *testing.T, s *swarmProc, in *incarnations) {
	t.Helper()
	in.update(s)
	current := map[int]bool{}
	for id, hp := range in.handler {
		if alive(in.handlerN[id]) {
			current[hp] = true
		}
	}
	for _, hp := range in.handlers {
		if alive(hp) && !current[hp] {
			t.Errorf("handler %d alive, but its node is gone", hp)
		}
	}
}

// killAtRandom SIGKILLs, on each of ticks ticks every apart, one running
// node: among those killed least so far (spreading the deaths keeps each
// node's crash-loop backoff short), at random. Twice, a third and two
// thirds in, it kills that node's handler instead; a tick that finds no
// node running with its handler waits for the next one.
func killAtRandom(t *testing.T, s *swarmProc, in *incarnations, ticks int, every time.Duration) {
	t.Helper()
	rng := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 7))
	kills := map[int]int{} // node id -> deaths caused
	handlerDue := []int{ticks / 3, ticks * 2 / 3}
	var nodeKilled, handlerKilled, skipped int
	tick := time.NewTicker(every) // pacing of the chaos, not synchronisation
	defer tick.Stop()
	for i := 0; i < ticks; i++ {
		<-tick.C
		in.update(s)
		ids := in.running()
		if len(ids) == 0 {
			skipped++
			t.Logf("tick %d: no node running with its handler (%v / %v)", i, in.node, in.handler)
			continue
		}
		rng.Shuffle(len(ids), func(a, b int) { ids[a], ids[b] = ids[b], ids[a] })
		victim := ids[0]
		for _, id := range ids {
			if kills[id] < kills[victim] {
				victim = id
			}
		}
		kills[victim]++
		pid, what := in.node[victim], "node"
		if len(handlerDue) > 0 && i >= handlerDue[0] {
			handlerDue = handlerDue[1:]
			pid, what = in.handler[victim], "handler"
			handlerKilled++
		} else {
			nodeKilled++
		}
		if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
			t.Logf("kill %s %d of node %d: %v", what, pid, victim, err)
		}
	}
	if handlerKilled != 2 {
		t.Errorf("killed %d handlers, want 2 (no running node at the planned moments)", handlerKilled)
	}
	t.Logf("chaos over: %d nodes and %d handlers SIGKILLed, %d ticks with no running node; deaths per node %v",
		nodeKilled, handlerKilled, skipped, kills)
}

// checkEveryOffsetHandled checks that the handler's log (a "partition
// offset" line per record it answered) names every offset below each
// partition's end at least once and that the partitions hold n records.
// It returns the log's lines, the distinct records among them and the
// lines it could not parse.
func checkEveryOffsetHandled(t *testing.T, logPath string, ends map[int32]int64, n int) (lines, distinct, bad int) {
	t.Helper()
	seen := map[[2]int64]int{}
	for _, l := range fileLines(t, logPath) {
		f := strings.Fields(l) // "<partition> <offset> <attempt> <unix ns>"
		if len(f) < 2 {
			bad++
			continue
		}
		p, err1 := strconv.ParseInt(f[0], 10, 32)
		o, err2 := strconv.ParseInt(f[1], 10, 64)
		if err1 != nil || err2 != nil {
			bad++
			continue
		}
		seen[[2]int64{p, o}]++
		lines++
	}
	var total int64
	missing := 0
	for p, end := range ends {
		total += end
		for o := int64(0); o < end; o++ {
			if seen[[2]int64{int64(p), o}] == 0 {
				if missing < 10 {
					t.Errorf("partition %d offset %d never handled", p, o)
				}
				missing++
			}
		}
	}
	if total != int64(n) {
		t.Errorf("partitions hold %d records, want %d", total, n)
	}
	if missing > 0 {
		t.Errorf("%d offsets never handled", missing)
	}
	return lines, len(seen), bad
}
