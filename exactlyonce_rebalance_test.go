//go:build linux

package main

// Exactly-once against what an input and a group can do (from the second
// review): many small upstream transactions, committed and aborted,
// through retries; a held partition that moves in a revoke franz-go's
// transaction session does not pass on; a rebalance right after an
// aborted batch on a partition the group never committed.

import (
	"context"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
)

// upstreamTxns writes txns small transactions to topic's partitions from
// one transactional producer, committed or aborted at random (the last one
// aborted: the input ends with an abort marker). A committed record's key
// is the next of 0, 1, ...; an aborted one's "a" and a number. It returns
// how many records were committed, starting its keys at first.
func upstreamTxns(t *testing.T, addr, topic, id string, parts int32, txns, first int, seed int64) int {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(addr), kgo.TransactionalID(id), kgo.DefaultProduceTopic(topic),
		kgo.RecordPartitioner(kgo.ManualPartitioner()))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ctx := context.Background()
	rng := rand.New(rand.NewPCG(uint64(seed), 1))
	committed, aborted := first, 0
	for i := 0; i < txns; i++ {
		commit := i < txns-1 && rng.IntN(5) < 3
		if err := cl.BeginTransaction(); err != nil {
			t.Fatal(err)
		}
		for j, n := 0, 1+rng.IntN(4); j < n; j++ {
			r := &kgo.Record{Partition: rng.Int32N(parts), Value: []byte("v")}
			if commit {
				r.Key = []byte(strconv.Itoa(committed))
				committed++
			} else {
				r.Key = []byte("a" + strconv.Itoa(aborted))
				aborted++
			}
			if err := cl.ProduceSync(ctx, r).FirstErr(); err != nil {
				t.Fatal(err)
			}
		}
		if err := cl.EndTransaction(ctx, kgo.TransactionEndTry(commit)); err != nil {
			t.Fatal(err)
		}
	}
	return committed - first
}

// An input written by a transactional producer in many small committed and
// aborted transactions, with a retried key every 7 committed ones (so held
// partitions hold markers), big batches (-max-poll-records 3000: the
// answer window of 1000 fills with markers interleaved), half of it
// written before the node starts and half while it works: one output per
// committed input, none for an aborted one, no control record reaching the
// handler, the commits at the ends (past the trailing abort marker), and
// no node replaced for a stall.
func TestExactlyOnceInterleavedUpstreamTransactions(t *testing.T) {
	h, _ := handlerPrograms(t)
	_, addr := newBroker(t, 2, "orders", "answers")
	n := upstreamTxns(t, addr, "orders", "up1", 2, 1500, 0, 1)
	var failing []string
	for k := 3; k < 4*n; k += 7 {
		failing = append(failing, strconv.Itoa(k))
	}
	args := append([]string{"-nodes=1", "-output-topic=answers", "-max-poll-records=3000", "-max-retries=5",
		"-retry-backoff=20ms", "-retry-max-backoff=50ms", "-stall-ttl=1s", "-report-interval=100ms"}, eosArgs...)
	s := startSwarm(t, swarmArgs(addr, append(args, "--", h, "-answer=tag", "-fail-until-attempt=3",
		"-fail-key="+strings.Join(failing, ","))...)...)
	s.waitLog(30*time.Second, "records flowing", 0, logged("route.flowing"))
	n += upstreamTxns(t, addr, "orders", "up2", 2, 1500, n, 2)
	adm := newAdmin(t, addr)
	waitCommittedToEnd(t, adm, "g1", "orders", 90*time.Second)
	caught := time.Now()
	waitFor(t, 10*time.Second, "3 s after catching up", func() bool { return time.Since(caught) > 3*time.Second })
	exited := len(s.matching(logged("swarm.node.exited")))
	s.stopGracefully(30 * time.Second)

	counts := outputCounts(readTransactional(t, addr, "answers", true))
	var forAborted int
	for k, c := range counts {
		if strings.HasPrefix(k, "a") {
			forAborted += c
			delete(counts, k)
		}
	}
	checkOncePerKey(t, "outputs", counts, n)
	t.Logf("%d committed inputs, %d outputs; %d resumes, %d aborted batches, %d node exits before the stop",
		n, len(counts), len(s.matching(logged("partition.resumed"))), len(s.matching(logged("transaction.aborted"))), exited)
	if forAborted > 0 {
		t.Errorf("%d outputs for records of aborted upstream transactions, want 0", forAborted)
	}
	if exited > 0 {
		t.Errorf("%d nodes exited while the swarm ran (stalled?), want 0", exited)
	}
}

