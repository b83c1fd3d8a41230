//go:build linux

package main

// Files the user names (-config, the TLS PEM files, -sasl-password-file)
// are read through readInputFile only, each with a cap on its size and a
// rule on its kind. Reading a named file whole is how `-config /dev/zero`
// or `-tls-ca /dev/urandom` grew the supervisor to gigabytes until the
// runtime died with a stack dump; with a cap it is one line and exit 2.
//
// The kinds: a regular file always. A pipe (-config /dev/stdin fed by a
// pipe, -config <(jq ...)) only for -config, which the supervisor alone
// reads once: it is read to its end within pipeReadTimeout. The TLS files
// and the password file are read again by every node at each start (so a
// rotated certificate or password is picked up), and a pipe can be read
// only once, so for them a pipe is refused with a hint. Character devices
// (/dev/zero, a terminal), directories, sockets: refused without reading.

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"syscall"
	"time"
)

// inputKind says what readInputFile accepts for one flag's file and how
// much of it.
type inputKind struct {
	// what the file is, for errors: "a routes file", "a PEM file".
	what string
	// limit is the most bytes the file may hold.
	limit int64
	// pipes: a pipe is read too (to EOF, within pipeReadTimeout).
	pipes bool
}

// The caps: far above what such a file holds in practice, far below what
// would hurt a host.
var (
	// A routes file of 1 000 routes is about 100 KiB, and every node's
	// share of it must fit SWARM_NODE_ROUTES (128 KiB) anyway.
	routesFileKind = inputKind{what: "a routes file", limit: 1 << 20, pipes: true}
	// A system CA bundle is about 220 KiB.
	pemFileKind = inputKind{what: "a PEM file", limit: 4 << 20}
	// SCRAM and PLAIN passwords are short; 16 KiB is room for any.
	passwordFileKind = inputKind{what: "a password file", limit: 16 << 10}
)

// pipeReadTimeout bounds reading -config from a pipe: the writer (a
// process substitution, a here-document) has it ready at once.
const pipeReadTimeout = 5 * time.Second

// readInputFile reads the file a flag names, bounded by kind. Its errors
// are one line naming the path (clipped), never the content.
func readInputFile(path string, kind inputKind) ([]byte, error) {
	p := clipped(path)
	// Stat first: a device is refused without being opened (opening a
	// terminal or a tape can have effects of its own).
	st, err := os.Stat(path)
	if err != nil {
		return nil, fmt.Errorf("%s: %s", p, pathErrText(err))
	}
	if err := checkInputMode(st.Mode(), kind); err != nil {
		return nil, fmt.Errorf("%s: %w", p, err)
	}
	// O_NONBLOCK: opening a FIFO for reading must not wait for a writer
	// (a FIFO without one reads as empty). Go's poller then reads a pipe
	// with the deadline below; a regular file ignores the flag.
	f, err := os.OpenFile(path, os.O_RDONLY|syscall.O_NONBLOCK, 0)
	if err != nil {
		return nil, fmt.Errorf("%s: %s", p, pathErrText(err))
	}
	defer f.Close()
	// Again on the open file: it may have been replaced since the Stat.
	if st, err = f.Stat(); err != nil {
		return nil, fmt.Errorf("%s: %s", p, pathErrText(err))
	}
	if err := checkInputMode(st.Mode(), kind); err != nil {
		return nil, fmt.Errorf("%s: %w", p, err)
	}
	if st.Size() > kind.limit {
		return nil, fmt.Errorf("%s: %d bytes, more than the %s %s may hold", p, st.Size(), byteSize(kind.limit), kind.what)
	}
	if st.Mode()&fs.ModeNamedPipe != 0 {
		// Only pipes go through the poller; a deadline on a regular
		// file would fail with ErrNoDeadline.
		if err := f.SetReadDeadline(time.Now().Add(pipeReadTimeout)); err != nil {
			return nil, fmt.Errorf("%s: %s", p, pathErrText(err))
		}
	}
	// One byte past the limit tells "exactly at the cap" from "more":
	// a file may grow after the Stat, and files in /proc report size 0.
	b, err := io.ReadAll(io.LimitReader(f, kind.limit+1))
	switch {
	case errors.Is(err, os.ErrDeadlineExceeded):
		return nil, fmt.Errorf("%s: the pipe was not closed within %s", p, pipeReadTimeout)
	case err != nil:
		return nil, fmt.Errorf("%s: %s", p, pathErrText(err))
	case int64(len(b)) > kind.limit:
		return nil, fmt.Errorf("%s: more than the %s %s may hold", p, byteSize(kind.limit), kind.what)
	}
	return b, nil
}

// checkInputMode refuses what is not a regular file (or a pipe, where
// kind allows one), naming what it is instead.
func checkInputMode(m fs.FileMode, kind inputKind) error {
	switch {
	case m.IsRegular():
		return nil
	case m&fs.ModeNamedPipe != 0 && kind.pipes:
		return nil
	case m.IsDir():
		return errors.New("is a directory")
	case m&fs.ModeNamedPipe != 0:
		return errors.New("is a pipe, and every node reads this file again when it starts: give a regular file")
	case m&fs.ModeCharDevice != 0:
		return errors.New("is a character device, not a regular file")
	case m&fs.ModeDevice != 0:
		return errors.New("is a block device, not a regular file")
	case m&fs.ModeSocket != 0:
		return errors.New("is a socket, not a regular file")
	}
	return errors.New("is not a regular file")
}

// pathErrText is an open or read error without the path, which the
// caller names (clipped) itself: "no such file or directory".
func pathErrText(err error) string {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		err = pe.Err
	}
	return oneLine(err.Error())
}

// byteSize renders a cap: 4 MiB, 16 KiB.
func byteSize(n int64) string {
	switch {
	case n >= 1<<20 && n%(1<<20) == 0:
		return fmt.Sprintf("%d MiB", n>>20)
	case n >= 1<<10 && n%(1<<10) == 0:
		return fmt.Sprintf("%d KiB", n>>10)
	}
	return fmt.Sprintf("%d bytes", n)
}
