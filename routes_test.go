//go:build linux

package main

// Routes and filters (-config, -include-*/-exclude-*) against the real
// binary and an in-process kfake broker: several groups with different
// handlers in one swarm, per-node routing, filters that hide routes without
// shifting any member's static identity, and every bad config or filter
// rejected with one line and exit 2 before anything is spawned. Waits are
// on log lines, stdout and broker state, never on a sleep.

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
)

// groupMembers returns the members of group as instance id -> client id
// once the group is Stable with exactly the instance ids want; ok false
// until then. A member without an instance id fails the test.
func groupMembers(t *testing.T, adm *kadm.Client, group string, want []string) (map[string]string, bool) {
	t.Helper()
	g, ok := stableGroup(t, adm, group)
	if !ok {
		return nil, false
	}
	out := map[string]string{}
	var ids []string
	for _, m := range g.Members {
		out[*m.InstanceID] = m.ClientID
		ids = append(ids, *m.InstanceID)
	}
	sort.Strings(ids)
	return out, slices.Equal(ids, want)
}

// waitMembers waits until group is Stable with exactly the instance ids
// want and returns instance id -> client id. Broker state is announced by
// nothing, so it is polled.
func waitMembers(t *testing.T, adm *kadm.Client, group string, want ...string) map[string]string {
	t.Helper()
	sort.Strings(want)
	var got map[string]string
	waitFor(t, 20*time.Second, fmt.Sprintf("group %s stable with members %v", group, want), func() bool {
		m, ok := groupMembers(t, adm, group, want)
		got = m
		return ok
	})
	return got
}

// assertUntouched checks that group has no member and no committed offset:
// no node ran a route of it.
func assertUntouched(t *testing.T, adm *kadm.Client, group string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	described, err := adm.DescribeGroups(ctx, group)
	if err == nil {
		if g, ok := described[group]; ok && g.Err == nil && len(g.Members) > 0 {
			t.Errorf("group %s has %d members, want none: its routes are hidden", group, len(g.Members))
		}
	}
	fo, err := adm.FetchOffsets(ctx, group)
	if err != nil && !errors.Is(err, kerr.GroupIDNotFound) {
		t.Fatalf("fetch offsets of %s: %v", group, err)
	}
	fo.Each(func(o kadm.OffsetResponse) {
		if o.Err == nil && o.At >= 0 {
			t.Errorf("group %s committed %s[%d]@%d, want nothing: its routes are hidden", group, o.Topic, o.Partition, o.At)
		}
	})
}

// assertNoCommits checks that group committed nothing on topic.
func assertNoCommits(t *testing.T, adm *kadm.Client, group, topic string) {
	t.Helper()
	_, committed := offsetsOf(t, adm, group, topic)
	for p, c := range committed {
		if c >= 0 {
			t.Errorf("group %s committed %s[%d]@%d, want nothing there", group, topic, p, c)
		}
	}
}

// routesStarted returns node -> the route indices it logged route.started
// for, each line checked to carry its group.
func routesStarted(t *testing.T, s *swarmProc, groups map[int]string) map[int][]int {
	t.Helper()
	out := map[int][]int{}
	for _, l := range s.matching(logged("route.started")) {
		r := l.int("route")
		if want, ok := groups[r]; !ok || l.str("group") != want {
			t.Errorf("route.started for route %d of group %q; want one of %v", r, l.str("group"), groups)
		}
		out[l.int("node")] = append(out[l.int("node")], r)
	}
	for n := range out {
		slices.Sort(out[n])
	}
	return out
}

// stopClean sends TERM and expects exit 0 with every node stopped.
func stopClean(t *testing.T, s *swarmProc, nodes int) {
	t.Helper()
	s.stopGracefully(20 * time.Second)
	if got := len(s.matching(logged("app.stopped", "role", "node"))); got != nodes {
		t.Errorf("%d nodes logged app.stopped, want %d", got, nodes)
	}
}

