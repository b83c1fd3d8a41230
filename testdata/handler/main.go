// Command handler is a scriptable swarm handler command for tests. It reads
// records from stdin (-codec json or lines), answers one line per record on
// stdout, and misbehaves on request:
//
//	-answer empty|brace|echo|tag  how to answer a record that is done:
//	                             "", "{}", the record itself (key, value and
//	                             headers, so it is produced as it came), or
//	                             {"key":K,"value":"handled K"}
//	-fail-key K,L                answer {"error": ...} for records with these keys
//	-fail-until-attempt N        with -fail-key: fail those records only while
//	                             their frame's attempt is below N, accept them
//	                             from attempt N on (0: fail them forever; a
//	                             frame without an attempt counts as attempt 0)
//	-exit-after N                exit 3 after answering N records
//	-garbage-after N             answer garbage instead of record N+1
//	-close-stdout-after N        close stdout after N answers, keep reading
//	-log FILE                    append "<partition> <offset> <attempt>
//	                             <unix ns>" (json: the frame's attempt, 0
//	                             when it has none, and when it was read) or
//	                             "line <value>" (lines: no attempt, and a
//	                             value may hold spaces) per record, one
//	                             write each, before answering it
//	-grandchild                  start a child of its own that sleeps
//	                             forever holding stdout and stderr
//	-hog MiB                     allocate and touch this much memory at start
//
// At start it writes "handler ready pid=P ..." with its environment to
// stderr. Answers are flushed whenever no more input is waiting.
package main

import (
	"bufio"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"time"
)

// hogged keeps -hog's memory reachable.
var hogged []byte

// frame is the part of a json record frame the handler looks at; the rest
// it echoes untouched.
type frame struct {
	Partition int32           `json:"partition"`
	Offset    int64           `json:"offset"`
	Attempt   int             `json:"attempt"`
	Key       *string         `json:"key"`
	KeyB64    *string         `json:"key_b64,omitempty"`
	Value     *string         `json:"value"`
	ValueB64  *string         `json:"value_b64,omitempty"`
	Headers   json.RawMessage `json:"headers"`
}

// echo is an answer that produces the record as it came.
type echo struct {
	Key      *string         `json:"key,omitempty"`
	KeyB64   *string         `json:"key_b64,omitempty"`
	Value    *string         `json:"value,omitempty"`
	ValueB64 *string         `json:"value_b64,omitempty"`
	Headers  json.RawMessage `json:"headers"`
}

