//go:build linux

package main

// The raw process syscalls, and nothing else. A node is known to the
// supervisor only through its pidfd: a pid number can be recycled the moment
// a child is reaped, a pidfd cannot (it keeps referring to the dead process).
//
// Kernel features used, and the version that brought each:
//
//	pidfd_send_signal(2)   5.1
//	CLONE_PIDFD            5.2 (SysProcAttr.PidFD)
//	pidfd_open(2)          5.3
//	waitid(P_PIDFD)        5.4
//	PIDFD_SIGNAL_PROCESS_GROUP  6.9 (optional: groupSignals probes it)
//
// probeKernel checks the required ones once at start, so a too-old kernel is
// reported by name before anything is spawned.

import (
	"errors"
	"fmt"
	"os"
	"sync"
	"syscall"
	"unsafe"

	"golang.org/x/sys/unix"
)

// probeKernel returns an error naming the first missing pidfd feature.
func probeKernel() error {
	self, err := unix.PidfdOpen(os.Getpid(), 0)
	if err != nil {
		if errors.Is(err, unix.ENOSYS) {
			return errors.New("kernel lacks pidfd_open (Linux 5.3+ required)")
		}
		return fmt.Errorf("probe pidfd_open: %w", err)
	}
	defer unix.Close(self)
	if err := unix.PidfdSendSignal(self, 0, nil, 0); err != nil {
		if errors.Is(err, unix.ENOSYS) {
			return errors.New("kernel lacks pidfd_send_signal (Linux 5.1+ required)")
		}
		return fmt.Errorf("probe pidfd_send_signal: %w", err)
	}
	// We are not our own child, so a kernel that knows P_PIDFD says ECHILD;
	// one that does not says EINVAL.
	var info siginfoChld
	if err := waitidPidfd(self, &info, unix.WEXITED|unix.WNOHANG); !errors.Is(err, unix.ECHILD) {
		if errors.Is(err, unix.EINVAL) {
			return errors.New("kernel lacks waitid(P_PIDFD) (Linux 5.4+ required)")
		}
		return fmt.Errorf("probe waitid(P_PIDFD): unexpected result %v", err)
	}
	return nil
}

// spawnSpec is what spawn needs: the executable, argv, env and the fds the
// child gets as 0, 1, 2, 3, ...
type spawnSpec struct {
	path  string
	argv  []string
	env   []string
	files []uintptr
}

// spawn forks and execs with CLONE_PIDFD, so the pidfd exists before the
// child can run or die: there is no window in which we hold only a pid.
// syscall.ForkExec dup2s files into 0..n-1 with close-on-exec cleared; every
// other fd of ours is O_CLOEXEC and stays behind.
func spawn(s spawnSpec) (pid, pidfd int, err error) {
	pidfd = -1
	attr := &syscall.ProcAttr{
		Env:   s.env,
		Files: s.files,
		Sys:   &syscall.SysProcAttr{PidFD: &pidfd},
	}
	pid, err = syscall.ForkExec(s.path, s.argv, attr)
	if err != nil {
		return 0, -1, fmt.Errorf("fork/exec %s: %w", s.path, err)
	}
	return pid, pidfd, nil
}

// sendSignal signals the process behind pidfd. ESRCH means it has already
// exited (it may not be reaped yet): not an error for the caller's purpose.
func sendSignal(pidfd int, sig unix.Signal) error {
	err := unix.PidfdSendSignal(pidfd, sig, nil, 0)
	if errors.Is(err, unix.ESRCH) {
		return nil
	}
	if err != nil {
		return os.NewSyscallError("pidfd_send_signal", err)
	}
	return nil
}

// groupSignalOnce, groupSignalOK: whether pidfd_send_signal takes
// PIDFD_SIGNAL_PROCESS_GROUP, probed once.
var (
	groupSignalOnce sync.Once
	groupSignalOK   bool
)

