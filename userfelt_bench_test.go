//go:build linux

package main

// BenchmarkUserFelt: the figures a user feels, side by side in one run on
// one kfake broker, against what teams run today: N plain librdkafka
// consumers (Debian's python3-confluent-kafka, testdata/peer/consumer.py)
// under Debian's supervisord. Both sides get default settings (the peer:
// static membership, librdkafka's defaults), 2 000 records/s over 8
// partitions, 4 members, and are read with the same clock (harness_flow_test.go).
//
//   - crash gap: SIGKILL of one member -> the longest any partition then
//     stands still (the killed member's partitions: until any process
//     handles a record of them again);
//   - roll gap: a rolling restart (swarm: SIGHUP; peer: supervisorctl
//     restart of one program after the other), the same figure per member;
//   - stop: SIGTERM at moments from 0 to 2 s after start (before the first
//     join, mid-join, mid-rebalance, steady) -> the process has exited,
//     with exit 0 and every handled record committed checked.
//
// go test -run '^$' -bench UserFelt -benchtime 1x -timeout 30m .

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"text/template"
	"time"
)

const (
	feltParts   = 8
	feltMembers = 4
	feltRate    = 2000
	// feltWindow follows each event: a rebalance the event causes shows
	// within it (a 3 s heartbeat), and kills rotate over the members so
	// none is killed again within swarm's 10 s crash-loop window.
	feltWindow = 3500 * time.Millisecond
)

// peerPython is Debian's interpreter, which has python3-confluent-kafka
// (a pyenv shim first on PATH may not).
const peerPython = "/usr/bin/python3"

// needPeer skips, loudly, when the peer's Debian packages are missing.
func needPeer(b *testing.B) {
	if err := exec.Command(peerPython, "-c", "import confluent_kafka").Run(); err != nil {
		msg := fmt.Sprintf("SKIPPED: the peer needs %s with confluent_kafka (apt-get install python3-confluent-kafka): %v", peerPython, err)
		fmt.Fprintln(os.Stderr, msg)
		b.Skip(msg)
	}
	if _, err := exec.LookPath("supervisord"); err != nil {
		msg := fmt.Sprintf("SKIPPED: the peer needs supervisord (apt-get install supervisor): %v", err)
		fmt.Fprintln(os.Stderr, msg)
		b.Skip(msg)
	}
}

func BenchmarkUserFelt(b *testing.B) {
	needPeer(b)
	noteLoad(b)
	_, addr := newBroker(b, feltParts, "felt-swarm", "felt-peer", "stop-swarm", "stop-peer")
	b.Run("crash", func(b *testing.B) { benchCrashGap(b, addr) })
	b.Run("roll", func(b *testing.B) { benchRollGap(b, addr) })
	b.Run("stop", func(b *testing.B) { benchStop(b, addr) })
}

// feltSide is one contender: how to start its members and act on them.
type feltSide struct {
	name  string
	flow  *flowClock
	pids  func() map[int]int     // member -> pid, as of now
	kill  func(member int) error // SIGKILL one member
	roll  func() []rollStep      // a rolling restart: when each member was stopped
	close func()
	// phases, where a side can tell, is where the time after a kill at
	// at went, per phase name, in ms from the kill.
	phases func(at time.Time, member int) map[string]float64
}

// rollStep is one member's restart in a roll.
type rollStep struct {
	at     time.Time
	member int
}

// startSides starts swarm and the peer, settled, each on its own topic and
// a group named for the figure; closeSides stops both.
func startSides(b *testing.B, addr, figure string) (sides []*feltSide, closeSides func()) {
	sides = []*feltSide{startSwarmSide(b, addr, "felt-swarm", figure+"-swarm"), startPeerSide(b, addr, "felt-peer", figure+"-peer")}
	return sides, func() {
		for _, s := range sides {
			s.close()
		}
	}
}

// benchCrashGap kills members of both sides in turn, 20 kills each.
func benchCrashGap(b *testing.B, addr string) {
	sides, closeSides := startSides(b, addr, "crash")
	defer closeSides()
	gaps := map[string][]float64{}
	phases := map[string][]float64{}
	const kills = 20
	for i := 0; i < kills; i++ {
		for _, s := range sides {
			member := i % feltMembers
			at := time.Now()
			if err := s.kill(member); err != nil {
				b.Fatalf("%s: kill member %d: %v", s.name, member, err)
			}
			gap := ms(s.flow.awaitStall(b, at, feltWindow, feltParts))
			note(b, "%s kill %2d (member %d): partitions stood still %.1f ms", s.name, i, member, gap)
			gaps[s.name] = append(gaps[s.name], gap)
			if s.phases != nil {
				for name, v := range s.phases(at, member) {
					phases[name] = append(phases[name], v)
				}
			}
		}
	}
	for _, s := range sides {
		reportSpread(b, s.name+"-crash-gap-ms", gaps[s.name])
	}
	logPhases(b, "swarm kill", phases)
	reportRatio(b, "peer/swarm-crash-gap", gaps["peer"], gaps["swarm"])
}

