//go:build linux && docker

package main

// The Docker suite: go test -tags docker -count=1 -run Docker ./...
//
// Nothing is pulled. Static binaries are built on the host (CGO_ENABLED=0)
// and put into FROM-scratch images: the repository's Dockerfile for swarm,
// testdata/docker for the kfake broker (and the test handler). Every test
// builds its images under unique tags, runs its containers on a private
// network of its own, and removes containers, network and images in
// t.Cleanup, also when it fails. Waits poll docker logs / docker inspect
// against deadlines; the only fixed wait is the 20 s network partition,
// which is the scenario itself.
//
// Records are checked through the print handler: every record a node
// handles is one "topic [p] at offset o: key k: value" line on the
// container's stdout, so docker logs is the record of what was handled.

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

// dockerCmdTimeout bounds one docker CLI call.
const dockerCmdTimeout = 2 * time.Minute

var dockerCheck struct {
	once sync.Once
	err  error
	loud sync.Once // the reason goes to stderr once, for runs without -v
}

// requireDocker skips, loudly, when no Docker engine answers. The reason is
// printed to stderr too, so it shows without -v.
func requireDocker(t *testing.T) {
	t.Helper()
	dockerCheck.once.Do(func() {
		if _, err := exec.LookPath("docker"); err != nil {
			dockerCheck.err = fmt.Errorf("no docker CLI: %v", err)
			return
		}
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		out, err := exec.CommandContext(ctx, "docker", "info", "--format", "{{.ServerVersion}}").CombinedOutput()
		if err != nil {
			dockerCheck.err = fmt.Errorf("docker info: %v: %s", err, strings.TrimSpace(string(out)))
			return
		}
		if strings.TrimSpace(string(out)) == "" {
			dockerCheck.err = fmt.Errorf("docker info: no server version")
		}
	})
	if dockerCheck.err != nil {
		msg := "SKIPPED docker suite: " + dockerCheck.err.Error()
		dockerCheck.loud.Do(func() { fmt.Fprintln(os.Stderr, msg) })
		t.Skip(msg)
	}
}

var dockerBins struct {
	once sync.Once
	dir  string
	err  error
}

// dockerBinaries builds the static binaries once per test process, each in
// a directory of its own that is a whole docker build context. They live
// next to swarmBin, whose directory TestMain removes.
func dockerBinaries(t *testing.T) string {
	t.Helper()
	dockerBins.once.Do(func() {
		dir := filepath.Join(filepath.Dir(swarmBin), "docker")
		// The handler image's context holds swarm and the test handler.
		for _, b := range []struct{ ctx, name, pkg string }{
			{"swarm", "swarm", "."},
			{"broker", "broker", "./testdata/broker"},
			{"handler", "leaky", "./testdata/leaky"},
		} {
			ctxDir := filepath.Join(dir, b.ctx)
			if err := os.MkdirAll(ctxDir, 0o755); err != nil {
				dockerBins.err = err
				return
			}
			cmd := exec.Command("go", "build", "-trimpath", "-o", filepath.Join(ctxDir, b.name), b.pkg)
			cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
			if out, err := cmd.CombinedOutput(); err != nil {
				dockerBins.err = fmt.Errorf("build %s: %v\n%s", b.pkg, err, out)
				return
			}
		}
		if err := os.Link(filepath.Join(dir, "swarm", "swarm"), filepath.Join(dir, "handler", "swarm")); err != nil {
			dockerBins.err = err
			return
		}
		dockerBins.dir = dir
	})
	if dockerBins.err != nil {
		t.Fatal(dockerBins.err)
	}
	return dockerBins.dir
}

// dockerEnv is one test's images, network and containers, all named
// swarmtest-<id>-... and labelled swarm.test=<id> and swarm.test.pid=<pid of
// the test process>.
type dockerEnv struct {
	t           *testing.T
	id          string
	bins        string // dockerBinaries
	repo        string // the repository root: the test's working directory
	network     string
	swarmImage  string
	brokerImage string

	mu         sync.Mutex
	images     []string
	containers []string
}

