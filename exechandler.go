//go:build linux

package main

// The `-- CMD ARGS...` handler: one long-lived user process per node, fed
// records on its stdin and read for one answer line per record on its
// stdout. The node side is four goroutines around the process:
//
//	owner   starts CMD on a thread it keeps locked for CMD's whole life (the
//	        parent-death signal follows the creating thread), then waits
//	        for CMD to exit, kills what CMD left in its process group, reaps.
//	writer  frames the records of a batch onto stdin, at most
//	        inflightWindow ahead of the answers.
//	reader  matches answer lines to records in order, produces output records.
//
// Writer and reader share no per-record channel: the writer queues runs of
// records (a slice of one batch) just before the bytes framing them go out,
// the reader takes a run at a time and counts the answers it matched.
//	stderr  passes CMD's stderr through, one prefixed line per line.
//
// handle hands a batch to the writer and waits until every record of it is
// answered (and every produced record acknowledged), or until CMD fails.

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
	"golang.org/x/sys/unix"
)

const (
	// inflightWindow bounds how many records may be written to CMD and not
	// yet answered: it is the capacity of the FIFO that pairs answers with
	// records. Twice a poll batch (maxPollRecords), so a whole batch
	// streams out without the writer waiting on answers: with 256 the
	// writer stalled and woke once per window, and the pipe ran about a
	// third slower. A handler that reads but never answers holds the batch
	// in hand, which -consuming-ttl reports.
	inflightWindow = 2 * maxPollRecords
	// maxAnswerLine bounds one answer line. A record to produce is at most
	// 1 MiB by default (franz-go's batch limit), 4/3 of that in base64; a
	// longer line is a broken handler, not a record.
	maxAnswerLine = 16 << 20
	// pipeIOBuf is the write size to CMD's stdin and the read buffer on its
	// stdout: a pipe's default capacity (pipe(7)), so a write fills the
	// pipe in one call and a read takes what one holds.
	pipeIOBuf = 64 << 10
	// exitNameWait is how long a failing reader or writer waits for CMD's
	// exit status before it reports the failure without it: the status
	// ("exit 3", "signal SIGSEGV") says more than "stdout closed".
	exitNameWait = time.Second
)

// producer is the part of the node's Kafka client the handler produces
// output and dead-letter records with.
type producer interface {
	Produce(ctx context.Context, r *kgo.Record, promise func(*kgo.Record, error))
	Flush(ctx context.Context) error
}

// execHandler is the recordHandler for `-- CMD ARGS...`.
type execHandler struct {
	name        string // CMD as given, for messages
	codec       codec
	prod        producer
	outputTopic string
	deadLetter  string
	group       string
	log         *slog.Logger
	closeWait   time.Duration // how long CMD gets to exit after stdin EOF

	stdin, stdout, stderr *os.File // our ends of CMD's pipes

	batches chan *pipeBatch // handle -> writer
	quit    chan struct{}   // closed by close: the writer stops

	// The in-flight window: runs of records written (or about to be) and
	// not yet all answered, in order. The writer pushes a run before the
	// frames of its records go out, so an answer never arrives ahead of
	// its record; the reader pops one run at a time.
	runsMu sync.Mutex
	runs   []inflightRun
	cur    inflightRun // the reader's run being answered; reader only
	// answered counts the answers matched to records (reader only writes);
	// the writer compares it with the records it has queued to keep at
	// most inflightWindow in flight. writerWaiting and freed wake a writer
	// blocked on a full window.
	answered      atomic.Int64
	writerWaiting atomic.Bool
	freed         chan struct{}

	dead       chan struct{} // closed at the first failure
	exited     chan struct{} // closed once CMD is reaped
	readerDone chan struct{}
	stderrDone chan struct{}

	mu       sync.Mutex
	pid      int  // for the process group and logs; valid while pidfd >= 0
	pidfd    int  // -1 once reaped
	procDir  int  // fd of /proc/<pid>, for its memory; -1 when none
	closing  bool // close was called: CMD's exit is expected now
	failErr  error
	status   exitStatus  // valid once exited is closed
	noOutput atomic.Bool // warned that answers carry records but there is no -output-topic

	closeOnce sync.Once
	closeErr  error
}

