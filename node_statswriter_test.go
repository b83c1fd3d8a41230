//go:build linux

package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// statsPipe is a non-blocking pipe of the smallest size the kernel allows:
// its read end as a file, and its write end's fd.
func statsPipe(t *testing.T) (*os.File, int) {
	var p [2]int
	if err := unix.Pipe2(p[:], unix.O_CLOEXEC); err != nil {
		t.Fatal(err)
	}
	r := os.NewFile(uintptr(p[0]), "stats-read")
	t.Cleanup(func() { r.Close(); unix.Close(p[1]) })
	if _, err := unix.FcntlInt(uintptr(p[1]), unix.F_SETPIPE_SZ, 4096); err != nil {
		t.Fatal(err)
	}
	if !openStatsPipe(p[1]) {
		t.Fatal("openStatsPipe refused a pipe")
	}
	return r, p[1]
}

// Only a pipe is a stats pipe: a file or a closed fd is not, and gets
// nothing.
func TestStatsPipeOnlyAPipe(t *testing.T) {
	f, err := os.CreateTemp(t.TempDir(), "fd4")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if openStatsPipe(int(f.Fd())) {
		t.Error("a regular file taken for the stats pipe")
	}
	fd, err := unix.Dup(int(f.Fd()))
	if err != nil {
		t.Fatal(err)
	}
	unix.Close(fd)
	if openStatsPipe(fd) {
		t.Error("a closed fd taken for the stats pipe")
	}
	_, w := statsPipe(t)
	if fl, err := unix.FcntlInt(uintptr(w), unix.F_GETFL, 0); err != nil || fl&unix.O_NONBLOCK == 0 {
		t.Errorf("stats pipe flags %#x, %v: want non-blocking", fl, err)
	}
	if fl, err := unix.FcntlInt(uintptr(w), unix.F_GETFD, 0); err != nil || fl&unix.FD_CLOEXEC == 0 {
		t.Errorf("stats pipe fd flags %#x, %v: want close-on-exec (no handler inherits it)", fl, err)
	}
}

// A full pipe never blocks the writer and never breaks a line: the rest of
// a partly written line goes first, no new line is built meanwhile, and
// the reader gets whole lines, in order, each one as built.
func TestStatsWriterFullPipe(t *testing.T) {
	r, fd := statsPipe(t)
	var built [][]byte
	w := &statsWriter{fd: fd, build: func(time.Time) ([]byte, error) {
		line := fmt.Appendf(nil, `{"n":%d,"pad":"%s"}`+"\n", len(built), bytes.Repeat([]byte("x"), 3000))
		built = append(built, line)
		return line, nil
	}}
	ticks := func(n int) {
		done := make(chan error, 1)
		go func() {
			var err error
			for i := 0; i < n && err == nil; i++ {
				err = w.tick(time.Now())
			}
			done <- err
		}()
		select {
		case err := <-done:
			if err != nil {
				t.Fatal(err)
			}
		case <-time.After(10 * time.Second):
			t.Fatal("tick blocked on a full pipe")
		}
	}
	ticks(20) // nobody reads: the pipe fills after a line and a bit
	if len(built) > 3 || len(w.pending) == 0 {
		t.Fatalf("built %d lines, %d bytes pending, on a full 4 KiB pipe: want at most 3, the rest pending", len(built), len(w.pending))
	}
	lines := make(chan []byte, 100)
	go func() {
		sc := bufio.NewScanner(r)
		sc.Buffer(nil, maxStatsLine)
		for sc.Scan() {
			lines <- append(append([]byte(nil), sc.Bytes()...), '\n')
		}
		close(lines)
	}()
	var got [][]byte
	for deadline := time.Now().Add(10 * time.Second); len(got) < 10; {
		if time.Now().After(deadline) {
			t.Fatalf("got %d lines of %d built", len(got), len(built))
		}
		ticks(1)
		select {
		case l := <-lines:
			got = append(got, l)
		case <-time.After(10 * time.Millisecond):
		}
	}
	for i, l := range got {
		if !bytes.Equal(l, built[i]) {
			t.Fatalf("line %d: %.40q..., want %.40q...: framing broke", i, l, built[i])
		}
	}
}

