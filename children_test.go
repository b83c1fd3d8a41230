//go:build linux

package main

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// openChild accepts our own child, live or exited, and refuses a process
// that is not ours (our parent, init) without holding anything.
func TestOpenChildChecksParenthood(t *testing.T) {
	for _, pid := range []int{os.Getppid(), 1} {
		if fd, _, err := openChild(pid); !errors.Is(err, errNotChild) {
			if fd >= 0 {
				unix.Close(fd)
			}
			t.Errorf("openChild(%d) (not our child) = %v, want errNotChild", pid, err)
		}
	}
	cmd := exec.Command("sleep", "1000.1")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	fd, exited, err := openChild(cmd.Process.Pid)
	if err != nil || exited {
		t.Fatalf("openChild(our live child) = exited %v, err %v; want live, no error", exited, err)
	}
	defer unix.Close(fd)
	if err := sendSignal(fd, unix.SIGKILL); err != nil {
		t.Fatal(err)
	}
	if left := waitExited([]int{dupFd(t, fd)}, time.Now().Add(5*time.Second)); left != 0 {
		t.Fatal("killed child still alive after 5 s")
	}
	fd2, exited, err := openChild(cmd.Process.Pid)
	if err != nil || !exited {
		t.Fatalf("openChild(our zombie) = exited %v, err %v; want exited, no error", exited, err)
	}
	unix.Close(fd2)
}

// dupFd duplicates fd (waitExited closes what it is given).
func dupFd(t *testing.T, fd int) int {
	t.Helper()
	d, err := unix.FcntlInt(uintptr(fd), unix.F_DUPFD_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	return d
}

// killTree through a group leader's pidfd kills the whole group at once
// where the kernel can (6.9+): here a shell and the two sleeps it waits
// on, which a signal to the shell alone would leave running.
func TestKillTreeKillsGroup(t *testing.T) {
	marker := fmt.Sprintf("1000.%d9", os.Getpid())
	cmd := exec.Command("sh", "-c", "sleep "+marker+" & sleep "+marker+" & wait")
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL); _ = cmd.Wait() })
	waitFor(t, 5*time.Second, "two sleeps", func() bool { return len(markedSleeps(marker)) == 2 })
	if !groupSignals() {
		t.Skip("SKIPPED: kernel before 6.9 (no PIDFD_SIGNAL_PROCESS_GROUP): the sweep kills one reparenting round at a time; not tested here")
	}
	fd, _, err := openChild(cmd.Process.Pid)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(fd)
	if err := killTree(fd); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 5*time.Second, "the group's sleeps to die", func() bool { return len(markedSleeps(marker)) == 0 })
}
