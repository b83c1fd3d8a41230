//go:build linux

package main

import (
	"testing"
)

func TestPreflightRejectsBeforeSpawning(t *testing.T) {
	_, addr := newBroker(t, 2, "orders")
	for _, tc := range []struct {
		doc  string
		args []string
		code int
		want string
	}{
		{"unreachable brokers exit 1", []string{"-topics=orders", "-bootstrap=" + freeAddr(t), "-connect-timeout=1s"}, 1, "reach brokers"},
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