func newDockerEnv(t *testing.T) *dockerEnv {
	t.Helper()
	requireDocker(t)
	sweepDocker(t)
	var b [5]byte
	if _, err := rand.Read(b[:]); err != nil {
		t.Fatal(err)
	}
	e := &dockerEnv{t: t, id: "swarmtest-" + hex.EncodeToString(b[:]), bins: dockerBinaries(t)}
	var err error
	if e.repo, err = os.Getwd(); err != nil {
		t.Fatal(err)
	}
	// One cleanup, in dependency order, registered before anything exists.
	t.Cleanup(e.cleanup)
	e.swarmImage = e.buildImage("swarm", filepath.Join(e.repo, "Dockerfile"), filepath.Join(e.bins, "swarm"))
	e.brokerImage = e.buildImage("broker", filepath.Join(e.repo, "testdata", "docker", "broker.Dockerfile"), filepath.Join(e.bins, "broker"))
	e.mu.Lock()
	e.network = e.id
	e.mu.Unlock()
	e.must(append([]string{"network", "create"}, append(e.labels(), e.network)...)...)
	return e
}

// labels mark everything a test creates: its own id, and the test
// process, so a later run can sweep what a killed run left behind.
func (e *dockerEnv) labels() []string {
	return []string{"--label", "swarm.test=" + e.id, "--label", "swarm.test.pid=" + strconv.Itoa(os.Getpid())}
}

// handlerImage builds the image of swarm plus the leaking test handler.
func (e *dockerEnv) handlerImage() string {
	e.t.Helper()
	return e.buildImage("handler", filepath.Join(e.repo, "testdata", "docker", "handler.Dockerfile"), filepath.Join(e.bins, "handler"))
}

func (e *dockerEnv) buildImage(name, dockerfile, context string) string {
	e.t.Helper()
	tag := e.id + "-" + name + ":test"
	e.mu.Lock()
	e.images = append(e.images, tag)
	e.mu.Unlock()
	start := time.Now()
	e.must(append(append([]string{"build", "-q"}, e.labels()...), "-t", tag, "-f", dockerfile, context)...)
	e.t.Logf("built image %s in %s", tag, time.Since(start).Round(time.Millisecond))
	return tag
}

// cleanup removes containers (dumping their logs first when the test
// failed), then the network, then the images.
func (e *dockerEnv) cleanup() {
	e.mu.Lock()
	containers := append([]string(nil), e.containers...)
	network := e.network
	images := append([]string(nil), e.images...)
	e.mu.Unlock()
	for _, c := range containers {
		if e.t.Failed() {
			stdout, stderr, err := e.logs(c)
			if err == nil {
				e.t.Logf("=== %s: last stderr lines:\n%s", c, dockerTail(stderr, 60))
				e.t.Logf("=== %s: last stdout lines:\n%s", c, dockerTail(stdout, 10))
			}
			if st, err := e.inspect(c); err == nil {
				e.t.Logf("=== %s: state %+v", c, st)
			}
		}
		if _, err := e.docker("rm", "-f", "-v", c); err != nil && !strings.Contains(err.Error(), "No such container") {
			e.t.Errorf("remove container %s: %v", c, err)
		}
	}
	if network != "" {
		if _, err := e.docker("network", "rm", network); err != nil {
			e.t.Errorf("remove network %s: %v", network, err)
		}
	}
	for _, img := range images {
		if _, err := e.docker("rmi", img); err != nil && !strings.Contains(err.Error(), "No such image") {
			e.t.Errorf("remove image %s: %v", img, err)
		}
	}
}

var dockerSweep sync.Once

// sweepDocker removes, once per test process, whatever an earlier run of
// this suite left behind because it was killed before its cleanups ran
// (go test -timeout, ^C): containers, networks and images labelled with
// the pid of a test process that is gone. Another run going on at the same
// time is alive and keeps its own.
func sweepDocker(t *testing.T) {
	dockerSweep.Do(func() {
		run := func(args ...string) string {
			ctx, cancel := context.WithTimeout(context.Background(), dockerCmdTimeout)
			defer cancel()
			out, _ := exec.CommandContext(ctx, "docker", args...).Output()
			return string(out)
		}
		stale := func(listing string) []string {
			var out []string
			for _, line := range strings.Split(strings.TrimSpace(listing), "\n") {
				id, pid, ok := strings.Cut(line, " ")
				if !ok {
					continue
				}
				if p, err := strconv.Atoi(pid); err == nil && p != os.Getpid() && !alive(p) {
					out = append(out, id)
				}
			}
			return out
		}
		const label = "label=swarm.test.pid"
		const format = `{{.ID}} {{.Label "swarm.test.pid"}}`
		if ids := stale(run("ps", "-a", "--filter", label, "--format", format)); len(ids) > 0 {
			t.Logf("removing %d containers of earlier, killed runs", len(ids))
			run(append([]string{"rm", "-f", "-v"}, ids...)...)
		}
		if ids := stale(run("network", "ls", "--filter", label, "--format", format)); len(ids) > 0 {
			t.Logf("removing %d networks of earlier, killed runs", len(ids))
			run(append([]string{"network", "rm"}, ids...)...)
		}
		// docker images has no .Label in its format: inspect the ones it lists.
		var images string
		if ids := strings.Fields(run("images", "-q", "--no-trunc", "--filter", label)); len(ids) > 0 {
			images = run(append([]string{"image", "inspect", "-f", `{{.Id}} {{index .Config.Labels "swarm.test.pid"}}`}, ids...)...)
		}
		if ids := stale(images); len(ids) > 0 {
			t.Logf("removing %d images of earlier, killed runs", len(ids))
			run(append([]string{"rmi", "-f"}, ids...)...)
		}
	})
}

