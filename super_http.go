//go:build linux

package main

// The opt-in status endpoint (-http ADDR). It reads only the snapshot the
// loop publishes, so a slow or hostile HTTP client can never hold up
// supervision, and a wedged loop shows as a stale snapshot.

import (
	"encoding/json"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"time"
)

const (
	// httpHeartbeat: with -http on, the loop turns at least this often
	// even when nothing is due (one cheap wakeup a second).
	httpHeartbeat = time.Second
	// loopTTL: /healthz fails once the loop has not turned for this long,
	// ten heartbeats: long enough for a loaded machine, short enough for
	// a Kubernetes liveness probe to act on.
	loopTTL = 10 * time.Second
)

// statusServer serves the board over HTTP.
type statusServer struct {
	board   *statusBoard
	log     *slog.Logger
	now     func() time.Time
	dropped func() uint64 // log lines dropped so far
}

// serveStatus listens on addr and serves in the background, at most
// maxConns connections at once (super_httpguard.go). The listener is opened here,
// before any node starts, so a taken port is an error at once.
func serveStatus(addr string, board *statusBoard, log *slog.Logger, maxConns int) (net.Listener, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("listen on -http %s: %w", addr, err)
	}
	s := &statusServer{board: board, log: log, now: time.Now, dropped: logLinesDropped}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", s.healthz)
	mux.HandleFunc("GET /status", s.status)
	mux.HandleFunc("GET /metrics", s.metrics)
	mux.HandleFunc("GET /{$}", s.page)
	lim := newConnLimiter(ln, maxConns)
	srv := newStatusHTTPServer(mux, lim, log)
	go func() {
		if err := srv.Serve(lim); err != nil && err != http.ErrServerClosed && !strings.Contains(err.Error(), "use of closed") {
			log.Error("serve -http", "err", err)
		}
	}()
	log.Info("swarm.http.listening", "addr", ln.Addr().String(), "max_conns", maxConns)
	return ln, nil
}

// healthz is Karafka's SwarmLivenessListener body: 200 while the loop runs,
// 500 once it has not turned within loopTTL.
func (s *statusServer) healthz(w http.ResponseWriter, _ *http.Request) {
	snap := s.board.load()
	now := s.now()
	body := map[string]any{"timestamp": now.Unix(), "status": "healthy"}
	code := http.StatusOK
	if snap == nil {
		body["status"], code = "starting", http.StatusServiceUnavailable
	} else {
		age := now.Sub(snap.at)
		body["process_id"], body["nodes"], body["loop_age_ms"] = snap.pid, len(snap.nodes), age.Milliseconds()
		if age > loopTTL {
			body["status"], code = "unhealthy", http.StatusInternalServerError
		}
	}
	writeJSON(w, code, body)
}

// nodeStatusJSON is one node in /status.
type nodeStatusJSON struct {
	ID              int    `json:"id"`
	PID             int    `json:"pid,omitempty"`
	State           string `json:"state"`
	LastStatus      int    `json:"last_status"`
	LastReportAgeMs *int64 `json:"last_report_age_ms"`
	Restarts        int    `json:"restarts"`
	LastExit        string `json:"last_exit,omitempty"`
	RSSBytes        int64  `json:"rss_bytes"`
	GarbageLines    int    `json:"garbage_lines"`
	nodeStatsJSON          // super_statusjson.go
}

