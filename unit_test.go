//go:build linux

package main

// Unit tests of the pure pieces: the health protocol parser, the crash-loop
// backoff rule, a node's environment, names and ids, RSS parsing and the
// siginfo layout handed to waitid.

import (
	"bytes"
	"flag"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
	"unsafe"
)

// feedResult is what one feed call returned.
type feedResult struct {
	highest int // only meaningful when ok
	ok      bool
	garbage int
}

func TestHealthParserFeed(t *testing.T) {
	long := strings.Repeat("1", 5000)
	cases := []struct {
		name  string
		doc   string
		feeds []string     // consecutive feed calls on one parser
		want  []feedResult // one per feed
	}{
		{name: "healthy", doc: "the one report every node writes first",
			feeds: []string{"0\n"}, want: []feedResult{{0, true, 0}}},
		{name: "each status", doc: "1, 2 and 3 are the node's own problem reports",
			feeds: []string{"1\n", "2\n", "3\n"}, want: []feedResult{{1, true, 0}, {2, true, 0}, {3, true, 0}}},
		{name: "max of several", doc: "one read may hold many reports: the worst wins, whatever the order",
			feeds: []string{"0\n3\n1\n0\n"}, want: []feedResult{{3, true, 0}}},
		{name: "255 is the largest status", doc: "the top of the range is still a status",
			feeds: []string{"255\n"}, want: []feedResult{{255, true, 0}}},
		{name: "nothing", doc: "an empty read changes nothing",
			feeds: []string{""}, want: []feedResult{{0, false, 0}}},
		{name: "split line", doc: "a report split across two reads is one report",
			feeds: []string{"2", "\n"}, want: []feedResult{{0, false, 0}, {2, true, 0}}},
		{name: "split digits", doc: "a multi-digit status split between reads",
			feeds: []string{"0\n1", "2\n"}, want: []feedResult{{0, true, 0}, {12, true, 0}}},
		{name: "letters", doc: "not a number",
			feeds: []string{"ok\n"}, want: []feedResult{{0, false, 1}}},
		{name: "digits then letters", doc: "strconv-style prefixes do not count",
			feeds: []string{"1x\n"}, want: []feedResult{{0, false, 1}}},
		{name: "negative", doc: "-1 is the supervisor's own verdict, never a node's report",
			feeds: []string{"-1\n"}, want: []feedResult{{0, false, 1}}},
		{name: "plus sign", doc: "only plain digits",
			feeds: []string{"+1\n"}, want: []feedResult{{0, false, 1}}},
		{name: "spaces", doc: "no trimming",
			feeds: []string{" 1\n", "1 \n"}, want: []feedResult{{0, false, 1}, {0, false, 1}}},
		{name: "above 255", doc: "a status does not go past 255",
			feeds: []string{"256\n"}, want: []feedResult{{0, false, 1}}},
		{name: "huge number", doc: "overflowing an int is garbage, not a panic",
			feeds: []string{"99999999\n"}, want: []feedResult{{0, false, 1}}},
		{name: "empty line", doc: "a bare newline is not a report",
			feeds: []string{"\n"}, want: []feedResult{{0, false, 1}}},
		{name: "CR", doc: "CRLF line ends are garbage: the protocol is \\n only",
			feeds: []string{"1\r\n"}, want: []feedResult{{0, false, 1}}},
		{name: "garbage among reports", doc: "garbage is counted, valid reports around it still count",
			feeds: []string{"x\n2\n\n-3\n1\n"}, want: []feedResult{{2, true, 3}}},
		{name: "longest allowed line", doc: "maxReportLine bytes (leading zeros) is still parsed",
			feeds: []string{strings.Repeat("0", maxReportLine-1) + "3\n"}, want: []feedResult{{3, true, 0}}},
		{name: "one byte too long", doc: "maxReportLine+1 bytes is garbage, even when it is a valid number",
			feeds: []string{strings.Repeat("0", maxReportLine) + "3\n"}, want: []feedResult{{0, false, 1}}},
		{name: "overlong split", doc: "an endless line over many reads is one garbage line, and the next line is parsed",
			feeds: []string{long, long, long + "\n2\n"}, want: []feedResult{{0, false, 0}, {0, false, 0}, {2, true, 1}}},
		{name: "overlong then valid in next read", doc: "the overflow state ends exactly at the newline",
			feeds: []string{long, "\n", "1\n"}, want: []feedResult{{0, false, 0}, {0, false, 1}, {1, true, 0}}},
		{name: "binary", doc: "NULs and high bytes",
			feeds: []string{"\x00\xff\x01\n\x00\n1\n"}, want: []feedResult{{1, true, 2}}},
		{name: "binary no newline", doc: "binary bytes without a newline are held (bounded) until one comes",
			feeds: []string{"\x00\xfe\xff", "\n0\n"}, want: []feedResult{{0, false, 0}, {0, true, 1}}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var p healthParser
			for i, f := range tc.feeds {
				h, ok, g := p.feed([]byte(f))
				w := tc.want[i]
				if ok != w.ok || g != w.garbage || (ok && h != w.highest) {
					t.Fatalf("%s: feed #%d %q = (%d, %v, %d), want (%d, %v, %d)",
						tc.doc, i, shortInput(f), h, ok, g, w.highest, w.ok, w.garbage)
				}
				if !ok && h != -1 {
					t.Errorf("feed #%d: no valid status but highest %d, want -1", i, h)
				}
				// Whatever a node writes, the parser holds at most one line's worth.
				if len(p.line) > maxReportLine {
					t.Fatalf("feed #%d: parser buffers %d bytes, more than %d", i, len(p.line), maxReportLine)
				}
			}
		})
	}
}

