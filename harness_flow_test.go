//go:build linux

package main

// What users feel, measured from outside: steady traffic into a topic, and
// the moment each record's handling line reaches the test, per partition.
// How long a partition stood still after an event is the longest silence
// between two of its records after that moment. Swarm's print handler and
// the peer consumer (testdata/peer) write the same kcat-style lines.

import (
	"bufio"
	"io"
	"regexp"
	"strconv"
	"sync"
	"testing"
	"time"
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
