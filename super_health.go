//go:build linux

package main

// The supervisor's reading of the health protocol: a byte stream from a
// node it does not trust, split into report lines in bounded memory.

// How much of a health pipe one loop turn reads.
const (
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