// benchRollGap rolls each side twice; the gap per member is the longest
// any partition stood still from that member's stop to the next one's.
func benchRollGap(b *testing.B, addr string) {
	sides, closeSides := startSides(b, addr, "roll")
	defer closeSides()
	gaps := map[string][]float64{}
	phases := map[string][]float64{}
	for round := 0; round < 2; round++ {
		for _, s := range sides {
			stops := s.roll()
			last := stops[len(stops)-1].at
			waitFor(b, feltWindow+time.Minute, "the last restarted member's window", func() bool {
				return time.Since(last) > feltWindow && s.flow.flowingSince(last.Add(feltWindow), feltParts)
			})
			for i, step := range stops {
				until := time.Now()
				if i+1 < len(stops) {
					until = stops[i+1].at
				}
				if s.phases != nil {
					for name, v := range s.phases(step.at, step.member) {
						phases[name] = append(phases[name], v)
					}
				}
				worst, part := s.flow.stall(step.at, until)
				note(b, "%s roll %d step %d: partition %d stood still %.1f ms", s.name, round, i, part, ms(worst))
				gaps[s.name] = append(gaps[s.name], ms(worst))
			}
		}
	}
	for _, s := range sides {
		reportSpread(b, s.name+"-roll-gap-ms", gaps[s.name])
	}
	logPhases(b, "swarm roll stop", phases)
	reportRatio(b, "peer/swarm-roll-gap", gaps["peer"], gaps["swarm"])
}

// stopMoments are when the stops land after start (ms): while nodes start
// and before any has joined, while they join and rebalance (kfake holds
// JoinGroups there), and once consuming.
var stopMoments = []time.Duration{10, 20, 50, 100, 200, 300, 500, 700, 1000, 1500, 2000}

// benchStop starts each side fresh (on the same group, as a restart is)
// and stops it at each moment. For swarm every stop must exit 0 with every
// handled record committed and no process left; the peer's outcomes are
// reported as they are.
func benchStop(b *testing.B, addr string) {
	took := map[string][]float64{}
	for _, after := range stopMoments {
		for _, name := range []string{"swarm", "peer"} {
			topic, group := "stop-"+name, "stop-"+name
			stopTraffic := steadyTraffic(b, addr, topic, feltParts, feltRate)
			var s *feltProc
			if name == "swarm" {
				s = startSwarmProc(b, addr, topic, group)
			} else {
				s = startPeerProc(b, addr, topic, group)
			}
			waitFor(b, time.Minute, "the moment to stop", func() bool { return time.Since(s.started) >= after*time.Millisecond })
			t0 := time.Now()
			if err := syscall.Kill(s.pid, syscall.SIGTERM); err != nil {
				b.Fatal(err)
			}
			code := s.wait(b, 2*time.Minute)
			d := time.Since(t0)
			left := len(groupPids(s.pid))
			stopTraffic()
			took[name] = append(took[name], ms(d))
			bad := uncommitted(b, addr, group, topic, s.flow.handledOffsets())
			note(b, "%s stop %4d ms after start: exit %d in %8.1f ms, %6d records handled, uncommitted partitions %v, processes left %d",
				name, after, code, ms(d), s.flow.lines, bad, left)
			if name == "swarm" && (code != 0 || len(bad) > 0 || left > 0) {
				b.Errorf("swarm stop %d ms after start: exit %d, handled but uncommitted: %v, processes left: %d", after, code, bad, left)
			}
			s.close()
		}
	}
	for _, name := range []string{"swarm", "peer"} {
		reportSpread(b, name+"-stop-ms", took[name])
	}
	reportRatio(b, "peer/swarm-stop", took["peer"], took["swarm"])
}

// logPhases logs each phase's spread, in the order of their medians.
func logPhases(b *testing.B, event string, phases map[string][]float64) {
	var names []string
	med := map[string]float64{}
	for name, xs := range phases {
		names = append(names, name)
		med[name], _, _, _ = spread(xs)
	}
	sort.Slice(names, func(i, j int) bool { return med[names[i]] < med[names[j]] })
	for _, name := range names {
		logSpread(b, event+" -> "+name+" (ms)", phases[name])
	}
}