// The parser's buffer stays bounded, also by capacity: megabytes of one
// line never grow it.
func TestHealthParserBounded(t *testing.T) {
	var p healthParser
	chunk := bytes.Repeat([]byte{'7'}, 64<<10)
	for i := 0; i < 64; i++ {
		if _, ok, g := p.feed(chunk); ok || g != 0 {
			t.Fatalf("chunk %d: ok %v garbage %d from an unterminated line", i, ok, g)
		}
	}
	if cap(p.line) > 2*maxReportLine {
		t.Fatalf("parser buffer grew to cap %d after 4 MiB of one line", cap(p.line))
	}
	if h, ok, g := p.feed([]byte("\n0\n")); !ok || h != 0 || g != 1 {
		t.Fatalf("after the endless line: (%d, %v, %d), want (0, true, 1)", h, ok, g)
	}
}

func shortInput(s string) string {
	if len(s) > 20 {
		return s[:20] + "..." + strconv.Itoa(len(s)) + " bytes"
	}
	return s
}

// simulateDelays runs the manager's use of nextDelay over a node's deaths:
// each element of uptimes is how long one incarnation ran before it died.
func simulateDelays(base time.Duration, uptimes []time.Duration) []time.Duration {
	var delay time.Duration
	var out []time.Duration
	for i, up := range uptimes {
		delay = nextDelay(base, delay, up, i+1)
		out = append(out, delay)
	}
	return out
}

