//go:build linux

package main

import (
	"errors"
	"fmt"
	"os"
	"strconv"

	"golang.org/x/sys/unix"
)

// cloexecInherited marks every fd from 3 up close-on-exec. Go opens its own
// fds O_CLOEXEC, but fds the supervisor inherited without the flag (from a
// shell, a container runtime, a CI sandbox) would otherwise pass on to every
// node; a node must hold only 0-2 and its health pipe.
func cloexecInherited() error {
	// close_range(CLOSE_RANGE_CLOEXEC) does it in one call from Linux 5.11.
	err := unix.CloseRange(3, ^uint(0), unix.CLOSE_RANGE_CLOEXEC)
	if err == nil {
		return nil
	}
	if !errors.Is(err, unix.ENOSYS) && !errors.Is(err, unix.EINVAL) {
		return os.NewSyscallError("close_range", err)
	}
	// Older kernels: walk /proc/self/fd. The directory's own fd shows up in
	// the listing and is closed on return anyway.
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		return fmt.Errorf("list inherited fds: %w", err)
	}
	for _, e := range ents {
		fd, err := strconv.Atoi(e.Name())
		if err != nil || fd < 3 {
			continue
		}
		if _, err := unix.FcntlInt(uintptr(fd), unix.F_SETFD, unix.FD_CLOEXEC); err != nil && !errors.Is(err, unix.EBADF) {
			return os.NewSyscallError("fcntl F_SETFD", err)
		}
	}
	return nil
}