func dockerTail(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// docker runs one docker CLI command and returns its stdout.
func (e *dockerEnv) docker(args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), dockerCmdTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, "docker", args...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return stdout.String(), fmt.Errorf("docker %s: %v: %s", strings.Join(args, " "), err, strings.TrimSpace(stderr.String()))
	}
	return stdout.String(), nil
}

func (e *dockerEnv) must(args ...string) string {
	e.t.Helper()
	out, err := e.docker(args...)
	if err != nil {
		e.t.Fatal(err)
	}
	return strings.TrimSpace(out)
}

// run starts a detached container on the test's network and returns its name.
func (e *dockerEnv) run(name string, opts []string, image string, args ...string) string {
	e.t.Helper()
	full := e.id + "-" + name
	e.mu.Lock()
	e.containers = append(e.containers, full)
	e.mu.Unlock()
	cmd := append([]string{"run", "-d", "--name", full, "--network", e.network}, e.labels()...)
	cmd = append(cmd, opts...)
	cmd = append(cmd, image)
	cmd = append(cmd, args...)
	e.must(cmd...)
	return full
}

// logs returns a container's stdout and stderr so far.
func (e *dockerEnv) logs(name string) (string, string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), dockerCmdTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, "docker", "logs", name)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return "", "", fmt.Errorf("docker logs %s: %v: %s", name, err, strings.TrimSpace(stderr.String()))
	}
	return stdout.String(), stderr.String(), nil
}

func (e *dockerEnv) mustLogs(name string) (string, string) {
	e.t.Helper()
	stdout, stderr, err := e.logs(name)
	if err != nil {
		e.t.Fatal(err)
	}
	return stdout, stderr
}

// dockerState is the part of docker inspect's .State the tests read.
type dockerState struct {
	Status     string
	Running    bool
	OOMKilled  bool
	ExitCode   int
	StartedAt  string
	FinishedAt string
}

func (e *dockerEnv) inspect(name string) (dockerState, error) {
	var st dockerState
	out, err := e.docker("inspect", "-f", "{{json .State}}", name)
	if err != nil {
		return st, err
	}
	err = json.Unmarshal([]byte(out), &st)
	return st, err
}

func (e *dockerEnv) mustInspect(name string) dockerState {
	e.t.Helper()
	st, err := e.inspect(name)
	if err != nil {
		e.t.Fatal(err)
	}
	return st
}

// eventually polls cond every 250 ms until it holds or timeout passes; cond
// returns a description of the state it saw, for the failure message.
func (e *dockerEnv) eventually(timeout time.Duration, what string, cond func() (bool, string)) {
	e.t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		ok, seen := cond()
		if ok {
			return
		}
		if time.Now().After(deadline) {
			e.t.Fatalf("timed out after %s waiting for %s; last seen: %s", timeout, what, seen)
		}
		time.Sleep(250 * time.Millisecond)
	}
}

// startBroker runs the broker image as host "broker" on the network, waits
// for its "ready" line and returns the container name and, with publish,
// its 127.0.0.1 host port (host:port).
func (e *dockerEnv) startBroker(publish bool, args ...string) (string, string) {
	e.t.Helper()
	opts := []string{"--hostname", "broker", "--network-alias", "broker"}
	if publish {
		opts = append(opts, "-p", "127.0.0.1::9092")
	}
	name := e.run("broker", opts, e.brokerImage, args...)
	e.eventually(30*time.Second, "broker ready", func() (bool, string) {
		stdout, stderr, err := e.logs(name)
		if err != nil {
			return false, err.Error()
		}
		return strings.Contains(stdout, "ready broker:9092"), stdout + stderr
	})
	if !publish {
		return name, ""
	}
	return name, e.hostPort(name, "9092/tcp")
}

