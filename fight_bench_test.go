//go:build linux

package main

// BenchmarkFight: the fair fight of issue 14, side by side in one run on
// one kfake broker. swarm with 4 nodes, each running the Python handler of
// examples/python (Debian's /usr/bin/python3, as the peer), and again with
// -codec lines and testdata/fight/upper_lines.py (no JSON), against 4
// python3-confluent-kafka processes under supervisord
// (testdata/peer/forward.py), each doing the same trivial work: a record's
// value upper-cased to an output topic, offsets committed only once the
// output is acknowledged.
//
//   - memory: both consume the same 2 000 records/s (8 partitions, separate
//     groups, separate output topics) at the same time; after a warm-up,
//     the PSS (smaps_rollup) of every process of each tree is read a few
//     times: per role (supervisor, node, handler; supervisord, consumer)
//     the median of the per-process means and the largest one seen, and
//     each tree's total.
//   - drain: a backlog of fightBacklog records, drained by one side after
//     the other (each alone), fightRounds times: records/s between 10% and
//     90% of the outputs, the CPU the whole tree used per record, and the
//     largest node (consumer) PSS seen while draining.
//
// kfake subscribes every client to every KIP-714 client metric; a stock
// Apache Kafka broker requests none unless its operator configured a
// client-metrics subscription (and a telemetry plugin to receive them).
// The fight runs against the stock answer; FIGHT_TELEMETRY=1 keeps
// kfake's (swarm's nodes then push metrics, as franz-go does for such
// clusters; librdkafka 2.0 predates KIP-714).
//
// FIGHT_BEFORE=/path/to/an/older/swarm adds that binary as a third
// contender, "before", run exactly as "swarm": a change's before and after
// in the same run.
//
// go test -run '^$' -bench Fight -benchtime 1x -timeout 20m .