func TestNextDelay(t *testing.T) {
	const ms = time.Millisecond
	short := time.Second     // a crash at start
	long := 10 * time.Second // ran the full window: an ordinary failure
	justShort := long - time.Nanosecond
	rep := func(d time.Duration, n int) []time.Duration {
		out := make([]time.Duration, n)
		for i := range out {
			out[i] = d
		}
		return out
	}
	cat := func(parts ...[]time.Duration) []time.Duration {
		var out []time.Duration
		for _, p := range parts {
			out = append(out, p...)
		}
		return out
	}
	cases := []struct {
		name    string
		doc     string
		base    time.Duration
		uptimes []time.Duration
		want    []time.Duration
	}{
		{name: "first death waits base", doc: "however short the run, the first death is not penalised",
			base: 5 * time.Second, uptimes: []time.Duration{0}, want: []time.Duration{5 * time.Second}},
		{name: "first death base 0", doc: "with no delay configured a first death restarts at once",
			base: 0, uptimes: []time.Duration{short}, want: []time.Duration{0}},
		{name: "base 0 crash loop", doc: "from 0: 100 ms floor, then doubling, capped at one minute",
			base: 0, uptimes: rep(short, 13),
			want: []time.Duration{0, 100 * ms, 200 * ms, 400 * ms, 800 * ms, 1600 * ms, 3200 * ms, 6400 * ms,
				12800 * ms, 25600 * ms, 51200 * ms, time.Minute, time.Minute}},
		{name: "base 0 recovers", doc: "a run of 10 s or more goes back to base; the next crash starts again at the floor",
			base: 0, uptimes: cat(rep(short, 4), []time.Duration{long, short, short}),
			want: []time.Duration{0, 100 * ms, 200 * ms, 400 * ms, 0, 100 * ms, 200 * ms}},
		{name: "base 5s crash loop", doc: "doubling from base, capped at one minute",
			base: 5 * time.Second, uptimes: rep(short, 6),
			want: []time.Duration{5 * time.Second, 10 * time.Second, 20 * time.Second, 40 * time.Second, time.Minute, time.Minute}},
		{name: "base 5s recovers", doc: "after the cap, one long run resets to base",
			base: 5 * time.Second, uptimes: cat(rep(short, 6), []time.Duration{long, short}),
			want: []time.Duration{5 * time.Second, 10 * time.Second, 20 * time.Second, 40 * time.Second, time.Minute, time.Minute,
				5 * time.Second, 10 * time.Second}},
		{name: "window edge", doc: "10 s exactly is a long run, a nanosecond less is a crash",
			base: time.Second, uptimes: []time.Duration{short, justShort, long, justShort},
			want: []time.Duration{time.Second, 2 * time.Second, time.Second, 2 * time.Second}},
		{name: "small base", doc: "a base below the floor doubles from the floor",
			base: 30 * ms, uptimes: rep(short, 4), want: []time.Duration{30 * ms, 100 * ms, 200 * ms, 400 * ms}},
		{name: "base above cap", doc: "never below base, even when base exceeds the one-minute cap",
			base: 2 * time.Minute, uptimes: rep(short, 3), want: []time.Duration{2 * time.Minute, 2 * time.Minute, 2 * time.Minute}},
		{name: "ordinary failures", doc: "a node that always runs long is always restarted after exactly base",
			base: 200 * ms, uptimes: rep(time.Hour, 5), want: rep(200*ms, 5)},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got := simulateDelays(tc.base, tc.uptimes)
			if len(got) != len(tc.want) {
				t.Fatalf("test table: %d uptimes, %d wants", len(tc.uptimes), len(tc.want))
			}
			for i := range got {
				if got[i] != tc.want[i] {
					t.Fatalf("%s: base %s, uptimes %v:\ndelays %v\nwant   %v (first difference at death %d)",
						tc.doc, tc.base, tc.uptimes, got, tc.want, i+1)
				}
			}
		})
	}
}

// envValues returns every value key has in env, in order.
func envValues(env []string, key string) []string {
	var out []string
	for _, kv := range env {
		if k, v, ok := strings.Cut(kv, "="); ok && k == key {
			out = append(out, v)
		}
	}
	return out
}

