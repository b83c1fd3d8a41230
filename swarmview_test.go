//go:build linux

package main

import (
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
)

// swarmView is the part of /status this test reads.
type swarmView struct {
	Nodes []struct {
		ID         int    `json:"id"`
		Handled    *int64 `json:"handled"`
		StatsAgeMs *int64 `json:"stats_age_ms"`
	} `json:"nodes"`
	Partitions []partitionJSON `json:"partitions"` // as the supervisor writes it
}

// getView reads /status.
func getView(t *testing.T, base string) swarmView {
	t.Helper()
	var v swarmView
	code, body := httpGet(t, base+"/status")
	if err := json.Unmarshal([]byte(body), &v); err != nil || code != 200 {
		t.Fatalf("/status %d: %v: %q", code, err, body)
	}
	return v
}

// End to end, the real binary on kfake with a slow handler: /status shows
// the partitions and owners kadm sees in the group; while the handler is
// behind, each partition's lag lies between the broker's view of it
// before and after (the end offset minus the committed offset kadm read
// before the node's stats line and after it), and it falls to 0 once every
// record is handled.
func TestStatsSwarmViewMatchesBroker(t *testing.T) {
	const records = 600 // 300 a node at 50 ms each: 15 s behind
	_, addr := newBroker(t, 4, "orders")
	s := startSwarm(t, swarmArgs(addr, "-nodes=2", "-http=127.0.0.1:0", "-codec=lines", "--",
		"sh", "-c", "while read -r l; do sleep 0.05; echo; done")...)
	l, _ := s.waitLog(10*time.Second, "http listening", 0, logged("swarm.http.listening"))
	base := "http://" + l.str("addr")
	s.waitNodesReady(2, 0)
	waitFor(t, 15*time.Second, "a node's stats in /status", func() bool { return len(getView(t, base).Partitions) > 0 })
	// The records come once the group has settled: a partition that moves
	// while caught up has no high watermark at its new owner until
	// records come (a node learns it from fetches), so no lag to check.
	waitFor(t, 30*time.Second, "the group to settle with both nodes", func() bool { return groupSettled(t, addr, "g1", 2) })
	waitFor(t, 10*time.Second, "/status owners to match kadm's group", func() bool {
		return ownersMatch(t, addr, getView(t, base))
	})
	// A first round commits something on every partition (a partition
	// without a commit has no lag), then the slow round.
	adm := newAdmin(t, addr)
	produce(t, addr, "orders", 8)
	waitCommittedToEnd(t, adm, "g1", "orders", 20*time.Second)
	produceKeys(t, addr, "orders", 8, records)
	checkLagBetweenBrokerViews(t, adm, base)
	waitFor(t, 60*time.Second, "every partition's lag to fall to 0", func() bool {
		v := getView(t, base)
		for _, p := range v.Partitions {
			if p.Lag == nil || *p.Lag != 0 || p.Stale {
				return false
			}
		}
		return len(v.Partitions) == 4
	})
	waitCommittedToEnd(t, adm, "g1", "orders", 10*time.Second)
	if !ownersMatch(t, addr, getView(t, base)) {
		t.Errorf("/status owners no longer match kadm's group")
	}
}

// ownersMatch says whether every partition of orders is in /status, not
// stale, owned by the node whose member (instance id test_<node>_0) kadm
// sees holding it.
func ownersMatch(t *testing.T, addr string, v swarmView) bool {
	t.Helper()
	adm, ctx, done := adminFor(t, addr, 5*time.Second)
	defer done()
	groups, err := adm.DescribeGroups(ctx, "g1")
	if err != nil {
		return false
	}
	owner := map[int32]int{}
	for _, m := range groups["g1"].Members {
		ca, ok := m.Assigned.AsConsumer()
		if !ok || m.InstanceID == nil {
			return false
		}
		id, err := strconv.Atoi(strings.Split(*m.InstanceID, "_")[1])
		if err != nil {
			t.Fatalf("instance id %q", *m.InstanceID)
		}
		for _, tp := range ca.Topics {
			for _, p := range tp.Partitions {
				owner[p] = id
			}
		}
	}
	var got, want []string
	for _, p := range v.Partitions {
		if !p.Stale && p.Group == "g1" && p.Topic == "orders" {
			got = append(got, fmt.Sprintf("%d@%d", p.Partition, p.Node))
		}
	}
	for p, id := range owner {
		want = append(want, fmt.Sprintf("%d@%d", p, id))
	}
	slices.Sort(got)
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Logf("owners in /status %v, kadm %v", got, want)
	}
	return len(want) == 4 && slices.Equal(got, want)
}

// checkLagBetweenBrokerViews checks, while the handler is behind, that each
// partition's lag in /status lies between end minus committed as kadm saw
// it before every node's next stats line (the lag can only have fallen
// since) and after it (it cannot have fallen further yet).
func checkLagBetweenBrokerViews(t *testing.T, adm *kadm.Client, base string) {
	t.Helper()
	ends, before := offsetsOf(t, adm, "g1", "orders")
	// A stats line taken a commit interval (1 s) after that read: the
	// node's view of its commits has caught up with what kadm saw. And one
	// where the node has seen the end: it learns high watermarks from its
	// fetches, and a node busy with a fetched batch fetches again only
	// once it took it (a loaded machine can make that seconds).
	since := time.Now().Add(1500 * time.Millisecond)
	var v swarmView
	waitFor(t, 20*time.Second, "every node's stats line after the broker read, with the ends it read", func() bool {
		asked := time.Now()
		v = getView(t, base)
		for _, n := range v.Nodes {
			if n.StatsAgeMs == nil || asked.Add(-time.Duration(*n.StatsAgeMs)*time.Millisecond).Before(since) {
				return false
			}
		}
		for _, p := range v.Partitions {
			if p.HighWatermark == nil || *p.HighWatermark != ends[p.Partition] {
				return false
			}
		}
		return true
	})
	_, after := offsetsOf(t, adm, "g1", "orders")
	behind := int64(0)
	for _, p := range v.Partitions {
		lo, hi := ends[p.Partition]-after[p.Partition], ends[p.Partition]-before[p.Partition]
		if p.Lag == nil || *p.Lag < lo || *p.Lag > hi {
			t.Errorf("orders %d: lag %s in /status, want between %d and %d (end %d, committed %d then %d)",
				p.Partition, fmtPtr(p.Lag), lo, hi, ends[p.Partition], before[p.Partition], after[p.Partition])
			continue
		}
		behind += *p.Lag
	}
	if behind == 0 || t.Failed() {
		_, body := httpGet(t, base+"/status")
		t.Fatalf("lag %d in all when checked (0: the handler was not slow enough for this test); /status: %s", behind, body)
	}
	t.Logf("lag %d records in all, within the broker's views", behind)
}

// fmtPtr is *p, or "none".
func fmtPtr(p *int64) string {
	if p == nil {
		return "none"
	}
	return strconv.FormatInt(*p, 10)
}
