//go:build linux

package main

// Process names, as Puma and Karafka show theirs: a node's argv[0] is
// "swarm: node 3" (ps's args column, pgrep -f), and every swarm process
// sets its comm (top, pgrep, ps -o comm, killall), which the kernel limits
// to 15 bytes. Handler commands keep their own names.

import (
	"fmt"
	"os"
	"strconv"
)

// commMax is the longest comm the kernel keeps (TASK_COMM_LEN 16, NUL
// included); a longer one is cut.
const commMax = 15

// supervisorComm is the supervisor's comm. Its argv stays the user's
// command line, so `ps -ef` and `pidof swarm` still find it by the binary's
// name; the comm says what it is in top, next to its nodes. "swarm:
// supervisor" does not fit in 15 bytes and would be cut to "swarm:
// supervi".
const supervisorComm = "swarm: super"

// nodeTitle is a node's argv[0]. The node is exec'd from /proc/self/exe,
// so argv[0] plays no part in finding the binary and is free to say what
// the process is; the flags that follow it are the node's configuration.
func nodeTitle(id int) string {
	return "swarm: node " + strconv.Itoa(id)
}

// nodeComm is a node's comm: its title when that fits in 15 bytes (ids up
// to 999), else without the colon (ids up to 1023, the most -nodes
// allows), never cut into a different number.
func nodeComm(id int) string {
	if s := nodeTitle(id); len(s) <= commMax {
		return s
	}
	return "swarm node " + strconv.Itoa(id)
}

// setProcName sets this process's comm. Through /proc/self/comm, which
// names the thread group leader whichever thread writes it, and not with
// prctl(PR_SET_NAME), which names only the calling thread: a goroutine may
// be on any thread, and top and pgrep read the leader's name.
func setProcName(name string) error {
	if len(name) > commMax {
		name = name[:commMax]
	}
	f, err := os.OpenFile("/proc/self/comm", os.O_WRONLY, 0)
	if err != nil {
		return fmt.Errorf("set process name: %w", err)
	}
	_, err = f.WriteString(name)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("set process name: %w", err)
	}
	return nil
}

// nameProcess gives the supervisor its comm. A supervisor that cannot
// rename itself (a /proc mounted read-only) works as well: warned, not
// failed.
func (m *manager) nameProcess() {
	if err := setProcName(supervisorComm); err != nil {
		m.log.Warn("name supervisor process", "err", err)
	}
}
