//go:build linux

package main

// Exactly-once output (-exactly-once, node_txn.go): a read_committed reader
// of the output topic sees one output per input whatever dies meanwhile,
// and a record retried or dead-lettered does not disturb that.

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

// eosArgs are the timings of an exactly-once swarm under test: fastArgs'
// session and shutdown are too short for a transaction per batch on a busy
// test machine, and the transaction timeout must be below both.
var eosArgs = []string{"-session-timeout=3s", "-shutdown-timeout=5s", "-transaction-timeout=2s", "-exactly-once"}

// outputCounts counts recs by key: how many outputs each input's key got.
func outputCounts(recs []*kgo.Record) map[string]int {
	out := map[string]int{}
	for _, r := range recs {
		out[string(r.Key)]++
	}
	return out
}

// checkOncePerKey checks that counts holds keys 0..n-1 once each, except
// those in skip, which must be absent.
func checkOncePerKey(t *testing.T, what string, counts map[string]int, n int, skip ...string) {
	t.Helper()
	var missing, dups, extra int
	for i := 0; i < n; i++ {
		k := strconv.Itoa(i)
		c := counts[k]
		switch {
		case contains(skip, k) && c != 0:
			t.Errorf("%s: key %s has %d outputs, want none", what, k, c)
		case contains(skip, k):
		case c == 0:
			missing++
		case c > 1:
			dups += c - 1
		}
	}
	for k := range counts {
		if i, err := strconv.Atoi(k); err != nil || i < 0 || i >= n {
			extra++
		}
	}
	if missing+dups+extra > 0 {
		t.Errorf("%s: %d inputs have no output, %d outputs are duplicates, %d are for no input (want 0, 0, 0)", what, missing, dups, extra)
	}
}

// contains says whether ss holds s.
func contains(ss []string, s string) bool {
	for _, x := range ss {
		if x == s {
			return true
		}
	}
	return false
}

// Random SIGKILLs of nodes and handlers with -exactly-once: a read_committed
// reader of the output sees exactly one output per input, the commits
// reach the end, and a read_uncommitted reader sees more (transactions
// really were aborted). As the at-least-once chaos test: 3 nodes, 6
// partitions, 50 000 records produced over 10 s while a node (twice its
// handler) is SIGKILLed every 500 ms.
func TestExactlyOnceUnderRandomKills(t *testing.T) {
	h, _ := handlerPrograms(t)
	_, addr := newBroker(t, 6, "orders", "answers")
	const n = 50000
	logPath := filepath.Join(t.TempDir(), "handled")
	args := append(append([]string{"-output-topic=answers"}, eosArgs...), "--", h, "-answer=tag", "-log="+logPath)
	s, _ := runChaos(t, addr, n, args)
	s.stopGracefully(30 * time.Second)
	adm := newAdmin(t, addr)

	committed := readTransactional(t, addr, "answers", true)
	checkOncePerKey(t, "read_committed", outputCounts(committed), n)
	uncommitted := readTransactional(t, addr, "answers", false)
	lines, distinct, _ := checkEveryOffsetHandled(t, logPath, endOffsets(t, adm, "orders"), n)
	t.Logf("%d inputs: handled %d times (%d distinct); outputs: %d read_committed, %d read_uncommitted",
		n, lines, distinct, len(committed), len(uncommitted))
	if len(uncommitted) <= len(committed) {
		t.Errorf("read_uncommitted sees %d outputs, read_committed %d: no transaction was aborted, so the kills tested nothing", len(uncommitted), len(committed))
	}
}

// Records retried on a node with -exactly-once: each input's output
// commits once (the handled prefix of a partition held for a retry commits
// with its batch, the held records with the batch that makes them final),
// a dead letter once and in place of its output, and nothing is aborted.
func TestExactlyOnceRetriesCommitOnce(t *testing.T) {
	for _, tc := range []struct {
		name  string
		flags []string
		dead  []string // keys dead-lettered, without an output
	}{
		{"retried then handled", []string{"-max-retries=3", "-fail-key=7,9", "-fail-until-attempt=3"}, nil},
		{"dead-lettered", []string{"-max-retries=1", "-fail-key=7,9"}, []string{"7", "9"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			checkRetriesCommitOnce(t, tc.flags[:1], tc.flags[1:], tc.dead)
		})
	}
}