// pipeBatch is one handle call as the writer and reader see it.
type pipeBatch struct {
	recs     []*kgo.Record
	answered chan struct{} // closed when every record is complete

	mu        sync.Mutex
	res       []recResult
	remaining int
	stopAt    int  // first failed record with nowhere to go: nothing from it on is produced
	sealed    bool // handle stopped waiting (CMD failed): late answers are dropped
	produced  int
	wg        sync.WaitGroup // produce acknowledgements outstanding
	acked     []error        // per record: its produce result, written by the promise; nil until a first produce
}

// recResult is what became of one record of a batch.
type recResult struct {
	complete bool // answered, or refused by the codec
	failed   bool
	reason   string
}

// inflightRun is b.recs[from:to]: records framed on CMD's stdin, in order,
// whose answers are still to come.
type inflightRun struct {
	b        *pipeBatch
	from, to int
}

// complete records the result of record i, unless handle stopped waiting.
func (b *pipeBatch) complete(i int, r recResult, stopOnFail bool) {
	b.mu.Lock()
	if b.sealed {
		b.mu.Unlock()
		return
	}
	last := b.completeLocked(i, r, stopOnFail)
	b.mu.Unlock()
	if last {
		close(b.answered)
	}
}

// completeLocked records the result of record i under b.mu and reports
// whether it was the last one outstanding (the caller closes answered).
func (b *pipeBatch) completeLocked(i int, r recResult, stopOnFail bool) bool {
	b.res[i] = r
	if r.failed && stopOnFail && i < b.stopAt {
		b.stopAt = i
	}
	b.remaining--
	return b.remaining == 0
}

// startExecHandler starts the flag route's CMD for node nodeID.
func startExecHandler(cfg *config, nodeID int, log *slog.Logger, stderrOut io.Writer) (*execHandler, error) {
	r := cfg.flagRoute()
	return startRouteHandler(cfg, &r, nodeID, stderrPrefix(nodeID, &r, 1), log, stderrOut)
}

// stderrPrefix starts each line of CMD's stderr: the node, and the route
// when the swarm has more than one.
func stderrPrefix(nodeID int, r *route, totalRoutes int) string {
	if totalRoutes > 1 {
		return "[node " + strconv.Itoa(nodeID) + " route " + strconv.Itoa(r.Index) + "] "
	}
	return "[node " + strconv.Itoa(nodeID) + "] "
}

// startRouteHandler starts route r's CMD for node nodeID and the goroutines
// around it. setProducer must follow before the first handle.
func startRouteHandler(cfg *config, r *route, nodeID int, prefix string, log *slog.Logger, stderrOut io.Writer) (*execHandler, error) {
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
	h := &execHandler{
		name:        r.Command[0],
		codec:       cd,
		outputTopic: r.OutputTopic,
		deadLetter:  r.DeadLetterTopic,
		group:       r.Group,
		log:         log,
		closeWait:   max(cfg.shutdownTimeout/10, 100*time.Millisecond),
		batches:     make(chan *pipeBatch),
		freed:       make(chan struct{}, 1),
		quit:        make(chan struct{}),
		dead:        make(chan struct{}),
		exited:      make(chan struct{}),
		readerDone:  make(chan struct{}),
		stderrDone:  make(chan struct{}),
		pidfd:       -1,
		procDir:     -1,
	}
	child := [3]int{-1, -1, -1} // CMD's ends: stdin read, stdout write, stderr write
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
			return nil, os.NewSyscallError("pipe2", err)
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
			return nil, os.NewSyscallError("fcntl O_NONBLOCK", err)
		}
		ours[i] = os.NewFile(uintptr(o), "handler "+name)
	}
	h.stdin, h.stdout, h.stderr = ours[0], ours[1], ours[2]

	started := make(chan error, 1)
	env := append(handlerEnv(os.Environ(), nodeID, r.Group, r.Topics), "SWARM_ROUTE="+strconv.Itoa(r.Index))
	go h.own(path, r.Command, env, []uintptr{uintptr(child[0]), uintptr(child[1]), uintptr(child[2])}, started)
	err = <-started
	// CMD holds its own copies now (or never will): ours must go, so that
	// EOF on stdout means CMD and everything it left are gone.
	for i, fd := range child {
		unix.Close(fd)
		child[i] = -1
	}
	if err != nil {
		closeAll()
		return nil, err
	}
	go h.writeRecords()
	go h.readAnswers()
	go h.pumpStderr(stderrOut, prefix)
	log.Info("handler.started", "handler_pid", h.pid, "command", strings.Join(r.Command, " "), "codec", r.Codec)
	return h, nil
}

