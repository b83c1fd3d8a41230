//go:build linux

package main

import (
	"math"
	"net/http/httptest"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"golang.org/x/sys/unix"
)

// promT is what the exposition parser needs of a *testing.T, so a test
// can check that it refuses what it should.
type promT interface {
	Helper()
	Errorf(format string, args ...any)
	Fatalf(format string, args ...any)
}

// refusals is a promT that only notes a failure; Fatalf panics with it.
type refusals struct{ failed bool }

func (r *refusals) Helper()               {}
func (r *refusals) Errorf(string, ...any) { r.failed = true }
func (r *refusals) Fatalf(string, ...any) { r.failed = true; panic(r) }

// promSample is one sample line of the text format.
type promSample struct {
	name   string
	labels map[string]string
	order  []string // label names as written
	value  float64
}

// The text format 0.0.4's grammar for one sample line (no timestamp: we
// never write one).
var (
	promSampleRe = regexp.MustCompile(`^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{((?:[a-zA-Z_][a-zA-Z0-9_]*="(?:[^"\\\n]|\\[\\"n])*",?)*)\})? (\S+)$`)
	promLabelRe  = regexp.MustCompile(`([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\\n]|\\[\\"n])*)"`)
	promTypeRe   = regexp.MustCompile(`^# TYPE ([a-zA-Z_:][a-zA-Z0-9_:]*) (counter|gauge|histogram|summary|untyped)$`)
	promUnescape = strings.NewReplacer(`\\`, `\`, `\"`, `"`, `\n`, "\n")
)

// parseProm reads an exposition strictly: every line is a HELP, a TYPE or a
// sample matching the grammar; a family's TYPE comes once, before its
// samples, which are contiguous; no series twice; every histogram's
// buckets rise in le to +Inf, are cumulative, and +Inf equals _count.
func parseProm(t promT, body string) (samples []promSample, types map[string]string) {
	t.Helper()
	types = map[string]string{}
	seen, done := map[string]bool{}, map[string]bool{}
	cur := ""
	for _, line := range strings.Split(strings.TrimSuffix(body, "\n"), "\n") {
		if strings.HasPrefix(line, "# HELP ") {
			continue
		}
		if m := promTypeRe.FindStringSubmatch(line); m != nil {
			if types[m[1]] != "" {
				t.Errorf("second TYPE line for %s", m[1])
			}
			types[m[1]] = m[2]
			continue
		}
		s := parsePromSample(t, line)
		fam := promFamily(s.name, types)
		if fam == "" {
			t.Errorf("sample %q has no TYPE line before it", line)
		}
		if fam != cur {
			if done[fam] {
				t.Errorf("family %s is not contiguous (at %q)", fam, line)
			}
			done[cur], cur = true, fam
		}
		if key := s.name + "{" + strings.Join(labelPairs(s), ",") + "}"; seen[key] {
			t.Errorf("series %s twice", key)
		} else {
			seen[key] = true
		}
		samples = append(samples, s)
	}
	checkHistograms(t, samples, types)
	return samples, types
}

// parsePromSample parses one sample line against the grammar.
func parsePromSample(t promT, line string) promSample {
	t.Helper()
	m := promSampleRe.FindStringSubmatch(line)
	if m == nil {
		t.Fatalf("line %q is not a sample of the text format", line)
	}
	s := promSample{name: m[1], labels: map[string]string{}}
	for _, l := range promLabelRe.FindAllStringSubmatch(m[2], -1) {
		if _, dup := s.labels[l[1]]; dup {
			t.Errorf("line %q: label %s twice", line, l[1])
		}
		s.labels[l[1]], s.order = promUnescape.Replace(l[2]), append(s.order, l[1])
	}
	var err error
	switch m[3] {
	case "+Inf", "-Inf", "NaN":
		s.value = map[string]float64{"+Inf": math.Inf(1), "-Inf": math.Inf(-1), "NaN": math.NaN()}[m[3]]
	default:
		s.value, err = strconv.ParseFloat(m[3], 64)
	}
	if err != nil {
		t.Fatalf("line %q: value: %v", line, err)
	}
	return s
}

// promFamily is the family a sample belongs to: its name, or for a
// histogram's _bucket, _sum and _count the histogram's.
func promFamily(name string, types map[string]string) string {
	if types[name] != "" {
		return name
	}
	for _, suf := range []string{"_bucket", "_sum", "_count"} {
		if base, ok := strings.CutSuffix(name, suf); ok && types[base] == "histogram" {
			return base
		}
	}
	return ""
}

// labelPairs is s's labels as name="value", sorted, le left out when
// without is true.
func labelPairs(s promSample, without ...string) []string {
	var out []string
	for k, v := range s.labels {
		if !slices.Contains(without, k) {
			out = append(out, k+"="+strconv.Quote(v))
		}
	}
	slices.Sort(out)
	return out
}

// checkHistograms checks every histogram series: le rising to +Inf,
// counts cumulative, +Inf equal to _count, a _sum.
func checkHistograms(t promT, samples []promSample, types map[string]string) {
	t.Helper()
	type series struct {
		le, counts []float64
		count, sum float64
		hasCount   bool
		hasSum     bool
	}
	hs := map[string]*series{}
	get := func(fam string, s promSample) *series {
		k := fam + strings.Join(labelPairs(s, "le"), ",")
		if hs[k] == nil {
			hs[k] = &series{}
		}
		return hs[k]
	}
	for _, s := range samples {
		fam := promFamily(s.name, types)
		if types[fam] != "histogram" {
			continue
		}
		h := get(fam, s)
		switch s.name {
		case fam + "_bucket":
			le, err := strconv.ParseFloat(s.labels["le"], 64)
			if err != nil {
				t.Errorf("%s bucket le %q: %v", fam, s.labels["le"], err)
			}
			h.le, h.counts = append(h.le, le), append(h.counts, s.value)
		case fam + "_count":
			h.count, h.hasCount = s.value, true
		case fam + "_sum":
			h.sum, h.hasSum = s.value, true
		}
	}
	for k, h := range hs {
		n := len(h.le)
		if n == 0 || !math.IsInf(h.le[n-1], 1) || !h.hasCount || !h.hasSum || h.counts[n-1] != h.count {
			t.Errorf("histogram %s: le %v counts %v count %v (%v) sum %v: want le up to +Inf and +Inf = _count", k, h.le, h.counts, h.count, h.hasCount, h.hasSum)
			continue
		}
		for i := 1; i < n; i++ {
			if h.le[i] <= h.le[i-1] || h.counts[i] < h.counts[i-1] {
				t.Errorf("histogram %s not cumulative in rising le: le %v counts %v", k, h.le, h.counts)
			}
		}
	}
}

// getMetrics is /metrics as the HTTP goroutine serves it from the board.
func getMetrics(t *testing.T, h *managerHarness) string {
	t.Helper()
	srv := &statusServer{board: &h.m.board, now: func() time.Time { return h.sys.clock }}
	rec := httptest.NewRecorder()
	srv.metrics(rec, httptest.NewRequest("GET", "/metrics", nil))
	if rec.Code != 200 {
		t.Fatalf("/metrics %d: %s", rec.Code, rec.Body)
	}
	return rec.Body.String()
}

// /metrics from canned stats lines parses as Prometheus text, with
// kafka_exporter's names and labels for lag and committed offset, the
// record counters per node and group, a cumulative histogram in seconds,
// and the exits by cause.
func TestMetricsFromStats(t *testing.T) {
	h := statsSwarm(t)
	h.exit(1, exitStatus{code: -1, signal: unix.SIGKILL})
	h.m.publish(h.sys.clock)
	samples, types := parseProm(t, getMetrics(t, h))
	got := map[string]float64{}
	for _, s := range samples {
		got[s.name+"{"+strings.Join(s.order, ",")+"="+strings.Join(labelValues(s), ",")+"}"] = s.value
	}
	for k, want := range map[string]float64{
		"kafka_consumergroup_lag{consumergroup,topic,partition=g1,orders,0}":            10,
		"kafka_consumergroup_lag{consumergroup,topic,partition=g1,orders,1}":            2,
		"kafka_consumergroup_current_offset{consumergroup,topic,partition=g1,orders,0}": 90,
		"swarm_partition_stale{consumergroup,topic,partition=g1,orders,2}":              1, // its node is down
		"swarm_partition_stale{consumergroup,topic,partition=g1,orders,0}":              0,
		"swarm_records_handled_total{node,consumergroup=0,g1}":                          1000,
		"swarm_records_failed_total{node,consumergroup=0,g1}":                           3,
		"swarm_records_retried_total{node,consumergroup=0,g1}":                          2,
		"swarm_records_dead_lettered_total{node,consumergroup=0,g1}":                    1,
		"swarm_records_aborted_total{node,consumergroup=0,g1}":                          4,
		"swarm_handler_duration_seconds_bucket{node,consumergroup,le=0,g1,0.001}":       10,
		"swarm_handler_duration_seconds_bucket{node,consumergroup,le=0,g1,0.005}":       15,
		"swarm_handler_duration_seconds_bucket{node,consumergroup,le=0,g1,+Inf}":        16,
		"swarm_handler_duration_seconds_sum{node,consumergroup=0,g1}":                   2.1,
		"swarm_handler_duration_seconds_count{node,consumergroup=0,g1}":                 16,
		"swarm_node_exits_total{node,reason=1,crash}":                                   1,
		"swarm_node_exits_total{node,reason=0,crash}":                                   0,
		"swarm_nodes{=}": 2,
	} {
		if v, ok := got[k]; !ok || v != want {
			t.Errorf("%s = %v (present %v), want %v", k, v, ok, want)
		}
	}
	if _, ok := got["kafka_consumergroup_lag{consumergroup,topic,partition=g1,orders,2}"]; ok {
		t.Errorf("a lag for orders 2, whose high watermark is unknown")
	}
	for name, typ := range map[string]string{"kafka_consumergroup_lag": "gauge", "kafka_consumergroup_current_offset": "gauge",
		"swarm_records_handled_total": "counter", "swarm_handler_duration_seconds": "histogram", "swarm_node_exits_total": "counter",
		"swarm_log_lines_dropped_total": "counter"} {
		if types[name] != typ {
			t.Errorf("TYPE of %s %q, want %s", name, types[name], typ)
		}
	}
}

// labelValues is s's label values in the order written.
func labelValues(s promSample) []string {
	var out []string
	for _, k := range s.order {
		out = append(out, s.labels[k])
	}
	return out
}

// Names from a node are escaped into label values that read back the same.
func TestMetricsEscapeLabels(t *testing.T) {
	h := servingHarness(t, 1)
	weird := "a\"b\\c\nd"
	h.sendStats(0, statsJSONLine(t, oneRoute(1, weird, 1, statsPartition{Topic: weird, Partition: 0, Committed: 1, HighWatermark: 2})))
	samples, _ := parseProm(t, getMetrics(t, h))
	found := 0
	for _, s := range samples {
		if s.name == "kafka_consumergroup_lag" {
			found++
			if s.labels["topic"] != weird || s.labels["consumergroup"] != weird {
				t.Errorf("labels %q, want topic and group %q", s.labels, weird)
			}
		}
	}
	if found != 1 {
		t.Errorf("%d lag samples, want 1", found)
	}
}

// The strict parser fails what it should: a bucket count that falls, a
// sample without TYPE, a bad label.
func TestMetricsParserRefuses(t *testing.T) {
	for _, body := range []string{
		"# TYPE h histogram\nh_bucket{le=\"1\"} 5\nh_bucket{le=\"+Inf\"} 4\nh_sum 1\nh_count 4\n",
		"x 1\n",
		"# TYPE x gauge\nx{a=\"b} 1\n",
		"# TYPE x gauge\n# TYPE y gauge\nx 1\ny 1\nx{a=\"1\"} 2\n",
	} {
		r := &refusals{}
		func() {
			defer func() {
				if p := recover(); p != nil && p != r {
					panic(p)
				}
			}()
			parseProm(r, body)
		}()
		if !r.failed {
			t.Errorf("parser accepted %q", body)
		}
	}
}

// A long group name is clipped at 255 bytes on a rune boundary: the
// clipped name goes into /metrics label values, which must be valid UTF-8
// (Prometheus rejects the whole scrape otherwise).
func TestMetricsLabelsClippedAtARune(t *testing.T) {
	group := strings.Repeat("a", 254) + "é"
	line := `{"v":1,"at_ms":1,"routes":[{"route":0,"group":"` + group + `","handled":1,` +
		`"partitions":[{"topic":"t","partition":0,"handled":1,"committed":1,"high_watermark":2}]}]}`
	s, ok := parseStatsLine([]byte(line), false)
	if !ok {
		t.Fatal("line not taken")
	}
	var pv partitionView
	now := time.Now()
	pv.update(0, s, now)
	snap := &snapshot{nodes: []nodeSnapshot{{id: 0, stats: s}}, parts: pv.snapshot(now, func(int) bool { return false })}
	var b strings.Builder
	writeStatsMetrics(&b, snap)
	if !utf8.ValidString(b.String()) {
		t.Errorf("/metrics is not valid UTF-8: group clipped to %q", s.Routes[0].Group[250:])
	}
}
