//go:build linux

package main

import (
	"flag"
	"os"
	"strconv"
	"strings"
	"testing"
)

// envValues returns every value key has in env, in order.
func envValues(env []string, key string) []string {
	var out []string
	for _, kv := range env {
		if k, v, ok := strings.Cut(kv, "="); ok && k == key {
			out = append(out, v)
		}
	}
	return out
}

func TestNodeEnv(t *testing.T) {
	me := strconv.Itoa(os.Getpid())
	stale := []string{"PATH=/usr/bin", "HOME=/root", "SWARM_NODE_ID=7", "SWARM_SUPERVISOR_PID=1",
		"SWARM_QUIET=1", "SWARM_NODE_IDS=keep", "SWARM_GROUP=orders"}
	cases := []struct {
		name   string
		doc    string
		base   []string
		id     int
		nodes  int
		memMiB int64
		quiet  bool
		cpus   int
		want   map[string]string // key -> the one value it must have; "" = absent
	}{
		{name: "identity replaces stale", doc: "a supervisor started from a node's environment must not pass the old identity on",
			base: stale, id: 2, nodes: 4, cpus: 8,
			want: map[string]string{"SWARM_NODE_ID": "2", "SWARM_SUPERVISOR_PID": me, "SWARM_QUIET": "",
				"PATH": "/usr/bin", "HOME": "/root", "SWARM_NODE_IDS": "keep", "SWARM_GROUP": "orders",
				"GOMAXPROCS": "2", "GOMEMLIMIT": ""}},
		{name: "quiet", doc: "a node started while the swarm is quiet starts quiet",
			base: stale, id: 0, nodes: 1, quiet: true, cpus: 8,
			want: map[string]string{"SWARM_QUIET": "1", "SWARM_NODE_ID": "0", "GOMAXPROCS": "8"}},
		{name: "not quiet drops stale quiet", doc: "SWARM_QUIET=0 from outside is dropped, not passed on",
			base: []string{"SWARM_QUIET=0"}, id: 0, nodes: 1, cpus: 1,
			want: map[string]string{"SWARM_QUIET": ""}},
		{name: "gomaxprocs floor", doc: "more nodes than CPUs: each still gets one",
			base: nil, id: 5, nodes: 16, cpus: 4, want: map[string]string{"GOMAXPROCS": "1"}},
		{name: "gomaxprocs rounds down", doc: "8 CPUs over 3 nodes: 2 each, never oversubscribed",
			base: nil, id: 0, nodes: 3, cpus: 8, want: map[string]string{"GOMAXPROCS": "2"}},
		{name: "user gomaxprocs", doc: "the user's GOMAXPROCS wins and is not duplicated",
			base: []string{"GOMAXPROCS=3"}, id: 0, nodes: 4, cpus: 8, want: map[string]string{"GOMAXPROCS": "3"}},
		{name: "gomemlimit 90 percent", doc: "a memory limit gives the runtime a soft limit at 90 % of it",
			base: nil, id: 0, nodes: 1, memMiB: 100, cpus: 1,
			want: map[string]string{"GOMEMLIMIT": strconv.Itoa(100 * 1024 * 1024 * 9 / 10)}},
		{name: "gomemlimit odd size", doc: "bytes, rounded down",
			base: nil, id: 0, nodes: 1, memMiB: 1, cpus: 1,
			want: map[string]string{"GOMEMLIMIT": "943718"}},
		{name: "no memory limit", doc: "without -memory-limit no GOMEMLIMIT is invented",
			base: nil, id: 0, nodes: 1, memMiB: 0, cpus: 1, want: map[string]string{"GOMEMLIMIT": ""}},
		{name: "user gomemlimit", doc: "the user's GOMEMLIMIT wins and is not duplicated",
			base: []string{"GOMEMLIMIT=50MiB"}, id: 0, nodes: 1, memMiB: 100, cpus: 1,
			want: map[string]string{"GOMEMLIMIT": "50MiB"}},
		{name: "user gomemlimit without limit", doc: "and passes through when there is no limit",
			base: []string{"GOMEMLIMIT=off"}, id: 0, nodes: 1, cpus: 1, want: map[string]string{"GOMEMLIMIT": "off"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			base := append([]string(nil), tc.base...)
			env := nodeEnv(base, tc.id, tc.nodes, tc.memMiB, tc.quiet, tc.cpus)
			if strings.Join(base, "\x00") != strings.Join(tc.base, "\x00") {
				t.Errorf("nodeEnv modified its input: %q", base)
			}
			for k, w := range tc.want {
				got := envValues(env, k)
				switch {
				case w == "" && len(got) != 0:
					t.Errorf("%s: %s=%q present, want absent", tc.doc, k, got)
				case w != "" && (len(got) != 1 || got[0] != w):
					t.Errorf("%s: %s = %q, want exactly [%q]", tc.doc, k, got, w)
				}
			}
			// Every variable of base that is not swarm identity survives once.
			for _, kv := range tc.base {
				k, _, _ := strings.Cut(kv, "=")
				switch k {
				case "SWARM_NODE_ID", "SWARM_SUPERVISOR_PID", "SWARM_QUIET":
					continue
				}
				if n := len(envValues(env, k)); n != 1 {
					t.Errorf("%s appears %d times, want once", k, n)
				}
			}
		})
	}
}

func TestEnvName(t *testing.T) {
	for name, want := range map[string]string{
		"nodes":                "SWARM_NODES",
		"topics":               "SWARM_TOPICS",
		"node-report-timeout":  "SWARM_NODE_REPORT_TIMEOUT",
		"node-restart-timeout": "SWARM_NODE_RESTART_TIMEOUT",
		"instance-id":          "SWARM_INSTANCE_ID",
		"log-format":           "SWARM_LOG_FORMAT",
	} {
		if got := envName(name); got != want {
			t.Errorf("envName(%q) = %q, want %q", name, got, want)
		}
	}
	// No flag's variable may collide with another's or with the variables
	// that make a process a node: SWARM_NODE_ID set by a user must never be
	// read as a flag, nor a flag reach a node as its identity.
	reserved := map[string]bool{"SWARM_NODE_ID": true, "SWARM_SUPERVISOR_PID": true, "SWARM_QUIET": true}
	seen := map[string]string{}
	newFlagSet(&config{}).VisitAll(func(f *flag.Flag) {
		name := envName(f.Name)
		if reserved[name] {
			t.Errorf("flag -%s maps to the reserved variable %s", f.Name, name)
		}
		if other, dup := seen[name]; dup {
			t.Errorf("flags -%s and -%s both map to %s", other, f.Name, name)
		}
		seen[name] = f.Name
	})
	if len(seen) < 20 {
		t.Errorf("only %d flags visited; is newFlagSet still the flag list?", len(seen))
	}
}
