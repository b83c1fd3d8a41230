//go:build linux

package main

// A route's CMD as a process: started on a thread kept locked for its whole
// life, watched through its pidfd, killed with its process group, reaped by
// its owner goroutine only. Nothing here knows about records: the handler
// (node_cmd_handler.go) speaks to CMD through the pipes this file opens.

import (
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// exitNameWait is how long a failing reader or writer waits for CMD's
// exit status before it reports the failure without it: the status
// ("exit 3", "signal SIGSEGV") says more than "stdout closed".
const exitNameWait = time.Second

// cmdProcess is one running CMD and the node's ends of its pipes. Its
// owner goroutine (own) is the only one that reaps it; kill, rss and close
// are safe from any goroutine.
type cmdProcess struct {
	name      string // CMD as given, for messages
	codec     codec  // how CMD frames records and answers
	log       *slog.Logger
	closeWait time.Duration // how long CMD gets to exit after stdin EOF

	stdin, stdout, stderr *os.File // our ends of CMD's pipes

	dead       chan struct{} // closed at the first failure
	closing    chan struct{} // closed by close, under mu: CMD's exit is expected now, the writer stops
	exited     chan struct{} // closed once CMD is reaped
	stderrDone chan struct{}

	mu         sync.Mutex
	pid        int           // for the process group and logs; valid while pidfd >= 0
	pidfd      int           // -1 once reaped
	procDir    int           // fd of /proc/<pid>, for its memory; -1 when none
	readerDone chan struct{} // closed when the stdout reader stops; nil until one reads
	failErr    error
	status     exitStatus // valid once exited is closed

	closeOnce sync.Once
	closeErr  error
}

// startCmdProcess starts route r's CMD for node nodeID, with its stderr
// pumped to stderrOut behind prefix. It needs no Kafka client: the node
// starts every CMD before it joins any group (newCmdHandler comes after).
func startCmdProcess(cfg *config, r *route, nodeID int, prefix string, log *slog.Logger, stderrOut io.Writer) (*cmdProcess, error) {
	path, err := exec.LookPath(r.Command[0])
	if err != nil {
		return nil, fmt.Errorf("find handler command: %w", err)
	}
	cd, err := newCodec(r.Codec)
	if err != nil {
		return nil, fmt.Errorf("create codec: %w", err)
	}
	// The health pipe (fd 3) reached this node without close-on-exec; CMD
	// must not inherit it, or it could write reports for us or keep the
	// pipe open after we die.
	if err := cloexecInherited(); err != nil {
		return nil, fmt.Errorf("mark inherited fds close-on-exec: %w", err)
	}
	child, ours, err := cmdPipes()
	if err != nil {
		return nil, err
	}
	p := &cmdProcess{
		name:       r.Command[0],
		codec:      cd,
		log:        log,
		closeWait:  max(cfg.shutdownTimeout/10, 100*time.Millisecond),
		stdin:      ours[0],
		stdout:     ours[1],
		stderr:     ours[2],
		dead:       make(chan struct{}),
		closing:    make(chan struct{}),
		exited:     make(chan struct{}),
		stderrDone: make(chan struct{}),
		pidfd:      -1,
		procDir:    -1,
	}
	env := append(handlerEnv(os.Environ(), nodeID, r.Group, r.Topics), "SWARM_ROUTE="+strconv.Itoa(r.Index))
	if err := p.start(path, r.Command, env, child); err != nil {
		for _, f := range ours {
			f.Close()
		}
		return nil, err
	}
	go pumpStderr(p.stderr, stderrOut, prefix, p.stderrDone)
	log.Info("handler.started", "handler_pid", p.pid, "command", strings.Join(r.Command, " "), "codec", r.Codec)
	return p, nil
}

// start runs CMD's owner goroutine and waits until CMD is started (or not).
func (p *cmdProcess) start(path string, argv, env []string, child [3]int) error {
	started := make(chan error, 1)
	go p.own(path, argv, env, []uintptr{uintptr(child[0]), uintptr(child[1]), uintptr(child[2])}, started)
	err := <-started
	// CMD holds its own copies now (or never will): ours must go, so that
	// EOF on stdout means CMD and everything it left are gone.
	for _, fd := range child {
		unix.Close(fd)
	}
	return err
}

// cmdPipes opens CMD's stdin, stdout and stderr: child holds CMD's ends
// (stdin read, stdout write, stderr write), ours the node's. On an error
// nothing stays open.
func cmdPipes() ([3]int, [3]*os.File, error) {
	child := [3]int{-1, -1, -1}
	var ours [3]*os.File
	closeAll := func() {
		for _, fd := range child {
			if fd >= 0 {
				unix.Close(fd)
			}
		}
		for _, f := range ours {
			if f != nil {
				f.Close()
			}
		}
	}
	for i, name := range []string{"stdin", "stdout", "stderr"} {
		var p [2]int
		if err := unix.Pipe2(p[:], unix.O_CLOEXEC); err != nil {
			closeAll()
			return child, ours, os.NewSyscallError("pipe2", err)
		}
		c, o := p[1], p[0] // CMD writes stdout and stderr, we read them
		if i == 0 {
			c, o = p[0], p[1] // CMD reads stdin, we write it
		}
		child[i] = c
		// Our end non-blocking before os.NewFile, so it goes to the runtime
		// poller: Close then wakes a goroutine blocked on it, and a blocked
		// read or write does not hold an OS thread.
		if err := unix.SetNonblock(o, true); err != nil {
			unix.Close(o)
			closeAll()
			return child, ours, os.NewSyscallError("fcntl O_NONBLOCK", err)
		}
		ours[i] = os.NewFile(uintptr(o), "handler "+name)
	}
	return child, ours, nil
}

// own starts CMD and stays with it until it is reaped. The goroutine locks
// its OS thread and never unlocks it: Pdeathsig is delivered when the
// *thread* that forked the child exits (prctl(2), PR_SET_PDEATHSIG), and an
// unlocked goroutine may move between threads that the runtime retires.
// When own returns, the runtime ends the locked thread; CMD is gone by then.
func (p *cmdProcess) own(path string, argv, env []string, files []uintptr, started chan<- error) {
	runtime.LockOSThread()
	pid, pidfd, err := forkCmd(path, argv, env, files)
	if err != nil {
		started <- fmt.Errorf("start handler %s: %w", path, err)
		return
	}
	procDir := openProcDir(pid, p.log)
	p.mu.Lock()
	p.pid, p.pidfd, p.procDir = pid, pidfd, procDir
	p.mu.Unlock()
	started <- nil

	st, expected, readerDone := p.waitAndReap(pid, pidfd)
	close(p.exited)
	if expected {
		p.log.Info("handler.exited", "handler_pid", pid, "exit", st.String())
		return
	}
	p.log.Error("handler.exited", "handler_pid", pid, "exit", st.String())
	// Answers already in the pipe still count: give the reader a moment to
	// take them before the batch is cut short.
	if readerDone != nil {
		select {
		case <-readerDone:
		case <-time.After(exitNameWait):
		}
	}
	p.fail(p.exitErr())
}

// forkCmd forks and execs CMD with its pidfd, as a group of its own that
// the kernel kills if the forking thread dies. Registered from the fork on:
// the node's reaper of adopted orphans must never reap CMD before its owner
// does (node_children.go).
func forkCmd(path string, argv, env []string, files []uintptr) (pid, pidfd int, err error) {
	pidfd = -1
	pid, err = forkHandler(func() (int, error) {
		return syscall.ForkExec(path, argv, &syscall.ProcAttr{
			Env:   env,
			Files: files,
			Sys: &syscall.SysProcAttr{
				PidFD: &pidfd,
				// The backstop: if the node dies without killing CMD
				// (SIGKILL, a crash), the kernel kills CMD.
				Pdeathsig: syscall.SIGKILL,
				// A group of its own: a terminal's ^C or ^Z reaches the
				// node, which drains and closes stdin in order, not CMD
				// directly; and whatever CMD forks can be killed with it
				// as one group.
				Setpgid: true,
			},
		})
	})
	return pid, pidfd, err
}

// openProcDir opens /proc/<pid> for CMD's memory, -1 when it cannot. CMD is
// still unreaped (only its owner reaps it), so the pid cannot have been
// reused: /proc/<pid> opened now stays CMD's, and reading through it fails
// with ESRCH once CMD is gone instead of reading a stranger.
func openProcDir(pid int, log *slog.Logger) int {
	procDir, err := unix.Open("/proc/"+strconv.Itoa(pid), unix.O_DIRECTORY|unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		log.Warn("open handler /proc entry: memory limit counts the node only", "err", err)
		return -1
	}
	return procDir
}

// waitAndReap waits for CMD to exit, kills what it left in its group and
// reaps it. It returns CMD's status, whether its exit was expected (close
// was called) and the stdout reader's done channel, if one reads.
func (p *cmdProcess) waitAndReap(pid, pidfd int) (st exitStatus, expected bool, readerDone chan struct{}) {
	var info siginfoChld
	if err := waitidPidfd(pidfd, &info, unix.WEXITED|unix.WNOWAIT); err != nil {
		p.log.Error("wait for handler", "err", os.NewSyscallError("waitid", err))
		_ = sendSignal(pidfd, unix.SIGKILL)
		_ = waitidPidfd(pidfd, &info, unix.WEXITED|unix.WNOWAIT)
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	// CMD is a zombie here, so its pid, and the process group id equal to
	// it, cannot be reused yet: killing the group now hits exactly what CMD
	// left behind (a grandchild holding stdout open would otherwise keep
	// the reader waiting, and outlive the node). What left the group is
	// adopted by the node (node_children.go).
	killGroup(pidfd, pid)
	st, rerr := reapHandler(pidfd, pid)
	unix.Close(pidfd)
	p.pidfd = -1
	if p.procDir >= 0 {
		unix.Close(p.procDir)
		p.procDir = -1
	}
	if rerr != nil {
		st = exitStatus{code: -1}
	}
	p.status = st
	return st, p.closingLocked(), p.readerDone
}

// readingStdout tells the owner that a reader now takes CMD's answers and
// returns the channel the reader closes when it stops: on an unexpected
// exit the owner waits for it a moment, so answers already in the pipe
// count before the batch is cut short.
func (p *cmdProcess) readingStdout() chan<- struct{} {
	done := make(chan struct{})
	p.mu.Lock()
	p.readerDone = done
	p.mu.Unlock()
	return done
}

// exitErr describes CMD's unexpected exit; only after exited is closed.
func (p *cmdProcess) exitErr() error {
	return fmt.Errorf("handler %s exited unexpectedly (%s)", p.name, p.status)
}

// fail records the first failure, wakes everyone waiting on CMD and kills
// it: once the protocol is broken nothing CMD says can be trusted.
func (p *cmdProcess) fail(err error) {
	p.mu.Lock()
	if p.failErr != nil || p.closingLocked() {
		p.mu.Unlock()
		return
	}
	p.failErr = err
	close(p.dead)
	p.mu.Unlock()
	p.log.Error("handler.failed", "err", err)
	p.kill()
}

// failAfterExit is fail for a broken pipe: when CMD has exited, its exit
// status is the better reason.
func (p *cmdProcess) failAfterExit(err error) {
	if p.isClosing() {
		return
	}
	select {
	case <-p.exited:
		err = p.exitErr()
	case <-time.After(exitNameWait):
	}
	p.fail(err)
}

// isClosing says whether close was called: a broken pipe is expected then.
func (p *cmdProcess) isClosing() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.closingLocked()
}

// closingLocked is isClosing under mu, which orders it with fail: after
// close a failure is no failure, and after a failure close reports it.
func (p *cmdProcess) closingLocked() bool {
	select {
	case <-p.closing:
		return true
	default:
		return false
	}
}

// kill sends SIGKILL to CMD and its process group. Safe from any goroutine,
// any number of times; a no-op once CMD is reaped.
func (p *cmdProcess) kill() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.pidfd < 0 {
		return
	}
	_ = sendSignal(p.pidfd, unix.SIGKILL)
	// CMD is not reaped (pidfd >= 0 under mu, and the owner reaps under
	// mu), so its group id is still its own.
	killGroup(p.pidfd, p.pid)
}