// checkRetriesCommitOnce runs 2 000 records through one exactly-once node
// whose handler fails some keys, and checks the outputs and dead letters.
func checkRetriesCommitOnce(t *testing.T, swarmFlags, handlerFlags, dead []string) {
	h, _ := handlerPrograms(t)
	_, addr := newBroker(t, 4, "orders", "answers", "dead")
	const n = 2000
	produce(t, addr, "orders", n)
	args := append([]string{"-nodes=1", "-output-topic=answers", "-dead-letter-topic=dead", "-retry-backoff=100ms"}, eosArgs...)
	args = append(append(append(args, swarmFlags...), "--", h, "-answer=tag"), handlerFlags...)
	s := startSwarm(t, swarmArgs(addr, args...)...)
	adm := newAdmin(t, addr)
	waitCommittedToEnd(t, adm, "g1", "orders", 60*time.Second)
	// One more record per partition, behind the retried ones: a partition
	// resumed from the wrong place would hand its records again before it.
	produceKeys(t, addr, "orders", n, 4)
	waitCommittedToEnd(t, adm, "g1", "orders", 60*time.Second)
	// Stopped before reading: whatever the swarm would still do is done.
	s.stopGracefully(30 * time.Second)

	checkOncePerKey(t, "outputs", outputCounts(readTransactional(t, addr, "answers", true)), n+4, dead...)
	letters := outputCounts(readTransactional(t, addr, "dead", true))
	for _, k := range []string{"7", "9"} {
		if want := map[bool]int{true: 1}[contains(dead, k)]; letters[k] != want {
			t.Errorf("key %s has %d dead letters, want %d", k, letters[k], want)
		}
	}
	if aborted := len(s.matching(logged("transaction.aborted"))); aborted != 0 {
		t.Errorf("%d transactions aborted, want 0", aborted)
	}
	if resumed := len(s.matching(logged("partition.resumed"))); resumed == 0 {
		t.Errorf("no partition.resumed: nothing was retried")
	}
}

// While a partition is held for a retry, its committed offset is the held
// record's (its handled prefix committed, nothing past it), the other
// partitions' are at their ends: a crash then would deliver the held
// record and what follows it again, and nothing before it.
func TestExactlyOnceCommitsUpToAHeldRecord(t *testing.T) {
	h, _ := handlerPrograms(t)
	_, addr := newBroker(t, 4, "orders", "answers")
	produce(t, addr, "orders", 2000)
	args := append([]string{"-nodes=1", "-output-topic=answers", "-max-retries=5", "-retry-backoff=1h", "-retry-max-backoff=1h"}, eosArgs...)
	s := startSwarm(t, swarmArgs(addr, append(args, "--", h, "-answer=tag", "-fail-key=9")...)...)
	retry, _ := s.waitLog(30*time.Second, "record.retry", 0, logged("record.retry"))
	held, at := int32(retry.int("partition")), int64(retry.int("offset"))
	adm := newAdmin(t, addr)
	var ends, committed map[int32]int64
	waitFor(t, 30*time.Second, fmt.Sprintf("partition %d committed up to its held offset %d, the others to their ends", held, at), func() bool {
		ends, committed = offsetsOf(t, adm, "g1", "orders")
		for p, e := range ends {
			if p == held && committed[p] != at || p != held && committed[p] != e {
				return false
			}
		}
		return true
	})
	t.Logf("held partition %d at offset %d; committed %v, ends %v", held, at, committed, ends)
}