// status serves /status: the snapshot's nodes and partitions as JSON.
func (s *statusServer) status(w http.ResponseWriter, _ *http.Request) {
	snap := s.board.load()
	if snap == nil {
		writeJSON(w, http.StatusServiceUnavailable, map[string]string{"status": "starting"})
		return
	}
	now := s.now()
	out := struct {
		PID        int              `json:"process_id"`
		LoopAgeMs  int64            `json:"loop_age_ms"`
		Quiet      bool             `json:"quiet"`
		Stopping   bool             `json:"stopping"`
		Nodes      []nodeStatusJSON `json:"nodes"`
		Partitions []partitionJSON  `json:"partitions"`
	}{PID: snap.pid, LoopAgeMs: now.Sub(snap.at).Milliseconds(), Quiet: snap.quiet, Stopping: snap.stopping,
		Partitions: partitionsJSON(snap.parts)}
	for _, n := range snap.nodes {
		j := nodeStatusJSON{ID: n.id, PID: n.pid, State: n.state, LastStatus: n.status, Restarts: n.restarts,
			LastExit: n.lastExit, RSSBytes: n.rssBytes, GarbageLines: n.garbage, nodeStatsJSON: statsJSON(n, now)}
		if n.reported && n.state != "down" {
			age := now.Sub(n.lastReport).Milliseconds()
			j.LastReportAgeMs = &age
		}
		out.Nodes = append(out.Nodes, j)
	}
	writeJSON(w, http.StatusOK, out)
}

// metrics is the Prometheus text exposition format, version 0.0.4.
func (s *statusServer) metrics(w http.ResponseWriter, _ *http.Request) {
	snap := s.board.load()
	if snap == nil {
		http.Error(w, "starting", http.StatusServiceUnavailable)
		return
	}
	now := s.now()
	var b strings.Builder
	metric := func(name, typ, help string) {
		fmt.Fprintf(&b, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, typ)
	}
	metric("swarm_nodes", "gauge", "Configured number of nodes.")
	fmt.Fprintf(&b, "swarm_nodes %d\n", len(snap.nodes))
	metric("swarm_supervisor_loop_age_seconds", "gauge", "Seconds since the supervisor loop last turned.")
	fmt.Fprintf(&b, "swarm_supervisor_loop_age_seconds %.3f\n", now.Sub(snap.at).Seconds())
	metric("swarm_log_lines_dropped_total", "counter", "Supervisor log lines dropped because stderr was not taking writes.")
	var dropped uint64
	if s.dropped != nil {
		dropped = s.dropped()
	}
	fmt.Fprintf(&b, "swarm_log_lines_dropped_total %d\n", dropped)
	perNode := []struct {
		name, typ, help string
		value           func(n nodeSnapshot) (float64, bool)
	}{
		{"swarm_node_up", "gauge", "1 while the node process is running.", func(n nodeSnapshot) (float64, bool) {
			return b2f(n.state == "running"), true
		}},
		{"swarm_node_restarts_total", "counter", "Times the node was started again.", func(n nodeSnapshot) (float64, bool) {
			return float64(n.restarts), true
		}},
		{"swarm_node_status", "gauge", "Highest health status reported since the node started (0 healthy).", func(n nodeSnapshot) (float64, bool) {
			return float64(n.status), true
		}},
		{"swarm_node_rss_bytes", "gauge", "Resident memory of the node at its last report.", func(n nodeSnapshot) (float64, bool) {
			return float64(n.rssBytes), n.state != "down"
		}},
		{"swarm_node_report_age_seconds", "gauge", "Seconds since the node's last health report.", func(n nodeSnapshot) (float64, bool) {
			return now.Sub(n.lastReport).Seconds(), n.reported && n.state != "down"
		}},
	}
	for _, m := range perNode {
		metric(m.name, m.typ, m.help)
		for _, n := range snap.nodes {
			if v, ok := m.value(n); ok {
				fmt.Fprintf(&b, "%s{node=\"%d\"} %g\n", m.name, n.id, v)
			}
		}
	}
	writeStatsMetrics(&b, snap) // super_statsmetrics.go
	w.Header().Set("Content-Type", "text/plain; version=0.0.4; charset=utf-8")
	_, _ = w.Write([]byte(b.String()))
}

func b2f(v bool) float64 {
	if v {
		return 1
	}
	return 0
}

// writeJSON writes v as a JSON response with status code.
func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(v)
}
