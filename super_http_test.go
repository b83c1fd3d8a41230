//go:build linux

package main

import (
	"bufio"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"
)

// httpGet fetches url and returns status code and body.
func httpGet(t *testing.T, url string) (int, string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("read %s: %v", url, err)
	}
	return resp.StatusCode, string(b)
}

// startWithHTTP runs a 2-node swarm with -http on a free loopback port and
// returns it, its base URL and the node pids.
func startWithHTTP(t *testing.T) (*swarmProc, string, map[int]int) {
	t.Helper()
	_, addr := newBroker(t, 4, "orders")
	s := startSwarm(t, swarmArgs(addr, "-nodes=2", "-handler=discard",
		"-http=127.0.0.1:0")...)
	l, _ := s.waitLog(10*time.Second, "http listening", 0, logged("swarm.http.listening"))
	pids := s.waitNodesReady(2, 0)
	return s, "http://" + l.str("addr"), pids
}

// The endpoint over real HTTP against the real binary: /healthz, /status
// and /metrics agree with what the supervisor logged.
func TestStatusEndpointsAgreeWithLog(t *testing.T) {
	s, base, pids := startWithHTTP(t)
	checkHealthz(t, base, s.pid(), 2)
	checkStatusNodes(t, base, pids)
	checkMetrics(t, base)
	code, body := httpGet(t, base+"/")
	if code != 200 || !strings.Contains(body, "<table") || strings.Contains(body, "http://") || strings.Contains(body, "https://") {
		t.Errorf("/ page: %d, self-contained table expected", code)
	}
}

// checkHealthz checks /healthz: 200, healthy, the supervisor's pid and
// node count, a timestamp and the loop's age.
func checkHealthz(t *testing.T, base string, pid, nodes int) {
	t.Helper()
	code, body := httpGet(t, base+"/healthz")
	var hz map[string]any
	if err := json.Unmarshal([]byte(body), &hz); err != nil || code != 200 {
		t.Fatalf("/healthz: %d %q (%v)", code, body, err)
	}
	if hz["status"] != "healthy" || int(hz["process_id"].(float64)) != pid || int(hz["nodes"].(float64)) != nodes {
		t.Errorf("/healthz body %v", hz)
	}
	for _, k := range []string{"timestamp", "loop_age_ms"} {
		if _, ok := hz[k]; !ok {
			t.Errorf("/healthz lacks %q: %v", k, hz)
		}
	}
}

// checkStatusNodes checks that /status shows the nodes' real pids, running
// and healthy, once each has reported.
func checkStatusNodes(t *testing.T, base string, pids map[int]int) {
	t.Helper()
	var st struct {
		PID   int `json:"process_id"`
		Nodes []struct {
			ID, PID, Restarts int
			State             string
			LastStatus        int    `json:"last_status"`
			LastReportAgeMs   *int64 `json:"last_report_age_ms"`
			RSS               int64  `json:"rss_bytes"`
		}
	}
	waitFor(t, 10*time.Second, "/status to show every node reported", func() bool {
		_, body := httpGet(t, base+"/status")
		if err := json.Unmarshal([]byte(body), &st); err != nil {
			t.Fatalf("/status: %v: %q", err, body)
		}
		for _, n := range st.Nodes {
			if n.LastReportAgeMs == nil || n.RSS == 0 {
				return false
			}
		}
		return len(st.Nodes) == len(pids)
	})
	for _, n := range st.Nodes {
		if n.PID != pids[n.ID] || n.State != "running" || n.LastStatus != 0 || n.Restarts != 0 {
			t.Errorf("/status node %+v, want pid %d running healthy", n, pids[n.ID])
		}
	}
}

// checkMetrics checks /metrics for a healthy two-node swarm: the counts and
// states it must hold, and the gauges that must be there.
func checkMetrics(t *testing.T, base string) {
	t.Helper()
	code, body := httpGet(t, base+"/metrics")
	if code != 200 {
		t.Fatalf("/metrics: %d", code)
	}
	metrics := parseMetrics(t, body)
	for name, want := range map[string]float64{
		"swarm_nodes": 2, `swarm_node_up{node="0"}`: 1, `swarm_node_up{node="1"}`: 1,
		`swarm_node_restarts_total{node="0"}`: 0, `swarm_node_status{node="1"}`: 0,
	} {
		if got, ok := metrics[name]; !ok || got != want {
			t.Errorf("metric %s = %v (present %v), want %v", name, got, ok, want)
		}
	}
	for _, name := range []string{"swarm_supervisor_loop_age_seconds", `swarm_node_rss_bytes{node="0"}`, `swarm_node_report_age_seconds{node="1"}`} {
		if _, ok := metrics[name]; !ok {
			t.Errorf("metric %s missing", name)
		}
	}
}

// parseMetrics reads Prometheus text format into name{labels} -> value,
// checking that every sample has a TYPE line before it.
func parseMetrics(t *testing.T, body string) map[string]float64 {
	t.Helper()
	out := map[string]float64{}
	typed := map[string]bool{}
	sc := bufio.NewScanner(strings.NewReader(body))
	for sc.Scan() {
		line := sc.Text()
		if strings.HasPrefix(line, "# TYPE ") {
			typed[strings.Fields(line)[2]] = true
			continue
		}
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		i := strings.LastIndexByte(line, ' ')
		v, err := strconv.ParseFloat(line[i+1:], 64)
		if err != nil {
			t.Fatalf("metric line %q: %v", line, err)
		}
		name := line[:i]
		base := name
		if j := strings.IndexByte(name, '{'); j >= 0 {
			base = name[:j]
		}
		if !typed[base] {
			t.Errorf("metric %s has no TYPE line", base)
		}
		out[name] = v
	}
	return out
}

// /healthz turns 500 once the loop has not turned within loopTTL. A live
// binary's loop cannot be wedged while its HTTP goroutine runs, so this is
// a unit test on the server with a stale snapshot and a clock it controls.
func TestHealthzFailsWhenLoopIsStale(t *testing.T) {
	board := &statusBoard{}
	now := time.Now()
	board.cur.Store(&snapshot{at: now, pid: 42, nodes: make([]nodeSnapshot, 3)})
	srv := &statusServer{board: board, now: func() time.Time { return now }}
	for _, tc := range []struct {
		doc  string
		age  time.Duration
		code int
	}{
		{"fresh loop", 0, 200},
		{"just inside the TTL", loopTTL, 200},
		{"past the TTL", loopTTL + time.Millisecond, 500},
	} {
		srv.now = func() time.Time { return now.Add(tc.age) }
		rec := httptest.NewRecorder()
		srv.healthz(rec, httptest.NewRequest("GET", "/healthz", nil))
		if rec.Code != tc.code {
			t.Errorf("%s: code %d, want %d (%s)", tc.doc, rec.Code, tc.code, rec.Body)
		}
	}
	empty := &statusServer{board: &statusBoard{}, now: time.Now}
	rec := httptest.NewRecorder()
	empty.healthz(rec, httptest.NewRequest("GET", "/healthz", nil))
	if rec.Code == 200 {
		t.Errorf("no snapshot yet: code 200, want an error")
	}
}
