//go:build linux

package main

// BenchmarkRetry: what a failing record costs the records that do not
// fail (issue 11), side by side in one run on one kfake broker. One node
// consumes a backlog of retryBenchPerPart records on each of
// retryBenchParts partitions through the test handler (testdata/handler,
// -log: every read timed), twice per round:
//
//   - healthy: no record fails;
//   - retrying: a record early in partition 0 fails forever (no
//     dead-letter topic), retried every 100 ms (-retry-backoff and
//     -retry-max-backoff 100ms: as many resumes as can be), so partition
//     0 stands still while the other partitions drain.
//
// Figures: the throughput of partitions 1.. (records read / the time from
// their first read to their last) per side and the ratio retrying/healthy
// of the medians (goal >= 0.9); and how punctual the retries are, from
// partition.resumed's late_ms (median and max; goal <= 50 ms).
//
// go test -run '^$' -bench BenchmarkRetry -benchtime 1x .

import (
	"fmt"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
)

const (
	retryBenchParts   = 8
	retryBenchPerPart = 30000
	retryBenchRounds  = 3
	// retryBenchResumes is how many resumes the retrying side waits for
	// after its healthy partitions drained, for the punctuality figure.
	retryBenchResumes = 20
	// retryBenchPoisonAt is the poison record's offset in partition 0:
	// not the first, so that it fails while the other partitions are
	// mid-backlog, not after a first fetch has carried all of them.
	retryBenchPoisonAt = retryBenchPerPart / 10
)

func BenchmarkRetry(b *testing.B) {
	noteLoad(b)
	h, _ := handlerPrograms(b)
	_, addr := newBroker(b, retryBenchParts, "retry-healthy", "retry-poisoned")
	produceTo(b, addr, "retry-healthy", retryBenchBacklog(false))
	produceTo(b, addr, "retry-poisoned", retryBenchBacklog(true))
	rates := map[string][]float64{}
	var lates []float64
	for round := 0; round < retryBenchRounds; round++ {
		for _, side := range []string{"healthy", "retrying"} {
			topic := "retry-healthy"
			if side == "retrying" {
				topic = "retry-poisoned"
			}
			rate, late := retryBenchRun(b, addr, h, topic, fmt.Sprintf("%s-%d", side, round))
			note(b, "%s round %d: partitions 1..%d read %.0f records/s", side, round, retryBenchParts-1, rate)
			logSpread(b, fmt.Sprintf("%s round %d: resumes late (ms)", side, round), late)
			rates[side] = append(rates[side], rate)
			lates = append(lates, late...)
		}
	}
	for _, side := range []string{"healthy", "retrying"} {
		reportSpread(b, side+"-records-per-s", rates[side])
	}
	reportThroughputRatio(b, rates["retrying"], rates["healthy"])
	reportSpread(b, "resume-late-ms", lates)
}

// reportThroughputRatio reports the ratio of the retrying side's median
// throughput to the healthy side's.
func reportThroughputRatio(b *testing.B, retrying, healthy []float64) {
	if len(retrying) == 0 || len(healthy) == 0 {
		return
	}
	bad, _, _, _ := spread(retrying)
	ok, _, _, _ := spread(healthy)
	if ok > 0 {
		b.ReportMetric(bad/ok, "retrying/healthy-throughput-x")
		note(b, "retrying/healthy throughput: %.2fx (medians %.0f / %.0f records/s; goal >= 0.9)", bad/ok, bad, ok)
	}
}

// retryBenchBacklog is retryBenchPerPart records per partition, 100-byte
// values; with poison the record at retryBenchPoisonAt of partition 0 has
// key poisonKey.
func retryBenchBacklog(poison bool) []*kgo.Record {
	val := make([]byte, 100)
	recs := make([]*kgo.Record, 0, retryBenchParts*retryBenchPerPart)
	for p := 0; p < retryBenchParts; p++ {
		for i := 0; i < retryBenchPerPart; i++ {
			key := strconv.Itoa(p*retryBenchPerPart + i)
			if poison && p == 0 && i == retryBenchPoisonAt {
				key = poisonKey
			}
			recs = append(recs, &kgo.Record{Partition: int32(p), Key: []byte(key), Value: val})
		}
	}
	return recs
}

// retryBenchRun runs one node on topic in a fresh group until partitions
// 1.. are committed to their end, and returns their throughput (records
// read / first to last read) and, on the poisoned topic, the late_ms of
// the resumes (waiting for retryBenchResumes of them).
func retryBenchRun(b *testing.B, addr, h, topic, group string) (rate float64, late []float64) {
	logPath := filepath.Join(b.TempDir(), "seen")
	s := startSwarm(b, "-nodes=1", "-bootstrap="+addr, "-topics="+topic, "-group="+group,
		"-retry-backoff=100ms", "-retry-max-backoff=100ms",
		"--", h, "-fail-key="+poisonKey, "-log="+logPath)
	defer s.stop()
	waitHealthyCommitted(b, s, addr, group, topic)
	if topic == "retry-poisoned" {
		s.waitOutput(time.Minute, fmt.Sprintf("%d resumes", retryBenchResumes), func() bool {
			n := 0
			for _, l := range s.logs {
				if logged("partition.resumed")(l) {
					n++
				}
			}
			return n >= retryBenchResumes
		})
		for _, l := range s.matching(logged("partition.resumed")) {
			late = append(late, num(l["late_ms"]))
		}
		if l := s.matching(logged("swarm.node.exited")); len(l) != 0 {
			b.Errorf("%s: a node exited while a record was retried: %v", group, l)
		}
	}
	return healthyRate(b, logPath), late
}

// waitHealthyCommitted waits until group has committed partitions 1.. of
// topic to their end (polled: no event announces it); the swarm s exiting
// first fails the benchmark.
func waitHealthyCommitted(b *testing.B, s *swarmProc, addr, group, topic string) {
	adm := newAdmin(b, addr)
	waitFor(b, 3*time.Minute, group+" committed partitions 1.. to their end", func() bool {
		select {
		case <-s.exited:
			b.Fatalf("%s: swarm exited (code %d) before partitions 1.. were committed", group, s.exitCode())
		default:
		}
		ends, committed := offsetsOf(b, adm, group, topic)
		for p := int32(1); p < retryBenchParts; p++ {
			if committed[p] < ends[p] {
				return false
			}
		}
		return true
	})
}

// healthyRate is the throughput of partitions 1.. in the handler's log:
// their distinct records over the time from the handler's first read (of
// any partition: a node that restarts before it gets to them loses that
// time too) to their last read (a record read again after a restart
// counts there). A record never read fails the benchmark.
func healthyRate(b *testing.B, logPath string) float64 {
	var first, last time.Time
	seen := map[[2]int64]bool{}
	for _, r := range readSeen(b, logPath) {
		if first.IsZero() || r.at.Before(first) {
			first = r.at
		}
		if r.part == 0 {
			continue
		}
		if r.at.After(last) {
			last = r.at
		}
		seen[[2]int64{int64(r.part), r.off}] = true
	}
	if want := (retryBenchParts - 1) * retryBenchPerPart; len(seen) != want {
		b.Fatalf("%s: %d distinct records of partitions 1.. read, want %d", logPath, len(seen), want)
	}
	if !last.After(first) {
		return 0
	}
	return float64(len(seen)) / last.Sub(first).Seconds()
}
