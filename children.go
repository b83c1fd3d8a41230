//go:build linux

package main

// Our own children, found and opened without trusting a pid number. Both
// the supervisor and a node are child subreapers: what their descendants
// orphan is reparented to them, and they must find it to kill or reap it.
// The kernel keeps no list we can wait on for live children, so /proc is
// read; a pid read there is only a candidate until a pidfd opened on it
// passes waitid(P_PIDFD): waitid answers only for the caller's own
// children (ECHILD otherwise), and an unreaped child's pid cannot be
// reused. Every signal then goes through that pidfd.

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"

	"golang.org/x/sys/unix"
)

// child is one of our children as /proc listed it: pid in our own pid
// namespace (for pidfd_open), procPid in /proc's (for reading /proc).
type child struct {
	pid, procPid int
}

// childPids lists this process's children (zombies included). It reads
// /proc/self/task/*/children (one small file per thread;
// CONFIG_PROC_CHILDREN) and falls back to a scan of every /proc/<pid>/stat. A /proc mounted for another pid namespace (a bare
// `unshare --pid --fork`) names processes by its own numbers: those are
// translated through NSpid. A candidate may be stale by the time the
// caller uses it; openChild is the check.
func childPids() ([]child, error) {
	kids, _, err := listChildren()
	return kids, err
}

// listChildren is childPids, and whole is false when a thread ended while
// the children files were read: a thread's children go to another thread
// when it exits, perhaps one whose file was already read, so the listing
// may miss a live child. Then only a new listing can tell.
func listChildren() (out []child, whole bool, err error) {
	self, err := os.Readlink("/proc/self")
	if err != nil {
		return nil, false, fmt.Errorf("read /proc/self: %w", err)
	}
	procSelf, err := strconv.Atoi(self)
	if err != nil {
		return nil, false, fmt.Errorf("read /proc/self: not a pid: %q", self)
	}
	kids, whole, err := childrenFiles()
	if errors.Is(err, os.ErrNotExist) {
		// A scan reads one process at a time: a child that dies meanwhile
		// is still read, as a zombie, which the caller sees (sweepChildren).
		kids, err = scanChildren(procSelf)
		whole = true
	}
	if err != nil {
		return nil, false, err
	}
	out = make([]child, 0, len(kids))
	if procSelf == os.Getpid() {
		for _, k := range kids {
			out = append(out, child{pid: k, procPid: k})
		}
		return out, whole, nil
	}
	// /proc is another namespace's: our pid there is procSelf, ours is
	// Getpid; NSpid lists a process's pid at every level, outermost first.
	depth, err := nsDepth("self")
	if err != nil {
		return nil, false, err
	}
	for _, k := range kids {
		ns, err := nsPids(strconv.Itoa(k))
		if err != nil || len(ns) <= depth {
			continue // gone meanwhile, or not in our namespace
		}
		out = append(out, child{pid: ns[depth], procPid: k})
	}
	return out, whole, nil
}

// childrenFiles reads every thread's children file: a child belongs to
// the thread that forked it, an adopted orphan to whichever thread the
// kernel picked. whole is false when a listed thread ended before its file
// was read (see listChildren).
func childrenFiles() (kids []int, whole bool, err error) {
	tasks, err := os.ReadDir("/proc/self/task")
	if err != nil {
		return nil, false, fmt.Errorf("list threads: %w", err)
	}
	whole = true
	for _, t := range tasks {
		dir := "/proc/self/task/" + t.Name()
		b, err := os.ReadFile(dir + "/children")
		if err != nil {
			if _, serr := os.Stat(dir); serr == nil && errors.Is(err, os.ErrNotExist) {
				return nil, false, err // the thread is there, the file is not: no CONFIG_PROC_CHILDREN, scan instead
			}
			whole = false // the thread ended meanwhile, its children went elsewhere
			continue
		}
		for _, f := range strings.Fields(string(b)) {
			if pid, err := strconv.Atoi(f); err == nil {
				kids = append(kids, pid)
			}
		}
	}
	return kids, whole, nil
}

// scanChildren finds the processes whose parent is ppid (in /proc's
// numbering) by reading every /proc/<pid>/stat.
func scanChildren(ppid int) ([]int, error) {
	ents, err := os.ReadDir("/proc")
	if err != nil {
		return nil, fmt.Errorf("list /proc: %w", err)
	}
	var kids []int
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		b, err := os.ReadFile("/proc/" + e.Name() + "/stat")
		if err != nil {
			continue // gone meanwhile
		}
		// comm may hold spaces and parentheses: fields start after the
		// last ')': state, ppid, ...
		i := bytes.LastIndexByte(b, ')')
		if i < 0 {
			continue
		}
		f := strings.Fields(string(b[i+1:]))
		if len(f) >= 2 && f[1] == strconv.Itoa(ppid) {
			kids = append(kids, pid)
		}
	}
	return kids, nil
}