// Three routes in one swarm of two nodes: group ga prints topic a (built-in
// handler), group gb sends topic b through a handler command that answers
// to topic out, and group gc discards topic c on node 1 only. Each topic is
// handled by its route's handler and committed by its group; each member's
// static id is test_<node>_<route index>; node 0 never runs route 2.
func TestEachRouteRunsItsHandlerGroupAndNodes(t *testing.T) {
	h, _ := handlerPrograms(t)
	_, addr := newBroker(t, 4, "a", "b", "c", "out")
	const n = 400
	produce(t, addr, "a", n)
	produce(t, addr, "b", n)
	produce(t, addr, "c", n)
	cfg := writeConfig(t, map[string]any{
		"bootstrap": addr, // from the file: no -bootstrap flag
		"nodes":     2,    // from the file: no -nodes flag
		"routes": []map[string]any{
			{"group": "ga", "topics": []string{"a"}, "handler": "print"},
			{"group": "gb", "topics": []string{"b"}, "command": []string{h, "-answer=tag"}, "output_topic": "out"},
			{"group": "gc", "topics": []string{"c"}, "handler": "discard", "nodes": []int{1}},
		},
	})
	start := time.Now()
	s := startSwarm(t, swarmArgs("", "-config="+cfg)...)
	sup, _ := s.waitLog(10*time.Second, "app.supervising", 0, logged("app.supervising"))
	if sup.int("nodes") != 2 || sup.int("routes") != 3 {
		t.Errorf("supervising %d nodes and %d routes, want 2 and 3 (from the file)", sup.int("nodes"), sup.int("routes"))
	}
	s.waitNodesReady(2, 0)
	adm := newAdmin(t, addr)

	// Topic a: every record printed, by the print handler of group ga.
	seen := map[string]bool{}
	parsed := 0
	s.waitStdout(60*time.Second, "every record of topic a printed", func(lines []string) bool {
		for _, l := range lines[parsed:] {
			r, _, ok := printedOf(l, "a")
			if !ok || r.value != producedValue {
				t.Errorf("stdout line is not a printed record of topic a: %q", l)
				continue
			}
			seen[r.key] = true
		}
		parsed = len(lines)
		return len(seen) == n
	})
	waitCommittedToEnd(t, adm, "ga", "a", 30*time.Second)
	waitCommittedToEnd(t, adm, "gb", "b", 30*time.Second)
	waitCommittedToEnd(t, adm, "gc", "c", 30*time.Second)
	t.Logf("three routes consumed %d records each in %s", n, time.Since(start).Round(time.Millisecond))

	// Topic b: exactly the command's answers on out, one per record of b.
	out := allRecords(readTopic(t, addr, "out"))
	answers := map[string]int{}
	for _, r := range out {
		if want := "handled " + string(r.Key); string(r.Value) != want {
			t.Errorf("output record key %q value %q, want %q", r.Key, r.Value, want)
		}
		answers[string(r.Key)]++
	}
	for k := 0; k < n; k++ {
		if c := answers[strconv.Itoa(k)]; c != 1 {
			t.Errorf("answer for record %d of b on out %d times, want once", k, c)
		}
	}
	// No group touched another route's topic.
	assertNoCommits(t, adm, "ga", "b")
	assertNoCommits(t, adm, "gb", "a")
	assertNoCommits(t, adm, "gc", "a")

	// Static membership: test_<node>_<route>; client ids <group>-node-<node>.
	for _, g := range []struct {
		group string
		want  map[string]string
	}{
		{"ga", map[string]string{"test_0_0": "ga-node-0", "test_1_0": "ga-node-1"}},
		{"gb", map[string]string{"test_0_1": "gb-node-0", "test_1_1": "gb-node-1"}},
		{"gc", map[string]string{"test_1_2": "gc-node-1"}},
	} {
		var ids []string
		for id := range g.want {
			ids = append(ids, id)
		}
		got := waitMembers(t, adm, g.group, ids...)
		for id, client := range g.want {
			if got[id] != client {
				t.Errorf("group %s member %s has client id %q, want %q", g.group, id, got[id], client)
			}
		}
	}

	// Node side: node 0 started routes 0 and 1, node 1 all three, each
	// line naming its route and group; the command's stderr names its
	// route, and it saw its route's group and topics.
	started := routesStarted(t, s, map[int]string{0: "ga", 1: "gb", 2: "gc"})
	if !slices.Equal(started[0], []int{0, 1}) || !slices.Equal(started[1], []int{0, 1, 2}) {
		t.Errorf("routes started per node %v, want node 0 [0 1] and node 1 [0 1 2]", started)
	}
	for id := 0; id < 2; id++ {
		prefix := fmt.Sprintf("[node %d route 1] handler ready ", id)
		l := s.waitOther(5*time.Second, "route 1's handler on node "+strconv.Itoa(id), func(l string) bool { return strings.HasPrefix(l, prefix) })
		if !strings.Contains(l, "group=gb topics=b ") {
			t.Errorf("handler of route 1 sees %q, want group gb and topics b", l)
		}
	}
	if hs := s.matching(logged("handler.started")); len(hs) != 2 {
		t.Errorf("%d handler.started lines, want 2 (route 1 on each node)", len(hs))
	} else {
		for _, l := range hs {
			if l.int("route") != 1 || l.str("group") != "gb" {
				t.Errorf("handler.started carries route %d group %q, want 1 and gb", l.int("route"), l.str("group"))
			}
		}
	}
	stopClean(t, s, 2)
}