import (
	"context"
	crand "crypto/rand"
	"fmt"
	"maps"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

const (
	fightParts   = 8
	fightMembers = 4
	fightRate    = 2000
	fightBacklog = 200_000
	fightRounds  = 3
	// fightWarmup lets each side settle to its steady heap before the
	// readings, fightSamples of them fightEvery apart.
	fightWarmup  = 10 * time.Second
	fightSamples = 5
	fightEvery   = 2 * time.Second
)

// fightContender is one side: how to start it on a topic, group and output
// topic, and what its tree's processes are, by depth from the root.
type fightContender struct {
	name  string
	roles []string
	start func(b *testing.B, addr, topic, group, out string) (root int, close func())
}

// swarmRoles and peerRoles name the trees' depths.
var (
	swarmRoles = []string{"supervisor", "node", "handler"}
	peerRoles  = []string{"supervisord", "consumer"}
)

func BenchmarkFight(b *testing.B) {
	needPeer(b)
	noteLoad(b)
	sides := fightContenders(b)
	topics := []string{"fight", "drain"}
	for _, s := range sides {
		topics = append(topics, "fight-out-"+s.name, "drain-out-"+s.name)
	}
	c, addr := newBroker(b, fightParts, topics...)
	if os.Getenv("FIGHT_TELEMETRY") == "" {
		stockTelemetry(c)
	}
	b.Run("memory", func(b *testing.B) { benchFightMemory(b, addr, sides) })
	b.Run("drain", func(b *testing.B) { benchFightDrain(b, addr, sides) })
}

// fightContenders are swarm and the peer, and the before binary when
// FIGHT_BEFORE names one.
func fightContenders(b *testing.B) []fightContender {
	handler, err := filepath.Abs("examples/python/handler.py")
	if err != nil {
		b.Fatal(err)
	}
	lines, err := filepath.Abs("testdata/fight/upper_lines.py")
	if err != nil {
		b.Fatal(err)
	}
	swarmSide := func(bin string, cmd ...string) func(b *testing.B, addr, topic, group, out string) (int, func()) {
		return func(b *testing.B, addr, topic, group, out string) (int, func()) {
			s := startArgv(b, nil, append([]string{bin, "-log-format=json", "-instance-id=test",
				"-nodes=" + strconv.Itoa(fightMembers), "-bootstrap=" + addr, "-topics=" + topic, "-group=" + group,
				"-output-topic=" + out}, cmd...))
			s.waitNodesReady(fightMembers, 0)
			return s.pid(), s.stop
		}
	}
	// The peer's interpreter on every side.
	jsonCmd := []string{"--", peerPython, handler}
	sides := []fightContender{
		{"swarm", swarmRoles, swarmSide(swarmBin, jsonCmd...)},
		// The same work with -codec lines: no JSON on either end.
		{"swarm-lines", swarmRoles, swarmSide(swarmBin, "-codec=lines", "--", peerPython, lines)},
		{"peer", peerRoles, func(b *testing.B, addr, topic, group, out string) (int, func()) {
			p := startPeerScript(b, addr, topic, group, "testdata/peer/forward.py", out)
			return p.pid, p.close
		}},
	}
	if before := os.Getenv("FIGHT_BEFORE"); before != "" {
		sides = append(sides, fightContender{"before", swarmRoles, swarmSide(before, jsonCmd...)})
	}
	return sides
}

// benchFightMemory runs every side at once on the same steady traffic and
// reads their trees' PSS.
func benchFightMemory(b *testing.B, addr string, sides []fightContender) {
	stopTraffic := fightTraffic(b, addr, "fight", fightRate)
	defer stopTraffic()
	roots := map[string]int{}
	for _, s := range sides {
		root, closeSide := s.start(b, addr, "fight", "fight-"+s.name, "fight-out-"+s.name)
		defer closeSide()
		roots[s.name] = root
	}
	for _, s := range sides {
		waitFor(b, 3*time.Minute, s.name+" settled and producing", func() bool {
			return groupSettled(b, addr, "fight-"+s.name, fightMembers) && topicTotal(b, addr, "fight-out-"+s.name) > 0
		})
	}
	time.Sleep(fightWarmup) // pacing: the warm-up is a stretch of time, not an event
	outAt := map[string]int64{}
	for _, s := range sides {
		outAt[s.name] = topicTotal(b, addr, "fight-out-"+s.name)
	}
	t0 := time.Now()
	samples := map[string][]treeMem{}
	for i := 0; i < fightSamples; i++ {
		if i > 0 {
			time.Sleep(fightEvery) // pacing between readings
		}
		for _, s := range sides {
			samples[s.name] = append(samples[s.name], readTree(roots[s.name], s.roles))
		}
	}
	window := time.Since(t0).Seconds()
	for _, s := range sides {
		// Whether the side kept up: its output rate over the readings.
		rate := float64(topicTotal(b, addr, "fight-out-"+s.name)-outAt[s.name]) / window
		b.ReportMetric(rate, s.name+"-out-rec/s")
		reportTreeMem(b, s.name, s.roles, samples[s.name])
	}
	reportFightRatio(b, "memory", sides, func(name string) float64 { return medianTotal(samples[name]) })
}

// benchFightDrain has each side in turn drain the same backlog from the
// start, alone, fightRounds times (a new group each time). The rate is
// records/s between 10% and 90% of the outputs; the CPU, what every
// process of the tree used from start to the last output, per record (on
// a shared machine it moves less than the rate).
func benchFightDrain(b *testing.B, addr string, sides []fightContender) {
	if err := fightProduce(addr, "drain", 0, fightBacklog); err != nil {
		b.Fatal(err)
	}
	rates, cpus, peaks := map[string][]float64{}, map[string][]float64{}, map[string]float64{}
	for round := 0; round < fightRounds; round++ {
		for _, s := range sides {
			rate, cpu, peak := drainOnce(b, addr, s, round)
			rates[s.name], cpus[s.name] = append(rates[s.name], rate), append(cpus[s.name], cpu)
			peaks[s.name] = max(peaks[s.name], peak)
		}
	}
	for _, s := range sides {
		rate, _, _, _ := spread(rates[s.name])
		cpu, _, _, _ := spread(cpus[s.name])
		b.ReportMetric(rate, s.name+"-drain-rec/s")
		b.ReportMetric(cpu, s.name+"-drain-cpu-us/rec")
		b.ReportMetric(peaks[s.name], s.name+"-drain-"+s.roles[1]+"-pss-max-MB")
		note(b, "%s: median of %d drains: %.0f records/s, %.1f CPU-us/record; largest %s PSS %.1f MB",
			s.name, fightRounds, rate, cpu, s.roles[1], peaks[s.name])
	}
	reportFightRatio(b, "drain-rate", sides, func(name string) float64 { med, _, _, _ := spread(rates[name]); return med })
	reportFightRatio(b, "drain-cpu", sides, func(name string) float64 { med, _, _, _ := spread(cpus[name]); return med })
}

// drainOnce starts side s on the backlog under a new group and waits for
// all its outputs: the rate (records/s, 10% to 90%), the tree's CPU per
// record (us), and the largest PSS of its second level (nodes, consumers).
func drainOnce(b *testing.B, addr string, s fightContender, round int) (rate, cpu, peak float64) {
	out := "drain-out-" + s.name
	from := topicTotal(b, addr, out)
	root, closeSide := s.start(b, addr, "drain", fmt.Sprintf("drain-%s-%d", s.name, round), out)
	defer closeSide()
	var t10, t90 time.Time
	pids := map[string]map[int]bool{}
	waitFor(b, 10*time.Minute, s.name+" drained the backlog", func() bool {
		n := topicTotal(b, addr, out) - from
		if t10.IsZero() && n >= fightBacklog/10 {
			t10 = time.Now()
		}
		if t90.IsZero() && n >= fightBacklog*9/10 {
			t90 = time.Now()
		}
		m := readTree(root, s.roles)
		for _, p := range m.byRole[s.roles[1]] {
			peak = max(peak, p)
		}
		for role, ps := range m.pids {
			if pids[role] == nil {
				pids[role] = map[int]bool{}
			}
			for _, pid := range ps {
				pids[role][pid] = true
			}
		}
		return n >= fightBacklog
	})
	rate = float64(fightBacklog) * 0.8 / t90.Sub(t10).Seconds()
	var byRole []string
	for _, role := range s.roles {
		c := cpuOf(slices.Collect(maps.Keys(pids[role]))) / fightBacklog * 1e6
		cpu += c
		byRole = append(byRole, fmt.Sprintf("%s %.1f", role, c))
	}
	note(b, "%s drain %d: %.0f records/s, %.1f CPU-us/record (%s), largest %s PSS %.1f MB",
		s.name, round, rate, cpu, strings.Join(byRole, ", "), s.roles[1], peak)
	return rate, cpu, peak
}

// stockTelemetry makes c answer GetTelemetrySubscriptions as a stock
// Apache Kafka broker with no client-metrics subscription: no metrics
// requested, ask again after Kafka's default push interval (5 minutes).
func stockTelemetry(c *kfake.Cluster) {
	c.ControlKey(kmsg.GetTelemetrySubscriptions.Int16(), func(req kmsg.Request) (kmsg.Response, error, bool) {
		c.KeepControl()
		r := req.(*kmsg.GetTelemetrySubscriptionsRequest)
		resp := r.ResponseKind().(*kmsg.GetTelemetrySubscriptionsResponse)
		resp.ClientInstanceID = r.ClientInstanceID
		if resp.ClientInstanceID == [16]byte{} {
			_, _ = crand.Read(resp.ClientInstanceID[:])
		}
		resp.PushIntervalMillis = 300_000
		return resp, nil, true
	})
}

// reportFightRatio reports every side's figure over the peer's.
func reportFightRatio(b *testing.B, what string, sides []fightContender, of func(name string) float64) {
	peer := of("peer")
	for _, s := range sides {
		if s.name != "peer" && peer > 0 {
			b.ReportMetric(of(s.name)/peer, s.name+"/peer-"+what+"-x")
		}
	}
}

// fightTraffic produces perSecond records a second to topic, round-robin
// over its partitions (fightProduce), until stop.
func fightTraffic(b *testing.B, addr, topic string, perSecond int) (stop func()) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		// One slice every 50 ms: 20 a second.
		tick := time.NewTicker(50 * time.Millisecond)
		defer tick.Stop()
		for i := 0; ; i++ {
			select {
			case <-ctx.Done():
				done <- nil
				return
			case <-tick.C:
			}
			if err := fightProduce(addr, topic, i*perSecond/20, perSecond/20); err != nil {
				done <- err
				return
			}
		}
	}()
	return func() {
		cancel()
		if err := <-done; err != nil {
			b.Errorf("steady traffic to %s: %v", topic, err)
		}
	}
}