// nsPids is the NSpid line of /proc/<pid>/status: the process's pid in
// /proc's namespace and in every namespace nested below it.
func nsPids(pid string) ([]int, error) {
	b, err := os.ReadFile("/proc/" + pid + "/status")
	if err != nil {
		return nil, fmt.Errorf("read status of %s: %w", pid, err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		rest, ok := strings.CutPrefix(line, "NSpid:")
		if !ok {
			continue
		}
		var out []int
		for _, f := range strings.Fields(rest) {
			n, err := strconv.Atoi(f)
			if err != nil {
				return nil, fmt.Errorf("parse NSpid of %s: %w", pid, err)
			}
			out = append(out, n)
		}
		return out, nil
	}
	return nil, fmt.Errorf("read status of %s: no NSpid (Linux 4.1+)", pid)
}

// nsDepth is how deep our pid namespace lies below /proc's.
func nsDepth(pid string) (int, error) {
	ns, err := nsPids(pid)
	if err != nil {
		return 0, err
	}
	return len(ns) - 1, nil
}

// openChild opens a pidfd on pid and checks, through that pidfd, that the
// process is our child. exited reports a zombie (still ours to reap, or to
// leave to whoever inherits it). ECHILD from waitid means the pid named
// something else by now (or never was ours): errNotChild, and nothing is
// held. A returned pidfd refers to our child for good, whatever happens to
// the number.
func openChild(pid int) (pidfd int, exited bool, err error) {
	fd, err := unix.PidfdOpen(pid, 0)
	if err != nil {
		if errors.Is(err, unix.ESRCH) {
			return -1, false, errNotChild
		}
		return -1, false, os.NewSyscallError("pidfd_open", err)
	}
	var info siginfoChld
	err = waitidPidfd(fd, &info, unix.WEXITED|unix.WNOHANG|unix.WNOWAIT)
	if err != nil {
		unix.Close(fd)
		if errors.Is(err, unix.ECHILD) {
			return -1, false, errNotChild
		}
		return -1, false, os.NewSyscallError("waitid", err)
	}
	return fd, info.pid != 0, nil
}

// errNotChild: the pid does not (or no longer) name a child of ours.
var errNotChild = errors.New("not our child")

// killTree sends SIGKILL to the child behind pidfd and, when it leads a
// process group and the kernel can say so through the pidfd (6.9+), to the
// whole group at once: what it forked dies with it instead of one
// reparenting round at a time. Never by number. ESRCH (already dead) is
// not an error.
func killTree(pidfd int) error {
	signalGroup(pidfd, unix.SIGKILL)
	return sendSignal(pidfd, unix.SIGKILL)
}

// comm is the child's /proc/<pid>/comm, for logs; "?" when unreadable.
func (c child) comm() string {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(c.procPid) + "/comm")
	if err != nil {
		return "?"
	}
	return strings.TrimSpace(string(b))
}

// sweepChildren kills every live child (but those skip names) and waits
// for each to die, round after round: a killed child's own children are
// reparented to us (we are a subreaper) and are killed in the next round.
// It returns when a round proves no live child is left, or at deadline,
// with how many it killed and how many were still alive then. Zombies are
// left to the caller, or to whoever inherits them when we exit.
//
// A round without a live child proves nothing by itself: a child listed
// alive may die before openChild looks (a kill just sent, a handler that
// failed), and what it had forked came to us after the listing. The
// kernel hands a dying process's children over before the process
// becomes a zombie, so a listing made after we saw it a zombie holds
// them: a round that sees a zombie for the first time (or a child that
// was reaped since it was listed, or a thread that ended mid-listing) is
// followed by another, and only a round with none of these ends the sweep.
// The caller must not reap our children meanwhile: one reaped between its
// death and the listing would leave no trace (sweepNodeChildren holds off
// the node's reapers; the supervisor sweeps from its one loop).
func sweepChildren(deadline time.Time, skip func(pid int) bool) (killed, left int, err error) {
	zombies := map[int]bool{} // unreaped, so their pids are not reused
	for {
		kids, settled, err := listChildren()
		if err != nil {
			return killed, 0, err
		}
		var live []int
		for _, k := range kids {
			if skip != nil && skip(k.pid) {
				continue
			}
			fd, exited, err := openChild(k.pid)
			if errors.Is(err, errNotChild) {
				settled = false // gone since the listing: its children came later
				continue
			}
			if err != nil {
				continue // cannot open it: nothing we may signal
			}
			if exited {
				unix.Close(fd)
				if !zombies[k.pid] {
					zombies[k.pid] = true
					settled = false
				}
				continue
			}
			if err := killTree(fd); err != nil {
				unix.Close(fd)
				return killed, 0, fmt.Errorf("kill child %d: %w", k.pid, err)
			}
			killed++
			live = append(live, fd)
		}
		if len(live) > 0 {
			if left = waitExited(live, deadline); left > 0 {
				return killed, left, nil
			}
			continue // they died: what they left is ours now, and listed next
		}
		if settled || !time.Now().Before(deadline) {
			return killed, 0, nil
		}
	}
}

// waitExited waits until every pidfd is readable (its process has exited)
// or deadline, closes them all, and returns how many were still alive.
func waitExited(pidfds []int, deadline time.Time) int {
	fds := make([]unix.PollFd, len(pidfds))
	for i, fd := range pidfds {
		fds[i] = unix.PollFd{Fd: int32(fd), Events: unix.POLLIN}
	}
	defer func() {
		for _, fd := range pidfds {
			unix.Close(fd)
		}
	}()
	for {
		alive := 0
		for i := range fds {
			if fds[i].Fd >= 0 && fds[i].Revents != 0 {
				fds[i].Fd = -1 // exited: poll ignores negative fds
			}
			if fds[i].Fd >= 0 {
				alive++
			}
		}
		wait := time.Until(deadline)
		if alive == 0 || wait <= 0 {
			return alive
		}
		_, err := unix.Poll(fds, int((wait+time.Millisecond-1)/time.Millisecond))
		if err != nil && err != unix.EINTR {
			return alive
		}
	}
}
