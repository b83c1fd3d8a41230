//go:build linux

package main

// BenchmarkExactlyOnceCrash: how long a partition stands still after a
// node is SIGKILLed, with -exactly-once against at-least-once, side by
// side in one run on one kfake broker: two swarms of 4 nodes, each on its
// own topic of 8 partitions fed 2 000 records/s, with the test handler
// (one output per record) and default settings otherwise. A node of each
// is killed in turn; the figure is the longest any partition then stands
// still, from the kill to the handler's next record of it (the handler's
// own timestamps, from its -log). With exactly-once the replacement must
// also fence the dead node's open transaction before it can fetch the
// partitions' (then stable) committed offsets.
//
// go test -run '^$' -bench BenchmarkExactlyOnceCrash -benchtime 1x .

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

const eosCrashKills = 12

func BenchmarkExactlyOnceCrash(b *testing.B) {
	noteLoad(b)
	h, _ := handlerPrograms(b)
	_, addr := newBroker(b, feltParts, "crash-alo", "crash-eos", "crash-alo-out", "crash-eos-out")
	sides := []*eosCrashSide{startEOSCrashSide(b, addr, h, false), startEOSCrashSide(b, addr, h, true)}
	defer func() {
		for _, s := range sides {
			s.close()
		}
	}()
	gaps := map[string][]float64{}
	for i := 0; i < eosCrashKills; i++ {
		for _, s := range sides {
			member, at := i%feltMembers, time.Now()
			s.kill(b, member)
			gap := ms(s.flow.awaitStall(b, at, feltWindow, feltParts))
			note(b, "%-13s kill %2d (node %d): partitions stood still %.1f ms", s.name, i, member, gap)
			gaps[s.name] = append(gaps[s.name], gap)
		}
	}
	for _, s := range sides {
		reportSpread(b, s.name+"-crash-gap-ms", gaps[s.name])
		if n := len(s.sw.matching(logged("transaction.aborted"))); n > 0 {
			note(b, "%s: %d batches aborted", s.name, n)
		}
	}
	reportRatio(b, "exactly-once/at-least-once-crash-gap", gaps["exactly-once"], gaps["at-least-once"])
}

// eosCrashSide is one swarm of the benchmark and the clock of its records.
type eosCrashSide struct {
	name  string
	sw    *swarmProc
	pids  map[int]int
	flow  *flowClock
	close func()
}

// startEOSCrashSide starts one side, settled and flowing.
func startEOSCrashSide(b *testing.B, addr, h string, eos bool) *eosCrashSide {
	name, topic := "at-least-once", "crash-alo"
	args := []string{"-nodes=" + strconv.Itoa(feltMembers), "-bootstrap=" + addr}
	if eos {
		name, topic = "exactly-once", "crash-eos"
		args = append(args, "-exactly-once")
	}
	logPath := filepath.Join(b.TempDir(), "handled")
	stopTraffic := steadyTraffic(b, addr, topic, feltParts, feltRate)
	args = append(args, "-topics="+topic, "-group="+topic, "-output-topic="+topic+"-out", "--", h, "-answer=tag", "-log="+logPath)
	sw := startSwarm(b, args...)
	s := &eosCrashSide{name: name, sw: sw, flow: newFlowClock(), pids: sw.waitNodesReady(feltMembers, 0)}
	stopTail := tailHandlerLog(logPath, s.flow)
	s.close = func() { sw.stop(); stopTraffic(); stopTail() }
	waitFor(b, 3*time.Minute, name+" settled and flowing", func() bool {
		return groupSettled(b, addr, topic, feltMembers) && s.flow.flowingSince(time.Now().Add(-50*time.Millisecond), feltParts)
	})
	return s
}

// kill SIGKILLs node member and waits for its replacement to run.
func (s *eosCrashSide) kill(b *testing.B, member int) {
	from := s.sw.logCount()
	if err := syscall.Kill(s.pids[member], syscall.SIGKILL); err != nil {
		b.Fatalf("%s: kill node %d: %v", s.name, member, err)
	}
	l, _ := s.sw.waitLog(10*time.Second, "replacement", from, logged("swarm.node.after_fork", "role", "node", "node", member))
	s.pids[member] = l.int("pid")
}

// tailHandlerLog feeds the test handler's -log lines ("<partition>
// <offset> <attempt> <unix ns>", every handler of a swarm appending to one
// file) into flow as they are written, each at the time its handler took
// the record. It polls the file: nothing announces a write.
func tailHandlerLog(path string, flow *flowClock) (stop func()) {
	done, stopped := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(stopped)
		var f *os.File
		for f == nil {
			f, _ = os.Open(path)
			if f == nil && !pause(done) {
				return
			}
		}
		defer f.Close()
		r, partial := bufio.NewReader(f), ""
		for {
			line, err := r.ReadString('\n')
			if err == io.EOF {
				partial += line
				if !pause(done) {
					return
				}
				continue
			}
			line, partial = partial+line, ""
			addHandlerLine(flow, line)
		}
	}()
	return func() { close(done); <-stopped }
}

// pause waits a moment between reads of a growing file; false once done.
func pause(done <-chan struct{}) bool {
	select {
	case <-done:
		return false
	case <-time.After(5 * time.Millisecond):
		return true
	}
}

// addHandlerLine adds one handler log line to flow at its own timestamp.
func addHandlerLine(flow *flowClock, line string) {
	f := strings.Fields(line)
	if len(f) < 4 {
		return
	}
	ns, err := strconv.ParseInt(f[3], 10, 64)
	if err != nil {
		return
	}
	flow.add(fmt.Sprintf("t [%s] at offset %s:", f[0], f[1]), time.Unix(0, ns))
}