// The filters select exactly the expected routes, and a route that
// survives keeps its file index in its static id.
func TestFiltersSelectRoutesKeepingStaticIDs(t *testing.T) {
	// All routes on every node, so that filters alone decide.
	file := map[string]any{
		"nodes": 1,
		"routes": []map[string]any{
			{"group": "ga", "topics": []string{"a"}, "handler": "discard"},
			{"group": "gb", "topics": []string{"b", "b2"}, "handler": "discard"},
			{"group": "gc", "topics": []string{"c"}, "handler": "discard"},
		},
	}
	groups := map[int]string{0: "ga", 1: "gb", 2: "gc"}
	for _, tc := range []struct {
		name     string
		doc      string
		flags    []string
		routes   []int             // route indices the node must start
		consumed map[string]string // topic -> group that must commit it to its end
		unread   map[string]string // topic -> group that must commit nothing on it
		hidden   []string          // groups with no member and no commit
	}{
		{name: "include-groups", doc: "include two groups, exclude one topic of the second",
			flags:    []string{"-include-consumer-groups=gb,gc", "-exclude-topics=b2"},
			routes:   []int{1, 2},
			consumed: map[string]string{"b": "gb", "c": "gc"}, unread: map[string]string{"b2": "gb"},
			hidden: []string{"ga"}},
		{name: "exclude-group-include-topic", doc: "exclude gb; include-topics=a drops gc, left without topics",
			flags:    []string{"-exclude-consumer-groups=gb", "-include-topics=a"},
			routes:   []int{0},
			consumed: map[string]string{"a": "ga"},
			hidden:   []string{"gb", "gc"}},
		{name: "include-topic-only", doc: "a topic filter alone keeps only the route holding it, at its index",
			flags:    []string{"-include-topics=b2"},
			routes:   []int{1},
			consumed: map[string]string{"b2": "gb"}, unread: map[string]string{"b": "gb"},
			hidden: []string{"ga", "gc"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			_, addr := newBroker(t, 2, "a", "b", "b2", "c")
			for _, topic := range []string{"a", "b", "b2", "c"} {
				produce(t, addr, topic, 50)
			}
			f := map[string]any{"bootstrap": addr}
			for k, v := range file {
				f[k] = v
			}
			s := startSwarm(t, swarmArgs("", append([]string{"-config=" + writeConfig(t, f)}, tc.flags...)...)...)
			s.waitNodesReady(1, 0)
			adm := newAdmin(t, addr)
			for topic, group := range tc.consumed {
				waitCommittedToEnd(t, adm, group, topic, 30*time.Second)
			}
			for _, r := range tc.routes {
				want := "test_0_" + strconv.Itoa(r)
				got := waitMembers(t, adm, groups[r], want)
				if c := groups[r] + "-node-0"; got[want] != c {
					t.Errorf("%s: member %s has client id %q, want %q", tc.doc, want, got[want], c)
				}
			}
			if got := routesStarted(t, s, groups)[0]; !slices.Equal(got, tc.routes) {
				t.Errorf("%s: node 0 started routes %v, want %v", tc.doc, got, tc.routes)
			}
			for topic, group := range tc.unread {
				assertNoCommits(t, adm, group, topic)
			}
			for _, g := range tc.hidden {
				assertUntouched(t, adm, g)
			}
			stopClean(t, s, 1)
		})
	}
	t.Run("flag-route", func(t *testing.T) {
		t.Parallel()
		// Without -config the filters act on the flag route.
		_, addr := newBroker(t, 2, "a", "b")
		produce(t, addr, "a", 50)
		produce(t, addr, "b", 50)
		s := startSwarm(t, swarmArgs(addr, "-nodes=1", "-topics=a,b", "-group=gf",
			"-handler=discard", "-include-consumer-groups=gf", "-exclude-topics=b")...)
		s.waitNodesReady(1, 0)
		adm := newAdmin(t, addr)
		waitCommittedToEnd(t, adm, "gf", "a", 30*time.Second)
		waitMembers(t, adm, "gf", "test_0_0")
		assertNoCommits(t, adm, "gf", "b")
		if l := s.matching(logged("route.started", "node", 0)); len(l) != 1 || fmt.Sprint(l[0]["topics"]) != "[a]" {
			t.Errorf("route.started lines %v, want one with topics [a]", l)
		}
		stopClean(t, s, 1)
	})
}