// reportRatio reports the ratio of two sides' medians.
func reportRatio(b *testing.B, name string, num, den []float64) {
	if len(num) == 0 || len(den) == 0 {
		return
	}
	n, _, _, _ := spread(num)
	d, _, _, _ := spread(den)
	if d > 0 {
		b.ReportMetric(n/d, name+"-x")
		note(b, "%s: %.1fx (medians %.1f / %.1f ms)", name, n/d, n, d)
	}
}

// startSwarmSide runs a swarm with default flags on topic, settled.
func startSwarmSide(b *testing.B, addr, topic, group string) *feltSide {
	stopTraffic := steadyTraffic(b, addr, topic, feltParts, feltRate)
	p := startSwarmProc(b, addr, topic, group)
	s := p.sw
	pids := s.waitNodesReady(feltMembers, 0)
	waitFor(b, 3*time.Minute, "swarm settled and flowing", func() bool {
		return groupSettled(b, addr, group, feltMembers) && p.flow.flowingSince(time.Now().Add(-50*time.Millisecond), feltParts)
	})
	return &feltSide{
		name: "swarm", flow: p.flow,
		pids: func() map[int]int { return pids },
		kill: func(member int) error {
			from := s.logCount()
			if err := syscall.Kill(pids[member], syscall.SIGKILL); err != nil {
				return err
			}
			l, _ := s.waitLog(10*time.Second, "replacement", from, logged("swarm.node.after_fork", "role", "node", "node", member))
			pids[member] = l.int("pid")
			return nil
		},
		roll: func() []rollStep {
			from, hup := s.logCount(), time.Now()
			s.signal(syscall.SIGHUP)
			s.waitLog(5*time.Minute, "roll done", from, logged("swarm.manager.rolling_restart_done"))
			var stops []rollStep
			for _, l := range s.matching(func(l logLine) bool { return recvTime(l).After(hup) }) {
				if l.msg() == "swarm.manager.stopping" && l.str("reason") == "rolling restart" {
					stops = append(stops, rollStep{recvTime(l), l.int("node")})
				}
				if l.msg() == "swarm.node.after_fork" && l.role() == "node" {
					pids[l.int("node")] = l.int("pid")
				}
			}
			return stops
		},
		close: func() { p.close(); stopTraffic() },
		phases: func(at time.Time, member int) map[string]float64 {
			out := map[string]float64{}
			for _, l := range s.matching(func(l logLine) bool { return recvTime(l).After(at) && l.int("node") == member }) {
				name := l.msg()
				switch {
				case name == "swarm.node.exited", name == "swarm.manager.after_fork":
				case l.role() == "node" && (name == "swarm.node.after_fork" || name == "route.started" ||
					name == "route.assigned" || name == "route.flowing" || name == "route.closed"):
				default:
					continue
				}
				if _, seen := out[name]; !seen {
					out[name] = ms(l.time().Sub(at))
				}
			}
			return out
		},
	}
}

// feltProc is one started contender: a swarm, or a supervisord.
type feltProc struct {
	pid     int
	started time.Time
	flow    *flowClock
	sw      *swarmProc // the swarm side
	cmd     *exec.Cmd  // the peer side
	exited  chan struct{}
	dir     string // the peer's files
	close   func()
}

// wait waits for the process to exit and returns its exit code.
func (p *feltProc) wait(b *testing.B, timeout time.Duration) int {
	if p.sw != nil {
		return p.sw.waitExit(timeout)
	}
	select {
	case <-p.exited:
		return p.cmd.ProcessState.ExitCode()
	case <-time.After(timeout):
		b.Fatalf("supervisord did not exit within %s", timeout)
		return -1
	}
}

// startSwarmProc starts a swarm with default flags but the harness's JSON
// logs and instance id prefix (swarmArgv).
func startSwarmProc(b *testing.B, addr, topic, group string) *feltProc {
	flow := newFlowClock()
	sw := startTapped(b, nil, swarmArgv("-nodes="+strconv.Itoa(feltMembers),
		"-bootstrap="+addr, "-topics="+topic, "-group="+group), flow.add)
	return &feltProc{pid: sw.cmd.Process.Pid, started: time.Now(), flow: flow, sw: sw, close: sw.stop}
}

