//go:build linux

package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// A node's comm fits the kernel's 15 bytes for every id -nodes allows, and
// is never cut into another number.
func TestNodeCommFits(t *testing.T) {
	for _, tc := range []struct {
		id   int
		want string
	}{
		{0, "swarm: node 0"},
		{999, "swarm: node 999"},
		{1000, "swarm node 1000"},
		{1023, "swarm node 1023"},
	} {
		if got := nodeComm(tc.id); got != tc.want || len(got) > commMax {
			t.Errorf("nodeComm(%d) = %q, want %q (at most %d bytes)", tc.id, got, tc.want, commMax)
		}
	}
}

// procNames is what ps shows for pid: comm (top, pgrep, ps -o comm) and
// argv (ps's args column, pgrep -f).
func procNames(t *testing.T, pid int) (comm string, argv []string) {
	t.Helper()
	c, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/comm")
	if err != nil {
		t.Fatalf("read comm of %d: %v", pid, err)
	}
	a, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/cmdline")
	if err != nil {
		t.Fatalf("read cmdline of %d: %v", pid, err)
	}
	return strings.TrimSuffix(string(c), "\n"), strings.Split(strings.TrimSuffix(string(a), "\x00"), "\x00")
}

// The supervisor is "swarm: super" in top with the user's command line in
// ps; each node is "swarm: node N" in both, with its flags after the name
// (so pgrep -f on a flag still finds it); a handler keeps its own name;
// and a node restarted from /proc/self/exe is named again.
func TestProcessNames(t *testing.T) {
	h, _ := handlerPrograms(t)
	_, addr := newBroker(t, 2, "orders")
	s := startSwarm(t, swarmArgs(addr, "-nodes=2", "--", h)...)
	pids := s.waitNodesReady(2, 0)

	comm, argv := procNames(t, s.pid())
	if comm != "swarm: super" || argv[0] != swarmBin {
		t.Errorf("supervisor: comm %q argv[0] %q, want \"swarm: super\" and %q", comm, argv[0], swarmBin)
	}
	checkNode := func(id, pid int) {
		t.Helper()
		comm, argv := procNames(t, pid)
		want := fmt.Sprintf("swarm: node %d", id)
		if comm != want || argv[0] != want {
			t.Errorf("node %d: comm %q argv[0] %q, want %q for both", id, comm, argv[0], want)
		}
		if !strings.Contains(strings.Join(argv, " "), want+" -nodes=2 ") || !strings.Contains(strings.Join(argv, " "), "-instance-id=test") {
			t.Errorf("node %d: args %q, want its name then its flags", id, argv)
		}
	}
	for id, pid := range pids {
		checkNode(id, pid)
	}
	hp, _ := s.handlerStarted(1, 0)
	if comm, _ := procNames(t, hp); comm != filepath.Base(h) {
		t.Errorf("handler comm %q, want its own %q", comm, filepath.Base(h))
	}

	from := s.logCount()
	sendSig(t, pids[1], syscall.SIGKILL)
	s.waitLog(10*time.Second, "node 1 replaced", from, logged("swarm.manager.after_fork", "role", "supervisor", "node", 1))
	again := s.waitNodesReady(1, from)
	checkNode(1, again[1])
}