// hostPort is where the host reaches a container port published with
// -p 127.0.0.1::PORT.
func (e *dockerEnv) hostPort(container, port string) string {
	e.t.Helper()
	out := e.must("port", container, port)
	// One line per address family; take the IPv4 one we asked for.
	for _, l := range strings.Split(out, "\n") {
		if strings.HasPrefix(l, "127.0.0.1:") {
			return l
		}
	}
	e.t.Fatalf("%s port %s not published on 127.0.0.1: %q", container, port, out)
	return ""
}

// dockerHostAdmin is a kadm client from the host through the broker's published
// port. The broker advertises broker:9092, a name only the network knows,
// so every connection is dialed to the published port instead.
func dockerHostAdmin(t *testing.T, hostPort string) *kadm.Client {
	t.Helper()
	var d net.Dialer
	cl, err := kgo.NewClient(kgo.SeedBrokers(hostPort),
		kgo.Dialer(func(ctx context.Context, network, _ string) (net.Conn, error) {
			return d.DialContext(ctx, network, hostPort)
		}))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cl.Close)
	return kadm.NewClient(cl)
}

// dockerRecord is one line of the print handler.
type dockerRecord struct {
	partition int32
	offset    int64
	key       int
}

// dockerPrinted reads the print handler's lines of topic from stdout.
func dockerPrinted(t *testing.T, stdout, topic string) []dockerRecord {
	t.Helper()
	var out []dockerRecord
	sc := bufio.NewScanner(strings.NewReader(stdout))
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		r, k, ok := printedOf(sc.Text(), topic)
		if !ok {
			continue
		}
		out = append(out, dockerRecord{partition: r.partition, offset: r.offset, key: k})
	}
	return out
}

// dockerMissingKeys lists the keys in [0, n) no record carries (at most 10).
func dockerMissingKeys(recs []dockerRecord, n int) (missing []int, count int) {
	seen := make([]bool, n)
	for _, r := range recs {
		if r.key >= 0 && r.key < n {
			seen[r.key] = true
		}
	}
	for k, ok := range seen {
		if !ok {
			count++
			if len(missing) < 10 {
				missing = append(missing, k)
			}
		}
	}
	return missing, count
}

// dockerDuplicates counts records handled more than once.
func dockerDuplicates(recs []dockerRecord) int {
	seen := map[dockerRecord]bool{}
	d := 0
	for _, r := range recs {
		if seen[r] {
			d++
		}
		seen[r] = true
	}
	return d
}

// dockerParseLogs reads the JSON log lines of a container's stderr.
func dockerParseLogs(stderr string) []logLine {
	var out []logLine
	sc := bufio.NewScanner(strings.NewReader(stderr))
	sc.Buffer(make([]byte, 1<<20), 16<<20)
	for sc.Scan() {
		var l logLine
		if json.Unmarshal(sc.Bytes(), &l) == nil && l["msg"] != nil {
			out = append(out, l)
		}
	}
	return out
}

func dockerCountLogs(lines []logLine, match func(logLine) bool) int {
	n := 0
	for _, l := range lines {
		if match(l) {
			n++
		}
	}
	return n
}

// dockerNodeRestarts counts node starts after the first, with their causes.
func dockerNodeRestarts(lines []logLine) (int, []string) {
	n := 0
	var why []string
	for _, l := range lines {
		switch l.msg() {
		case "swarm.manager.after_fork":
			if l.int("restarts") > 0 {
				n++
			}
		case "swarm.node.exited", "swarm.manager.stopping":
			why = append(why, fmt.Sprintf("%s node %d %s%s", l.msg(), l.int("node"), l.str("exit"), dockerStatusNote(l)))
		}
	}
	return n, why
}

func dockerStatusNote(l logLine) string {
	if _, ok := l["status"]; ok {
		return fmt.Sprintf("status %d", l.int("status"))
	}
	return ""
}

// dockerSwarmArgs are the flags every swarm container gets, before the test's own.
func dockerSwarmArgs(extra ...string) []string {
	return append([]string{"-bootstrap", "broker:9092", "-topics", "orders", "-log-format", "json"}, extra...)
}

