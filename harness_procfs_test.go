//go:build linux

package main

// The test harness, /proc: which processes exist, in which group, with
// which parent and fds. Tests may look at pids; the product may not.

import (
	"fmt"
	"os"
	"strconv"
	"strings"
	"testing"
)

// procsWhere lists the processes in /proc for which keep holds (zombies
// included: callers decide).
func procsWhere(keep func(pid int, st statFields) bool) []int {
	var out []int
	ents, _ := os.ReadDir("/proc")
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		if st, err := procStat(pid); err == nil && keep(pid, st) {
			out = append(out, pid)
		}
	}
	return out
}

// groupPids lists live (non-zombie) processes in process group pgid.
func groupPids(pgid int) []int {
	return procsWhere(func(_ int, st statFields) bool { return st.pgrp == pgid && st.state != "Z" })
}

// childrenOf lists the children of pid, zombies included.
func childrenOf(pid int) []int {
	return procsWhere(func(_ int, st statFields) bool { return st.ppid == pid })
}

// statFields is what the tests read from /proc/PID/stat.
type statFields struct {
	state string
	ppid  int
	pgrp  int
}

// procStat reads /proc/PID/stat.
func procStat(pid int) (statFields, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return statFields{}, err
	}
	// comm may hold spaces and parentheses: split after the last ')'.
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	if i < 0 {
		return statFields{}, fmt.Errorf("parse /proc/%d/stat", pid)
	}
	f := strings.Fields(s[i+1:])
	if len(f) < 3 {
		return statFields{}, fmt.Errorf("parse /proc/%d/stat", pid)
	}
	ppid, _ := strconv.Atoi(f[1])
	pgrp, _ := strconv.Atoi(f[2])
	return statFields{state: f[0], ppid: ppid, pgrp: pgrp}, nil
}

// alive says whether pid exists and is not a zombie.
func alive(pid int) bool {
	st, err := procStat(pid)
	return err == nil && st.state != "Z"
}

// fdCount counts the open fds of pid.
func fdCount(t testing.TB, pid int) int {
	t.Helper()
	ents, err := os.ReadDir(fmt.Sprintf("/proc/%d/fd", pid))
	if err != nil {
		t.Fatalf("read fds of %d: %v", pid, err)
	}
	return len(ents)
}

// aliveOf returns the pids of pids that are alive.
func aliveOf(pids []int) []int {
	out := []int{}
	for _, p := range pids {
		if alive(p) {
			out = append(out, p)
		}
	}
	return out
}

// countPrefix counts the fdList entries whose target starts with prefix.
func countPrefix(fds []string, prefix string) int {
	n := 0
	for _, f := range fds {
		if _, target, _ := strings.Cut(f, "="); strings.HasPrefix(target, prefix) {
			n++
		}
	}
	return n
}

// countTarget counts the fdList entries whose target is exactly target.
func countTarget(fds []string, target string) int {
	n := 0
	for _, f := range fds {
		if _, t, _ := strings.Cut(f, "="); t == target {
			n++
		}
	}
	return n
}

// fdList describes a process's fds (number -> target), for failure messages.
func fdList(pid int) []string {
	dir := fmt.Sprintf("/proc/%d/fd", pid)
	ents, _ := os.ReadDir(dir)
	var out []string
	for _, e := range ents {
		target, _ := os.Readlink(dir + "/" + e.Name())
		out = append(out, e.Name()+"="+target)
	}
	return out
}