// Every bad config file, route or filter exits 2 with one line naming what
// is wrong, before anything is spawned or logged.
func TestRoutesValidation(t *testing.T) {
	h, _ := handlerPrograms(t)
	dir := t.TempDir()
	// route is a valid route with some fields replaced (nil: removed).
	route := func(group string, topics []string, kv ...any) map[string]any {
		r := map[string]any{"group": group, "topics": topics}
		for i := 0; i+1 < len(kv); i += 2 {
			if kv[i+1] == nil {
				delete(r, kv[i].(string))
			} else {
				r[kv[i].(string)] = kv[i+1]
			}
		}
		return r
	}
	two := func(extra ...map[string]any) map[string]any {
		rs := []map[string]any{route("ga", []string{"a"}), route("gb", []string{"b"}, "command", []string{h})}
		return map[string]any{"nodes": 2, "routes": append(rs, extra...)}
	}
	ok := two()
	cases := []struct {
		name  string
		doc   string
		file  any    // written to a file passed as -config (nil: none)
		path  string // -config path instead of file
		flags []string
		env   []string
		want  []string
	}{
		{name: "missing-file", doc: "a -config that does not exist",
			path: filepath.Join(dir, "nope.json"), want: []string{"-config", "nope.json", "no such file"}},
		{name: "directory", doc: "a directory is not a file",
			path: dir, want: []string{"-config", "is a directory"}},
		{name: "empty-file", doc: "an empty file holds no routes",
			file: "", want: []string{"-config", "empty"}},
		{name: "bad-json", doc: "a syntax error is placed by line",
			file: "{\"routes\": [\n  {\"group\": \"g\",}\n]}", want: []string{"-config", "line 2", "not valid JSON"}},
		{name: "truncated-json", doc: "a file cut short",
			file: `{"routes": [{"group": "g"`, want: []string{"-config", "not valid JSON"}},
		{name: "not-an-object", doc: "the top level is an object",
			file: `[{"group": "g", "topics": ["a"]}]`, want: []string{"-config", "want a JSON object"}},
		{name: "trailing-data", doc: "a second value after the object is a mistake, not ignored",
			file: `{"routes": [{"group": "g", "topics": ["a"]}]} {"routes": []}`, want: []string{"-config", "more after the JSON object"}},
		{name: "unknown-top-field", doc: "a misspelt top-level field is not ignored",
			file: map[string]any{"route": []any{}, "routes": ok["routes"]}, want: []string{"-config", `unknown field "route"`}},
		{name: "unknown-route-field", doc: "a misspelt route field is not ignored",
			file: two(route("gc", []string{"c"}, "output-topic", "out")), want: []string{"-config", `unknown field "output-topic"`}},
		{name: "duplicate-routes", doc: "a second \"routes\" would silently replace the first (encoding/json keeps the last)",
			file: "{\"routes\": [{\"group\": \"ga\", \"topics\": [\"a\"]}],\n \"routes\": [{\"group\": \"gb\", \"topics\": [\"b\"]}]}",
			want: []string{"-config", "line 2", `"routes" given twice`, "first on line 1"}},
		{name: "duplicate-nodes", doc: "a duplicated top-level number",
			file: `{"nodes": 1, "nodes": 2, "routes": [{"group": "ga", "topics": ["a"]}]}`, want: []string{"-config", `"nodes" given twice`}},
		{name: "duplicate-route-field", doc: "a key given twice inside a route, named with its route",
			file: "{\"routes\": [\n{\"group\": \"ga\", \"topics\": [\"a\"]},\n{\"group\": \"gb\", \"topics\": [\"b\"], \"group\": \"gc\"}]}",
			want: []string{"-config", "line 3", "routes[1]", `"group" given twice`}},
		{name: "upper-case-top-field", doc: "encoding/json would match ROUTES to routes although unknown fields are refused",
			file: `{"ROUTES": [{"group": "ga", "topics": ["a"]}]}`, want: []string{"-config", `"ROUTES"`, "case-sensitive", `want "routes"`}},
		{name: "upper-case-route-field", doc: "the same one level down",
			file: `{"routes": [{"GROUP": "ga", "topics": ["a"]}]}`, want: []string{"-config", "routes[0]", `"GROUP"`, `want "group"`}},
		{name: "mixed-case-route-field", doc: "any case but the exact one",
			file: `{"routes": [{"group": "ga", "topics": ["a"], "command": ["` + h + `"], "Output_Topic": "out"}]}`, want: []string{"-config", "routes[0]", `"Output_Topic"`, `want "output_topic"`}},
		{name: "wrong-type", doc: "topics is a list, not a comma string",
			file: map[string]any{"routes": []any{route("g", nil, "topics", "a,b")}}, want: []string{"-config", "routes.topics", "list of strings"}},
		{name: "no-routes", doc: "a file without routes runs nothing",
			file: map[string]any{"nodes": 2}, want: []string{"-config", "no routes"}},
		{name: "empty-routes", doc: "an empty route list runs nothing",
			file: map[string]any{"routes": []any{}}, want: []string{"-config", "no routes"}},
		{name: "route-without-topics", doc: "a route must name its topics",
			file: two(route("gc", nil, "topics", nil)), want: []string{"-config", "routes[2]", "topics", "at least one"}},
		{name: "route-empty-topics", doc: "an empty topic list is no topics",
			file: two(route("gc", []string{})), want: []string{"-config", "routes[2]", "topics"}},
		{name: "route-bad-topic", doc: "one topic name per entry",
			file: two(route("gc", []string{"c,d"})), want: []string{"-config", "routes[2]", "c,d"}},
		{name: "route-duplicate-topic", doc: "a topic listed twice is a slip",
			file: two(route("gc", []string{"c", "c"})), want: []string{"-config", "routes[2]", "twice"}},
		{name: "route-without-group", doc: "a route must name its group",
			file: two(route("", []string{"c"}, "group", nil)), want: []string{"-config", "routes[2]", "group", "required"}},
		{name: "route-empty-group", doc: "an empty group name",
			file: two(route(" ", []string{"c"})), want: []string{"-config", "routes[2]", "group"}},
		{name: "handler-and-command", doc: "a built-in handler and a command exclude each other",
			file: two(route("gc", []string{"c"}, "handler", "print", "command", []string{h})), want: []string{"-config", "routes[2]", "handler", "command"}},
		{name: "bad-handler", doc: "an unknown built-in handler",
			file: two(route("gc", []string{"c"}, "handler", "sql")), want: []string{"-config", "routes[2]", "sql"}},
		{name: "empty-command", doc: "a command needs a program",
			file: two(route("gc", []string{"c"}, "command", []string{})), want: []string{"-config", "routes[2]", "command", "empty"}},
		{name: "command-not-found", doc: "a command that cannot be started",
			file: two(route("gc", []string{"c"}, "command", []string{filepath.Join(dir, "nope")})), want: []string{"-config", "routes[2]", "command", "nope"}},
		{name: "bad-codec", doc: "json or lines",
			file: two(route("gc", []string{"c"}, "command", []string{h}, "codec", "xml")), want: []string{"-config", "routes[2]", "codec", "xml"}},
		{name: "codec-without-command", doc: "codec only applies to a command",
			file: two(route("gc", []string{"c"}, "codec", "lines")), want: []string{"-config", "routes[2]", "codec", "command"}},
		{name: "output-topic-consumed", doc: "answers to the route's own input would loop",
			file: two(route("gc", []string{"c"}, "command", []string{h}, "output_topic", "c")), want: []string{"-config", "routes[2]", "output_topic", `"c"`}},
		{name: "exactly-once-without-output", doc: "a transaction with nothing to write",
			file: two(route("gc", []string{"c"}, "command", []string{h}, "exactly_once", true)), want: []string{"-config", "routes[2]", "exactly_once", "output topic"}},
		{name: "exactly-once-without-command", doc: "exactly_once only applies to a command",
			file: two(route("gc", []string{"c"}, "exactly_once", false)), want: []string{"-config", "routes[2]", "exactly_once", "command"}},
		{name: "skip-with-dead-letter-topic", doc: "skip and a route with a dead-letter topic: that route would dead-letter, never skip",
			file: two(route("gc", []string{"c"}, "command", []string{h}, "dead_letter_topic", "dlq")), flags: []string{"-on-retries-exhausted=skip"},
			want: []string{"-config", "routes[2]", "dead_letter_topic", `"dlq"`, "-on-retries-exhausted skip", "never skipped"}},
		{name: "env-skip-with-dead-letter-topic", doc: "skip from the environment is named as its variable",
			file: two(route("gc", []string{"c"}, "command", []string{h}, "dead_letter_topic", "dlq")), env: []string{"SWARM_ON_RETRIES_EXHAUSTED=skip"},
			want: []string{"SWARM_ON_RETRIES_EXHAUSTED", "routes[2]", "never skipped"}},
		{name: "same-group-same-topic", doc: "two routes of one group on one topic would split its partitions at random",
			file: two(route("ga", []string{"x", "a"})), want: []string{"-config", "routes[0]", "routes[2]", `"a"`, `"ga"`}},
		{name: "node-id-too-big", doc: "a route on a node that does not exist",
			file: two(route("gc", []string{"c"}, "nodes", []int{0, 2})), want: []string{"-config", "routes[2]", "node 2", "0 to 1", `"nodes" in`}},
		{name: "node-id-negative", doc: "node ids start at 0",
			file: two(route("gc", []string{"c"}, "nodes", []int{-1})), want: []string{"-config", "routes[2]", "-1"}},
		{name: "node-list-empty", doc: "an empty node list would run the route nowhere",
			file: two(route("gc", []string{"c"}, "nodes", []int{})), want: []string{"-config", "routes[2]", "nodes", "empty"}},
		{name: "node-listed-twice", doc: "a node listed twice is a slip",
			file: two(route("gc", []string{"c"}, "nodes", []int{1, 1})), want: []string{"-config", "routes[2]", "twice"}},
		{name: "nodes-flag-shrinks", doc: "-nodes wins over the file, and a route on node 1 of 1 is named with it",
			file: two(route("gc", []string{"c"}, "nodes", []int{1})), flags: []string{"-nodes=1"}, want: []string{"-config", "routes[2]", "node 1", "-nodes=1"}},
		{name: "node-left-idle", doc: "every route pinned elsewhere leaves node 2 nothing to do",
			file: map[string]any{"nodes": 3, "routes": []any{route("ga", []string{"a"}, "nodes", []int{0}), route("gb", []string{"b"}, "nodes", []int{1})}},
			want: []string{"-config", "node 2", "no route"}},
		{name: "file-nodes-zero", doc: "the file's node count is checked like -nodes",
			file: map[string]any{"nodes": 0, "routes": ok["routes"]}, want: []string{"-config", "nodes", "got 0"}},
		{name: "file-bootstrap-bad", doc: "the file's brokers are checked like -bootstrap",
			file: map[string]any{"bootstrap": []string{"127.0.0.1:9092", "nohost"}, "routes": ok["routes"]}, want: []string{"-config", "bootstrap", "nohost"}},
		{name: "include-group-unknown", doc: "an included group that matches nothing",
			file: ok, flags: []string{"-include-consumer-groups=ga,nope"}, want: []string{"-include-consumer-groups", `"nope"`}},
		{name: "exclude-group-unknown", doc: "an excluded group that matches nothing is a typo too",
			file: ok, flags: []string{"-exclude-consumer-groups=nope"}, want: []string{"-exclude-consumer-groups", `"nope"`}},
		{name: "include-topic-unknown", doc: "an included topic that matches nothing",
			file: ok, flags: []string{"-include-topics=nope"}, want: []string{"-include-topics", `"nope"`}},
		{name: "exclude-topic-unknown", doc: "an excluded topic that matches nothing",
			file: ok, flags: []string{"-exclude-topics=nope"}, want: []string{"-exclude-topics", `"nope"`}},
		{name: "exclude-leaves-nothing", doc: "excluding every group leaves nothing to consume",
			file: ok, flags: []string{"-exclude-consumer-groups=ga,gb"}, want: []string{"-exclude-consumer-groups=ga,gb", "nothing to consume"}},
		{name: "topics-leave-nothing", doc: "excluding every topic drops every route",
			file: ok, flags: []string{"-exclude-topics=a,b"}, want: []string{"-exclude-topics=a,b", "nothing to consume"}},
		{name: "filters-disjoint", doc: "an included group whose topics are all excluded",
			file: ok, flags: []string{"-include-consumer-groups=ga", "-include-topics=b"}, want: []string{"-include-consumer-groups=ga", "-include-topics=b", "nothing to consume"}},
		{name: "filters-leave-node-idle", doc: "hiding the only route of node 1 leaves it nothing to run",
			file:  map[string]any{"nodes": 2, "routes": []any{route("ga", []string{"a"}, "nodes", []int{0}), route("gb", []string{"b"}, "nodes", []int{1})}},
			flags: []string{"-exclude-consumer-groups=gb"}, want: []string{"-exclude-consumer-groups=gb", "node 1"}},
		{name: "env-filter", doc: "a filter from the environment is named as its variable",
			file: ok, env: []string{"SWARM_INCLUDE_TOPICS=nope"}, want: []string{"SWARM_INCLUDE_TOPICS", "-include-topics", `"nope"`}},
		{name: "config-and-topics", doc: "route-level flags and -config exclude each other",
			file: ok, flags: []string{"-topics=a"}, want: []string{"-topics", "-config"}},
		{name: "config-and-group", doc: "route-level flags and -config exclude each other",
			file: ok, flags: []string{"-group=g"}, want: []string{"-group", "-config"}},
		{name: "config-and-handler", doc: "route-level flags and -config exclude each other",
			file: ok, flags: []string{"-handler=discard"}, want: []string{"-handler", "-config"}},
		{name: "config-and-output-topic", doc: "route-level flags and -config exclude each other",
			file: ok, flags: []string{"-output-topic=out"}, want: []string{"-output-topic", "-config"}},
		{name: "config-and-command", doc: "a command after -- is a route setting",
			file: ok, flags: []string{"--", h}, want: []string{"--", "-config"}},
		{name: "config-and-env-topics", doc: "a route-level variable counts like its flag",
			file: ok, env: []string{"SWARM_TOPICS=a"}, want: []string{"SWARM_TOPICS", "-config"}},
		{name: "config-and-demo", doc: "the demo has its own topic and handler",
			file: ok, flags: []string{"-demo"}, want: []string{"-demo", "-config"}},
		{name: "flag-route-include-unknown", doc: "without -config the group filter names the one flag route's group",
			flags: []string{"-topics=a", "-group=g1", "-include-consumer-groups=g2"}, want: []string{"-include-consumer-groups", `"g2"`, "g1"}},
		{name: "flag-route-exclude-all", doc: "without -config, excluding every topic of -topics leaves nothing",
			flags: []string{"-topics=a,b", "-exclude-topics=a,b"}, want: []string{"-exclude-topics=a,b", "nothing to consume"}},
		{name: "demo-filter", doc: "filters do not apply to the demo",
			flags: []string{"-demo", "-include-topics=x"}, want: []string{"-include-topics", "-demo"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			args := []string{"-bootstrap=127.0.0.1:9092"}
			switch {
			case tc.path != "":
				args = append(args, "-config="+tc.path)
			case tc.file != nil:
				args = append(args, "-config="+writeConfig(t, tc.file))
			}
			r := runCLI(t, tc.env, append(args, tc.flags...)...)
			t.Log(tc.doc)
			assertExitLine(t, r, exitUsage, tc.want...)
			if r.elapsed > 5*time.Second {
				t.Errorf("took %s to reject", r.elapsed)
			}
		})
	}

	// Preflight checks the selected routes' topics, and only theirs.
	t.Run("preflight", func(t *testing.T) {
		_, addr := newBroker(t, 1, "a", "b")
		for _, tc := range []struct {
			name  string
			file  map[string]any
			flags []string
			want  []string
		}{
			{"missing-topic", map[string]any{"routes": []any{route("ga", []string{"a"}), route("gb", []string{"b", "nope"})}},
				nil, []string{"-config", "nope (routes[1])", "not found"}},
			{"missing-output-topic", map[string]any{"routes": []any{route("ga", []string{"a"}, "command", []string{h}, "output_topic", "gone")}},
				nil, []string{"-config", "routes[0]", "output_topic", "gone not found"}},
			{"missing-dead-letter-topic", map[string]any{"routes": []any{route("ga", []string{"a"}, "command", []string{h}, "dead_letter_topic", "gone")}},
				nil, []string{"-config", "routes[0]", "dead_letter_topic", "gone not found"}},
		} {
			t.Run(tc.name, func(t *testing.T) {
				r := runCLI(t, nil, append([]string{"-bootstrap=" + addr, "-nodes=1", "-config=" + writeConfig(t, tc.file)}, tc.flags...)...)
				assertExitLine(t, r, exitUsage, tc.want...)
			})
		}
	})
}