// A TERM while records flow ends each node's batch in hand with its
// transaction committed: the swarm exits 0, a second swarm finishes the
// topic, and the output holds one record per input. Nothing but the
// batches the log says were aborted (the first after the start-up
// rebalance: franz-go's session aborts after a revoke) is: the outputs
// read_uncommitted sees beyond read_committed's are exactly theirs.
func TestExactlyOnceStopCommitsTheBatchInHand(t *testing.T) {
	h, _ := handlerPrograms(t)
	_, addr := newBroker(t, 4, "orders", "answers")
	const n = 20000
	args := append([]string{"-nodes=2", "-output-topic=answers"}, eosArgs...)
	args = append(args, "--", h, "-answer=tag")
	produced := make(chan error, 1)
	go func() { produced <- produceSpread(addr, "orders", 0, n, 2*time.Second) }()
	s := startSwarm(t, swarmArgs(addr, args...)...)
	// Both nodes handling records: a stop in the middle of the start-up
	// rebalance is not this test's (a static member gone mid-join held
	// kfake's next join for the rebalance timeout).
	for id := 0; id < 2; id++ {
		s.waitLog(30*time.Second, "records flowing", 0, logged("route.flowing", "node", id))
	}
	s.stopGracefully(30 * time.Second)
	if err := <-produced; err != nil {
		t.Fatalf("produce: %v", err)
	}
	_, committedAtStop := offsetsOf(t, newAdmin(t, addr), "g1", "orders")

	s2 := startSwarm(t, swarmArgs(addr, args...)...)
	waitCommittedToEnd(t, newAdmin(t, addr), "g1", "orders", 60*time.Second)
	s2.stopGracefully(30 * time.Second)
	committed := readTransactional(t, addr, "answers", true)
	checkOncePerKey(t, "read_committed", outputCounts(committed), n)
	uncommitted := readTransactional(t, addr, "answers", false)
	aborted := 0
	for _, sw := range []*swarmProc{s, s2} {
		for _, l := range sw.matching(logged("transaction.aborted")) {
			aborted += l.int("records")
		}
	}
	t.Logf("committed at the stop %v; outputs %d read_committed, %d read_uncommitted; %d records in aborted batches",
		committedAtStop, len(committed), len(uncommitted), aborted)
	if len(uncommitted)-len(committed) != aborted {
		t.Errorf("read_uncommitted sees %d outputs more than read_committed, the aborted batches had %d: a stop aborted a transaction",
			len(uncommitted)-len(committed), aborted)
	}
}

// A rebalance while a partition is held for a retry, with the cooperative
// balancer: a second member joins and takes some partitions, the first
// batch after the revoke is aborted (franz-go's transaction session does
// that after any revoke), and still every output commits once, the held
// record and those behind it in its partition have none, and that
// partition's commit stays at it while the others reach their ends.
func TestExactlyOnceRebalanceWithAHeldPartition(t *testing.T) {
	h, _ := handlerPrograms(t)
	_, addr := newBroker(t, 8, "orders", "answers")
	const n = 4000
	produce(t, addr, "orders", n/2)
	args := append([]string{"-nodes=1", "-output-topic=answers", "-balancer=cooperative-sticky", "-max-retries=5",
		"-retry-backoff=1h", "-retry-max-backoff=1h"}, eosArgs...)
	args = append(args, "--", h, "-answer=tag", "-fail-key=9")
	s := startSwarm(t, swarmArgs(addr, args...)...)
	retry, _ := s.waitLog(30*time.Second, "record.retry", 0, logged("record.retry"))
	held, at := int32(retry.int("partition")), int64(retry.int("offset"))
	adm := newAdmin(t, addr)
	waitFor(t, 30*time.Second, "the first half handled but the held record", func() bool { return committedBut(t, adm, held, at) })

	s2 := startSwarm(t, swarmArgs(addr, append([]string{"-instance-id=second"}, args...)...)...)
	waitFor(t, 30*time.Second, "both members in the group", func() bool { return groupSettled(t, addr, "g1", 2) })
	produceKeys(t, addr, "orders", n/2, n/2)
	waitFor(t, 60*time.Second, "everything handled but the held record", func() bool { return committedBut(t, adm, held, at) })
	s.stopGracefully(30 * time.Second)
	s2.stopGracefully(30 * time.Second)

	var behind []string // the held record and the rest of its partition
	for _, r := range readTopic(t, addr, "orders")[held] {
		if r.Offset >= at {
			behind = append(behind, string(r.Key))
		}
	}
	checkOncePerKey(t, "outputs", outputCounts(readTransactional(t, addr, "answers", true)), n, behind...)
	t.Logf("held partition %d at %d (%d records behind); %d batches aborted", held, at, len(behind),
		len(s.matching(logged("transaction.aborted")))+len(s2.matching(logged("transaction.aborted"))))
}

// committedBut says whether every partition of orders is committed to its
// end but partition held, committed exactly up to at.
func committedBut(t *testing.T, adm *kadm.Client, held int32, at int64) bool {
	ends, committed := offsetsOf(t, adm, "g1", "orders")
	for p, e := range ends {
		if p == held && committed[p] != at || p != held && committed[p] != e {
			return false
		}
	}
	return true
}