// killGroup sends SIGKILL to the process group led by CMD, through its
// pidfd where the kernel can (6.9+), else by number. The caller guarantees
// CMD is not reaped yet, so its pid, the group's id, cannot name anything
// else.
func killGroup(pidfd, pid int) {
	if !signalGroup(pidfd, unix.SIGKILL) {
		_ = unix.Kill(-pid, unix.SIGKILL)
	}
}

// err is the first failure, nil while CMD is fine.
func (p *cmdProcess) err() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.failErr
}

// failed is closed when CMD has failed: the node must stop even when no
// batch is in hand.
func (p *cmdProcess) failed() <-chan struct{} { return p.dead }

// rss is CMD's VmRSS in bytes, 0 when it is gone or unknown.
func (p *cmdProcess) rss() int64 {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.procDir < 0 {
		return 0
	}
	fd, err := unix.Openat(p.procDir, "status", unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return 0
	}
	f := os.NewFile(uintptr(fd), "handler status")
	defer f.Close()
	n, err := rssFrom(f, "handler status")
	if err != nil {
		return 0
	}
	return n
}

// close ends CMD in order: stdin EOF asks it to finish; it gets closeWait
// to exit, then SIGKILL. It returns CMD's failure, if any, or an error for
// a non-zero exit after EOF.
func (p *cmdProcess) close() error {
	p.closeOnce.Do(func() {
		p.mu.Lock()
		failed := p.failErr
		close(p.closing)
		p.mu.Unlock()
		p.stdin.Close()
		select {
		case <-p.exited:
		case <-time.After(p.closeWait):
			p.log.Warn("handler.kill", "reason", "still running after its stdin closed", "waited", p.closeWait)
			p.kill()
			<-p.exited
		}
		// Its last stderr lines: the group is dead, so EOF is near.
		select {
		case <-p.stderrDone:
		case <-time.After(exitNameWait):
		}
		p.stdout.Close()
		p.stderr.Close()
		switch {
		case failed != nil:
			p.closeErr = failed
		case p.status.code != 0:
			p.closeErr = fmt.Errorf("handler %s ended with %s after its stdin closed", p.name, p.status)
		}
	})
	return p.closeErr
}
