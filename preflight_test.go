//go:build linux

package main

import (
	"net"
	"testing"
)

// closedLoopbackAddr returns a loopback address nothing listens on.
func closedLoopbackAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	return addr
}

func TestPreflightRejectsBeforeSpawning(t *testing.T) {
	_, addr := newBroker(t, 2, "orders")
	for _, tc := range []struct {
		doc  string
		args []string
		code int
		want string
	}{
		{"unreachable brokers exit 1", []string{"-topics=orders", "-bootstrap=" + closedLoopbackAddr(t), "-connect-timeout=1s"}, 1, "reach brokers"},
		{"a missing topic exits 2 and is named", []string{"-topics=orders,nope", "-bootstrap=" + addr}, 2, "-topics: nope not found"},
	} {
		t.Run(tc.doc, func(t *testing.T) {
			r := runCLI(t, nil, tc.args...)
			if r.code != tc.code {
				t.Errorf("exit code %d, want %d", r.code, tc.code)
			}
			assertOneErrorLine(t, r, tc.want)
		})
	}
}