// groupSignals says whether this kernel (6.9+) can signal the process group
// led by a pidfd's process. The probe sends signal 0 (a permission check,
// nothing delivered) to our own group: a kernel that does not know the
// flag says EINVAL; one that does answers 0, ESRCH (we lead no group) or
// EPERM.
func groupSignals() bool {
	groupSignalOnce.Do(func() {
		self, err := unix.PidfdOpen(os.Getpid(), 0)
		if err != nil {
			return
		}
		defer unix.Close(self)
		err = unix.PidfdSendSignal(self, 0, nil, unix.PIDFD_SIGNAL_PROCESS_GROUP)
		groupSignalOK = !errors.Is(err, unix.EINVAL) && !errors.Is(err, unix.ENOSYS)
	})
	return groupSignalOK
}

// signalGroup sends sig to the process group whose id is the pid of the
// process behind pidfd (the group it leads), through the pidfd: never by
// number. false when the kernel cannot (before 6.9) or there is no such
// group (ESRCH: it leads none, or it is gone); the caller then signals the
// process alone.
func signalGroup(pidfd int, sig unix.Signal) bool {
	if !groupSignals() {
		return false
	}
	return unix.PidfdSendSignal(pidfd, sig, nil, unix.PIDFD_SIGNAL_PROCESS_GROUP) == nil
}

// siginfoChld is the SIGCHLD layout of siginfo_t on 64-bit Linux:
// signo, errno, code, padding, then pid, uid, status. unix.Siginfo keeps
// those fields in its opaque tail, so we declare them.
type siginfoChld struct {
	signo  int32
	errno  int32
	code   int32
	_      int32
	pid    int32
	uid    uint32
	status int32
	_      [100]byte
}

// cldExited is si_code for a normal exit (CLD_EXITED in <signal.h>); the
// others (CLD_KILLED, CLD_DUMPED) mean si_status holds a signal.
const cldExited = 1

// exitStatus is how a process ended.
type exitStatus struct {
	code   int         // exit code when exited normally, else -1
	signal unix.Signal // the terminating signal when killed, else 0
}

func (e exitStatus) String() string {
	if e.signal != 0 {
		return "signal " + unix.SignalName(e.signal)
	}
	return fmt.Sprintf("exit %d", e.code)
}

// waitid is the one place that retries EINTR around waitid(2).
func waitid(idtype, id int, info *siginfoChld, options int) error {
	for {
		_, _, errno := unix.Syscall6(unix.SYS_WAITID, uintptr(idtype), uintptr(id),
			uintptr(unsafe.Pointer(info)), uintptr(options), 0, 0)
		if errno == unix.EINTR {
			continue
		}
		if errno != 0 {
			return errno
		}
		return nil
	}
}

// waitidPidfd waits on the process behind pidfd: how every node and
// handler is reaped.
func waitidPidfd(pidfd int, info *siginfoChld, options int) error {
	return waitid(unix.P_PIDFD, pidfd, info, options)
}

// waitidAll is waitid(P_ALL), used only with WNOWAIT to peek, for PID 1's
// orphan reaping.
func waitidAll(info *siginfoChld, options int) error {
	return waitid(unix.P_ALL, 0, info, options)
}

// reap collects the exit status of the process behind pidfd without
// blocking. done is false while it is still running. ECHILD means somebody
// else reaped it (a bug, since we never wait on any pid): reported as error.
func reap(pidfd int) (st exitStatus, done bool, err error) {
	var info siginfoChld
	if err := waitidPidfd(pidfd, &info, unix.WEXITED|unix.WNOHANG); err != nil {
		return exitStatus{}, false, os.NewSyscallError("waitid", err)
	}
	if info.pid == 0 {
		return exitStatus{}, false, nil
	}
	switch info.code {
	case cldExited:
		return exitStatus{code: int(info.status)}, true, nil
	default: // CLD_KILLED, CLD_DUMPED
		return exitStatus{code: -1, signal: unix.Signal(info.status)}, true, nil
	}
}
