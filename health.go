//go:build linux

package main

import (
	"strconv"
)

// Health protocol: a node writes ASCII decimal status + "\n" to fd 3.
const (
	statusHanging   = -1 // supervisor side only: no report in time
	statusHealthy   = 0
	statusPolling   = 1 // polling stalled longer than -polling-ttl
	statusConsuming = 2 // one batch handled longer than -consuming-ttl
	statusMemory    = 3 // RSS above -memory-limit

	maxStatus      = 255 // larger numbers are garbage, not statuses
	maxReportLine  = 8   // "255\n" fits many times over; longer is garbage
	healthFd       = 3   // the node's end of its health pipe
	readChunk      = 4096
	readsPerWakeup = 16 // bound the work one noisy pipe gets per loop turn
)

// healthParser splits a byte stream into report lines. It never buffers more
// than maxReportLine bytes, whatever a node writes: an endless line is
// counted once as garbage and skipped to its newline.
type healthParser struct {
	line     []byte
	overflow bool
}

// feed parses b and returns the highest valid status in it (ok false when
// there was none) and how many garbage lines it saw.
func (p *healthParser) feed(b []byte) (highest int, ok bool, garbage int) {
	highest = -1
	for _, c := range b {
		if c != '\n' {
			if p.overflow {
				continue
			}
			if len(p.line) >= maxReportLine {
				p.overflow = true
				p.line = p.line[:0]
				continue
			}
			p.line = append(p.line, c)
			continue
		}
		if st, valid := parseStatus(p.line, p.overflow); valid {
			ok = true
			highest = max(highest, st)
		} else {
			garbage++
		}
		p.line = p.line[:0]
		p.overflow = false
	}
	return highest, ok, garbage
}

// parseStatus reads one report line: decimal digits only, 0 to maxStatus.
func parseStatus(line []byte, overflow bool) (int, bool) {
	if overflow || len(line) == 0 {
		return 0, false
	}
	for _, c := range line {
		if c < '0' || c > '9' {
			return 0, false
		}
	}
	v, err := strconv.Atoi(string(line))
	if err != nil || v > maxStatus {
		return 0, false
	}
	return v, true
}