// What a node runs is exactly what the supervisor resolved: each node's
// SWARM_NODE_ROUTES, parsed on the node's side with the node's argument
// list, gives back the selected routes assigned to it, with their file
// indices, and nothing of the file, the filters or the environment.
func TestNodeRoutesRoundTrip(t *testing.T) {
	h, _ := handlerPrograms(t)
	cfgPath := writeConfig(t, map[string]any{
		"nodes": 3,
		"routes": []map[string]any{
			{"group": "ga", "topics": []string{"a", "a2"}, "handler": "burn=3"},
			{"group": "gb", "topics": []string{"b"}, "command": []string{h, "-answer=tag"}, "codec": "lines", "output_topic": "out", "nodes": []int{2}},
			{"group": "ga", "topics": []string{"x"}, "handler": "discard", "nodes": []int{0, 1}},
			{"group": "gd", "topics": []string{"d"}},
		},
	})
	env := map[string]string{"SWARM_CONFIG": cfgPath, "SWARM_EXCLUDE_CONSUMER_GROUPS": "gd", "SWARM_EXCLUDE_TOPICS": "a2"}
	sup, err := parseConfig([]string{"-bootstrap=127.0.0.1:9092"}, func(k string) string { return env[k] })
	if err != nil {
		t.Fatal(err)
	}
	if sup.totalRoutes != 4 || len(sup.routes) != 3 || len(sup.routeJSON) != 3 {
		t.Fatalf("resolved %d of %d routes, %d node route sets; want 3 of 4, 3", len(sup.routes), sup.totalRoutes, len(sup.routeJSON))
	}
	for _, a := range sup.nodeArgs() {
		for _, bad := range []string{"-config", "-topics", "-group=", "-include", "-exclude", "-handler", "--"} {
			if strings.HasPrefix(a, bad) {
				t.Errorf("node argument %q: with -config a node gets node-level flags only", a)
			}
		}
	}
	want := map[int][]int{0: {0, 2}, 1: {0, 2}, 2: {0, 1}}
	for id := 0; id < 3; id++ {
		node, err := parseNodeConfig(sup.nodeArgs(), func(string) string { return "" }, sup.routeJSON[id])
		if err != nil {
			t.Fatalf("node %d: %v", id, err)
		}
		var got []int
		for _, r := range node.routes {
			got = append(got, r.Index)
		}
		if !slices.Equal(got, want[id]) {
			t.Errorf("node %d runs routes %v, want %v", id, got, want[id])
		}
		for _, r := range node.routes {
			switch r.Index {
			case 0:
				if !slices.Equal(r.Topics, []string{"a"}) || r.Handler != "burn=3" || !r.SharedGroup || r.clientID(id) != fmt.Sprintf("ga-node-%d-route-0", id) {
					t.Errorf("node %d route 0 = %+v (client %s)", id, r, r.clientID(id))
				}
			case 1:
				if !slices.Equal(r.Command, []string{h, "-answer=tag"}) || r.Codec != "lines" || r.OutputTopic != "out" || r.SharedGroup || r.clientID(id) != "gb-node-2" {
					t.Errorf("node %d route 1 = %+v (client %s)", id, r, r.clientID(id))
				}
			case 2:
				if r.clientID(id) != fmt.Sprintf("ga-node-%d-route-2", id) {
					t.Errorf("node %d route 2 client id %s", id, r.clientID(id))
				}
			}
		}
		if node.totalRoutes != 4 {
			t.Errorf("node %d: %d routes in the file, want 4", id, node.totalRoutes)
		}
	}
	if _, err := parseNodeConfig(sup.nodeArgs(), func(string) string { return "" }, ""); err == nil {
		t.Error("a node without SWARM_NODE_ROUTES started")
	}
	if _, err := parseNodeConfig(sup.nodeArgs(), func(string) string { return "" }, `{"routes":[{"index":0,"group":"g","topics":["a"],"extra":1}]}`); err == nil {
		t.Error("a node accepted SWARM_NODE_ROUTES with an unknown field")
	}
}

