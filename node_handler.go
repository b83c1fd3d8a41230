//go:build linux

package main

import (
	"crypto/sha256"
	"fmt"
	"io"
	"strconv"
	"strings"
)

// recordHandler is how records reach user code. handle takes one delivery
// (node_delivery.go) and sets each record's outcome; only final ones are
// committed. An error means the handler itself is broken and the node must
// stop. The built-ins are here; the `-- CMD ARGS...` handler is cmdHandler
// (node_cmd_handler.go and the node_cmd_*.go files around it;
// node_cmd_codec.go: the json and lines framing).
type recordHandler interface {
	handle(d *delivery) error
	close() error
}

// newHandler parses -handler.
func newHandler(spec string, out io.Writer) (recordHandler, error) {
	switch {
	case spec == "print":
		return &printHandler{out: out}, nil
	case spec == "discard":
		return discardHandler{}, nil
	case strings.HasPrefix(spec, "burn="):
		n, err := strconv.Atoi(strings.TrimPrefix(spec, "burn="))
		if err != nil || n < 1 || n > 10_000_000 {
			return nil, fmt.Errorf("burn=N wants N from 1 to 10000000, got %q", spec)
		}
		return burnHandler{rounds: n}, nil
	}
	return nil, fmt.Errorf("unknown handler %q (want print, discard or burn=N)", spec)
}

// discardHandler does nothing: the floor for throughput measurements.
type discardHandler struct{}

func (discardHandler) handle(d *delivery) error { d.handledAll(); return nil }
func (discardHandler) close() error             { return nil }

// burnHandler hashes each value N times: CPU-bound stand-in for real work.
type burnHandler struct{ rounds int }

// burnSink keeps the compiler from proving the hashing useless.
var burnSink byte

func (b burnHandler) handle(d *delivery) error {
	for _, r := range d.recs {
		sum := sha256.Sum256(r.Value)
		for i := 1; i < b.rounds; i++ {
			sum = sha256.Sum256(sum[:])
		}
		burnSink ^= sum[0]
	}
	d.handledAll()
	return nil
}
func (burnHandler) close() error { return nil }

// printHandler writes one line per record, like kcat's
// -f '%t [%p] at offset %o: key %k: %s\n'.
type printHandler struct {
	out io.Writer
	buf []byte
}

// handle prints the batch in whole lines (writeLines): all nodes share the
// supervisor's stdout.
func (p *printHandler) handle(d *delivery) error {
	p.buf = p.buf[:0]
	for _, r := range d.recs {
		p.buf = fmt.Appendf(p.buf, "%s [%d] at offset %d: key %s: %s\n", r.Topic, r.Partition, r.Offset, r.Key, r.Value)
	}
	// A record counts as handled only once its line is out.
	if err := writeLines(p.out, p.buf); err != nil {
		return fmt.Errorf("print records: %w", err)
	}
	d.handledAll()
	return nil
}

func (p *printHandler) close() error { return nil }