// An input whose tail is an aborted transaction (an upstream producer that
// died, or aborted): read committed, its records never reach the node, but
// the markers do, so the node commits past them and its handled offset
// reaches the high watermark. Quiet and fully handled, it must not stall
// (status 4 would have the supervisor replace the node every -stall-ttl,
// for ever). Found by review.
func TestExactlyOnceAnAbortedTailIsNotAStall(t *testing.T) {
	h, _ := handlerPrograms(t)
	_, addr := newBroker(t, 1, "orders", "answers")
	produceInTransactions(t, addr, "orders", kgo.TryCommit, kgo.TryAbort)
	node, dir := startStatsNode(t, swarmArgs(addr, append(append([]string{"-stall-ttl=1s", "-report-interval=100ms",
		"-stats-interval=100ms", "-output-topic=answers"}, eosArgs...), "--", h, "-answer=tag")...)...)
	defer node.stop()
	file := filepath.Join(dir, "stats")
	var l statsLine
	waitFor(t, 30*time.Second, "the 10 committed records handled, committed to the high watermark", func() bool {
		var ok bool
		l, ok = lastStats(t, file)
		if !ok || len(l.Routes) != 1 || len(l.Routes[0].Partitions) != 1 {
			return false
		}
		p := l.Routes[0].Partitions[0]
		return l.Routes[0].Handled == 10 && p.Committed == p.HighWatermark && p.Handled == p.HighWatermark
	})
	caught := time.Now()
	waitFor(t, 30*time.Second, "4 s of the node's stats after catching up", func() bool {
		l, _ = lastStats(t, file)
		return l.AtMs >= caught.Add(4*time.Second).UnixMilli()
	})
	if health, _ := os.ReadFile(filepath.Join(dir, "health")); strings.Contains(string(health), "4\n") {
		t.Errorf("a quiet, fully handled partition whose tail is an aborted transaction reported stalled (status 4); partition %+v",
			l.Routes[0].Partitions[0])
	}
	if outs := readTransactional(t, addr, "answers", true); len(outs) != 10 {
		t.Errorf("%d outputs, want 10 (one per committed input)", len(outs))
	}
}

// produceInTransactions writes 10 records to topic in one transaction per
// end given, ended that way.
func produceInTransactions(t *testing.T, addr, topic string, ends ...kgo.TransactionEndTry) {
	cl, err := kgo.NewClient(kgo.SeedBrokers(addr), kgo.TransactionalID("upstream"), kgo.DefaultProduceTopic(topic))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ctx := context.Background()
	for _, end := range ends {
		if err := cl.BeginTransaction(); err != nil {
			t.Fatal(err)
		}
		for i := 0; i < 10; i++ {
			if err := cl.ProduceSync(ctx, &kgo.Record{Key: []byte(strconv.Itoa(i)), Value: []byte("v")}).FirstErr(); err != nil {
				t.Fatal(err)
			}
		}
		if err := cl.EndTransaction(ctx, end); err != nil {
			t.Fatal(err)
		}
	}
}

// Retries with -exactly-once are as punctual as without: a batch whose
// records are all held again has nothing to commit, and must not cost the
// partition a wait (franz-go holds an End that sent no offsets 500 ms).
// With both group protocols; 20 keys of 2 000 fail twice. Found by review.
func TestExactlyOnceRetriesOnTime(t *testing.T) {
	for _, protocol := range []string{"classic", "consumer"} {
		t.Run(protocol, func(t *testing.T) {
			h, _ := handlerPrograms(t)
			_, addr := newBroker(t, 4, "orders", "answers")
			produce(t, addr, "orders", 2000)
			var failing []string
			for k := 50; k < 2000; k += 100 {
				failing = append(failing, strconv.Itoa(k))
			}
			args := append([]string{"-nodes=1", "-output-topic=answers", "-max-retries=5", "-retry-backoff=50ms",
				"-retry-max-backoff=200ms", "-group-protocol=" + protocol}, eosArgs...)
			args = append(args, "--", h, "-answer=tag", "-fail-key="+strings.Join(failing, ","), "-fail-until-attempt=3")
			args = swarmArgs(addr, args...)
			if protocol == "consumer" { // the broker sets the session timeout
				args = slices.DeleteFunc(args, func(a string) bool { return strings.HasPrefix(a, "-session-timeout=") })
			}
			s := startSwarm(t, args...)
			waitCommittedToEnd(t, newAdmin(t, addr), "g1", "orders", 60*time.Second)
			s.stopGracefully(30 * time.Second)
			var late []float64
			for _, l := range s.matching(logged("partition.resumed")) {
				late = append(late, num(l["late_ms"]))
			}
			med, p90, _, hi := spread(late)
			t.Logf("%d resumes, late_ms median %.1f p90 %.1f max %.1f", len(late), med, p90, hi)
			if len(late) < 2*len(failing) || med > 50 {
				t.Errorf("%d resumes, median %.1f ms late; want %d or more, at most 50 ms", len(late), med, 2*len(failing))
			}
			checkOncePerKey(t, "outputs", outputCounts(readTransactional(t, addr, "answers", true)), 2000)
		})
	}
}