// A node's status is the worst over its routes' consumers: one stalled
// poll loop or one long batch in any route counts, and memory is the
// node's with every handler's.
func TestNodeStatusIsWorstOverRoutes(t *testing.T) {
	cfg := &config{healthConfig: healthConfig{pollingTTL: time.Minute, consumingTTL: time.Minute}, superConfig: superConfig{memoryLimitMiB: 10}}
	now := time.Now()
	healthy := func() *nodeHealth { h := &nodeHealth{}; h.polled(now); return h }
	stalled := &nodeHealth{}
	stalled.polled(now.Add(-2 * time.Minute))
	busy := healthy()
	busy.beginBatch(now.Add(-2 * time.Minute))
	quietStalled := &nodeHealth{}
	quietStalled.quiet.Store(true)
	for _, tc := range []struct {
		name    string
		healths []*nodeHealth
		rss     int64
		want    int
	}{
		{"all healthy", []*nodeHealth{healthy(), healthy()}, 0, statusHealthy},
		{"one stalled loop", []*nodeHealth{healthy(), stalled}, 0, statusPolling},
		{"one long batch", []*nodeHealth{busy, healthy()}, 0, statusConsuming},
		{"long batch beats stalled loop", []*nodeHealth{stalled, busy}, 0, statusConsuming},
		{"a quiet route does not stall", []*nodeHealth{healthy(), quietStalled}, 0, statusHealthy},
		{"memory beats all", []*nodeHealth{stalled, busy}, 11 << 20, statusMemory},
	} {
		r := &reporter{cfg: cfg, healths: tc.healths}
		if got := r.status(now, tc.rss); got != tc.want {
			t.Errorf("%s: status %d, want %d", tc.name, got, tc.want)
		}
	}
}

// A node re-checks the routes its supervisor passed, and its error names
// SWARM_NODE_ROUTES and the route whatever the route came from: the flag
// route too, not in the supervisor's flag wording.
func TestNodeRouteErrorNamesItsVariable(t *testing.T) {
	for _, js := range []string{
		`{"file_routes":1,"routes":[{"index":0,"group":"g","topics":["t"],"command":["/nonexistent/h"],"codec":"json","flags":true}]}`,
		`{"file_routes":1,"routes":[{"index":0,"group":"g","topics":["t"],"command":["cat"],"codec":"json","output_topic":"t","flags":true}]}`,
	} {
		_, err := parseNodeConfig([]string{"-bootstrap=127.0.0.1:1"}, func(string) string { return "" }, js)
		if err == nil || !strings.Contains(err.Error(), "check SWARM_NODE_ROUTES route 0: ") {
			t.Errorf("node route error %v, want it to start with %q", err, "check SWARM_NODE_ROUTES route 0: ")
		}
	}
}
