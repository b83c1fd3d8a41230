//go:build linux

package main

import "time"

// The stats protocol, both ends: with -http, a node writes one line of JSON
// per -stats-interval to fd 4 (its own pipe, so no amount of stats can delay
// or corrupt a health report on fd 3); the supervisor reads the other end
// when it publishes (super_stats.go), trusting only what parses as a line of
// this shape. See the README's /status section for the line.
const (
	statsFd      = 4         // the node's end of its stats pipe
	maxStatsLine = 256 << 10 // a longer line is garbage, skipped to its newline
	// superStatsInterval is the -stats-interval a supervisor serving -http
	// gives its nodes: /status and /metrics are at most about this old.
	superStatsInterval = time.Second
)
