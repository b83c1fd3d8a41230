//go:build linux

package main

// The stats protocol, both ends: with -http, a node writes one line of JSON
// per -stats-interval to fd 4 (its own pipe, so no amount of stats can delay
// or corrupt a health report on fd 3); the supervisor reads the other end
// when it publishes (super_stats.go), trusting only what parses as a line of
// this shape (statsLine.valid). One set of types serves both ends, so the
// two cannot drift apart. README "Health protocol" shows the line.

import "time"

const (
	statsFd      = 4         // the node's end of its stats pipe
	maxStatsLine = 256 << 10 // a longer line is garbage, skipped to its newline
	// superStatsInterval is the -stats-interval a supervisor serving -http
	// gives its nodes: /status and /metrics are at most about this old.
	superStatsInterval = time.Second
)

// statsLine is one stats report, version 1.
type statsLine struct {
	V      int          `json:"v"`
	AtMs   int64        `json:"at_ms"`
	Routes []statsRoute `json:"routes"`
}

// statsRoute is one route's part of a stats line.
type statsRoute struct {
	Route int    `json:"route"`
	Group string `json:"group"`
	statsCounters
	LatencyMs  latencyHist      `json:"latency_ms"`
	Partitions []statsPartition `json:"partitions"`
	Failures   []statsFailure   `json:"failures"`
	Truncated  bool             `json:"truncated"`
}

// statsPartition is one owned partition in a stats line; the last three
// fields only for a partition held for a retry.
type statsPartition struct {
	Topic         string `json:"topic"`
	Partition     int32  `json:"partition"`
	Handled       int64  `json:"handled"`
	Committed     int64  `json:"committed"`
	HighWatermark int64  `json:"high_watermark"`
	Paused        bool   `json:"paused,omitempty"`
	Attempt       int    `json:"attempt,omitempty"`
	NextTryMs     int64  `json:"next_try_ms,omitempty"`
}

// statsCounters are a route's outcome totals since the node started.
type statsCounters struct {
	Handled      int64 `json:"handled"`
	Failed       int64 `json:"failed"`
	Retried      int64 `json:"retried"`
	DeadLettered int64 `json:"dead_lettered"`
	Skipped      int64 `json:"skipped"`
	Produced     int64 `json:"produced"`
	// Aborted: records of exactly-once batches whose transaction was
	// aborted; they come again, and count then.
	Aborted int64 `json:"aborted"`
}

// latencyHist is the per-batch handle time histogram; Counts is not
// cumulative and has one more entry than Le (+Inf).
type latencyHist struct {
	Le     []int64 `json:"le"`
	Counts []int64 `json:"counts"`
	SumMs  int64   `json:"sum_ms"`
	Count  int64   `json:"count"`
	// sumNs is the exact sum: SumMs is it in whole ms, so that many short
	// batches do not each round down to nothing.
	sumNs int64
}

// statsFailure is one failed record as the stats line shows it.
type statsFailure struct {
	Topic     string `json:"topic"`
	Partition int32  `json:"partition"`
	Offset    int64  `json:"offset"`
	Error     string `json:"error"`
	AtMs      int64  `json:"at_ms"`
}
