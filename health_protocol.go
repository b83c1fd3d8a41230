//go:build linux

package main

// The health protocol, both ends: a node writes its status as ASCII
// decimal digits and "\n" to fd 3 (node_liveness.go); the supervisor reads
// the pipe's other end (super_health.go), trusting only what parseStatus
// accepts.

import "strconv"

// The statuses a node reports, and the protocol's bounds.
const (
	statusHanging   = -1 // supervisor side only: no report in time
	statusHealthy   = 0
	statusPolling   = 1 // polling stalled longer than -polling-ttl
	statusConsuming = 2 // one batch handled longer than -consuming-ttl
	statusMemory    = 3 // RSS above -memory-limit
	statusStalled   = 4 // a partition with lag has not moved for -stall-ttl

	maxStatus     = 255 // larger numbers are garbage, not statuses
	maxReportLine = 8   // "255\n" fits many times over; longer is garbage
	healthFd      = 3   // the node's end of its health pipe
)

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