// -initial-offset latest with exactly-once nodes: what the topic held
// before the group started is not handled, though the first batch after
// the start-up rebalance is aborted (franz-go's session aborts after any
// revoke) and an abort rewinds a partition with no commit (franz-go's
// placeholder is offset 0): abandon puts it back where the consumer began
// it. Found by review.
func TestExactlyOnceLatestSkipsHistory(t *testing.T) {
	h, _ := handlerPrograms(t)
	c, addr := newBroker(t, 2, "orders", "answers")
	const old, fresh = 500, 100
	produce(t, addr, "orders", old)
	args := append([]string{"-nodes=2", "-initial-offset=latest", "-output-topic=answers"}, eosArgs...)
	s := startSwarm(t, swarmArgs(addr, append(args, "--", h, "-answer=tag")...)...)
	s.waitNodesReady(2, 0)
	waitGroupStable(t, c, "g1", 2, 30*time.Second)
	produceKeys(t, addr, "orders", old, fresh)
	waitCommittedToEnd(t, newAdmin(t, addr), "g1", "orders", 60*time.Second)
	s.stopGracefully(30 * time.Second)
	counts := outputCounts(readTransactional(t, addr, "answers", true))
	history := 0
	for k := range counts {
		if i, err := strconv.Atoi(k); err == nil && i < old {
			history++
		}
	}
	t.Logf("%d outputs for %d new records; %d batches aborted", len(counts), fresh, len(s.matching(logged("transaction.aborted"))))
	if history > 0 {
		t.Errorf("%d of the %d records produced before the group started have outputs, want 0 (-initial-offset latest)", history, old)
	}
}

// A batch that outlives -transaction-timeout: the broker aborts its
// transaction while the node still works on it. Whatever the node does
// next (produce the rest, or, when the stalled record fails, go straight
// to the offset commit), the batch must not commit: a read_committed
// reader sees every output once, and the node recovers (the handler
// stalls once only).
func TestExactlyOnceBatchOutlivesItsTransaction(t *testing.T) {
	for _, tc := range []struct {
		name  string
		extra []string
	}{
		{"stalled record answered", nil},
		{"stalled record failed, retried", []string{"-fail-key=99", "-fail-until-attempt=2"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h, _ := handlerPrograms(t)
			_, addr := newBroker(t, 1, "orders", "answers")
			const n = 100
			produce(t, addr, "orders", n)
			marker := filepath.Join(t.TempDir(), "stalled")
			args := append([]string{"-nodes=1", "-output-topic=answers", "-retry-backoff=50ms"}, eosArgs...)
			args = append(append(args, "--", h, "-answer=tag", "-stall-key=99", "-stall-for=4s", "-stall-once="+marker), tc.extra...)
			s := startSwarm(t, swarmArgs(addr, args...)...)
			waitCommittedToEnd(t, newAdmin(t, addr), "g1", "orders", 60*time.Second)
			s.stopGracefully(30 * time.Second)
			committed := readTransactional(t, addr, "answers", true)
			checkOncePerKey(t, "read_committed", outputCounts(committed), n)
			t.Logf("outputs %d read_committed, %d read_uncommitted; node exits %d, aborted %d", len(committed),
				len(readTransactional(t, addr, "answers", false)), len(s.matching(logged("swarm.node.exited"))),
				len(s.matching(logged("transaction.aborted"))))
			for _, l := range s.matching(func(l logLine) bool { return l["level"] == "ERROR" }) {
				t.Logf("error: %v", l)
			}
			if len(s.matching(logged("swarm.node.exited"))) == 0 {
				t.Errorf("no node exited: the transaction the broker aborted went unnoticed")
			}
		})
	}
}