func TestNodeEnv(t *testing.T) {
	me := strconv.Itoa(os.Getpid())
	stale := []string{"PATH=/usr/bin", "HOME=/root", "SWARM_NODE_ID=7", "SWARM_SUPERVISOR_PID=1",
		"SWARM_QUIET=1", "SWARM_NODE_IDS=keep", "SWARM_GROUP=orders"}
	cases := []struct {
		name   string
		doc    string
		base   []string
		id     int
		nodes  int
		memMiB int64
		quiet  bool
		cpus   int
		want   map[string]string // key -> the one value it must have; "" = absent
	}{
		{name: "identity replaces stale", doc: "a supervisor started from a node's environment must not pass the old identity on",
			base: stale, id: 2, nodes: 4, cpus: 8,
			want: map[string]string{"SWARM_NODE_ID": "2", "SWARM_SUPERVISOR_PID": me, "SWARM_QUIET": "",
				"PATH": "/usr/bin", "HOME": "/root", "SWARM_NODE_IDS": "keep", "SWARM_GROUP": "orders",
				"GOMAXPROCS": "2", "GOMEMLIMIT": ""}},
		{name: "quiet", doc: "a node started while the swarm is quiet starts quiet",
			base: stale, id: 0, nodes: 1, quiet: true, cpus: 8,
			want: map[string]string{"SWARM_QUIET": "1", "SWARM_NODE_ID": "0", "GOMAXPROCS": "8"}},
		{name: "not quiet drops stale quiet", doc: "SWARM_QUIET=0 from outside is dropped, not passed on",
			base: []string{"SWARM_QUIET=0"}, id: 0, nodes: 1, cpus: 1,
			want: map[string]string{"SWARM_QUIET": ""}},
		{name: "gomaxprocs floor", doc: "more nodes than CPUs: each still gets one",
			base: nil, id: 5, nodes: 16, cpus: 4, want: map[string]string{"GOMAXPROCS": "1"}},
		{name: "gomaxprocs rounds down", doc: "8 CPUs over 3 nodes: 2 each, never oversubscribed",
			base: nil, id: 0, nodes: 3, cpus: 8, want: map[string]string{"GOMAXPROCS": "2"}},
		{name: "user gomaxprocs", doc: "the user's GOMAXPROCS wins and is not duplicated",
			base: []string{"GOMAXPROCS=3"}, id: 0, nodes: 4, cpus: 8, want: map[string]string{"GOMAXPROCS": "3"}},
		{name: "gomemlimit 90 percent", doc: "a memory limit gives the runtime a soft limit at 90 % of it",
			base: nil, id: 0, nodes: 1, memMiB: 100, cpus: 1,
			want: map[string]string{"GOMEMLIMIT": strconv.Itoa(100 * 1024 * 1024 * 9 / 10)}},
		{name: "gomemlimit odd size", doc: "bytes, rounded down",
			base: nil, id: 0, nodes: 1, memMiB: 1, cpus: 1,
			want: map[string]string{"GOMEMLIMIT": "943718"}},
		{name: "no memory limit", doc: "without -memory-limit no GOMEMLIMIT is invented",
			base: nil, id: 0, nodes: 1, memMiB: 0, cpus: 1, want: map[string]string{"GOMEMLIMIT": ""}},
		{name: "user gomemlimit", doc: "the user's GOMEMLIMIT wins and is not duplicated",
			base: []string{"GOMEMLIMIT=50MiB"}, id: 0, nodes: 1, memMiB: 100, cpus: 1,
			want: map[string]string{"GOMEMLIMIT": "50MiB"}},
		{name: "user gomemlimit without limit", doc: "and passes through when there is no limit",
			base: []string{"GOMEMLIMIT=off"}, id: 0, nodes: 1, cpus: 1, want: map[string]string{"GOMEMLIMIT": "off"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			base := append([]string(nil), tc.base...)
			env := nodeEnv(base, tc.id, tc.nodes, tc.memMiB, tc.quiet, tc.cpus)
			if strings.Join(base, "\x00") != strings.Join(tc.base, "\x00") {
				t.Errorf("nodeEnv modified its input: %q", base)
			}
			for k, w := range tc.want {
				got := envValues(env, k)
				switch {
				case w == "" && len(got) != 0:
					t.Errorf("%s: %s=%q present, want absent", tc.doc, k, got)
				case w != "" && (len(got) != 1 || got[0] != w):
					t.Errorf("%s: %s = %q, want exactly [%q]", tc.doc, k, got, w)
				}
			}
			// Every variable of base that is not swarm identity survives once.
			for _, kv := range tc.base {
				k, _, _ := strings.Cut(kv, "=")
				switch k {
				case "SWARM_NODE_ID", "SWARM_SUPERVISOR_PID", "SWARM_QUIET":
					continue
				}
				if n := len(envValues(env, k)); n != 1 {
					t.Errorf("%s appears %d times, want once", k, n)
				}
			}
		})
	}
}

func TestEnvName(t *testing.T) {
	for name, want := range map[string]string{
		"nodes":                "SWARM_NODES",
		"topics":               "SWARM_TOPICS",
		"node-report-timeout":  "SWARM_NODE_REPORT_TIMEOUT",
		"node-restart-timeout": "SWARM_NODE_RESTART_TIMEOUT",
		"instance-id":          "SWARM_INSTANCE_ID",
		"log-format":           "SWARM_LOG_FORMAT",
	} {
		if got := envName(name); got != want {
			t.Errorf("envName(%q) = %q, want %q", name, got, want)
		}
	}
	// No flag's variable may collide with another's or with the variables
	// that make a process a node: SWARM_NODE_ID set by a user must never be
	// read as a flag, nor a flag reach a node as its identity.
	reserved := map[string]bool{"SWARM_NODE_ID": true, "SWARM_SUPERVISOR_PID": true, "SWARM_QUIET": true}
	seen := map[string]string{}
	newFlagSet(&config{}).VisitAll(func(f *flag.Flag) {
		name := envName(f.Name)
		if reserved[name] {
			t.Errorf("flag -%s maps to the reserved variable %s", f.Name, name)
		}
		if other, dup := seen[name]; dup {
			t.Errorf("flags -%s and -%s both map to %s", other, f.Name, name)
		}
		seen[name] = f.Name
	})
	if len(seen) < 20 {
		t.Errorf("only %d flags visited; is newFlagSet still the flag list?", len(seen))
	}
}