// franz-go's transaction session passes a revoke on to the node only if
// no revoke came since the session's last End (txn.go: "if s.revoked {
// return }"). A node without a batch between two cooperative rebalances
// therefore never hears of the second one: a partition it held for a retry
// and lost in it stays held. abandon now forgets only the aborted batch's
// partitions, so the first abort no longer clears it either: when its
// retry is due, the node hands the held records of a partition another
// node owns and has handled, and commits their outputs and offsets a
// second time.
//
// Deterministic set-up: orders has 1 partition (the held one), other 2.
// Node A consumes both topics and holds orders/0 for a retry (20 s
// backoff). B joins consuming only other: A gives up part of other (first
// revoke, heard; the session marks itself revoked). C joins consuming
// only orders: the balancer moves orders/0 to C (second revoke, not
// heard by the node). C handles orders/0 to its end. A record on other
// makes A run a batch (aborted for the revoke; the mark is cleared), then
// A's retry of orders/0 comes due.
func TestExactlyOnceHeldPartitionLostInASecondRevoke(t *testing.T) {
	h, _ := handlerPrograms(t)
	c, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(1, "orders", "answers"), kfake.SeedTopics(2, "other"),
		kfake.GroupMinSessionTimeout(100*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	addr := c.ListenAddrs()[0]
	const n = 50
	produce(t, addr, "orders", n)
	base := append([]string{"-nodes=1", "-output-topic=answers", "-balancer=cooperative-sticky", "-max-retries=5",
		"-retry-backoff=20s", "-retry-max-backoff=20s"}, eosArgs...)
	args := func(extra ...string) []string {
		return swarmArgs(addr, append(append(append([]string{}, base...), extra...), "--", h, "-answer=tag")...)
	}
	a := startSwarm(t, append(args("-topics=orders,other"), "-fail-key=9", "-fail-until-attempt=2")...)
	retry, _ := a.waitLog(30*time.Second, "record.retry", 0, logged("record.retry"))
	at := int64(retry.int("offset"))
	adm := newAdmin(t, addr)
	waitFor(t, 30*time.Second, "orders/0 committed up to the held record", func() bool {
		_, committed := offsetsOf(t, adm, "g1", "orders")
		return committed[0] == at
	})
	b := startSwarm(t, args("-instance-id=second", "-topics=other")...)
	defer b.stop()
	waitFor(t, 30*time.Second, "A and B in the group", func() bool { return groupSettled(t, addr, "g1", 2) })
	cc := startSwarm(t, args("-instance-id=third", "-topics=orders")...)
	defer cc.stop()
	waitFor(t, 30*time.Second, "A, B and C in the group", func() bool { return groupSettled(t, addr, "g1", 3) })
	cc.waitLog(30*time.Second, "C took orders/0", 0, logged("route.flowing"))
	waitCommittedToEnd(t, adm, "g1", "orders", 30*time.Second)
	produceTo(t, addr, "other", []*kgo.Record{{Partition: 0, Key: []byte("o0")}, {Partition: 1, Key: []byte("o1")}})
	// A's retry comes due 20 s after the failure; give it 10 s more.
	waitFor(t, 40*time.Second, "A's retry due and settled", func() bool {
		return time.Since(retry.time()) > 30*time.Second
	})
	a.stopGracefully(30 * time.Second)
	b.stopGracefully(30 * time.Second)
	cc.stopGracefully(30 * time.Second)
	counts := outputCounts(readTransactional(t, addr, "answers", true))
	delete(counts, "o0")
	delete(counts, "o1")
	t.Logf("held offset %d; A resumed %d times, aborted %d batches", at,
		len(a.matching(logged("partition.resumed"))), len(a.matching(logged("transaction.aborted"))))
	checkOncePerKey(t, "outputs", counts, n)
}

// -initial-offset latest, exactly-once, and a rebalance right after an
// aborted batch on a partition the group has not committed yet: abandon
// puts the partition back where the node began it, but only in the
// node's client; the broker has no commit for it. The rebalance (eager:
// every partition revoked) gives it out again with no commit, so its new
// owner starts at the end: the aborted batch's records, which came after
// the start, are never handled. At-least-once commits what it handled at
// the revoke; here the aborted batch handled nothing that counts.
//
// Set-up: A and B are in the group (A's first batch after B's join is
// aborted: franz-go's session aborts after any revoke). Fresh records
// come; A (the member that was revoked) stalls on key 101 for 6 s in
// that first batch, and C joins meanwhile: the rebalance runs right after
// the abort.
func TestExactlyOnceLatestRebalanceAfterAnAbort(t *testing.T) {
	h, _ := handlerPrograms(t)
	c, addr := newBroker(t, 2, "orders", "answers")
	const old, fresh = 100, 100
	produce(t, addr, "orders", old)
	once := filepath.Join(t.TempDir(), "stalled")
	args := func(extra ...string) []string {
		a := append([]string{"-nodes=1", "-initial-offset=latest", "-output-topic=answers", "-session-timeout=30s",
			"-shutdown-timeout=30s", "-transaction-timeout=15s", "-exactly-once"}, extra...)
		return swarmArgs(addr, append(a, "--", h, "-answer=tag")...)
	}
	// A (member test_0_0) gets partition 1 from the range balancer (members
	// sorted: second_0_0 first), and key 101 goes there.
	a := startSwarm(t, append(args(), "-stall-key=101", "-stall-for=6s", "-stall-once="+once)...)
	defer a.stop()
	a.waitNodesReady(1, 0)
	waitGroupStable(t, c, "g1", 1, 30*time.Second)
	b := startSwarm(t, args("-instance-id=second")...)
	defer b.stop()
	waitGroupStable(t, c, "g1", 2, 30*time.Second)
	var recs []*kgo.Record
	for i := old; i < old+fresh; i++ {
		recs = append(recs, &kgo.Record{Partition: int32(i % 2), Key: []byte(strconv.Itoa(i)), Value: []byte("v")})
	}
	produceTo(t, addr, "orders", recs)
	waitFor(t, 30*time.Second, "A stalling on key 101", func() bool { _, err := os.Stat(once); return err == nil })
	cc := startSwarm(t, args("-instance-id=third")...)
	defer cc.stop()
	waitGroupStable(t, c, "g1", 3, 60*time.Second)
	adm := newAdmin(t, addr)
	waitCommittedToEnd(t, adm, "g1", "orders", 20*time.Second)
	for _, s := range []*swarmProc{a, b, cc} {
		s.stopGracefully(30 * time.Second)
	}
	counts := outputCounts(readTransactional(t, addr, "answers", true))
	history, missing := 0, 0
	for i := 0; i < old+fresh; i++ {
		switch k := strconv.Itoa(i); {
		case i < old && counts[k] > 0:
			history++
		case i >= old && counts[k] != 1:
			missing++
		}
	}
	aborted := 0
	for _, s := range []*swarmProc{a, b, cc} {
		aborted += len(s.matching(logged("transaction.aborted")))
	}
	t.Logf("%d outputs; %d batches aborted", len(counts), aborted)
	if history > 0 || missing > 0 {
		t.Errorf("%d records from before the group have outputs, %d of the %d after it have not exactly one; want 0, 0", history, missing, fresh)
	}
}
