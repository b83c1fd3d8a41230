//go:build linux

package main

// What keeps -http clients from costing the supervisor its file descriptors
// or its log: timeouts on every phase of a connection, a cap on connections
// held at once, and net/http's own error lines routed through slog.
//
// Every connection is an fd of the supervisor's, counted against the same
// RLIMIT_NOFILE as the pidfds and pipes it needs to restart nodes. Before the
// cap, 140 idle keep-alive connections under `ulimit -n 128` filled the table:
// /healthz stopped answering and a killed node could not be restarted
// (pipe2: too many open files).

import (
	"log"
	"log/slog"
	"net"
	"net/http"
	"os"
	"strings"
	"sync"
	"time"
)

// Connection timeouts of the -http server. A probe or a scrape takes
// milliseconds; these only bound clients that hold a connection and do
// nothing with it.
const (
	httpReadHeaderTimeout = 5 * time.Second
	httpReadTimeout       = 10 * time.Second
	httpWriteTimeout      = 10 * time.Second
	httpIdleTimeout       = 30 * time.Second
	httpMaxHeaderBytes    = 8 << 10
	// httpErrorEvery: net/http's error lines (accept errors, TLS noise) are
	// logged at most once per this period, with a count of the others.
	httpErrorEvery = time.Second
)

// newStatusHTTPServer is the http.Server for -http with its limits set.
func newStatusHTTPServer(h http.Handler, lim *connLimiter, logger *slog.Logger) *http.Server {
	idle := httpIdleTimeout
	if v := os.Getenv(httpIdleTimeoutEnv); v != "" {
		if d, err := time.ParseDuration(v); err == nil && d > 0 {
			idle = d
		}
	}
	return &http.Server{
		Handler:           h,
		ReadHeaderTimeout: httpReadHeaderTimeout,
		ReadTimeout:       httpReadTimeout,
		WriteTimeout:      httpWriteTimeout,
		IdleTimeout:       idle,
		MaxHeaderBytes:    httpMaxHeaderBytes,
		ConnState:         lim.track,
		ErrorLog:          log.New(&httpErrorLog{log: logger, now: time.Now}, "", 0),
	}
}

// connLimiter is a net.Listener that holds at most max connections. When a
// connection arrives at the cap, the connection idle the longest (between
// requests, or not yet sent one) is closed to make room, so a flood of idle
// clients cannot lock out a liveness probe; if every held connection is busy
// with a request, the new one is closed at once. Either way the fd count
// never passes max+1.
type connLimiter struct {
	net.Listener
	max int

	mu    sync.Mutex
	conns map[net.Conn]*heldConn
}

// heldConn is one connection the limiter counts.
type heldConn struct {
	busy  bool      // a request is being read or answered
	since time.Time // when it last became idle (or was accepted)
}

// newConnLimiter wraps ln with a cap of max connections.
func newConnLimiter(ln net.Listener, max int) *connLimiter {
	return &connLimiter{Listener: ln, max: max, conns: map[net.Conn]*heldConn{}}
}

// Accept returns the next connection, making room for it or closing it.
func (l *connLimiter) Accept() (net.Conn, error) {
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		l.mu.Lock()
		if len(l.conns) >= l.max && !l.evictIdle() {
			l.mu.Unlock()
			_ = c.Close()
			continue
		}
		l.conns[c] = &heldConn{since: time.Now()}
		l.mu.Unlock()
		return c, nil
	}
}

// evictIdle closes the longest-idle connection and forgets it at once (its
// server goroutine sees the close and ends). It reports false when every
// connection is busy. Called with mu held.
func (l *connLimiter) evictIdle() bool {
	var oldest net.Conn
	var at time.Time
	for c, h := range l.conns {
		if !h.busy && (oldest == nil || h.since.Before(at)) {
			oldest, at = c, h.since
		}
	}
	if oldest == nil {
		return false
	}
	delete(l.conns, oldest)
	_ = oldest.Close()
	return true
}

// track is the server's ConnState hook: it keeps busy and idle up to date
// and forgets connections that are gone.
func (l *connLimiter) track(c net.Conn, st http.ConnState) {
	l.mu.Lock()
	defer l.mu.Unlock()
	h, ok := l.conns[c]
	if !ok {
		return // evicted already
	}
	switch st {
	case http.StateActive:
		h.busy = true
	case http.StateIdle:
		h.busy, h.since = false, time.Now()
	case http.StateClosed, http.StateHijacked:
		delete(l.conns, c)
	}
}

// httpErrorLog turns net/http's plain-text error lines into structured
// ones, at most one per httpErrorEvery, each counting the lines it stands
// for.
type httpErrorLog struct {
	log *slog.Logger
	now func() time.Time

	mu         sync.Mutex
	last       time.Time
	suppressed int
}

// Write is called by log.Logger once per message.
func (e *httpErrorLog) Write(p []byte) (int, error) {
	now := e.now()
	e.mu.Lock()
	if !e.last.IsZero() && now.Sub(e.last) < httpErrorEvery {
		e.suppressed++
		e.mu.Unlock()
		return len(p), nil
	}
	e.last = now
	suppressed := e.suppressed
	e.suppressed = 0
	e.mu.Unlock()
	msg := strings.TrimSpace(string(p))
	if len(msg) > 512 {
		// A handler panic logs its whole stack: one line is enough here.
		msg = msg[:512] + "..."
	}
	e.log.Warn("swarm.http.error", "err", msg, "suppressed", suppressed)
	return len(p), nil
}