// A TERM while a partition is held for a retry (its backoff far away):
// the swarm exits 0 with nothing aborted, the held partition's committed
// offset is its held record, and a second swarm whose handler no longer
// fails finishes the topic with one output per input.
func TestExactlyOnceStopWithAHeldPartition(t *testing.T) {
	h, _ := handlerPrograms(t)
	_, addr := newBroker(t, 4, "orders", "answers")
	const n = 2000
	produce(t, addr, "orders", n)
	base := append([]string{"-nodes=1", "-output-topic=answers", "-max-retries=5", "-retry-backoff=1h", "-retry-max-backoff=1h"}, eosArgs...)
	s := startSwarm(t, swarmArgs(addr, append(base, "--", h, "-answer=tag", "-fail-key=9")...)...)
	retry, _ := s.waitLog(30*time.Second, "record.retry", 0, logged("record.retry"))
	held, at := int32(retry.int("partition")), int64(retry.int("offset"))
	adm := newAdmin(t, addr)
	waitFor(t, 30*time.Second, "the other partitions committed to their ends", func() bool {
		ends, committed := offsetsOf(t, adm, "g1", "orders")
		for p, e := range ends {
			if p != held && committed[p] != e {
				return false
			}
		}
		return true
	})
	s.stopGracefully(30 * time.Second)
	if _, committed := offsetsOf(t, adm, "g1", "orders"); committed[held] != at {
		t.Errorf("held partition %d committed at %d after the stop, want its held record's offset %d", held, committed[held], at)
	}
	if aborted := len(s.matching(logged("transaction.aborted"))); aborted != 0 {
		t.Errorf("%d transactions aborted, want 0", aborted)
	}
	s2 := startSwarm(t, swarmArgs(addr, append(base, "--", h, "-answer=tag")...)...)
	waitCommittedToEnd(t, adm, "g1", "orders", 60*time.Second)
	s2.stopGracefully(30 * time.Second)
	checkOncePerKey(t, "read_committed", outputCounts(readTransactional(t, addr, "answers", true)), n)
	if c, u := len(readTransactional(t, addr, "answers", true)), len(readTransactional(t, addr, "answers", false)); c != u {
		t.Errorf("read_committed %d outputs, read_uncommitted %d: something was aborted", c, u)
	}
}

// An upstream transaction left open longer than -stall-ttl: read
// committed, its records are not there to handle yet (they end at the last
// stable offset, not the high watermark), so a caught-up exactly-once node
// is not stalled; once it commits, its records flow.
func TestExactlyOnceAnOpenUpstreamTransactionIsNotAStall(t *testing.T) {
	h, _ := handlerPrograms(t)
	_, addr := newBroker(t, 1, "orders", "answers")
	produceInTransactions(t, addr, "orders", kgo.TryCommit)
	up, err := kgo.NewClient(kgo.SeedBrokers(addr), kgo.TransactionalID("upstream-open"), kgo.DefaultProduceTopic("orders"),
		kgo.TransactionTimeout(time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	defer up.Close()
	if err := up.BeginTransaction(); err != nil {
		t.Fatal(err)
	}
	for i := 10; i < 20; i++ {
		if err := up.ProduceSync(context.Background(), &kgo.Record{Key: []byte(strconv.Itoa(i)), Value: []byte("v")}).FirstErr(); err != nil {
			t.Fatal(err)
		}
	}
	node, dir := startStatsNode(t, swarmArgs(addr, append(append([]string{"-stall-ttl=1s", "-report-interval=100ms",
		"-stats-interval=100ms", "-output-topic=answers"}, eosArgs...), "--", h, "-answer=tag")...)...)
	defer node.stop()
	file := filepath.Join(dir, "stats")
	waitFor(t, 30*time.Second, "the 10 committed records handled", func() bool {
		l, ok := lastStats(t, file)
		return ok && len(l.Routes) == 1 && l.Routes[0].Handled == 10
	})
	caught := time.Now()
	waitFor(t, 30*time.Second, "4 s of the node's stats after catching up", func() bool {
		l, _ := lastStats(t, file)
		return l.AtMs >= caught.Add(4*time.Second).UnixMilli()
	})
	if health, _ := os.ReadFile(filepath.Join(dir, "health")); strings.Contains(string(health), "4\n") {
		l, _ := lastStats(t, file)
		t.Errorf("a caught-up node behind an open upstream transaction reported stalled (status 4); partition %+v", l.Routes[0].Partitions)
	}
	if err := up.EndTransaction(context.Background(), kgo.TryCommit); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 30*time.Second, "the 10 records of the upstream transaction handled once it committed", func() bool {
		l, ok := lastStats(t, file)
		return ok && l.Routes[0].Handled == 20
	})
}