// fightProduce writes n records, keys first..first+n-1, round-robin over
// the partitions of topic, and waits for every ack. Each value is 100
// bytes of an order as JSON with a random hex reference: text that
// compresses as real records do (about 2:1), not 100 equal bytes, which
// compress 40:1 and would make every fetch's decoded size, on both sides,
// a quirk of the test data.
func fightProduce(addr, topic string, first, n int) error {
	cl, err := kgo.NewClient(kgo.SeedBrokers(addr), kgo.DefaultProduceTopic(topic),
		kgo.RecordPartitioner(kgo.RoundRobinPartitioner()), kgo.ProducerLinger(time.Millisecond))
	if err != nil {
		return fmt.Errorf("start producer: %w", err)
	}
	defer cl.Close()
	rng := rand.New(rand.NewPCG(uint64(first), 14))
	recs := make([]*kgo.Record, n)
	for i := range recs {
		ref := make([]byte, 32)
		for j := range ref {
			ref[j] = byte(rng.Uint32())
		}
		v := fmt.Sprintf(`{"order":%d,"qty":%d,"ref":"%x"`, first+i, rng.IntN(100), ref)
		recs[i] = &kgo.Record{Key: []byte(strconv.Itoa(first + i)), Value: []byte(v + strings.Repeat(" ", max(0, 99-len(v))) + "}")}
	}
	if err := cl.ProduceSync(context.Background(), recs...).FirstErr(); err != nil {
		return fmt.Errorf("produce to %s: %w", topic, err)
	}
	return nil
}