func TestInstanceID(t *testing.T) {
	for _, tc := range []struct {
		prefix      string
		node, route int
		want        string
	}{
		{"test", 0, 0, "test_0_0"},
		{"test", 1, 0, "test_1_0"},
		{"host-a.example", 12, 3, "host-a.example_12_3"},
		{"p_1", 1, 0, "p_1_1_0"}, // Karafka's mapping has no escaping: the prefix is taken as given
	} {
		if got := instanceID(tc.prefix, tc.node, tc.route); got != tc.want {
			t.Errorf("instanceID(%q, %d, %d) = %q, want %q", tc.prefix, tc.node, tc.route, got, tc.want)
		}
	}
}

func TestRssOf(t *testing.T) {
	// testdata/proc_status is a real /proc/PID/status with VmRSS: 48216 kB.
	got, err := rssOf(filepath.Join("testdata", "proc_status"))
	if err != nil {
		t.Fatalf("rssOf(fixture): %v", err)
	}
	if want := int64(48216 * 1024); got != want {
		t.Fatalf("rssOf(fixture) = %d, want %d", got, want)
	}

	dir := t.TempDir()
	write := func(name, content string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	for _, tc := range []struct {
		name, content string
		want          int64 // -1: an error is expected
	}{
		{"spaces", "Name:\tx\nVmRSS:      12 kB\n", 12 * 1024},
		{"zero", "VmRSS:\t0 kB\n", 0},
		{"no VmRSS (kernel thread)", "Name:\tkthreadd\nState:\tS (sleeping)\n", -1},
		{"VmRSS without value", "VmRSS:\n", -1},
		{"VmRSS not a number", "VmRSS:\tlots kB\n", -1},
		{"similar names do not match", "VmRSSx: 5 kB\nRssAnon: 6 kB\n", -1},
		{"empty file", "", -1},
	} {
		got, err := rssOf(write(strings.ReplaceAll(tc.name, " ", "_"), tc.content))
		switch {
		case tc.want < 0 && err == nil:
			t.Errorf("%s: rssOf = %d, want an error", tc.name, got)
		case tc.want >= 0 && (err != nil || got != tc.want):
			t.Errorf("%s: rssOf = %d, %v, want %d", tc.name, got, err, tc.want)
		}
	}
	if _, err := rssOf(filepath.Join(dir, "missing")); err == nil {
		t.Error("rssOf(missing file): no error")
	}
	// And the live one: this process has resident memory.
	if rss, err := readRSS(); err != nil || rss <= 0 {
		t.Errorf("readRSS() = %d, %v, want > 0", rss, err)
	}
}

// siginfoChld is handed to waitid, which writes a whole siginfo_t: 128
// bytes on Linux. Smaller would let the kernel write past it; the fields
// must sit where the kernel puts them.
func TestSiginfoChldLayout(t *testing.T) {
	var si siginfoChld
	if got := unsafe.Sizeof(si); got != 128 {
		t.Fatalf("unsafe.Sizeof(siginfoChld{}) = %d, want 128 (sizeof(siginfo_t))", got)
	}
	for _, f := range []struct {
		name string
		got  uintptr
		want uintptr
	}{
		{"signo", unsafe.Offsetof(si.signo), 0},
		{"errno", unsafe.Offsetof(si.errno), 4},
		{"code", unsafe.Offsetof(si.code), 8},
		{"pid", unsafe.Offsetof(si.pid), 16},
		{"uid", unsafe.Offsetof(si.uid), 20},
		{"status", unsafe.Offsetof(si.status), 24},
	} {
		if f.got != f.want {
			t.Errorf("siginfoChld.%s at offset %d, want %d", f.name, f.got, f.want)
		}
	}
}