func main() {
	codec := flag.String("codec", "json", "json | lines")
	mode := flag.String("answer", "empty", "empty | brace | echo | tag")
	failKeys := flag.String("fail-key", "", "answer an error for records with these keys (comma list)")
	failUntil := flag.Int("fail-until-attempt", 0, "accept -fail-key records from this attempt on (0: never)")
	hog := flag.Int("hog", 0, "MiB to allocate and keep at start")
	exitAfter := flag.Int("exit-after", -1, "exit 3 after this many answers")
	garbageAfter := flag.Int("garbage-after", -1, "answer garbage after this many answers")
	closeAfter := flag.Int("close-stdout-after", -1, "close stdout after this many answers")
	logPath := flag.String("log", "", "append one line per record to this file")
	grandchild := flag.Bool("grandchild", false, "leave a sleeping child behind")
	sleep := flag.Bool("sleep", false, "(internal) sleep forever")
	stallKey := flag.String("stall-key", "", "before answering the record with this key, flush the answers so far and sleep -stall-for, once: while the file -stall-once does not exist (then create it)")
	stallFor := flag.Duration("stall-for", 0, "how long -stall-key sleeps")
	stallOnce := flag.String("stall-once", "", "marker file of -stall-key")
	flag.Parse()
	if *sleep {
		select {}
	}

	fail := map[string]bool{}
	for _, k := range strings.Split(*failKeys, ",") {
		if k != "" {
			fail[k] = true
		}
	}
	if *hog > 0 {
		hogged = make([]byte, *hog<<20)
		for i := range hogged {
			hogged[i] = byte(i) // touched, so it is resident
		}
	}

	if *grandchild {
		c := exec.Command(os.Args[0], "-sleep")
		c.Stdout, c.Stderr = os.Stdout, os.Stderr
		if err := c.Start(); err != nil {
			fmt.Fprintln(os.Stderr, "start grandchild:", err)
			os.Exit(1)
		}
		fmt.Fprintf(os.Stderr, "grandchild pid=%d\n", c.Process.Pid)
	}
	fmt.Fprintf(os.Stderr, "handler ready pid=%d node=%s group=%s topics=%s supervisor=%q\n", os.Getpid(),
		os.Getenv("SWARM_NODE_ID"), os.Getenv("SWARM_GROUP"), os.Getenv("SWARM_TOPICS"), os.Getenv("SWARM_SUPERVISOR_PID"))

	var logf *os.File
	if *logPath != "" {
		var err error
		logf, err = os.OpenFile(*logPath, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o644)
		if err != nil {
			fmt.Fprintln(os.Stderr, "open log:", err)
			os.Exit(1)
		}
	}

	in := bufio.NewReaderSize(os.Stdin, 1<<20)
	out := bufio.NewWriterSize(os.Stdout, 64<<10)
	answered := 0
	stdoutClosed := false
	for {
		if in.Buffered() == 0 && !stdoutClosed {
			if err := out.Flush(); err != nil {
				fmt.Fprintln(os.Stderr, "flush answers:", err)
				os.Exit(1)
			}
		}
		line, err := in.ReadBytes('\n')
		if err != nil {
			if !stdoutClosed {
				out.Flush()
			}
			fmt.Fprintln(os.Stderr, "handler stdin closed after", answered, "answers")
			return
		}
		line = line[:len(line)-1]
		if stdoutClosed {
			continue
		}
		if answered == *exitAfter {
			out.Flush()
			fmt.Fprintf(os.Stderr, "handler exiting after %d answers\n", answered)
			os.Exit(3)
		}
		if answered == *closeAfter {
			out.Flush()
			os.Stdout.Close()
			stdoutClosed = true
			fmt.Fprintf(os.Stderr, "handler closed stdout after %d answers\n", answered)
			continue
		}
		if answered == *garbageAfter {
			out.WriteString("this is not an answer {\n")
			answered++
			continue
		}

		if *codec == "lines" {
			if logf != nil {
				logf.Write([]byte("line " + string(line) + "\n"))
			}
			switch *mode {
			case "echo":
				out.Write(line)
			case "tag":
				out.WriteString("handled " + string(line))
			}
			out.WriteByte('\n')
			answered++
			continue
		}

		var f frame
		if err := json.Unmarshal(line, &f); err != nil {
			fmt.Fprintf(os.Stderr, "handler got a bad frame %q: %v\n", line, err)
			os.Exit(1)
		}
		if logf != nil {
			logf.Write([]byte(strconv.Itoa(int(f.Partition)) + " " + strconv.FormatInt(f.Offset, 10) + " " +
				strconv.Itoa(f.Attempt) + " " + strconv.FormatInt(time.Now().UnixNano(), 10) + "\n"))
		}
		key := ""
		if f.Key != nil {
			key = *f.Key
		}
		if *stallKey != "" && key == *stallKey {
			if _, err := os.Stat(*stallOnce); err != nil {
				os.WriteFile(*stallOnce, nil, 0o644)
				out.Flush()
				fmt.Fprintf(os.Stderr, "handler stalling %s before key %s\n", *stallFor, key)
				time.Sleep(*stallFor)
			}
		}
		switch {
		case f.Key != nil && fail[key] && (*failUntil == 0 || f.Attempt < *failUntil):
			b, _ := json.Marshal(map[string]string{"error": "refused key " + key})
			out.Write(b)
		case *mode == "echo":
			b, err := json.Marshal(echo{Key: f.Key, KeyB64: f.KeyB64, Value: f.Value, ValueB64: f.ValueB64, Headers: f.Headers})
			if err != nil {
				fmt.Fprintln(os.Stderr, "encode echo:", err)
				os.Exit(1)
			}
			out.Write(b)
		case *mode == "tag":
			b, _ := json.Marshal(map[string]string{"key": key, "value": "handled " + key})
			out.Write(b)
		case *mode == "brace":
			out.WriteString("{}")
		}
		out.WriteByte('\n')
		answered++
	}
}