// own starts CMD and stays with it until it is reaped. The goroutine locks
// its OS thread and never unlocks it: Pdeathsig is delivered when the
// *thread* that forked the child exits (prctl(2), PR_SET_PDEATHSIG), and an
// unlocked goroutine may move between threads that the runtime retires.
// When own returns, the runtime ends the locked thread; CMD is gone by then.
func (h *execHandler) own(path string, argv, env []string, files []uintptr, started chan<- error) {
	runtime.LockOSThread()
	pidfd := -1
	// Registered from the fork on: the node's reaper of adopted orphans
	// must never reap CMD before this goroutine does (nodechildren.go).
	pid, err := forkHandler(func() (int, error) {
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
	if err != nil {
		started <- fmt.Errorf("start handler %s: %w", path, err)
		return
	}
	// Still unreaped (only this goroutine reaps it), so the pid cannot have
	// been reused: /proc/<pid> opened now stays CMD's, and reading through
	// it fails with ESRCH once CMD is gone instead of reading a stranger.
	procDir, derr := unix.Open("/proc/"+strconv.Itoa(pid), unix.O_DIRECTORY|unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if derr != nil {
		procDir = -1
		h.log.Warn("open handler /proc entry: memory limit counts the node only", "err", derr)
	}
	h.mu.Lock()
	h.pid, h.pidfd, h.procDir = pid, pidfd, procDir
	h.mu.Unlock()
	started <- nil

	var info siginfoChld
	if err := waitidPidfd(pidfd, &info, unix.WEXITED|unix.WNOWAIT); err != nil {
		h.log.Error("wait for handler", "err", os.NewSyscallError("waitid", err))
		_ = sendSignal(pidfd, unix.SIGKILL)
		_ = waitidPidfd(pidfd, &info, unix.WEXITED|unix.WNOWAIT)
	}
	h.mu.Lock()
	// CMD is a zombie here, so its pid, and the process group id equal to
	// it, cannot be reused yet: killing the group now hits exactly what CMD
	// left behind (a grandchild holding stdout open would otherwise keep
	// the reader waiting, and outlive the node). What left the group is
	// adopted by the node (nodechildren.go).
	killGroup(pidfd, pid)
	st, rerr := reapHandler(pidfd, pid)
	unix.Close(pidfd)
	h.pidfd = -1
	if h.procDir >= 0 {
		unix.Close(h.procDir)
		h.procDir = -1
	}
	if rerr != nil {
		st = exitStatus{code: -1}
	}
	h.status = st
	expected := h.closing
	h.mu.Unlock()
	close(h.exited)
	if expected {
		h.log.Info("handler.exited", "handler_pid", pid, "exit", st.String())
		return
	}
	h.log.Error("handler.exited", "handler_pid", pid, "exit", st.String())
	// Answers already in the pipe still count: give the reader a moment to
	// take them before the batch is cut short.
	select {
	case <-h.readerDone:
	case <-time.After(exitNameWait):
	}
	h.fail(h.exitErr())
}

// exitErr describes CMD's unexpected exit; only after exited is closed.
func (h *execHandler) exitErr() error {
	return fmt.Errorf("handler %s exited unexpectedly (%s)", h.name, h.status)
}

// fail records the first failure, wakes everyone waiting on CMD and kills
// it: once the protocol is broken nothing CMD says can be trusted.
func (h *execHandler) fail(err error) {
	h.mu.Lock()
	if h.failErr != nil || h.closing {
		h.mu.Unlock()
		return
	}
	h.failErr = err
	close(h.dead)
	h.mu.Unlock()
	h.log.Error("handler.failed", "err", err)
	h.kill()
}

// failAfterExit is fail for a broken pipe: when CMD has exited, its exit
// status is the better reason.
func (h *execHandler) failAfterExit(err error) {
	h.mu.Lock()
	closing := h.closing
	h.mu.Unlock()
	if closing {
		return
	}
	select {
	case <-h.exited:
		err = h.exitErr()
	case <-time.After(exitNameWait):
	}
	h.fail(err)
}

// kill sends SIGKILL to CMD and its process group. Safe from any goroutine,
// any number of times; a no-op once CMD is reaped.
func (h *execHandler) kill() {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.pidfd < 0 {
		return
	}
	_ = sendSignal(h.pidfd, unix.SIGKILL)
	// CMD is not reaped (pidfd >= 0 under mu, and the owner reaps under
	// mu), so its group id is still its own.
	killGroup(h.pidfd, h.pid)
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

// setProducer gives the handler the client it produces with. Called once,
// before the first handle: the reader reads it only for answers, which
// follow a batch handed over through channels after this call.
func (h *execHandler) setProducer(p producer) { h.prod = p }

// err is the first failure, nil while CMD is fine.
func (h *execHandler) err() error {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.failErr
}

// failed is closed when CMD has failed: the node must stop even when no
// batch is in hand.
func (h *execHandler) failed() <-chan struct{} { return h.dead }

// rss is CMD's VmRSS in bytes, 0 when it is gone or unknown.
func (h *execHandler) rss() int64 {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.procDir < 0 {
		return 0
	}
	fd, err := unix.Openat(h.procDir, "status", unix.O_RDONLY|unix.O_CLOEXEC, 0)
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

// handle sends the batch through CMD. It returns how many records, in
// order, are done: answered, and with their output or dead-letter record
// acknowledged by the broker.
func (h *execHandler) handle(recs []*kgo.Record) (int, error) {
	if len(recs) == 0 {
		return 0, nil
	}
	b := &pipeBatch{
		recs:      recs,
		answered:  make(chan struct{}),
		res:       make([]recResult, len(recs)),
		remaining: len(recs),
		stopAt:    len(recs),
	}
	select {
	case h.batches <- b:
	case <-h.dead:
		return 0, h.err()
	}
	select {
	case <-b.answered:
	case <-h.dead:
		// What was answered before the failure still counts.
	}
	b.mu.Lock()
	b.sealed = true
	b.mu.Unlock()

	limit, stopErr := len(recs), error(nil)
	for i, r := range b.res {
		if !r.complete {
			limit, stopErr = i, h.err()
			break
		}
		if !r.failed {
			continue
		}
		if h.deadLetter == "" {
			limit = i
			stopErr = fmt.Errorf("handler failed record %s and there is no -dead-letter-topic, so the node stops here: %s",
				recordName(recs[i]), r.reason)
			break
		}
		h.log.Warn("handler.dead_letter", "topic", recs[i].Topic, "partition", recs[i].Partition,
			"offset", recs[i].Offset, "err", r.reason, "dead_letter_topic", h.deadLetter)
		if b.acked == nil {
			// Sealed, so the reader is done with b: no promise runs yet.
			b.acked = make([]error, len(recs))
		}
		b.wg.Add(1)
		b.produced++
		h.prod.Produce(context.Background(), deadLetterRecord(recs[i], h.deadLetter, h.group, r.reason),
			func(_ *kgo.Record, err error) { b.acked[i] = err; b.wg.Done() })
	}
	if b.produced > 0 {
		// Flush sends what lingers at once: nothing else is waiting to join
		// these produce requests, and the batch is not done until acked.
		_ = h.prod.Flush(context.Background())
	}
	b.wg.Wait()
	for i := 0; i < limit && b.acked != nil; i++ {
		if err := b.acked[i]; err != nil {
			what, topic := "output", h.outputTopic
			if b.res[i].failed {
				what, topic = "dead letter", h.deadLetter
			}
			return i, fmt.Errorf("produce %s of record %s to %s: %w", what, recordName(recs[i]), topic, err)
		}
	}
	return limit, stopErr
}

// recordName names a record in errors and logs.
func recordName(r *kgo.Record) string {
	return fmt.Sprintf("topic %s partition %d offset %d", r.Topic, r.Partition, r.Offset)
}

// Dead-letter headers: Karafka's names for the origin, plus the reason.
const (
	hdrOriginalTopic     = "original_topic"
	hdrOriginalPartition = "original_partition"
	hdrOriginalOffset    = "original_offset"
	hdrOriginalGroup     = "original_consumer_group"
	hdrError             = "swarm_error"
)

// deadLetterRecord is r as it goes to the dead-letter topic: its key, value
// and headers, plus headers naming where it came from and why it failed.
func deadLetterRecord(r *kgo.Record, topic, group, reason string) *kgo.Record {
	hs := make([]kgo.RecordHeader, 0, len(r.Headers)+5)
	hs = append(hs, r.Headers...)
	hs = append(hs,
		kgo.RecordHeader{Key: hdrOriginalTopic, Value: []byte(r.Topic)},
		kgo.RecordHeader{Key: hdrOriginalPartition, Value: []byte(strconv.Itoa(int(r.Partition)))},
		kgo.RecordHeader{Key: hdrOriginalOffset, Value: []byte(strconv.FormatInt(r.Offset, 10))},
		kgo.RecordHeader{Key: hdrOriginalGroup, Value: []byte(group)},
		kgo.RecordHeader{Key: hdrError, Value: []byte(reason)},
	)
	return &kgo.Record{Topic: topic, Key: r.Key, Value: r.Value, Headers: hs}
}

// writeRecords is the writer goroutine: frames each batch onto CMD's stdin,
// at most inflightWindow records ahead of the answers. Frames are encoded
// straight into one buffer that goes out in pipe-sized writes; the run of
// records a write frames is queued for the reader just before it.
func (h *execHandler) writeRecords() {
	stopOnFail := h.deadLetter == ""
	buf := make([]byte, 0, 2*pipeIOBuf)
	var queued, seen int64 // records queued in all; answers seen counted
	// push queues run (records encoded, not yet queued) and starts the next
	// one at next.
	push := func(run *inflightRun, next int) {
		if run.to > run.from {
			h.runsMu.Lock()
			h.runs = append(h.runs, *run)
			h.runsMu.Unlock()
			queued += int64(run.to - run.from)
		}
		run.from, run.to = next, next
	}
	write := func(b []byte) bool {
		if _, err := h.stdin.Write(b); err != nil {
			h.failAfterExit(fmt.Errorf("write records to handler stdin: %w", err))
			return false
		}
		return true
	}
	for {
		var b *pipeBatch
		select {
		case b = <-h.batches:
		case <-h.dead:
			return
		case <-h.quit:
			return
		}
		run := inflightRun{b: b}
		for i, r := range b.recs {
			start := len(buf)
			var err error
			buf, err = h.codec.encode(buf, r)
			if err != nil {
				// Never sent, so never answered: its result is known now,
				// and the run of records around it is cut in two.
				buf = buf[:start]
				push(&run, i+1)
				b.complete(i, recResult{complete: true, failed: true, reason: err.Error()}, stopOnFail)
				continue
			}
			if queued+int64(run.to-run.from)-seen >= inflightWindow {
				seen = h.answered.Load()
				if queued+int64(run.to-run.from)-seen >= inflightWindow {
					// Window full: CMD must see the frames already in it
					// before it can answer and free a slot; this frame waits.
					push(&run, i)
					if !write(buf[:start]) {
						return
					}
					buf = buf[:copy(buf, buf[start:])]
					if seen = h.waitWindow(queued); seen < 0 {
						return
					}
				}
			}
			run.to = i + 1
			if len(buf) >= pipeIOBuf {
				push(&run, i+1)
				if !write(buf) {
					return
				}
				buf = buf[:0]
			}
		}
		push(&run, len(b.recs))
		if len(buf) > 0 {
			if !write(buf) {
				return
			}
			buf = buf[:0]
		}
	}
}

// waitWindow blocks the writer until fewer than inflightWindow of the
// queued records are unanswered, and returns the answers counted then; -1
// when CMD failed meanwhile.
func (h *execHandler) waitWindow(queued int64) int64 {
	for {
		seen := h.answered.Load()
		if queued-seen < inflightWindow {
			return seen
		}
		// Say so before looking again: an answer counted after this sees
		// the flag and wakes us (the reader counts, then looks).
		h.writerWaiting.Store(true)
		if seen = h.answered.Load(); queued-seen < inflightWindow {
			h.writerWaiting.Store(false)
			return seen
		}
		select {
		case <-h.freed:
		case <-h.dead:
			return -1
		}
	}
}

// readAnswers is the reader goroutine: one answer line per record, in the
// order the records were written.
func (h *execHandler) readAnswers() {
	defer close(h.readerDone)
	br := bufio.NewReaderSize(h.stdout, pipeIOBuf)
	var long []byte // a line longer than the buffer, gathered
	for {
		line, err := br.ReadSlice('\n')
		if err == bufio.ErrBufferFull {
			if len(long)+len(line) > maxAnswerLine {
				h.fail(fmt.Errorf("handler answered a line longer than %d bytes", maxAnswerLine))
				return
			}
			long = append(long, line...)
			continue
		}
		if err != nil {
			h.mu.Lock()
			closing := h.closing
			h.mu.Unlock()
			if !closing {
				if errors.Is(err, io.EOF) {
					err = errors.New("handler closed its stdout")
				} else {
					err = fmt.Errorf("read handler stdout: %w", err)
				}
				h.failAfterExit(err)
			}
			return
		}
		if len(long) > 0 {
			line = append(long, line...)
			long = long[:0]
		}
		if !h.answer(line[:len(line)-1]) {
			return
		}
	}
}

// answer applies one answer line to the record it belongs to. false means
// the protocol is broken and reading stops.
func (h *execHandler) answer(line []byte) bool {
	if h.cur.from == h.cur.to {
		h.runsMu.Lock()
		if len(h.runs) == 0 {
			h.runsMu.Unlock()
			h.fail(fmt.Errorf("handler answered a line with no record in flight: %q", clip(line)))
			return false
		}
		h.cur = h.runs[0]
		// Shift down rather than reslice: the queue holds a few runs, and
		// its array is reused instead of crawling forward and reallocating.
		n := copy(h.runs, h.runs[1:])
		h.runs[n] = inflightRun{}
		h.runs = h.runs[:n]
		h.runsMu.Unlock()
	}
	b, i := h.cur.b, h.cur.from
	if h.cur.from++; h.cur.from == h.cur.to {
		h.cur.b = nil // holds the batch no longer than its answers
	}
	if h.answered.Add(1); h.writerWaiting.Load() && h.writerWaiting.CompareAndSwap(true, false) {
		select {
		case h.freed <- struct{}{}:
		default:
		}
	}
	a, err := h.codec.decode(line)
	if err != nil {
		h.fail(fmt.Errorf("handler answered garbage for record %s: %w; the line: %q", recordName(b.recs[i]), err, clip(line)))
		return false
	}
	var out *kgo.Record
	b.mu.Lock()
	if b.sealed {
		b.mu.Unlock()
		return true
	}
	if a.out != nil && i < b.stopAt {
		if h.outputTopic != "" {
			out = a.out
			out.Topic = h.outputTopic
			if b.acked == nil {
				b.acked = make([]error, len(b.recs))
			}
			b.wg.Add(1)
			b.produced++
		} else if !h.noOutput.Swap(true) {
			h.log.Warn("handler answers carry records but -output-topic is not set: they are dropped")
		}
	}
	last := b.completeLocked(i, recResult{complete: true, failed: a.failed, reason: a.reason}, h.deadLetter == "")
	b.mu.Unlock()
	if out != nil {
		// Produced as the answers come, so the acks overlap the rest of the
		// batch; handle waits for them before anything is marked.
		h.prod.Produce(context.Background(), out, func(_ *kgo.Record, err error) { b.acked[i] = err; b.wg.Done() })
	}
	if last {
		close(b.answered)
	}
	return true
}

// clip shortens a line for an error message.
func clip(b []byte) []byte {
	if len(b) > 200 {
		return b[:200]
	}
	return b
}

// pumpStderr passes CMD's stderr through, each line prefixed with the node
// id (and route: stderrPrefix). Each piece is written whole and at most PIPE_BUF bytes, so lines of
// different nodes and handlers on the shared stderr never interleave.
func (h *execHandler) pumpStderr(w io.Writer, prefix string) {
	defer close(h.stderrDone)
	br := bufio.NewReaderSize(h.stderr, pipeBuf-len(prefix)-1)
	out := make([]byte, 0, pipeBuf)
	for {
		line, err := br.ReadSlice('\n')
		if len(line) > 0 {
			out = append(append(out[:0], prefix...), line...)
			if out[len(out)-1] != '\n' {
				out = append(out, '\n') // a longer line goes on in the next piece
			}
			_, _ = w.Write(out)
		}
		if err != nil && err != bufio.ErrBufferFull {
			return
		}
	}
}

// close ends CMD in order: stdin EOF asks it to finish; it gets closeWait
// to exit, then SIGKILL. It returns CMD's failure, if any, or an error for
// a non-zero exit after EOF.
func (h *execHandler) close() error {
	h.closeOnce.Do(func() {
		h.mu.Lock()
		failed := h.failErr
		h.closing = true
		h.mu.Unlock()
		close(h.quit)
		h.stdin.Close()
		select {
		case <-h.exited:
		case <-time.After(h.closeWait):
			h.log.Warn("handler.kill", "reason", "still running after its stdin closed", "waited", h.closeWait)
			h.kill()
			<-h.exited
		}
		// Its last stderr lines: the group is dead, so EOF is near.
		select {
		case <-h.stderrDone:
		case <-time.After(exitNameWait):
		}
		h.stdout.Close()
		h.stderr.Close()
		switch {
		case failed != nil:
			h.closeErr = failed
		case h.status.code != 0:
			h.closeErr = fmt.Errorf("handler %s ended with %s after its stdin closed", h.name, h.status)
		}
	})
	return h.closeErr
}