// A closed reader (the supervisor gone) ends the writer with
// errStatsClosed, not a signal or a hang.
func TestStatsWriterReaderGone(t *testing.T) {
	r, fd := statsPipe(t)
	r.Close()
	w := &statsWriter{fd: fd, build: func(time.Time) ([]byte, error) { return []byte("{}\n"), nil }}
	if err := w.tick(time.Now()); !errors.Is(err, errStatsClosed) {
		t.Errorf("tick on a pipe without reader: %v, want errStatsClosed", err)
	}
}

// startStatsNode runs one node of the swarm args describe the way its
// supervisor would (identity and routes in the environment, its flags from
// nodeArgs), its parent being this test, with fd 3 and fd 4 pipes into the
// files "health" and "stats" of the directory it returns (bash's process
// substitution: a node without its supervisor).
func startStatsNode(t testing.TB, args ...string) (*swarmProc, string) {
	t.Helper()
	cfg, err := parseConfig(append([]string{"-log-format=json", "-instance-id=test"}, args...), func(string) string { return "" })
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	env := []string{nodeIDEnv + "=0", supervisorPIDEnv + "=" + strconv.Itoa(os.Getpid()),
		nodeRoutesEnv + "=" + cfg.routeJSON[0], "NODE_DIR=" + dir}
	argv := []string{"bash", "-c", `exec "$0" "$@" 3> >(exec cat >"$NODE_DIR/health") 4> >(exec cat >"$NODE_DIR/stats")`, swarmBin}
	// The supervisor gives its nodes stats only with -http: this node gets
	// the interval its test asked for.
	nodeArgs := cfg.nodeArgs()
	for i, a := range nodeArgs {
		if strings.HasPrefix(a, "-stats-interval=") {
			nodeArgs[i] = "-stats-interval=" + cfg.statsInterval.String()
		}
	}
	return startArgv(t, env, append(argv, nodeArgs...)), dir
}

// lastStats is the last whole line of a stats file, parsed; false while
// there is none.
func lastStats(t testing.TB, file string) (statsLine, bool) {
	b, _ := os.ReadFile(file)
	lines := bytes.Split(b, []byte("\n"))
	if len(lines) < 2 {
		return statsLine{}, false
	}
	var l statsLine
	if err := json.Unmarshal(lines[len(lines)-2], &l); err != nil {
		t.Fatalf("stats line %q: %v", lines[len(lines)-2], err)
	}
	return l, true
}

// A real node sends its stats on fd 4: every owned partition handled to
// its high watermark and committed there, the totals counted once.
func TestStatsFromARealNode(t *testing.T) {
	_, addr := newBroker(t, 3, "orders")
	produce(t, addr, "orders", 300)
	node, dir := startStatsNode(t, swarmArgs(addr, "-handler=discard", "-stats-interval=100ms")...)
	file := filepath.Join(dir, "stats")
	var l statsLine
	waitFor(t, 30*time.Second, "a stats line with everything handled and committed", func() bool {
		var ok bool
		if l, ok = lastStats(t, file); !ok || len(l.Routes) != 1 || len(l.Routes[0].Partitions) != 3 {
			return false
		}
		for _, p := range l.Routes[0].Partitions {
			if p.HighWatermark <= 0 || p.Handled != p.HighWatermark || p.Committed != p.HighWatermark {
				return false
			}
		}
		return l.Routes[0].Handled == 300
	})
	b, _ := json.Marshal(l)
	t.Logf("last stats line: %s", b)
	r := l.Routes[0]
	if l.V != 1 || r.Group != "g1" || r.Failed != 0 || r.LatencyMs.Count == 0 || time.Since(time.UnixMilli(l.AtMs)) > time.Minute {
		t.Errorf("stats line %+v", l)
	}
	node.stop()
}
