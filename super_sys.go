//go:build linux

package main

import (
	"os"
	"time"

	"golang.org/x/sys/unix"
)

// superSys is what the supervisor's state machine does to node processes,
// plus its clock: start one, signal it, reap it, tell the time. The
// manager's rules reach processes only through it (PID 1's orphan reaping
// and the RSS read for -http stay outside), so a test can give the manager
// fake processes and a fake clock and drive its loop in-process
// (super_manager_test.go), the way tableflip's struct of functions is its
// test seam. Reports still travel through a real pipe: spawnSpec's fd 3
// (healthFd) is its write end, whoever holds it.
type superSys struct {
	now    func() time.Time
	spawn  func(spawnSpec) (pid, pidfd int, err error)
	signal func(pidfd int, sig unix.Signal) error
	// reap collects an exit status without blocking; done is false while
	// the process runs.
	reap func(pidfd int) (st exitStatus, done bool, err error)
	// reapDying blocks until the process behind pidfd is dead and reaps it:
	// only for a process just sent KILL.
	reapDying func(pidfd int) error
}

// hostSys is the real one: pidfd.go's syscalls and the wall clock.
var hostSys = superSys{
	now:       time.Now,
	spawn:     spawn,
	signal:    sendSignal,
	reap:      reap,
	reapDying: reapDying,
}

// reapDying waits for the process behind pidfd to die and reaps it.
func reapDying(pidfd int) error {
	var info siginfoChld
	if err := waitidPidfd(pidfd, &info, unix.WEXITED); err != nil {
		return os.NewSyscallError("waitid", err)
	}
	return nil
}
