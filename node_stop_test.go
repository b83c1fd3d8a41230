//go:build linux

package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"strings"
	"testing"
)

// TestNodeExitCode drives the watch loop's bookkeeping in-process: the
// routes end in some order, and the node's exit code and its app.stopped
// line follow from how they ended and whether a stop signal came.
func TestNodeExitCode(t *testing.T) {
	boom := errors.New("boom")
	for _, tc := range []struct {
		name     string
		stopping bool
		errs     []error // how each route's run ended, in order
		want     int
		wantErr  string // app.stopped's err, "" for a clean stop
	}{
		{name: "signal, every route well", stopping: true, errs: []error{nil, nil}, want: nodeExitOK},
		{name: "no signal", errs: []error{nil}, want: nodeExitError, wantErr: "consumer ended without a stop signal"},
		{name: "one route failed", stopping: true, errs: []error{nil, boom}, want: nodeExitError, wantErr: "boom"},
		{name: "first failure wins", errs: []error{boom, errors.New("later")}, want: nodeExitError, wantErr: "boom"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var buf bytes.Buffer
			n := &nodeRun{log: slog.New(slog.NewJSONHandler(&buf, nil)), stopping: tc.stopping, remaining: len(tc.errs)}
			for i, err := range tc.errs {
				rr := &routeRun{r: &route{Index: i}, log: n.log, c: &consumer{}, err: err}
				rr.c.handled.Store(10)
				n.routeEnded(rr)
			}
			if n.remaining != 0 {
				t.Fatalf("remaining %d after every route ended", n.remaining)
			}
			if got := n.exitCode(); got != tc.want {
				t.Errorf("exit code %d, want %d", got, tc.want)
			}
			lines := strings.Split(strings.TrimSpace(buf.String()), "\n")
			var last map[string]any
			if err := json.Unmarshal([]byte(lines[len(lines)-1]), &last); err != nil {
				t.Fatalf("parse %q: %v", lines[len(lines)-1], err)
			}
			if last["msg"] != "app.stopped" || last["handled"] != float64(10*len(tc.errs)) {
				t.Errorf("last line %v, want app.stopped with handled %d", last, 10*len(tc.errs))
			}
			if got, _ := last["err"].(string); got != tc.wantErr {
				t.Errorf("app.stopped err %q, want %q", got, tc.wantErr)
			}
		})
	}
}

// TestNodeQuietTwice: SWARM_QUIET=1 and a later TSTP both quiet the node;
// the second must not close the channel again.
func TestNodeQuietTwice(t *testing.T) {
	n := &nodeRun{quiet: make(chan struct{})}
	n.goQuiet()
	n.goQuiet()
	select {
	case <-n.quiet:
	default:
		t.Fatal("quiet not closed")
	}
}

// TestNodeNoCommandsNoFailure: a node with only built-in handlers has no
// command to fail, so the watch loop's failure case never fires.
func TestNodeNoCommandsNoFailure(t *testing.T) {
	var hc handlerCommands
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	select {
	case <-hc.failures(ctx):
		t.Fatal("failure fired without a command")
	default:
	}
	if rss := hc.rss(); rss != 0 {
		t.Errorf("rss %d without a command, want 0", rss)
	}
}
