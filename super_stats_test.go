//go:build linux

package main

import (
	"encoding/json"
	"runtime"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// The supervisor's side of the stats protocol, in-process: the parser on
// its own, and the manager reading fake nodes' real stats pipes
// (super_manager_test.go's harness with serving on).

// statsJSONLine renders s as one stats line.
func statsJSONLine(t *testing.T, s statsLine) string {
	t.Helper()
	b, err := json.Marshal(s)
	if err != nil {
		t.Fatal(err)
	}
	return string(b) + "\n"
}

// oneRoute is a version 1 line at atMs with one route of group g.
func oneRoute(atMs int64, g string, handled int64, parts ...statsPartition) statsLine {
	return statsLine{V: 1, AtMs: atMs, Routes: []statsRoute{{Group: g, statsCounters: statsCounters{Handled: handled}, Partitions: parts}}}
}

// The parser keeps the newest valid line and counts every other line as
// garbage, wherever the reads cut the stream.
func TestStatsParserLines(t *testing.T) {
	valid := `{"v":1,"at_ms":5,"routes":[]}`
	padded := valid + strings.Repeat(" ", maxStatsLine-len(valid)) // JSON allows the blanks
	for _, tc := range []struct {
		doc     string
		in      string
		atMs    int64 // of the newest valid line; -1: none
		garbage int
	}{
		{"one line", valid + "\n", 5, 0},
		{"the newest of two counts", valid + "\n" + `{"v":1,"at_ms":7}` + "\n", 7, 0},
		{"a line without its newline is not yet a line", valid, -1, 0},
		{"not JSON", "hello\n", -1, 1},
		{"an empty line", "\n", -1, 1},
		{"another version", `{"v":2,"at_ms":1}` + "\n", -1, 1},
		{"a float where an integer goes", `{"v":1,"routes":[{"handled":1.5}]}` + "\n", -1, 1},
		{"a negative counter", `{"v":1,"routes":[{"failed":-1}]}` + "\n", -1, 1},
		{"a histogram without its +Inf count", `{"v":1,"routes":[{"latency_ms":{"le":[1,5],"counts":[1,2]}}]}` + "\n", -1, 1},
		{"histogram bounds not rising", `{"v":1,"routes":[{"latency_ms":{"le":[5,1],"counts":[1,2,3]}}]}` + "\n", -1, 1},
		{"garbage after a valid line keeps it", valid + "\n{\n", 5, 1},
		{"exactly maxStatsLine", padded + "\n", 5, 0},
		{"one byte over maxStatsLine, then a valid line", padded + " \n" + `{"v":1,"at_ms":9}` + "\n", 9, 1},
	} {
		for _, cut := range []int{1, 7, 4096, len(tc.in)} {
			var p statsParser
			var newest *statsLine
			garbage := 0
			for in := tc.in; len(in) > 0; {
				k := min(cut, len(in))
				l, g := p.feed([]byte(in[:k]))
				if l != nil {
					newest = l
				}
				garbage += g
				in = in[k:]
			}
			got := int64(-1)
			if newest != nil {
				got = newest.AtMs
			}
			if got != tc.atMs || garbage != tc.garbage {
				t.Errorf("%s, reads of %d: newest at_ms %d, %d garbage; want %d, %d", tc.doc, cut, got, garbage, tc.atMs, tc.garbage)
			}
			if cap(p.line) > maxStatsLine+statsChunk {
				t.Errorf("%s: the parser holds %d bytes", tc.doc, cap(p.line))
			}
		}
	}
}

// What is kept of one line is bounded whatever it says: 1 024 partitions
// per node, the newest 5 failures per route, errors and names clipped.
func TestStatsLineBounded(t *testing.T) {
	var parts []statsPartition
	for i := 0; i < 1500; i++ {
		parts = append(parts, statsPartition{Topic: "t", Partition: int32(i)})
	}
	parts[1000].Topic = strings.Repeat("t", 300)
	var fails []statsFailure
	for i := 0; i < 9; i++ {
		fails = append(fails, statsFailure{Offset: int64(i), Error: strings.Repeat("e", 1000)})
	}
	s := statsLine{V: 1, Routes: []statsRoute{{Partitions: parts[:1000]}, {Partitions: parts[1000:], Failures: fails}}}
	l := statsJSONLine(t, s)
	if len(l) > maxStatsLine {
		t.Fatalf("test line is %d bytes, over maxStatsLine", len(l))
	}
	var p statsParser
	got, garbage := p.feed([]byte(l))
	if got == nil || garbage != 0 {
		t.Fatalf("line refused (%d garbage)", garbage)
	}
	r0, r1 := got.Routes[0], got.Routes[1]
	if len(r0.Partitions) != 1000 || len(r1.Partitions) != maxStatsPartitions-1000 || !r1.Truncated || r0.Truncated {
		t.Errorf("kept %d + %d partitions (truncated %v %v), want 1000 + %d, the second truncated",
			len(r0.Partitions), len(r1.Partitions), r0.Truncated, r1.Truncated, maxStatsPartitions-1000)
	}
	if len(r1.Failures) != maxStatsFailures || r1.Failures[0].Offset != 4 || len(r1.Failures[4].Error) != maxStatsError {
		t.Errorf("failures %d, first offset %d, error %d bytes; want the newest %d clipped to %d",
			len(r1.Failures), r1.Failures[0].Offset, len(r1.Failures[4].Error), maxStatsFailures, maxStatsError)
	}
	if len(r1.Partitions[0].Topic) != maxStatsName {
		t.Errorf("topic kept at %d bytes, want %d", len(r1.Partitions[0].Topic), maxStatsName)
	}
}

// servingHarness is a manager of n fake nodes serving -http: each has a
// stats pipe.
func servingHarness(t *testing.T, nodes int) *managerHarness {
	return newManagerHarness(t, nodes, func(f *fakeSys) { f.serving = true })
}

// sendStats has node id's process write lines to its stats pipe, and the
// loop publish (the one moment it reads stats).
func (h *managerHarness) sendStats(id int, lines string) {
	h.t.Helper()
	p := h.proc(id)
	if p.stats < 0 {
		h.t.Fatalf("node %d has no stats pipe", id)
	}
	if _, err := unix.Write(p.stats, []byte(lines)); err != nil {
		h.t.Fatalf("node %d stats: %v", id, err)
	}
	h.m.publish(h.sys.clock)
}

// Nodes get a stats pipe as fd 4 only when the supervisor serves -http;
// its read end is non-blocking, close-on-exec, not in epoll, and closed at
// the node's death.
func TestStatsPipeOnlyWithHTTP(t *testing.T) {
	plain := newManagerHarness(t, 1, nil)
	if plain.proc(0).stats >= 0 || plain.m.nodes[0].stats.fd >= 0 {
		t.Fatalf("a stats pipe without -http")
	}
	h := servingHarness(t, 1)
	fd := h.m.nodes[0].stats.fd
	if fd < 0 || h.proc(0).stats < 0 {
		t.Fatalf("no stats pipe with -http")
	}
	fl, err := unix.FcntlInt(uintptr(fd), unix.F_GETFL, 0)
	if err != nil || fl&unix.O_NONBLOCK == 0 {
		t.Errorf("read end flags %#x (%v): want O_NONBLOCK", fl, err)
	}
	if fdfl, err := unix.FcntlInt(uintptr(fd), unix.F_GETFD, 0); err != nil || fdfl&unix.FD_CLOEXEC == 0 {
		t.Errorf("read end fd flags %#x (%v): want FD_CLOEXEC", fdfl, err)
	}
	ev := unix.EpollEvent{Events: unix.EPOLLIN}
	if err := unix.EpollCtl(h.m.epfd, unix.EPOLL_CTL_MOD, fd, &ev); err != unix.ENOENT {
		t.Errorf("epoll_ctl MOD of the stats pipe: %v, want ENOENT (not registered)", err)
	}
	h.exit(0, exitStatus{code: 1})
	if h.m.nodes[0].stats.fd >= 0 {
		t.Errorf("stats pipe still open after the node's death")
	}
	if _, err := unix.FcntlInt(uintptr(fd), unix.F_GETFD, 0); err != unix.EBADF {
		t.Errorf("fd %d after the death: %v, want EBADF", fd, err)
	}
}

// A node flooding its stats pipe (100 MB of valid lines, one endless line,
// or garbage) never grows the supervisor's memory past its bound and never
// touches its health handling: its reports on the real health pipe keep
// it running and healthy, with no health garbage, while the flood goes on.
func TestStatsFloodBoundedAndHealthUntouched(t *testing.T) {
	valid := statsJSONLine(t, oneRoute(1, "g", 5, statsPartition{Topic: "orders", Partition: 1, HighWatermark: 10, Committed: 5, Handled: 5}))
	for _, tc := range []struct {
		doc     string
		chunk   string // written over and over
		total   int
		garbage int // stats garbage at the end; -1: as many as lines written
	}{
		{"valid lines", valid, 16 << 20, 0},
		{"one endless line", strings.Repeat("x", 64<<10), 16 << 20, 1}, // its newline comes at the end
		{"garbage lines", strings.Repeat("{not json}\n", 1000), 16 << 20, -1},
	} {
		t.Run(strings.ReplaceAll(tc.doc, " ", "_"), func(t *testing.T) {
			floodStats(t, tc.chunk, tc.total, tc.garbage)
		})
	}
}

// floodStats writes chunk to node 0's stats pipe until total bytes went
// (then "\n" if chunk did not end a line, and EOF) from a goroutine, while the test loop publishes and
// the node reports healthy; it checks the heap, the health handling and
// the garbage count.
func floodStats(t *testing.T, chunk string, total, wantGarbage int) {
	h := servingHarness(t, 1)
	w := h.proc(0).stats
	h.proc(0).stats = -1 // the writer owns it now, and closes it for EOF
	if _, err := unix.FcntlInt(uintptr(w), unix.F_SETFL, 0); err != nil {
		t.Fatal(err) // blocking, so the writer waits for the reader
	}
	lines := strings.Count(chunk, "\n") * (total / len(chunk))
	done := make(chan error, 1)
	go func() {
		defer unix.Close(w)
		b := []byte(chunk)
		for sent := 0; sent+len(b) <= total; sent += len(b) {
			if _, err := unix.Write(w, b); err != nil {
				done <- err
				return
			}
		}
		var err error
		if !strings.HasSuffix(chunk, "\n") {
			_, err = unix.Write(w, []byte("\n"))
		}
		done <- err
	}()
	base := liveHeap()
	peak := uint64(0)
	n := h.m.nodes[0]
	deadline := time.Now().Add(5 * time.Minute)
	for turn := 0; n.stats.fd >= 0; turn++ {
		if time.Now().After(deadline) {
			t.Fatalf("the flood was not drained in 5 minutes (turn %d)", turn)
		}
		h.sys.clock = h.sys.clock.Add(time.Second)
		h.report(0, "0\n")
		h.m.publish(h.sys.clock)
		if turn%64 == 0 {
			peak = max(peak, liveHeap())
		}
		if cap(n.stats.parser.line) > maxStatsLine+statsChunk {
			t.Fatalf("the parser holds %d bytes", cap(n.stats.parser.line))
		}
	}
	if err := <-done; err != nil {
		t.Fatalf("writer: %v", err)
	}
	const bound = 4 << 20 // a line buffer, a read buffer and one kept line, with room for the GC's timing
	t.Logf("live heap %d KiB at the start, peak %d KiB", base>>10, peak>>10)
	if peak > base+bound {
		t.Errorf("live heap grew by %d KiB under the flood, bound %d KiB", (peak-base)>>10, bound>>10)
	}
	if wantGarbage < 0 {
		wantGarbage = lines
	}
	if n.stats.garbage != wantGarbage {
		t.Errorf("stats garbage %d, want %d", n.stats.garbage, wantGarbage)
	}
	if n.state != nodeRunning || n.garbage != 0 || n.status != statusHealthy || !n.lastReport.Equal(h.sys.clock) {
		t.Errorf("health handling touched: %v, health garbage %d, status %d, last report %v ago",
			n.state, n.garbage, n.status, h.sys.clock.Sub(n.lastReport))
	}
}

// liveHeap is the heap in use after a full collection.
func liveHeap() uint64 {
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return ms.HeapAlloc
}
