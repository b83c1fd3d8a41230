//go:build linux

package main

import (
	"slices"
	"testing"
	"time"
)

// TestGroupFlagErrors: the group settings that would break every node after
// spawning are one line and exit 2 before it, from the real binary.
func TestGroupFlagErrors(t *testing.T) {
	ok := []string{"-bootstrap=127.0.0.1:9092", "-topics=orders"}
	for _, tc := range []struct {
		name string
		args []string
		want []string
	}{
		{"heartbeat-at-session", []string{"-session-timeout=6s", "-heartbeat-interval=6s"}, []string{"-heartbeat-interval", "-session-timeout"}},
		{"heartbeat-zero", []string{"-heartbeat-interval=0"}, []string{"-heartbeat-interval"}},
		{"protocol-unknown", []string{"-group-protocol=eager"}, []string{"-group-protocol", "eager"}},
		{"consumer-with-balancer", []string{"-group-protocol=consumer", "-balancer=range"}, []string{"-balancer", "classic"}},
		{"consumer-with-session", []string{"-group-protocol=consumer", "-session-timeout=10s"}, []string{"-session-timeout", "classic"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			r := runCLI(t, nil, append(tc.args, ok...)...)
			assertExitLine(t, r, exitUsage, tc.want...)
		})
	}
}

// TestHeartbeatDefault: 3 s unless a third of the session is shorter and
// the heartbeat was not set; an explicit one is kept as given.
func TestHeartbeatDefault(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want time.Duration
	}{
		{nil, 3 * time.Second},
		{[]string{"-session-timeout=6s"}, 2 * time.Second},
		{[]string{"-session-timeout=1s"}, time.Second / 3},
		{[]string{"-session-timeout=6s", "-heartbeat-interval=5s"}, 5 * time.Second},
	} {
		cfg, err := parseConfig(append(tc.args, "-bootstrap=127.0.0.1:9092", "-topics=orders"), func(string) string { return "" })
		if err != nil {
			t.Fatalf("%v: %v", tc.args, err)
		}
		if cfg.heartbeatInterval != tc.want {
			t.Errorf("%v: heartbeat %s, want %s", tc.args, cfg.heartbeatInterval, tc.want)
		}
		if got := cfg.nodeArgs(); !slices.Contains(got, "-heartbeat-interval="+tc.want.String()) {
			t.Errorf("%v: node args %v lack the heartbeat", tc.args, got)
		}
	}
}

// TestRestartStableJoinMetadata: the default balancers' join metadata is
// the same whatever the generation and assignment, so a restarted static
// member rejoins with the bytes it left with (kfake's no-rebalance test).
func TestRestartStableJoinMetadata(t *testing.T) {
	for _, name := range []string{"range", "roundrobin"} {
		b := balancer(name)
		first := b.JoinGroupMetadata([]string{"a", "b"}, nil, -1)
		later := b.JoinGroupMetadata([]string{"a", "b"}, map[string][]int32{"a": {0, 1}}, 17)
		if string(first) != string(later) {
			t.Errorf("%s: join metadata changes with the generation or assignment", name)
		}
	}
	if b := balancer("cooperative-sticky"); string(b.JoinGroupMetadata([]string{"a"}, nil, -1)) ==
		string(b.JoinGroupMetadata([]string{"a"}, map[string][]int32{"a": {0}}, 3)) {
		t.Errorf("cooperative-sticky must carry its owned partitions")
	}
}
