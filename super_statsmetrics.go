//go:build linux

package main

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
)

// /metrics from the nodes' stats (super_stats.go): lag and committed offset
// per partition under kafka_exporter's names and labels, so its dashboards
// work unchanged; per node and group the record counters and the handle
// time histogram; per node the exits by cause.

// writeStatsMetrics appends the stats metrics of snap to b.
func writeStatsMetrics(b *strings.Builder, snap *snapshot) {
	writePartitionMetrics(b, snap.parts)
	groups := make([][]groupStats, len(snap.nodes))
	for i, n := range snap.nodes {
		groups[i] = byGroup(n.stats)
	}
	counters := []struct {
		name, help string
		value      func(g *groupStats) int64
	}{
		{"swarm_records_handled_total", "Records handled (final: marked for commit) since the node started.", func(g *groupStats) int64 { return g.handled }},
		{"swarm_records_failed_total", "Records the handler failed since the node started.", func(g *groupStats) int64 { return g.failed }},
		{"swarm_records_retried_total", "Records delivered again after a failure since the node started.", func(g *groupStats) int64 { return g.retried }},
		{"swarm_records_dead_lettered_total", "Records sent to a dead-letter topic since the node started.", func(g *groupStats) int64 { return g.deadLettered }},
		{"swarm_records_aborted_total", "Records of exactly-once batches whose transaction was aborted (they come again) since the node started.", func(g *groupStats) int64 { return g.aborted }},
	}
	for _, c := range counters {
		metricHeader(b, c.name, "counter", c.help)
		for i, n := range snap.nodes {
			for _, g := range groups[i] {
				fmt.Fprintf(b, "%s{node=\"%d\",consumergroup=\"%s\"} %d\n", c.name, n.id, escLabel(g.group), c.value(&g))
			}
		}
	}
	writeLatencyMetrics(b, snap.nodes, groups)
	metricHeader(b, "swarm_node_exits_total", "counter", "Node exits by cause since the supervisor started.")
	for _, n := range snap.nodes {
		for r := exitReason(0); r < numReasons; r++ {
			fmt.Fprintf(b, "swarm_node_exits_total{node=\"%d\",reason=\"%s\"} %d\n", n.id, r, n.exitCounts[r])
		}
	}
}

// writePartitionMetrics writes the per-partition gauges; a stale
// partition keeps its last values.
func writePartitionMetrics(b *strings.Builder, parts []partSnapshot) {
	labels := func(p partSnapshot) string {
		return fmt.Sprintf("{consumergroup=\"%s\",topic=\"%s\",partition=\"%d\"}", escLabel(p.key.group), escLabel(p.key.topic), p.key.partition)
	}
	metricHeader(b, "kafka_consumergroup_lag", "gauge", "Current approximate lag of a consumer group at topic/partition (high watermark minus committed offset).")
	for _, p := range parts {
		if p.lag >= 0 {
			fmt.Fprintf(b, "kafka_consumergroup_lag%s %d\n", labels(p), p.lag)
		}
	}
	metricHeader(b, "kafka_consumergroup_current_offset", "gauge", "Current committed offset of a consumer group at topic/partition.")
	for _, p := range parts {
		if p.p.Committed >= 0 {
			fmt.Fprintf(b, "kafka_consumergroup_current_offset%s %d\n", labels(p), p.p.Committed)
		}
	}
	metricHeader(b, "swarm_partition_stale", "gauge", "1 when the partition's values are the last known: its node is down or stopped reporting it.")
	for _, p := range parts {
		fmt.Fprintf(b, "swarm_partition_stale%s %g\n", labels(p), b2f(p.stale))
	}
}

// writeLatencyMetrics writes swarm_handler_duration_seconds per node and
// group: cumulative buckets with le in seconds, as Prometheus wants them.
func writeLatencyMetrics(b *strings.Builder, nodes []nodeSnapshot, groups [][]groupStats) {
	const name = "swarm_handler_duration_seconds"
	metricHeader(b, name, "histogram", "Time to handle one polled batch.")
	for i, n := range nodes {
		for _, g := range groups[i] {
			if g.latency == nil {
				continue
			}
			l, lbl := g.latency, fmt.Sprintf("node=\"%d\",consumergroup=\"%s\"", n.id, escLabel(g.group))
			var cum int64
			for j, c := range l.Counts {
				cum += c
				le := "+Inf"
				if j < len(l.Le) {
					le = strconv.FormatFloat(float64(l.Le[j])/1000, 'g', -1, 64)
				}
				fmt.Fprintf(b, "%s_bucket{%s,le=\"%s\"} %d\n", name, lbl, le, cum)
			}
			fmt.Fprintf(b, "%s_sum{%s} %g\n%s_count{%s} %d\n", name, lbl, float64(l.SumMs)/1000, name, lbl, cum)
		}
	}
}

// groupStats is a node's routes of one group, summed.
type groupStats struct {
	group                                           string
	handled, failed, retried, deadLettered, aborted int64
	latency                                         *latencyHist // nil when no route of the group sent one
}

// byGroup sums a node's routes per group, sorted by group. Histograms are
// summed only over routes with the same bounds (a node uses one set); a
// route with other bounds is left out of the histogram.
func byGroup(s *statsLine) []groupStats {
	if s == nil {
		return nil
	}
	var out []groupStats
	for _, r := range s.Routes {
		i := slices.IndexFunc(out, func(g groupStats) bool { return g.group == r.Group })
		if i < 0 {
			out, i = append(out, groupStats{group: r.Group}), len(out)
		}
		g := &out[i]
		g.handled, g.failed, g.retried, g.deadLettered = g.handled+r.Handled, g.failed+r.Failed, g.retried+r.Retried, g.deadLettered+r.DeadLettered
		g.aborted += r.Aborted
		g.latency = addLatency(g.latency, &r.LatencyMs)
	}
	slices.SortFunc(out, func(a, b groupStats) int { return strings.Compare(a.group, b.group) })
	return out
}

// addLatency is sum plus l as a new histogram (what a snapshot holds is
// never modified); sum unchanged when l is nil or has other bounds.
func addLatency(sum, l *latencyHist) *latencyHist {
	switch {
	case !l.present():
		return sum
	case sum == nil:
		return &latencyHist{Le: l.Le, Counts: slices.Clone(l.Counts), SumMs: l.SumMs, Count: l.Count}
	case !slices.Equal(sum.Le, l.Le):
		return sum
	}
	for i, c := range l.Counts {
		sum.Counts[i] += c
	}
	sum.SumMs, sum.Count = sum.SumMs+l.SumMs, sum.Count+l.Count
	return sum
}

// metricHeader writes a metric family's HELP and TYPE lines.
func metricHeader(b *strings.Builder, name, typ, help string) {
	fmt.Fprintf(b, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, typ)
}

// escLabel escapes a label value for the text format: names come from the
// nodes, which are not trusted to send only Kafka's topic characters.
// Strings from JSON are valid UTF-8 already (invalid bytes decode as
// U+FFFD), as the format requires.
func escLabel(s string) string {
	return labelEscaper.Replace(s)
}

// labelEscaper is escLabel's replacer.
var labelEscaper = strings.NewReplacer(`\`, `\\`, `"`, `\"`, "\n", `\n`)
