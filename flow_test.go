//go:build linux

package main

// What users feel, measured from outside: steady traffic into a topic, and
// the moment each record's handling line reaches the test, per partition.
// How long a partition stood still after an event is the longest silence
// between two of its records after that moment. Swarm's print handler and
// the peer consumer (testdata/peer) write the same kcat-style lines.

import (
	"bufio"
	"context"
	"errors"
	"io"
	"regexp"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
)

// flowLine is the start of a kcat-style record line: "topic [p] at offset o:".
var flowLine = regexp.MustCompile(`^\S+ \[(\d+)\] at offset (\d+):`)

// flowClock keeps, per partition, when each handled record's line arrived
// and the highest offset handled.
type flowClock struct {
	mu      sync.Mutex
	arrived map[int32][]time.Time
	maxOff  map[int32]int64
	lines   int
}

func newFlowClock() *flowClock {
	return &flowClock{arrived: map[int32][]time.Time{}, maxOff: map[int32]int64{}}
}

// add records one line read at at; lines that are not records are ignored.
func (f *flowClock) add(line string, at time.Time) {
	m := flowLine.FindStringSubmatch(line)
	if m == nil {
		return
	}
	p, _ := strconv.Atoi(m[1])
	off, _ := strconv.ParseInt(m[2], 10, 64)
	f.mu.Lock()
	defer f.mu.Unlock()
	f.arrived[int32(p)] = append(f.arrived[int32(p)], at)
	if o, ok := f.maxOff[int32(p)]; !ok || off > o {
		f.maxOff[int32(p)] = off
	}
	f.lines++
}

// read feeds every line of r into the clock until r ends.
func (f *flowClock) read(r io.Reader) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 1<<16), 1<<20)
	for sc.Scan() {
		f.add(sc.Text(), time.Now())
	}
}

// flowingSince says whether each of parts partitions had a record after t.
func (f *flowClock) flowingSince(t time.Time, parts int) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	for p := int32(0); p < int32(parts); p++ {
		a := f.arrived[p]
		if len(a) == 0 || !a[len(a)-1].After(t) {
			return false
		}
	}
	return true
}

// stall is the longest any partition stood still after t, up to until:
// the silence between two consecutive records, counted from t when the
// earlier one came before it. A partition silent until until counts as
// still standing.
func (f *flowClock) stall(t, until time.Time) (worst time.Duration, part int32) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for p, a := range f.arrived {
		prev := t
		for _, at := range a {
			if at.After(until) {
				break
			}
			if at.After(prev) {
				if d := at.Sub(prev); d > worst {
					worst, part = d, p
				}
				prev = at
			}
		}
		if d := until.Sub(prev); d > worst {
			worst, part = d, p
		}
	}
	return worst, part
}

// handledOffsets copies the highest handled offset per partition.
func (f *flowClock) handledOffsets() map[int32]int64 {
	f.mu.Lock()
	defer f.mu.Unlock()
	out := make(map[int32]int64, len(f.maxOff))
	for p, o := range f.maxOff {
		out[p] = o
	}
	return out
}

// awaitStall waits until every partition has flowed after at least window
// past t (up to a minute more for a partition that stands still), and
// returns the longest silence after t.
func (f *flowClock) awaitStall(t testing.TB, at time.Time, window time.Duration, parts int) time.Duration {
	t.Helper()
	end := at.Add(window)
	waitFor(t, window+time.Minute, "the window to pass with every partition flowing", func() bool {
		return time.Now().After(end) && f.flowingSince(end, parts)
	})
	worst, _ := f.stall(at, time.Now())
	return worst
}

// steadyTraffic produces perSecond records a second spread evenly over
// parts partitions (one record per partition every parts/perSecond), until
// the returned stop is called.
func steadyTraffic(t testing.TB, addr, topic string, parts, perSecond int) (stop func()) {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(addr), kgo.DefaultProduceTopic(topic),
		kgo.RecordPartitioner(kgo.ManualPartitioner()), kgo.ProducerLinger(0))
	if err != nil {
		t.Fatalf("producer: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		tick := time.NewTicker(time.Second * time.Duration(parts) / time.Duration(perSecond))
		defer tick.Stop()
		val := make([]byte, 100)
		for i := 0; ; i++ {
			select {
			case <-ctx.Done():
				return
			case <-tick.C:
			}
			for p := 0; p < parts; p++ {
				cl.Produce(ctx, &kgo.Record{Partition: int32(p), Key: []byte(strconv.Itoa(i)), Value: val}, nil)
			}
		}
	}()
	return func() {
		cancel()
		<-done
		cl.Close()
	}
}

// uncommitted lists the partitions whose committed offset in group is not
// past the highest handled offset: records handled but not committed.
func uncommitted(t testing.TB, addr, group, topic string, handled map[int32]int64) []int32 {
	t.Helper()
	adm, ctx, done := adminFor(t, addr, 10*time.Second)
	defer done()
	offs, err := adm.FetchOffsets(ctx, group)
	if errors.Is(err, kerr.GroupIDNotFound) {
		offs = kadm.OffsetResponses{} // never joined: nothing committed
	} else if err != nil {
		t.Fatalf("fetch committed offsets: %v", err)
	}
	var bad []int32
	for p, h := range handled {
		if o, ok := offs.Lookup(topic, p); !ok || o.At <= h {
			bad = append(bad, p)
		}
	}
	return bad
}

// groupSettled says whether group is Stable with members members, each
// holding at least one partition: a benchmark's events start from there.
func groupSettled(t testing.TB, addr, group string, members int) bool {
	t.Helper()
	adm, ctx, done := adminFor(t, addr, 5*time.Second)
	defer done()
	groups, err := adm.DescribeGroups(ctx, group)
	if err != nil {
		return false
	}
	g, ok := groups[group]
	if !ok || g.Err != nil || g.State != "Stable" || len(g.Members) != members {
		return false
	}
	for _, m := range g.Members {
		ca, ok := m.Assigned.AsConsumer()
		if !ok || len(ca.Topics) == 0 {
			return false
		}
	}
	return true
}

// adminFor is an admin client on addr and a context bounded by timeout;
// done releases both.
func adminFor(t testing.TB, addr string, timeout time.Duration) (*kadm.Client, context.Context, func()) {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(addr))
	if err != nil {
		t.Fatalf("admin client: %v", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	return kadm.NewClient(cl), ctx, func() { cancel(); cl.Close() }
}
