//go:build linux

package main

// The test handler's -log file (testdata/handler), json codec: one line
// "<partition> <offset> <attempt> <unix ns>" per record it read, in the
// order it read them. Readers that only need which records it saw take the
// first two fields.

import (
	"strconv"
	"strings"
	"testing"
	"time"
)

// seenRecord is one line of the handler's -log file.
type seenRecord struct {
	part    int32
	off     int64
	attempt int // the frame's attempt; 0 when the frame had none
	at      time.Time
}

// parseSeen parses one -log line; ok is false for a line that is not
// "<partition> <offset> <attempt> <unix ns>".
func parseSeen(line string) (r seenRecord, ok bool) {
	f := strings.Fields(line)
	if len(f) != 4 {
		return r, false
	}
	p, err1 := strconv.ParseInt(f[0], 10, 32)
	o, err2 := strconv.ParseInt(f[1], 10, 64)
	a, err3 := strconv.Atoi(f[2])
	ns, err4 := strconv.ParseInt(f[3], 10, 64)
	if err1 != nil || err2 != nil || err3 != nil || err4 != nil {
		return r, false
	}
	return seenRecord{part: int32(p), off: o, attempt: a, at: time.Unix(0, ns)}, true
}

// readSeen reads the handler's -log file at path (nothing when it does not
// exist yet); a line it cannot parse fails the test.
func readSeen(t testing.TB, path string) []seenRecord {
	t.Helper()
	var out []seenRecord
	for _, l := range fileLines(t, path) {
		if l == "" {
			continue
		}
		r, ok := parseSeen(l)
		if !ok {
			t.Fatalf("handler log %s: unparsable line %q", path, l)
		}
		out = append(out, r)
	}
	return out
}

// offsetsSeen cuts each -log line to "<partition> <offset>": which records
// the handler saw, whatever the attempt.
func offsetsSeen(lines []string) []string {
	out := make([]string, 0, len(lines))
	for _, l := range lines {
		if f := strings.Fields(l); len(f) >= 2 {
			l = f[0] + " " + f[1]
		}
		out = append(out, l)
	}
	return out
}
