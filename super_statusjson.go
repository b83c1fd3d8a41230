//go:build linux

package main

import "time"

// /status's view of the nodes' stats (super_stats.go): per node its
// counters, records/s, exits and last failures; per partition its offsets,
// lag, owner and lag history. A number the supervisor does not know is
// null, never 0.

// nodeStatsJSON is the stats part of one node in /status (embedded in
// nodeStatusJSON).
type nodeStatsJSON struct {
	StatsAgeMs   *int64        `json:"stats_age_ms"`
	RecordsPerS  *float64      `json:"records_per_s"`
	Handled      *int64        `json:"handled"`
	Failed       *int64        `json:"failed"`
	Retried      *int64        `json:"retried"`
	DeadLettered *int64        `json:"dead_lettered"`
	Skipped      *int64        `json:"skipped"`
	Produced     *int64        `json:"produced"`
	Aborted      *int64        `json:"aborted"`
	StatsGarbage int           `json:"stats_garbage"`
	Exits        []exitJSON    `json:"exits"`
	Failures     []failureJSON `json:"failures"`
}

// exitJSON is one exit of a node.
type exitJSON struct {
	At       string `json:"at"`
	Exit     string `json:"exit"`
	Status   int    `json:"status"`
	UptimeMs int64  `json:"uptime_ms"`
	Reason   string `json:"reason"`
}

// failureJSON is one failed record of a node's route.
type failureJSON struct {
	Route     int    `json:"route"`
	Topic     string `json:"topic"`
	Partition int32  `json:"partition"`
	Offset    int64  `json:"offset"`
	Error     string `json:"error"`
	At        string `json:"at"`
}

// partitionJSON is one partition in /status.
type partitionJSON struct {
	Group         string   `json:"group"`
	Topic         string   `json:"topic"`
	Partition     int32    `json:"partition"`
	Node          int      `json:"node"`
	Route         int      `json:"route"`
	Handled       *int64   `json:"handled"`
	Committed     *int64   `json:"committed"`
	HighWatermark *int64   `json:"high_watermark"`
	Lag           *int64   `json:"lag"`
	Stale         bool     `json:"stale"`
	Paused        bool     `json:"paused"`
	Attempt       *int     `json:"attempt"`
	NextTry       *string  `json:"next_try"`
	LagHistory    []*int64 `json:"lag_history"`
}

// statsJSON is n's stats part of /status at now.
func statsJSON(n nodeSnapshot, now time.Time) nodeStatsJSON {
	j := nodeStatsJSON{StatsGarbage: n.statsGarbage, Exits: make([]exitJSON, 0, len(n.exits)), Failures: []failureJSON{}}
	for _, e := range n.exits {
		j.Exits = append(j.Exits, exitJSON{At: rfc3339(e.at), Exit: e.exit, Status: e.status,
			UptimeMs: e.uptime.Milliseconds(), Reason: e.reason.String()})
	}
	s := n.stats
	if s == nil {
		return j
	}
	age, rate := now.Sub(n.statsAt).Milliseconds(), n.rate
	if n.state == "down" || now.Sub(n.statsAt) > staleAfter {
		rate = 0 // a node that stopped sending is not handling at its last rate
	}
	j.StatsAgeMs, j.RecordsPerS = &age, &rate
	var t [7]int64
	for _, r := range s.Routes {
		for i, v := range [7]int64{r.Handled, r.Failed, r.Retried, r.DeadLettered, r.Skipped, r.Produced, r.Aborted} {
			t[i] += v
		}
		for _, f := range r.Failures {
			j.Failures = append(j.Failures, failureJSON{Route: r.Route, Topic: f.Topic, Partition: f.Partition,
				Offset: f.Offset, Error: f.Error, At: rfc3339(time.UnixMilli(f.AtMs))})
		}
	}
	j.Handled, j.Failed, j.Retried, j.DeadLettered, j.Skipped, j.Produced, j.Aborted = &t[0], &t[1], &t[2], &t[3], &t[4], &t[5], &t[6]
	return j
}

// partitionsJSON is /status's partitions, in the snapshot's order.
func partitionsJSON(parts []partSnapshot) []partitionJSON {
	out := make([]partitionJSON, 0, len(parts))
	for _, p := range parts {
		j := partitionJSON{Group: p.key.group, Topic: p.key.topic, Partition: p.key.partition, Node: p.node,
			Route: p.route, Handled: known(p.p.Handled), Committed: known(p.p.Committed),
			HighWatermark: known(p.p.HighWatermark), Lag: known(p.lag), Stale: p.stale, Paused: p.p.Paused,
			LagHistory: make([]*int64, len(p.history))}
		if p.p.Paused {
			attempt, next := p.p.Attempt, rfc3339(time.UnixMilli(p.p.NextTryMs))
			j.Attempt, j.NextTry = &attempt, &next
		}
		for i, v := range p.history {
			j.LagHistory[i] = known(v)
		}
		out = append(out, j)
	}
	return out
}

// known is v, or nil (null) when it is negative: unknown.
func known(v int64) *int64 {
	if v < 0 {
		return nil
	}
	return &v
}

// rfc3339 is t in UTC as /status writes times.
func rfc3339(t time.Time) string {
	return t.UTC().Format(time.RFC3339)
}