// startPeerProc starts supervisord with feltMembers peer consumers writing
// their records to a FIFO the flow clock reads.
func startPeerProc(b *testing.B, addr, topic, group string) *feltProc {
	return startPeerScript(b, addr, topic, group, "testdata/peer/consumer.py")
}

// startPeerScript is startPeerProc with another consumer script; extra
// arguments follow its usual four (BOOTSTRAP GROUP TOPIC INSTANCE_ID).
func startPeerScript(b *testing.B, addr, topic, group, script string, extra ...string) *feltProc {
	dir := b.TempDir()
	fifo := filepath.Join(dir, "flow")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		b.Fatal(err)
	}
	script, err := filepath.Abs(script)
	if err != nil {
		b.Fatal(err)
	}
	tmpl := template.Must(template.ParseFiles("testdata/peer/supervisord.conf"))
	conf := filepath.Join(dir, "supervisord.conf")
	f, err := os.Create(conf)
	if err != nil {
		b.Fatal(err)
	}
	members := make([]int, feltMembers)
	for i := range members {
		members[i] = i
	}
	err = tmpl.Execute(f, map[string]any{"Dir": dir, "Python": peerPython, "Script": script, "Bootstrap": addr,
		"Group": group, "Topic": topic, "Fifo": fifo, "Consumers": members, "Extra": strings.Join(extra, " ")})
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		b.Fatal(err)
	}
	// O_RDWR: the read end never sees EOF while consumers come and go.
	rd, err := os.OpenFile(fifo, os.O_RDWR, 0)
	if err != nil {
		b.Fatal(err)
	}
	flow := newFlowClock()
	go flow.read(rd)
	cmd := exec.Command("supervisord", "-n", "-c", conf)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	p := &feltProc{pid: cmd.Process.Pid, started: time.Now(), flow: flow, cmd: cmd, exited: make(chan struct{}), dir: dir}
	go func() { _ = cmd.Wait(); close(p.exited) }()
	var once bool
	p.close = func() {
		if once {
			return
		}
		once = true
		_ = syscall.Kill(-p.pid, syscall.SIGKILL)
		<-p.exited
		waitFor(b, 10*time.Second, "the peer's processes to be gone", func() bool { return len(groupPids(p.pid)) == 0 })
		rd.Close()
	}
	b.Cleanup(p.close)
	return p
}

// supervisorctl runs one supervisorctl command against the peer.
func (p *feltProc) supervisorctl(args ...string) (string, error) {
	out, err := exec.Command("supervisorctl", append([]string{"-c", filepath.Join(p.dir, "supervisord.conf")}, args...)...).CombinedOutput()
	return strings.TrimSpace(string(out)), err
}

// startPeerSide runs the peer on topic, settled.
func startPeerSide(b *testing.B, addr, topic, group string) *feltSide {
	stopTraffic := steadyTraffic(b, addr, topic, feltParts, feltRate)
	p := startPeerProc(b, addr, topic, group)
	pidOf := func(member int) int {
		out, err := p.supervisorctl("pid", fmt.Sprintf("consumer_%d", member))
		pid, perr := strconv.Atoi(out)
		if err != nil || perr != nil || pid <= 0 {
			return 0
		}
		return pid
	}
	waitFor(b, 3*time.Minute, "peer settled and flowing", func() bool {
		return groupSettled(b, addr, group, feltMembers) && p.flow.flowingSince(time.Now().Add(-50*time.Millisecond), feltParts)
	})
	return &feltSide{
		name: "peer", flow: p.flow,
		pids: func() map[int]int {
			m := map[int]int{}
			for i := 0; i < feltMembers; i++ {
				m[i] = pidOf(i)
			}
			return m
		},
		kill: func(member int) error {
			pid := pidOf(member)
			if pid == 0 {
				return fmt.Errorf("consumer_%d has no pid", member)
			}
			return syscall.Kill(pid, syscall.SIGKILL)
		},
		roll: func() []rollStep {
			var stops []rollStep
			for i := 0; i < feltMembers; i++ {
				stops = append(stops, rollStep{time.Now(), i})
				if out, err := p.supervisorctl("restart", fmt.Sprintf("consumer_%d", i)); err != nil {
					b.Fatalf("supervisorctl restart consumer_%d: %v: %s", i, err, out)
				}
				// As swarm's roll: the next member only once this one's
				// partitions flow again.
				restarted := time.Now()
				waitFor(b, time.Minute, "the restarted consumer's partitions to flow", func() bool {
					return p.flow.flowingSince(restarted, feltParts)
				})
			}
			return stops
		},
		close: func() { p.close(); stopTraffic() },
	}
}