// TestDockerStopCommitsAndResumes: docker stop on a swarm container that is
// consuming live traffic -> every node finishes its batch, commits and
// exits 0, the container exits 0 well within the stop timeout; started
// again, it resumes exactly at the commits and handles every record.
func TestDockerStopCommitsAndResumes(t *testing.T) {
	e := newDockerEnv(t)
	const total, rate = 12000, 2000 // six seconds of live traffic
	_, hostPort := e.startBroker(true, "-topics", "orders", "-partitions", "4",
		"-records", strconv.Itoa(total), "-rate", strconv.Itoa(rate))
	adm := dockerHostAdmin(t, hostPort)

	const shutdownTimeout, stopTimeout = 10 * time.Second, 30 * time.Second
	// With the status endpoint on, as a Kubernetes liveness probe would use it.
	sw := e.run("swarm", []string{"-p", "127.0.0.1::8080"}, e.swarmImage, dockerSwarmArgs("-nodes", "2",
		"-shutdown-timeout", shutdownTimeout.String(), "-session-timeout", "6s", "-http", "0.0.0.0:8080")...)
	healthz := "http://" + e.hostPort(sw, "8080/tcp") + "/healthz"
	e.eventually(30*time.Second, "/healthz 200 from the supervisor as PID 1 with two nodes", func() (bool, string) {
		resp, err := http.Get(healthz)
		if err != nil {
			return false, err.Error()
		}
		defer resp.Body.Close()
		var body struct {
			Status    string `json:"status"`
			ProcessID int    `json:"process_id"`
			Nodes     int    `json:"nodes"`
		}
		err = json.NewDecoder(resp.Body).Decode(&body)
		return err == nil && resp.StatusCode == http.StatusOK && body.ProcessID == 1 && body.Nodes == 2,
			fmt.Sprintf("%s %+v %v", resp.Status, body, err)
	})

	// Stop while records are still arriving: at a quarter of them.
	e.eventually(60*time.Second, "a quarter of the records handled", func() (bool, string) {
		stdout, _ := e.mustLogs(sw)
		n := len(dockerPrinted(t, stdout, "orders"))
		return n >= total/4, fmt.Sprintf("%d handled", n)
	})
	start := time.Now()
	e.must("stop", "-t", strconv.Itoa(int(stopTimeout.Seconds())), sw)
	took := time.Since(start)
	st := e.mustInspect(sw)
	t.Logf("docker stop took %s (stop timeout %s, -shutdown-timeout %s); state %+v", took.Round(time.Millisecond), stopTimeout, shutdownTimeout, st)
	if st.Running || st.ExitCode != 0 || st.OOMKilled {
		t.Fatalf("after docker stop: running %v, exit code %d, OOM killed %v; want exited 0", st.Running, st.ExitCode, st.OOMKilled)
	}
	if took >= shutdownTimeout {
		t.Fatalf("docker stop took %s: not well within the stop timeout (nodes get -shutdown-timeout %s)", took, shutdownTimeout)
	}

	stdout1, stderr1 := e.mustLogs(sw)
	run1 := dockerPrinted(t, stdout1, "orders")
	logs1 := dockerParseLogs(stderr1)
	for node := 0; node < 2; node++ {
		stopped := dockerCountLogs(logs1, func(l logLine) bool {
			return l.msg() == "app.stopped" && l.role() == "node" && l.int("node") == node && l["err"] == nil
		})
		exited := dockerCountLogs(logs1, logged("swarm.node.exited", "node", node, "exit", "exit 0"))
		if stopped != 1 || exited != 1 {
			t.Errorf("node %d: %d clean app.stopped lines and %d exits with 0, want one of each", node, stopped, exited)
		}
	}
	if n := dockerCountLogs(logs1, logged("swarm.manager.terminating")); n > 0 {
		t.Errorf("%d nodes had to be killed", n)
	}
	if len(run1) >= total {
		t.Fatalf("the first run handled all %d records before the stop: the stop did not land mid-stream", len(run1))
	}

	// What the first run handled is exactly what it committed.
	last := map[int32]int64{}
	for _, r := range run1 {
		if r.offset+1 > last[r.partition] {
			last[r.partition] = r.offset + 1
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	offs, err := adm.FetchOffsets(ctx, "swarm")
	if err != nil {
		t.Fatalf("fetch committed offsets: %v", err)
	}
	committed := map[int32]int64{}
	for p := int32(0); p < 4; p++ {
		o, ok := offs.Lookup("orders", p)
		if !ok || o.Err != nil {
			t.Fatalf("partition %d: no committed offset (%v)", p, o.Err)
		}
		committed[p] = o.At
		if o.At != last[p] {
			t.Errorf("partition %d: committed %d, but the first run handled up to offset %d", p, o.At, last[p]-1)
		}
	}
	t.Logf("first run: %d records handled (%d duplicates), commits %v", len(run1), dockerDuplicates(run1), committed)

	// Start the same container again (same hostname, so the same static
	// member ids) once all records are in.
	e.eventually(60*time.Second, "all records produced", func() (bool, string) {
		out, _ := e.mustLogs(e.id + "-broker")
		return strings.Contains(out, fmt.Sprintf("produced %d", total)), out
	})
	e.must("start", sw)
	restarted := time.Now()
	var all, run2 []dockerRecord
	e.eventually(60*time.Second, "every record handled across both runs", func() (bool, string) {
		stdout, _ := e.mustLogs(sw)
		all = dockerPrinted(t, stdout, "orders")
		run2 = all[len(run1):]
		missing, n := dockerMissingKeys(all, total)
		return n == 0, fmt.Sprintf("%d records missing, e.g. keys %v", n, missing)
	})
	first := map[int32]int64{}
	for _, r := range run2 {
		if _, ok := first[r.partition]; !ok {
			first[r.partition] = r.offset
		}
	}
	for p := int32(0); p < 4; p++ {
		if f, ok := first[p]; !ok || f != committed[p] {
			t.Errorf("partition %d: the second run started at offset %d (seen %v), want the commit %d", p, f, ok, committed[p])
		}
	}
	t.Logf("second run: %d records handled within %s; %d duplicates across both runs", len(run2), time.Since(restarted).Round(time.Millisecond), dockerDuplicates(all))

	start = time.Now()
	e.must("stop", "-t", strconv.Itoa(int(stopTimeout.Seconds())), sw)
	if st := e.mustInspect(sw); st.ExitCode != 0 {
		t.Errorf("second docker stop: exit code %d, want 0", st.ExitCode)
	}
	t.Logf("second docker stop took %s", time.Since(start).Round(time.Millisecond))
}

// TestDockerBrokerPartition: the broker is cut off the network for 20 s
// while it keeps taking records (it produces them itself, over loopback).
// The swarm container stays up all along (nodes may restart, with backoff),
// and once the broker is back every record is handled.
func TestDockerBrokerPartition(t *testing.T) {
	e := newDockerEnv(t)
	const total, rate = 4000, 150 // about 27 s of traffic: before, during and after the partition
	broker, _ := e.startBroker(false, "-topics", "orders", "-partitions", "4",
		"-records", strconv.Itoa(total), "-rate", strconv.Itoa(rate))
	sw := e.run("swarm", nil, e.swarmImage, dockerSwarmArgs("-nodes", "2", "-shutdown-timeout", "10s",
		"-session-timeout", "6s", "-node-restart-timeout", "1s")...)
	started := e.mustInspect(sw).StartedAt

	e.eventually(60*time.Second, "records flowing", func() (bool, string) {
		stdout, _ := e.mustLogs(sw)
		n := len(dockerPrinted(t, stdout, "orders"))
		return n >= 200, fmt.Sprintf("%d handled", n)
	})

	e.must("network", "disconnect", e.network, broker)
	cut := time.Now()
	stdout, _ := e.mustLogs(sw)
	before := len(dockerPrinted(t, stdout, "orders"))
	t.Logf("broker disconnected with %d records handled", before)
	// The partition itself: 20 s, checking once a second that the swarm
	// container is still up.
	for time.Since(cut) < 20*time.Second {
		if st := e.mustInspect(sw); !st.Running || st.StartedAt != started {
			t.Fatalf("swarm container went down during the partition: %+v", st)
		}
		time.Sleep(time.Second)
	}
	stdout, _ = e.mustLogs(sw)
	during := len(dockerPrinted(t, stdout, "orders")) - before
	e.must("network", "connect", "--alias", "broker", e.network, broker)
	back := time.Now()
	t.Logf("broker reconnected after %s; %d records handled while it was away (fetched before the cut)", back.Sub(cut).Round(time.Millisecond), during)

	e.eventually(90*time.Second, "every record handled after the reconnection", func() (bool, string) {
		stdout, _ := e.mustLogs(sw)
		missing, n := dockerMissingKeys(dockerPrinted(t, stdout, "orders"), total)
		return n == 0, fmt.Sprintf("%d records missing, e.g. keys %v", n, missing)
	})
	t.Logf("all %d records handled %s after the reconnection", total, time.Since(back).Round(time.Millisecond))
	st := e.mustInspect(sw)
	if !st.Running || st.StartedAt != started {
		t.Fatalf("swarm container did not stay up: %+v (started %s)", st, started)
	}
	stdout, stderr := e.mustLogs(sw)
	restarts, why := dockerNodeRestarts(dockerParseLogs(stderr))
	t.Logf("node restarts: %d %v; duplicates: %d", restarts, why, dockerDuplicates(dockerPrinted(t, stdout, "orders")))

	e.must("stop", "-t", "30", sw)
	if st := e.mustInspect(sw); st.ExitCode != 0 {
		t.Errorf("docker stop after the partition: exit code %d, want 0", st.ExitCode)
	}
}

// TestDockerTwoContainersSplitPartitions: two swarm containers with the same
// group and their default instance ids (their hostnames) share the
// partitions: four static members, two per container, each partition
// assigned once. This is how one scales past one host.
func TestDockerTwoContainersSplitPartitions(t *testing.T) {
	e := newDockerEnv(t)
	const total, partitions = 2000, 8
	_, hostPort := e.startBroker(true, "-topics", "orders", "-partitions", strconv.Itoa(partitions),
		"-records", strconv.Itoa(total), "-rate", "200")
	adm := dockerHostAdmin(t, hostPort)
	args := dockerSwarmArgs("-nodes", "2", "-shutdown-timeout", "10s", "-session-timeout", "6s")
	a := e.run("swarm-a", nil, e.swarmImage, args...)
	b := e.run("swarm-b", nil, e.swarmImage, args...)
	hostA := e.must("inspect", "-f", "{{.Config.Hostname}}", a)
	hostB := e.must("inspect", "-f", "{{.Config.Hostname}}", b)
	if hostA == hostB {
		t.Fatalf("both containers have hostname %q", hostA)
	}
	want := []string{hostA + "_0_0", hostA + "_1_0", hostB + "_0_0", hostB + "_1_0"}
	sort.Strings(want)

	var owner map[int32]string // partition -> instance id
	e.eventually(60*time.Second, "a stable group of four static members sharing all partitions", func() (bool, string) {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		groups, err := adm.DescribeGroups(ctx, "swarm")
		if err != nil {
			return false, err.Error()
		}
		g, ok := groups["swarm"]
		if !ok || g.Err != nil {
			return false, fmt.Sprintf("group: %v", g.Err)
		}
		var ids []string
		owner = map[int32]string{}
		dup := false
		for _, m := range g.Members {
			id := "<none>"
			if m.InstanceID != nil {
				id = *m.InstanceID
			}
			ids = append(ids, id)
			ca, ok := m.Assigned.AsConsumer()
			if !ok {
				continue
			}
			for _, tp := range ca.Topics {
				for _, p := range tp.Partitions {
					if _, taken := owner[p]; taken {
						dup = true
					}
					owner[p] = id
				}
			}
		}
		sort.Strings(ids)
		seen := fmt.Sprintf("state %s, members %v, owners %v", g.State, ids, owner)
		return g.State == "Stable" && strings.Join(ids, ",") == strings.Join(want, ",") &&
			len(owner) == partitions && !dup, seen
	})
	perHost := map[string]int{}
	for _, id := range owner {
		perHost[strings.TrimSuffix(strings.TrimSuffix(id, "_0_0"), "_1_0")]++
	}
	t.Logf("partition owners: %v; per container: %v", owner, perHost)
	if perHost[hostA] == 0 || perHost[hostB] == 0 {
		t.Fatalf("one container owns no partition: %v", perHost)
	}

	var recA, recB []dockerRecord
	e.eventually(60*time.Second, "every record handled by the two containers", func() (bool, string) {
		outA, _ := e.mustLogs(a)
		outB, _ := e.mustLogs(b)
		recA, recB = dockerPrinted(t, outA, "orders"), dockerPrinted(t, outB, "orders")
		missing, n := dockerMissingKeys(append(append([]dockerRecord(nil), recA...), recB...), total)
		return n == 0, fmt.Sprintf("%d records missing, e.g. keys %v", n, missing)
	})
	t.Logf("records handled: %d by %s, %d by %s", len(recA), hostA, len(recB), hostB)
	if len(recA) == 0 || len(recB) == 0 {
		t.Errorf("one container handled no record: %d and %d", len(recA), len(recB))
	}
}

// TestDockerMemoryLimitRestartsLeakingNode: a container with a cgroup memory
// limit runs a swarm whose handler command leaks on every record, with
// -memory-limit (node plus handler RSS) well below the container's limit.
// The node reports status 3, is stopped and started again, over and over,
// and the container is never OOM-killed: it stays up, and records keep
// being handled across the restarts.
func TestDockerMemoryLimitRestartsLeakingNode(t *testing.T) {
	e := newDockerEnv(t)
	const containerMiB, limitMiB = 128, 48
	e.startBroker(false, "-topics", "orders", "-partitions", "2", "-records", "40000", "-rate", "200")
	sw := e.run("swarm", []string{"--memory", fmt.Sprintf("%dm", containerMiB)}, e.handlerImage(),
		dockerSwarmArgs("-nodes", "1", "-memory-limit", strconv.Itoa(limitMiB),
			"-report-interval", "200ms", "-node-restart-timeout", "500ms", "-shutdown-timeout", "5s",
			"-session-timeout", "6s", "--", "/leaky", "-kib", "64")...)
	started := e.mustInspect(sw).StartedAt

	// Three memory stops, each followed by a new start of the node.
	var logs []logLine
	e.eventually(120*time.Second, "the leaking node stopped for memory and restarted three times", func() (bool, string) {
		_, stderr := e.mustLogs(sw)
		logs = dockerParseLogs(stderr)
		stops := dockerCountLogs(logs, logged("swarm.manager.stopping", "status", 3))
		restarts := dockerCountLogs(logs, func(l logLine) bool { return l.msg() == "swarm.manager.after_fork" && l.int("restarts") > 0 })
		st, _ := e.inspect(sw)
		if !st.Running || st.OOMKilled {
			e.t.Fatalf("container down or OOM-killed: %+v", st)
		}
		return stops >= 3 && restarts >= 3, fmt.Sprintf("%d memory stops, %d restarts", stops, restarts)
	})
	st := e.mustInspect(sw)
	if !st.Running || st.OOMKilled || st.StartedAt != started {
		t.Fatalf("container did not stay up: %+v (started %s)", st, started)
	}
	if n := dockerCountLogs(logs, func(l logLine) bool { return l.msg() == "swarm.manager.stopping" && l.int("status") != 3 }); n > 0 {
		t.Errorf("%d node stops for another reason than memory", n)
	}
	handled := 0
	for _, l := range logs {
		if l.msg() == "app.stopped" && l.role() == "node" {
			handled += l.int("handled")
		}
	}
	if handled <= 0 {
		t.Errorf("the stopped nodes handled no record")
	}
	id := e.must("inspect", "-f", "{{.Id}}", sw)
	oomKills, peak := dockerCgroupMemory(id)
	t.Logf("records handled by the stopped nodes: %d; cgroup: oom kills %s, peak usage %s of the %d MiB limit",
		handled, oomKills, peak, containerMiB)
	if oomKills != "" && oomKills != "0" {
		t.Errorf("the kernel OOM-killed %s processes in the container", oomKills)
	}
	e.must("stop", "-t", "30", sw)
	if st := e.mustInspect(sw); st.ExitCode != 0 || st.OOMKilled {
		t.Errorf("docker stop: exit code %d, OOM killed %v; want 0, false", st.ExitCode, st.OOMKilled)
	}
}

// dockerCgroupMemory reads the container's OOM-kill count and peak memory usage
// from its memory cgroup (v1 with the cgroupfs driver, or v2 with systemd),
// or returns empty strings when the files are not where they usually are.
func dockerCgroupMemory(id string) (oomKills, peak string) {
	for _, dir := range []string{
		"/sys/fs/cgroup/memory/docker/" + id,
		"/sys/fs/cgroup/memory/system.slice/docker-" + id + ".scope",
		"/sys/fs/cgroup/system.slice/docker-" + id + ".scope",
		"/sys/fs/cgroup/docker/" + id,
	} {
		for _, f := range []string{"memory.oom_control", "memory.events"} {
			b, err := os.ReadFile(filepath.Join(dir, f))
			if err != nil {
				continue
			}
			for _, line := range strings.Split(string(b), "\n") {
				if v, ok := strings.CutPrefix(line, "oom_kill "); ok {
					oomKills = v
				}
			}
		}
		for _, f := range []string{"memory.max_usage_in_bytes", "memory.peak"} {
			if b, err := os.ReadFile(filepath.Join(dir, f)); err == nil {
				if n, err := strconv.ParseInt(strings.TrimSpace(string(b)), 10, 64); err == nil {
					peak = fmt.Sprintf("%.1f MiB", float64(n)/(1<<20))
				}
			}
		}
		if oomKills != "" || peak != "" {
			return oomKills, peak
		}
	}
	return "", ""
}
