//go:build linux

package main

import (
	"context"
	"os"
	"sync"
)

// handlerCommands are the node's handler commands, one per route that has
// a CMD. This file is the one place the node uses the execHandler API.
type handlerCommands struct {
	// mu guards all: the orphan path, the shutdown budget and the
	// reporter read it from goroutines of their own, while the main
	// goroutine may still be starting commands.
	mu  sync.Mutex
	all []*execHandler
}

// start starts rr's command and makes it rr's handler.
func (hc *handlerCommands) start(cfg *config, rr *routeRun, nodeID int) error {
	eh, err := startRouteHandler(cfg, rr.r, nodeID, stderrPrefix(nodeID, rr.r, cfg.totalRoutes), rr.log, os.Stderr)
	if err != nil {
		return err
	}
	hc.mu.Lock()
	hc.all = append(hc.all, eh)
	hc.mu.Unlock()
	rr.eh, rr.h = eh, eh
	return nil
}

// giveProducer makes rr's client the producer of its command's output and
// dead-letter records. A built-in handler produces nothing.
func giveProducer(rr *routeRun) {
	if rr.eh != nil {
		rr.eh.setProducer(rr.c.cl)
	}
}

// kill kills every command started so far; safe from any goroutine.
func (hc *handlerCommands) kill() {
	hc.mu.Lock()
	defer hc.mu.Unlock()
	for _, eh := range hc.all {
		eh.kill()
	}
}

// rss is the commands' VmRSS summed, counted with the node's own against
// -memory-limit: users' leaks live in handlers.
func (hc *handlerCommands) rss() int64 {
	hc.mu.Lock()
	defer hc.mu.Unlock()
	var sum int64
	for _, eh := range hc.all {
		sum += eh.rss()
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
	for _, eh := range hc.all {
		go func(failed <-chan struct{}) {
			select {
			case <-failed:
				fired <- struct{}{}
			case <-ctx.Done():
			}
		}(eh.failed())
	}
	return fired
}
