//go:build linux

package main

import (
	"bytes"
	"encoding/json"
	"os"
	"time"
	"unicode/utf8"

	"golang.org/x/sys/unix"
)

// The supervisor's reading of the stats protocol (stats_protocol.go): a byte
// stream from a node it does not trust, read only when the loop publishes
// (never registered with epoll, so stats cost no wakeups), split into lines
// in bounded memory, and kept as the newest valid line per node.

// How much of a stats pipe one publish reads: a node flooding its pipe
// costs the loop at most this much per turn, and the rest waits in the
// pipe (the node's writes then fail with EAGAIN, which it tolerates).
const (
	statsChunk        = 64 << 10
	statsReadsPerTurn = 4
)

// The most the supervisor keeps of one stats line, whatever it says.
const (
	maxStatsRoutes     = 64   // routes per node
	maxStatsPartitions = 1024 // partitions per node, over all its routes
	maxStatsFailures   = 5    // failures per route
	maxStatsError      = 200  // bytes of a failure's error
	maxStatsName       = 255  // bytes of a group or topic name
	maxLatencyBuckets  = 64   // le entries of a latency histogram
)

// statsParser splits a byte stream into lines. It never buffers more than
// maxStatsLine bytes: a longer line is counted once as garbage and skipped
// to its newline.
type statsParser struct {
	line     []byte
	overflow bool
}

// feed parses b and returns the newest valid line completed in it (nil
// when there was none) and how many garbage lines it saw.
func (p *statsParser) feed(b []byte) (newest *statsLine, garbage int) {
	for len(b) > 0 {
		i := bytes.IndexByte(b, '\n')
		part := b
		if i >= 0 {
			part = b[:i]
		}
		line := part // a whole line in b is parsed where it is, not copied
		switch {
		case p.overflow:
		case len(p.line)+len(part) > maxStatsLine:
			p.overflow, p.line = true, nil // let a flood's buffer go
		case i < 0 || len(p.line) > 0:
			p.line = append(p.line, part...)
			line = p.line
		}
		if i < 0 {
			return newest, garbage
		}
		b = b[i+1:]
		if s, ok := parseStatsLine(line, p.overflow); ok {
			newest = s
		} else {
			garbage++
		}
		p.line, p.overflow = p.line[:0], false
		if cap(p.line) > statsChunk {
			p.line = nil // one big line does not keep its buffer for good
		}
	}
	return newest, garbage
}

// parseStatsLine decodes one line and bounds what is kept of it.
func parseStatsLine(line []byte, overflow bool) (*statsLine, bool) {
	if overflow || len(line) == 0 {
		return nil, false
	}
	var s statsLine
	if err := json.Unmarshal(line, &s); err != nil || !s.valid() {
		return nil, false
	}
	s.bound()
	return &s, true
}

// valid says whether a decoded line has the protocol's shape: version 1,
// no negative counter or partition, and a histogram with one count per
// bound plus +Inf, bounds strictly rising.
func (s *statsLine) valid() bool {
	if s.V != 1 {
		return false
	}
	for _, r := range s.Routes {
		if r.Route < 0 || min(r.Handled, r.Failed, r.Retried, r.DeadLettered, r.Skipped, r.Produced, r.Aborted) < 0 {
			return false
		}
		if r.LatencyMs.present() && !r.LatencyMs.valid() {
			return false
		}
		for _, p := range r.Partitions {
			if p.Partition < 0 {
				return false
			}
		}
	}
	return true
}

// present says whether the line carried a histogram at all.
func (l *latencyHist) present() bool { return len(l.Le) > 0 || len(l.Counts) > 0 }

// valid checks a histogram's shape.
func (l *latencyHist) valid() bool {
	if len(l.Le) > maxLatencyBuckets || len(l.Counts) != len(l.Le)+1 || l.SumMs < 0 || l.Count < 0 {
		return false
	}
	for i, le := range l.Le {
		if le <= 0 || (i > 0 && le <= l.Le[i-1]) {
			return false
		}
	}
	for _, c := range l.Counts {
		if c < 0 {
			return false
		}
	}
	return true
}