// topicTotal is how many records topic holds, over all partitions.
func topicTotal(b *testing.B, addr, topic string) int64 {
	adm, _, done := adminFor(b, addr, 5*time.Second)
	defer done()
	var n int64
	for _, end := range endOffsets(b, adm, topic) {
		n += end
	}
	return n
}

// treeMem is one reading of a process tree: PSS in MB per role (a
// process's depth from the root names it).
type treeMem struct {
	byRole map[string][]float64
	total  float64
	pids   map[string][]int // per role
}

// readTree reads the PSS of root and of every descendant; roles names the
// depths (the last name covers any deeper).
func readTree(root int, roles []string) treeMem {
	m := treeMem{byRole: map[string][]float64{}, pids: map[string][]int{}}
	level := []int{root}
	for depth := 0; len(level) > 0; depth++ {
		role := roles[min(depth, len(roles)-1)]
		var next []int
		for _, pid := range level {
			if !alive(pid) {
				continue
			}
			if _, pss, err := memOf(pid); err == nil {
				m.byRole[role] = append(m.byRole[role], pss)
				m.total += pss
				m.pids[role] = append(m.pids[role], pid)
			}
			next = append(next, childrenOf(pid)...)
		}
		level = next
	}
	return m
}

// reportTreeMem reports a side's readings: per role the median over the
// readings of the per-process mean, and the largest process seen; and the
// median total.
func reportTreeMem(b *testing.B, side string, roles []string, samples []treeMem) {
	for _, r := range roles {
		if len(samples) == 0 || len(samples[0].byRole[r]) == 0 {
			continue
		}
		var means []float64
		var hi float64
		n := 0
		for _, s := range samples {
			sum := 0.0
			for _, p := range s.byRole[r] {
				sum += p
				hi = max(hi, p)
			}
			n = len(s.byRole[r])
			means = append(means, sum/float64(len(s.byRole[r])))
		}
		med, _, _, _ := spread(means)
		b.ReportMetric(med, side+"-"+r+"-pss-MB")
		b.ReportMetric(hi, side+"-"+r+"-pss-max-MB")
		note(b, "%s %s: %d processes, PSS %.1f MB each (median of means), largest %.1f MB", side, r, n, med, hi)
	}
	total := medianTotal(samples)
	b.ReportMetric(total, side+"-total-pss-MB")
	note(b, "%s tree: PSS %.1f MB in all (median of %d readings)", side, total, len(samples))
}

// medianTotal is the median of the readings' totals.
func medianTotal(samples []treeMem) float64 {
	var totals []float64
	for _, s := range samples {
		totals = append(totals, s.total)
	}
	sort.Float64s(totals)
	med, _, _, _ := spread(totals)
	return med
}
