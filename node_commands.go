//go:build linux

package main

import (
	"context"
	"os"
	"sync"
)

// handlerCommands are the node's handler commands, one per route that has
// a CMD. This file is the one place the node uses the handler command's
// API (node_cmd_*.go).
type handlerCommands struct {
	// mu guards all: the orphan path, the shutdown budget and the
	// reporter read it from goroutines of their own, while the main
	// goroutine may still be starting commands.
	mu  sync.Mutex
	all []*cmdProcess
}

// start starts rr's command. Its handler is made once rr's client exists
// (attach): the handler produces through that client, and the command must
// start before it, so a command that cannot start never joins a group.
func (hc *handlerCommands) start(cfg *config, rr *routeRun, nodeID int) error {
	p, err := startCmdProcess(cfg, rr.r, nodeID, stderrPrefix(nodeID, rr.r, cfg.totalRoutes), rr.log, os.Stderr)
	if err != nil {
		return err
	}
	hc.mu.Lock()
	hc.all = append(hc.all, p)
	hc.mu.Unlock()
	rr.proc = p
	return nil
}

// attach makes rr's handler around its command, producing output and
// dead-letter records through rr's client. A built-in handler exists
// already and produces nothing.
func attach(rr *routeRun) {
	if rr.proc != nil {
		rr.h = newCmdHandler(rr.proc, rr.r, rr.c.cl, rr.c.retries.pol)
	}
}

// kill kills every command started so far; safe from any goroutine.
func (hc *handlerCommands) kill() {
	hc.mu.Lock()
	defer hc.mu.Unlock()
	for _, p := range hc.all {
		p.kill()
	}
}

// rss is the commands' VmRSS summed, counted with the node's own against
// -memory-limit: users' leaks live in handlers.
func (hc *handlerCommands) rss() int64 {
	hc.mu.Lock()
	defer hc.mu.Unlock()
	var sum int64
	for _, p := range hc.all {
		sum += p.rss()
	}
	return sum
}

// failures fires once any command has failed: that node stops whole (what
// every route handled is committed), exits 1 and is restarted with all its
// routes. Its watchers end with ctx; the buffer lets each of them send
// without a reader.
func (hc *handlerCommands) failures(ctx context.Context) <-chan struct{} {
	hc.mu.Lock()
	defer hc.mu.Unlock()
	fired := make(chan struct{}, len(hc.all))
	for _, p := range hc.all {
		go func(failed <-chan struct{}) {
			select {
			case <-failed:
				fired <- struct{}{}
			case <-ctx.Done():
			}
		}(p.failed())
	}
	return fired
}