// bound cuts a valid line to what the supervisor keeps: maxStatsRoutes
// routes, maxStatsPartitions partitions in all, the newest maxStatsFailures
// failures per route, names and errors clipped.
func (s *statsLine) bound() {
	if len(s.Routes) > maxStatsRoutes {
		s.Routes = s.Routes[:maxStatsRoutes]
	}
	room := maxStatsPartitions
	for i := range s.Routes {
		r := &s.Routes[i]
		r.Group = clipStats(r.Group, maxStatsName)
		if len(r.Partitions) > room {
			r.Partitions, r.Truncated = r.Partitions[:room], true
		}
		room -= len(r.Partitions)
		for j := range r.Partitions {
			r.Partitions[j].Topic = clipStats(r.Partitions[j].Topic, maxStatsName)
		}
		if len(r.Failures) > maxStatsFailures {
			r.Failures = r.Failures[len(r.Failures)-maxStatsFailures:]
		}
		for j := range r.Failures {
			f := &r.Failures[j]
			f.Topic, f.Error = clipStats(f.Topic, maxStatsName), clipStats(f.Error, maxStatsError)
		}
		// Copies, so what is kept no longer holds the decoded arrays.
		r.Partitions = append([]statsPartition(nil), r.Partitions...)
		r.Failures = append([]statsFailure(nil), r.Failures...)
	}
	s.Routes = append([]statsRoute(nil), s.Routes...)
}

// clipStats cuts s to at most n bytes, as a copy: a clipped substring would
// keep the whole decoded string alive.
func clipStats(s string, n int) string {
	if len(s) <= n {
		return s
	}
	// At a rune's start: a label cut inside a UTF-8 sequence is invalid
	// Prometheus text, and one bad label fails the whole scrape.
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return string([]byte(s[:n]))
}

// handled is the node's handled total over its routes.
func (s *statsLine) handled() int64 {
	var t int64
	for _, r := range s.Routes {
		t += r.Handled
	}
	return t
}

// nodeStats is what the supervisor keeps of one node's stats. exits and
// exitCounts outlive the node's incarnations; the rest is per incarnation
// (latest is kept after a death until the next one sends its first line).
type nodeStats struct {
	fd      int // read end of the stats pipe; -1 when none (no -http, down, at EOF)
	parser  statsParser
	latest  *statsLine // the newest valid line; never modified once kept
	at      time.Time  // when latest arrived
	fresh   bool       // latest came from the current incarnation
	rate    float64    // records/s between the last two lines of this incarnation
	garbage int        // garbage stats lines since the node started

	exits      []exitRecord // the last maxExits, oldest first; replaced, never modified (super_exits.go)
	exitCounts [numReasons]int
}

// readStats drains what the node's stats pipe holds now, at most
// statsReadsPerTurn reads of buf, and keeps the newest valid line. At EOF
// or on a read error the pipe is closed (the node's stats end there).
func (m *manager) readStats(n *node, now time.Time) {
	s := &n.stats
	var newest *statsLine
	garbage := 0
	for i := 0; i < statsReadsPerTurn && s.fd >= 0; i++ {
		r, err := unix.Read(s.fd, m.statsBuf)
		if err == unix.EINTR {
			continue
		}
		if err == unix.EAGAIN {
			break
		}
		if err != nil || r == 0 {
			if err != nil {
				m.log.Error("read stats pipe", "node", n.id, "node_pid", n.pid, "err", os.NewSyscallError("read", err))
			}
			m.closeStats(n)
			break
		}
		l, g := s.parser.feed(m.statsBuf[:r])
		garbage += g
		if l != nil {
			newest = l
		}
	}
	s.garbage += garbage
	if newest != nil {
		m.takeStats(n, newest, now)
	}
}

// takeStats keeps a node's newest line: its records/s against the
// previous line of the same incarnation, and its partitions in the
// swarm's view.
func (m *manager) takeStats(n *node, l *statsLine, now time.Time) {
	s := &n.stats
	s.rate = 0
	if s.fresh && s.latest != nil {
		dt := time.Duration(l.AtMs-s.latest.AtMs) * time.Millisecond
		if dt <= 0 {
			dt = now.Sub(s.at) // a node clock that did not move: the supervisor's
		}
		if d := l.handled() - s.latest.handled(); d >= 0 && dt > 0 {
			s.rate = float64(d) / dt.Seconds()
		}
	}
	s.latest, s.at, s.fresh = l, now, true
	m.parts.update(n.id, l, now)
}

// closeStats lets go of a node's stats pipe.
func (m *manager) closeStats(n *node) {
	if n.stats.fd < 0 {
		return
	}
	if err := unix.Close(n.stats.fd); err != nil {
		m.log.Warn("close", "fd", n.stats.fd, "err", err)
	}
	n.stats.fd = -1
	n.stats.parser = statsParser{}
}

// makeStatsPipe makes a node's stats pipe: the read end stays with the
// supervisor (non-blocking, close-on-exec, never in epoll), the write end
// becomes the node's fd 4. Both ends are non-blocking, so a supervisor
// that does not read costs the node a failed write, never a blocked one.
func makeStatsPipe() (read, write int, err error) {
	var p [2]int
	if err := unix.Pipe2(p[:], unix.O_CLOEXEC|unix.O_NONBLOCK); err != nil {
		return -1, -1, os.NewSyscallError("pipe2", err)
	}
	return p[0], p[1], nil
}
