//go:build linux

package main

// Invalid usage, run through the real binary: every bad flag, value or
// environment variable must end in exit 2 with one line on stderr that
// names what was wrong, before anything is logged or spawned.

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

func TestValidationErrors(t *testing.T) {
	// ok is a valid base: every case breaks exactly one thing in it.
	ok := []string{"-bootstrap=127.0.0.1:9092", "-topics=orders"}
	cases := []struct {
		name string
		doc  string
		args []string
		env  []string
		want []string // every one must occur in the error line
	}{
		{name: "nodes-zero", doc: "a swarm of no nodes consumes nothing",
			args: append([]string{"-nodes", "0"}, ok...), want: []string{"-nodes"}},
		{name: "nodes-negative", doc: "a negative count is not a count",
			args: append([]string{"-nodes", "-1"}, ok...), want: []string{"-nodes"}},
		{name: "nodes-too-many", doc: "more than 1024 nodes on one host is a typo, not a plan",
			args: append([]string{"-nodes=1025"}, ok...), want: []string{"-nodes"}},
		{name: "nodes-not-a-number", doc: "the flag parser's own error names the flag",
			args: append([]string{"-nodes=abc"}, ok...), want: []string{"-nodes"}},
		{name: "nodes-missing-value", doc: "a trailing flag without its value",
			args: append(append([]string{}, ok...), "-nodes"), want: []string{"-nodes"}},
		{name: "session-timeout-negative", doc: "durations must be positive",
			args: append([]string{"-session-timeout=-1s"}, ok...), want: []string{"-session-timeout"}},
		{name: "session-timeout-zero", doc: "a zero session cannot be kept alive",
			args: append([]string{"-session-timeout=0"}, ok...), want: []string{"-session-timeout"}},
		{name: "report-interval-negative", doc: "durations must be positive",
			args: append([]string{"-report-interval=-1s"}, ok...), want: []string{"-report-interval"}},
		{name: "node-report-timeout-negative", doc: "durations must be positive",
			args: append([]string{"-node-report-timeout=-1s"}, ok...), want: []string{"-node-report-timeout"}},
		{name: "node-restart-timeout-negative", doc: "zero is allowed for the restart delay, negative is not",
			args: append([]string{"-node-restart-timeout=-1ms"}, ok...), want: []string{"-node-restart-timeout"}},
		{name: "shutdown-timeout-negative", doc: "durations must be positive",
			args: append([]string{"-shutdown-timeout=-1s"}, ok...), want: []string{"-shutdown-timeout"}},
		{name: "polling-ttl-negative", doc: "durations must be positive",
			args: append([]string{"-polling-ttl=-1s"}, ok...), want: []string{"-polling-ttl"}},
		{name: "session-timeout-below-client-minimum", doc: "franz-go refuses sessions under 100ms: caught before spawning, not as a crash loop",
			args: append([]string{"-session-timeout=50ms"}, ok...), want: []string{"-session-timeout"}},
		{name: "session-timeout-above-int32-ms", doc: "the protocol carries the session timeout as int32 milliseconds",
			args: append([]string{"-session-timeout=1000h"}, ok...), want: []string{"-session-timeout"}},
		{name: "polling-ttl-below-idle-poll", doc: "an idle poll waits up to a second: a shorter TTL would flag healthy idle nodes",
			args: append([]string{"-polling-ttl=1s"}, ok...), want: []string{"-polling-ttl"}},
		{name: "consuming-ttl-negative", doc: "durations must be positive",
			args: append([]string{"-consuming-ttl=-1s"}, ok...), want: []string{"-consuming-ttl"}},
		{name: "stall-ttl-below-second", doc: "a handled offset still for under a second is noise, not a stall",
			args: append([]string{"-stall-ttl=500ms"}, ok...), want: []string{"-stall-ttl"}},
		{name: "stall-ttl-above-day", doc: "a stall TTL over a day is a typo (0 is off)",
			args: append([]string{"-stall-ttl=25h"}, ok...), want: []string{"-stall-ttl"}},
		{name: "stats-interval-below-100ms", doc: "stats more often than every 100 ms cost more than they tell",
			args: append([]string{"-stats-interval=10ms"}, ok...), want: []string{"-stats-interval"}},
		{name: "stats-interval-above-minute", doc: "stats rarer than a minute show a stale swarm (0 is off)",
			args: append([]string{"-stats-interval=2m"}, ok...), want: []string{"-stats-interval"}},
		{name: "duration-not-a-duration", doc: "a bare number is not a duration",
			args: append([]string{"-shutdown-timeout=5"}, ok...), want: []string{"-shutdown-timeout"}},
		{name: "report-interval-equal-timeout", doc: "reports exactly at the timeout would stop every node as hanging",
			args: append([]string{"-report-interval=1s", "-node-report-timeout=1s"}, ok...),
			want: []string{"-report-interval", "-node-report-timeout"}},
		{name: "report-interval-above-timeout", doc: "reports rarer than the timeout stop every node as hanging",
			args: append([]string{"-report-interval=2m"}, ok...), want: []string{"-report-interval", "-node-report-timeout"}},
		{name: "memory-limit-negative", doc: "0 is off, a negative limit means nothing",
			args: append([]string{"-memory-limit=-1"}, ok...), want: []string{"-memory-limit"}},
		{name: "topics-empty", doc: "an explicitly empty topic list",
			args: []string{"-bootstrap=127.0.0.1:9092", "-topics="}, want: []string{"-topics"}},
		{name: "topics-only-commas", doc: "commas alone are no topics",
			args: []string{"-bootstrap=127.0.0.1:9092", "-topics=,,"}, want: []string{"-topics"}},
		{name: "topics-missing", doc: "no -topics at all: there is no sensible default",
			args: []string{"-bootstrap=127.0.0.1:9092"}, want: []string{"-topics"}},
		{name: "bootstrap-empty", doc: "an explicitly empty broker list",
			args: []string{"-bootstrap=", "-topics=orders"}, want: []string{"-bootstrap"}},
		{name: "bootstrap-no-port", doc: "host without port",
			args: []string{"-bootstrap=127.0.0.1", "-topics=orders"}, want: []string{"-bootstrap", "127.0.0.1"}},
		{name: "bootstrap-port-zero", doc: "port 0 cannot be connected to",
			args: []string{"-bootstrap=localhost:0", "-topics=orders"}, want: []string{"-bootstrap", "localhost:0"}},
		{name: "bootstrap-port-too-big", doc: "ports end at 65535",
			args: []string{"-bootstrap=localhost:70000", "-topics=orders"}, want: []string{"-bootstrap", "localhost:70000"}},
		{name: "bootstrap-port-not-a-number", doc: "named ports are not resolved",
			args: []string{"-bootstrap=localhost:kafka", "-topics=orders"}, want: []string{"-bootstrap", "localhost:kafka"}},
		{name: "bootstrap-empty-host", doc: "\":9092\" has no host",
			args: []string{"-bootstrap=:9092", "-topics=orders"}, want: []string{"-bootstrap", ":9092"}},
		{name: "bootstrap-second-bad", doc: "every entry of the list is checked, not only the first",
			args: []string{"-bootstrap=127.0.0.1:9092,broker2", "-topics=orders"}, want: []string{"-bootstrap", "broker2"}},
		{name: "group-empty", doc: "a consumer group needs a name",
			args: append([]string{"-group= "}, ok...), want: []string{"-group"}},
		{name: "instance-id-space", doc: "a static membership prefix with white space",
			args: append([]string{"-instance-id=a b"}, ok...), want: []string{"-instance-id"}},
		{name: "unknown-flag", doc: "a misspelt flag must not be ignored",
			args: append([]string{"-nodez=2"}, ok...), want: []string{"-nodez"}},
		{name: "unknown-flag-with-newline", doc: "even a flag name holding a newline gives one line",
			args: append([]string{"-bo\ngus"}, ok...), want: []string{"-bo"}},
		{name: "bad-flag-syntax-with-newline", doc: "the flag parser's syntax error echoes the argument",
			args: append([]string{"-=a\nb"}, ok...), want: []string{"-="}},
		{name: "topic-not-kafka-name", doc: "a name no Kafka broker can hold, and that JSON would turn into U+FFFD on its way to the nodes (found by FuzzParseConfig)",
			args: []string{"-bootstrap=127.0.0.1:9092", "-connect-timeout=1s", "-topics=\xdf"}, want: []string{"-topics", "not a Kafka topic name"}},
		{name: "topic-too-long", doc: "Kafka's limit is 249 characters",
			args: []string{"-bootstrap=127.0.0.1:9092", "-connect-timeout=1s", "-topics=" + strings.Repeat("t", 250)}, want: []string{"-topics", "at most 249"}},
		{name: "group-not-utf8", doc: "the nodes get their group as JSON, which cannot carry it unchanged",
			args: append([]string{"-group=g\xff", "-connect-timeout=1s"}, ok...), want: []string{"-group", "UTF-8"}},
		{name: "command-arg-not-utf8", doc: "the same for a handler command's argument",
			args: append(append([]string{"-connect-timeout=1s"}, ok...), "--", "sh", "-c", "\xff"), want: []string{"handler command", "UTF-8"}},
		{name: "balancer", doc: "only the four franz-go balancers exist",
			args: append([]string{"-balancer=fair"}, ok...), want: []string{"-balancer", "fair"}},
		{name: "balancer-newline", doc: "a value with a newline is quoted, not echoed raw",
			args: append([]string{"-balancer=a\nb"}, ok...), want: []string{"-balancer"}},
		{name: "initial-offset", doc: "earliest or latest",
			args: append([]string{"-initial-offset=middle"}, ok...), want: []string{"-initial-offset", "middle"}},
		{name: "handler-burn-zero", doc: "zero rounds of work is not a workload",
			args: append([]string{"-handler=burn=0"}, ok...), want: []string{"-handler", "burn=0"}},
		{name: "handler-burn-not-a-number", doc: "burn=N wants a number",
			args: append([]string{"-handler=burn=x"}, ok...), want: []string{"-handler", "burn=x"}},
		{name: "handler-unknown", doc: "only print, discard and burn=N are built in",
			args: append([]string{"-handler=sql"}, ok...), want: []string{"-handler", "sql"}},
		{name: "log-format", doc: "text or json",
			args: append([]string{"-log-format=xml"}, ok...), want: []string{"-log-format", "xml"}},
		{name: "log-level", doc: "debug, info, warn or error",
			args: append([]string{"-log-level=loud"}, ok...), want: []string{"-log-level", "loud"}},
		{name: "retry-backoff-zero", doc: "a zero backoff would retry a failing record in a busy loop",
			args: append([]string{"-retry-backoff=0"}, ok...), want: []string{"-retry-backoff", "positive"}},
		{name: "retry-backoff-negative", doc: "durations must be positive",
			args: append([]string{"-retry-backoff=-1s"}, ok...), want: []string{"-retry-backoff"}},
		{name: "retry-backoff-too-long", doc: "a first pause over an hour is a typo, not a backoff",
			args: append([]string{"-retry-backoff=2h", "-retry-max-backoff=3h"}, ok...), want: []string{"-retry-backoff", "1h0m0s", "2h0m0s"}},
		{name: "retry-max-backoff-too-long", doc: "the cap is at most a day",
			args: append([]string{"-retry-max-backoff=25h"}, ok...), want: []string{"-retry-max-backoff", "24h0m0s"}},
		{name: "retry-max-backoff-below-backoff", doc: "a cap below the first backoff caps nothing",
			args: append([]string{"-retry-backoff=10s", "-retry-max-backoff=5s"}, ok...), want: []string{"-retry-max-backoff", "-retry-backoff", "10s", "5s"}},
		{name: "retry-max-backoff-below-default-backoff", doc: "the cap is checked against the default backoff too",
			args: append([]string{"-retry-max-backoff=500ms"}, ok...), want: []string{"-retry-max-backoff", "-retry-backoff", "1s"}},
		{name: "max-retries-negative", doc: "0 dead-letters at once, a negative count means nothing",
			args: append([]string{"-max-retries=-1"}, ok...), want: []string{"-max-retries", "-1"}},
		{name: "max-retries-too-many", doc: "a million retries is the most that is not a typo for forever",
			args: append([]string{"-max-retries=1000001"}, ok...), want: []string{"-max-retries", "1000001"}},
		{name: "max-retries-not-a-number", doc: "the flag parser's own error names the flag",
			args: append([]string{"-max-retries=three"}, ok...), want: []string{"-max-retries"}},
		{name: "on-retries-exhausted", doc: "dead-letter or skip",
			args: append([]string{"-on-retries-exhausted=drop"}, ok...), want: []string{"-on-retries-exhausted", "drop"}},
		{name: "skip-with-dead-letter-topic", doc: "a route with a dead-letter topic dead-letters, so skip would never happen",
			args: append(append([]string{"-on-retries-exhausted=skip", "-dead-letter-topic=dlq"}, ok...), "--", "cat"),
			want: []string{"-dead-letter-topic", `"dlq"`, "-on-retries-exhausted skip", "never skipped"}},
		{name: "env-skip-with-dead-letter-topic", doc: "skip from the environment is named as its variable",
			args: append(append([]string{"-dead-letter-topic=dlq"}, ok...), "--", "cat"), env: []string{"SWARM_ON_RETRIES_EXHAUSTED=skip"},
			want: []string{"SWARM_ON_RETRIES_EXHAUSTED", "-dead-letter-topic", "never skipped"}},
		{name: "exactly-once-without-output", doc: "a transaction needs something to write: an output or a dead-letter topic",
			args: append(append([]string{"-exactly-once"}, ok...), "--", "cat"), want: []string{"-exactly-once", "output topic"}},
		{name: "exactly-once-without-command", doc: "a built-in handler writes nothing",
			args: append([]string{"-exactly-once"}, ok...), want: []string{"-exactly-once", "command"}},
		{name: "transaction-timeout-above-session", doc: "a member must outlive its transaction",
			args: append(append([]string{"-exactly-once", "-output-topic=out", "-session-timeout=10s", "-transaction-timeout=10s"}, ok...), "--", "cat"),
			want: []string{"-transaction-timeout", "-session-timeout", "below"}},
		{name: "transaction-timeout-above-shutdown", doc: "a stop must be able to end the transaction",
			args: append(append([]string{"-exactly-once", "-output-topic=out", "-shutdown-timeout=5s", "-transaction-timeout=6s"}, ok...), "--", "cat"),
			want: []string{"-transaction-timeout", "-shutdown-timeout", "below"}},
		{name: "transaction-timeout-too-long", doc: "a default broker refuses more than 15 minutes",
			args: append([]string{"-transaction-timeout=16m"}, ok...), want: []string{"-transaction-timeout", "15m0s"}},
		{name: "transaction-timeout-zero", doc: "a transaction needs time to be written",
			args: append([]string{"-transaction-timeout=0"}, ok...), want: []string{"-transaction-timeout", "100ms"}},
		{name: "max-poll-records-zero", doc: "a batch of nothing",
			args: append([]string{"-max-poll-records=0"}, ok...), want: []string{"-max-poll-records", "0"}},
		{name: "max-poll-records-huge", doc: "a batch is held whole in memory",
			args: append([]string{"-max-poll-records=1000000"}, ok...), want: []string{"-max-poll-records", "100000"}},
		{name: "env-retry-backoff", doc: "a retry flag's variable is named",
			args: ok, env: []string{"SWARM_RETRY_BACKOFF=0s"}, want: []string{"SWARM_RETRY_BACKOFF", "-retry-backoff"}},
		{name: "env-max-retries", doc: "a retry count from the environment",
			args: ok, env: []string{"SWARM_MAX_RETRIES=-3"}, want: []string{"SWARM_MAX_RETRIES", "-max-retries"}},
		{name: "demo-records-zero", doc: "a demo of nothing",
			args: []string{"-demo", "-demo-records=0"}, want: []string{"-demo-records"}},
		{name: "positional-argument", doc: "a stray word (a forgotten dash, a shell quoting slip) is not ignored",
			args: append(append([]string{}, ok...), "extra"), want: []string{"extra"}},
		{name: "env-nodes-zero", doc: "the same check applies to a value from the environment, which is named",
			args: ok, env: []string{"SWARM_NODES=0"}, want: []string{"SWARM_NODES", "-nodes"}},
		{name: "env-nodes-not-a-number", doc: "an unparsable variable is named with its value",
			args: ok, env: []string{"SWARM_NODES=abc"}, want: []string{"SWARM_NODES", "abc"}},
		{name: "env-duration-negative", doc: "a multi-word flag's variable",
			args: ok, env: []string{"SWARM_NODE_RESTART_TIMEOUT=-1s"}, want: []string{"SWARM_NODE_RESTART_TIMEOUT", "-node-restart-timeout"}},
		{name: "env-report-interval", doc: "a cross-flag check names the variable that set one side",
			args: ok, env: []string{"SWARM_REPORT_INTERVAL=5m"}, want: []string{"SWARM_REPORT_INTERVAL", "-report-interval"}},
		{name: "env-topics-only-commas", doc: "required flag given through the environment, but empty in effect",
			args: []string{"-bootstrap=127.0.0.1:9092"}, env: []string{"SWARM_TOPICS=,"}, want: []string{"SWARM_TOPICS", "-topics"}},
		{name: "env-bootstrap", doc: "a malformed broker list from the environment",
			args: []string{"-topics=orders"}, env: []string{"SWARM_BOOTSTRAP=nohost"}, want: []string{"SWARM_BOOTSTRAP", "nohost"}},
		{name: "env-handler", doc: "a bad handler from the environment",
			args: ok, env: []string{"SWARM_HANDLER=burn=0"}, want: []string{"SWARM_HANDLER", "burn=0"}},
		{name: "env-bad-and-flag-bad", doc: "with both broken, the flag's error is the one reported (the flag wins)",
			args: append([]string{"-nodes=-5"}, ok...), env: []string{"SWARM_NODES=abc"}, want: []string{"-nodes", "-5"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			r := runCLI(t, tc.env, tc.args...)
			t.Logf("%s: args %q env %q -> exit %d in %s, stderr %q", tc.doc, tc.args, tc.env, r.code, r.elapsed.Round(time.Millisecond), r.stderr)
			assertExitLine(t, r, exitUsage, tc.want...)
			// Validation needs no network and no child: it is over at once.
			if r.elapsed > 5*time.Second {
				t.Errorf("took %s to reject invalid usage", r.elapsed)
			}
		})
	}
}

func TestHelpAndVersion(t *testing.T) {
	for _, arg := range []string{"-h", "-help", "--help"} {
		t.Run(arg, func(t *testing.T) {
			// Invalid settings around it do not matter: help is asked for.
			r := runCLI(t, []string{"SWARM_NODES=0"}, arg)
			if r.code != 0 {
				t.Fatalf("%s: exit %d, want 0; stderr %q", arg, r.code, r.stderr)
			}
			if r.stderr != "" {
				t.Errorf("%s: stderr %q, want empty", arg, r.stderr)
			}
			for _, w := range []string{"Usage: swarm", "SWARM_<NAME>", "-nodes", "-node-report-timeout", "-topics", "-handler",
				"-retry-backoff", "-retry-max-backoff", "-max-retries", "-on-retries-exhausted", "doubling"} {
				if !strings.Contains(r.stdout, w) {
					t.Errorf("%s: usage lacks %q:\n%s", arg, w, r.stdout)
				}
			}
			if len(r.left) > 0 {
				t.Errorf("processes left: %v", r.left)
			}
		})
	}
	t.Run("-version", func(t *testing.T) {
		r := runCLI(t, nil, "-version")
		if r.code != 0 || r.stdout != "swarm dev\n" || r.stderr != "" {
			t.Fatalf("-version: exit %d stdout %q stderr %q, want 0, %q, empty", r.code, r.stdout, "swarm dev\n", r.stderr)
		}
		if len(r.left) > 0 {
			t.Errorf("processes left: %v", r.left)
		}
	})
}

// A flag wins over its environment variable, and a variable applies when
// no flag is given: proven by running swarms that really start nodes.
func TestFlagWinsOverEnv(t *testing.T) {
	_, addr := newBroker(t, 2, "orders")

	t.Run("flag-over-invalid-env", func(t *testing.T) {
		s := startSwarmEnv(t, []string{"SWARM_NODES=0"},
			swarmArgs(addr, "-nodes=1", "-group=gflag")...)
		sup, _ := s.waitLog(10*time.Second, "app.supervising", 0, logged("app.supervising"))
		if got := sup.int("nodes"); got != 1 {
			t.Fatalf("supervising %d nodes, want 1 (from -nodes=1, not SWARM_NODES=0)", got)
		}
		s.waitNodesReady(1, 0)
		s.stopGracefully(20 * time.Second)
		if forks := s.matching(logged("swarm.manager.after_fork")); len(forks) != 1 {
			t.Errorf("%d nodes forked, want 1", len(forks))
		}
	})

	t.Run("env-when-no-flag", func(t *testing.T) {
		s := startSwarmEnv(t, []string{"SWARM_NODES=2", "SWARM_TOPICS=orders", "SWARM_BOOTSTRAP=" + addr, "SWARM_GROUP=genv"},
			swarmArgs("")...)
		sup, _ := s.waitLog(10*time.Second, "app.supervising", 0, logged("app.supervising"))
		if got, group := sup.int("nodes"), sup.str("group"); got != 2 || group != "genv" {
			t.Fatalf("supervising %d nodes of group %q, want 2 of genv (from the environment)", got, group)
		}
		s.waitNodesReady(2, 0)
		s.stopGracefully(20 * time.Second)
	})
}

// bigRoutesFile writes a valid routes file of about size bytes: one route
// per group, all on node 0.
func bigRoutesFile(t *testing.T, dir string, size int) string {
	t.Helper()
	var b strings.Builder
	b.WriteString(`{"nodes": 1, "routes": [`)
	for i := 0; b.Len() < size; i++ {
		if i > 0 {
			b.WriteString(",\n")
		}
		fmt.Fprintf(&b, `{"group": "g%07d", "topics": ["t%07d"]}`, i, i)
	}
	b.WriteString("]}\n")
	return writeTestFile(t, dir, "big.json", b.String())
}

// sparseFile makes a file of size bytes that takes no disk space.
func sparseFile(t *testing.T, dir, name string, size int64) string {
	t.Helper()
	p := filepath.Join(dir, name)
	f, err := os.Create(p)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if err := f.Truncate(size); err != nil {
		t.Fatal(err)
	}
	return p
}

// Every file a flag names is read bounded: a device, an oversized file, a
// pipe where every node would have to read it again, each is one short
// line and exit 2 within a couple of seconds, not a runtime dying out of
// memory with a stack dump after gigabytes.
func TestInputFilesBounded(t *testing.T) {
	dir := t.TempDir()
	ok := []string{"-bootstrap=127.0.0.1:9092", "-topics=orders", "-connect-timeout=1s"}
	garbage := writeTestFile(t, dir, "garbage.pem", "this is not PEM\n")
	bigRoutes := bigRoutesFile(t, dir, 12<<20)
	bigPEM := sparseFile(t, dir, "big.pem", 64<<20)
	bigPassword := writeTestFile(t, dir, "big-password", strings.Repeat("p", 17<<10))
	fifo := filepath.Join(dir, "fifo")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	sasl := []string{"-sasl-mechanism=plain", "-sasl-user=u"}
	cases := []struct {
		name string
		args []string
		want []string
	}{
		{"config-dev-zero", []string{"-bootstrap=127.0.0.1:9092", "-config=/dev/zero"}, []string{"-config /dev/zero", "character device"}},
		{"config-oversized", []string{"-bootstrap=127.0.0.1:9092", "-config=" + bigRoutes}, []string{"-config", "big.json", "more than the 1 MiB"}},
		{"tls-ca-dev-urandom", append([]string{"-tls-ca=/dev/urandom"}, ok...), []string{"-tls-ca", "/dev/urandom", "character device"}},
		{"tls-ca-oversized", append([]string{"-tls-ca=" + bigPEM}, ok...), []string{"-tls-ca", "big.pem", "more than the 4 MiB"}},
		{"tls-cert-dev-zero", append([]string{"-tls-cert=/dev/zero", "-tls-key=/dev/zero"}, ok...), []string{"-tls-cert", "character device"}},
		{"tls-key-dev-zero", append([]string{"-tls-cert=" + garbage, "-tls-key=/dev/zero"}, ok...), []string{"-tls-key", "character device"}},
		{"password-dev-zero", append(append([]string{"-sasl-password-file=/dev/zero"}, sasl...), ok...), []string{"-sasl-password-file", "character device"}},
		{"password-oversized", append(append([]string{"-sasl-password-file=" + bigPassword}, sasl...), ok...), []string{"-sasl-password-file", "more than the 16 KiB"}},
		{"password-fifo", append(append([]string{"-sasl-password-file=" + fifo}, sasl...), ok...), []string{"-sasl-password-file", "is a pipe", "regular file"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := runCLI(t, nil, tc.args...)
			t.Logf("exit %d in %s: %.300q", r.code, r.elapsed.Round(time.Millisecond), r.stderr)
			assertExitLine(t, r, exitUsage, tc.want...)
			// Nothing is read past the cap, so this is milliseconds; the
			// margin is for a loaded machine and a -race binary.
			if r.elapsed > 2*time.Second {
				t.Errorf("took %s to reject", r.elapsed)
			}
		})
	}
}

// -config, read once by the supervisor alone, may be a pipe (stdin, a
// process substitution): read to its end, up to the cap, within a bounded
// time.
func TestConfigFromPipe(t *testing.T) {
	t.Run("read", func(t *testing.T) {
		// "nodes": 0 is refused: proof the pipe's content was read.
		in := strings.NewReader(`{"nodes": 0, "routes": [{"group": "g", "topics": ["a"]}]}`)
		r := runCLIStdin(t, in, nil, "-bootstrap=127.0.0.1:9092", "-config=/dev/stdin")
		assertExitLine(t, r, exitUsage, "-config /dev/stdin", `"nodes"`, "got 0")
	})
	t.Run("oversized", func(t *testing.T) {
		in := strings.NewReader(`{"routes": [` + strings.Repeat(" ", 2<<20) + `]}`)
		r := runCLIStdin(t, in, nil, "-bootstrap=127.0.0.1:9092", "-config=/dev/stdin")
		assertExitLine(t, r, exitUsage, "-config /dev/stdin", "more than the 1 MiB")
	})
	t.Run("never-closed", func(t *testing.T) {
		// An *os.File, so the child gets the pipe itself and Wait does
		// not wait for a copy; the write end stays open until cleanup.
		pr, pw, err := os.Pipe()
		if err != nil {
			t.Fatal(err)
		}
		defer pw.Close()
		defer pr.Close()
		r := runCLIStdin(t, pr, nil, "-bootstrap=127.0.0.1:9092", "-config=/dev/stdin")
		assertExitLine(t, r, exitUsage, "-config /dev/stdin", "not closed within")
	})
}

// manyNames is n distinct names with a prefix: a list to echo.
func manyNames(prefix string, n int) []string {
	names := make([]string, n)
	for i := range names {
		names[i] = fmt.Sprintf("%s%05d", prefix, i)
	}
	return names
}

// However long a value or a list is, its error line is short and says how
// much more there was; and numbers that are valid in form but absurd in
// size are refused with one line.
func TestErrorLinesShort(t *testing.T) {
	huge := strings.Repeat("a", 100<<10) // near MAX_ARG_STRLEN (128 KiB)
	ok := []string{"-bootstrap=127.0.0.1:9092", "-topics=orders", "-connect-timeout=1s"}
	topics := manyNames("t", 10000)
	wide := writeConfig(t, map[string]any{"nodes": 1, "routes": []any{map[string]any{"group": "g", "topics": topics}}})
	hugeTopic := strings.Repeat("x", 300<<10)
	twice := writeConfig(t, map[string]any{"routes": []any{map[string]any{"group": "g", "topics": []string{hugeTopic, hugeTopic}}}})
	hugeBootstrap := writeConfig(t, map[string]any{"bootstrap": strings.Repeat("b", 900<<10), "routes": []any{map[string]any{"group": "g", "topics": []string{"a"}}}})
	cases := []struct {
		name string
		args []string
		env  []string
		want []string
	}{
		{name: "bootstrap-huge", args: []string{"-bootstrap=" + huge, "-topics=orders"}, want: []string{"-bootstrap", "(102400 bytes)"}},
		{name: "env-bootstrap-huge", args: []string{"-topics=orders"}, env: []string{"SWARM_BOOTSTRAP=" + huge}, want: []string{"SWARM_BOOTSTRAP", "-bootstrap", "(102400 bytes)"}},
		{name: "nodes-huge-number", args: append([]string{"-nodes=" + strings.Repeat("9", 100<<10)}, ok...), want: []string{"-nodes", "value out of range"}},
		{name: "unknown-flag-huge", args: append([]string{"-" + huge}, ok...), want: []string{"flag provided but not defined", "(102401 bytes)"}},
		{name: "positional-huge", args: append(append([]string{}, ok...), huge), want: []string{"unexpected argument", "(102400 bytes)"}},
		{name: "balancer-huge", args: append([]string{"-balancer=" + huge}, ok...), want: []string{"-balancer", "(102400 bytes)"}},
		{name: "handler-huge", args: append([]string{"-handler=" + huge}, ok...), want: []string{"-handler", "want print, discard or burn=N"}},
		{name: "log-level-huge", args: append([]string{"-log-level=" + huge}, ok...), want: []string{"-log-level", "(102400 bytes)"}},
		{name: "command-huge", args: append(append([]string{}, ok...), "--", "/nonexistent/"+huge), want: []string{"handler command", "(102413 bytes)"}},
		{name: "memory-limit-absurd", args: append([]string{"-memory-limit=9223372036854775807"}, ok...), want: []string{"-memory-limit", "1 PiB"}},
		{name: "demo-records-absurd", args: []string{"-demo", "-demo-records=1000000000"}, want: []string{"-demo-records", "in memory"}},
		{name: "config-bootstrap-huge", args: []string{"-config=" + hugeBootstrap}, want: []string{"-config", `"bootstrap"`, "(921600 bytes)"}},
		{name: "config-topic-huge", args: []string{"-bootstrap=127.0.0.1:9092", "-config=" + twice}, want: []string{"-config", "routes[0]", "topics", "(307200 bytes)"}},
		{name: "filter-list-huge", args: []string{"-bootstrap=127.0.0.1:9092", "-config=" + wide, "-exclude-topics=" + strings.Join(topics, ",")},
			want: []string{"-exclude-topics=t00000,", "and 9995 more", "nothing to consume"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			r := runCLI(t, tc.env, tc.args...)
			t.Logf("exit %d in %s: %.600q", r.code, r.elapsed.Round(time.Millisecond), r.stderr)
			assertExitLine(t, r, exitUsage, tc.want...)
		})
	}
	t.Run("preflight-missing-topics", func(t *testing.T) {
		_, addr := newBroker(t, 1, "orders")
		r := runCLI(t, nil, "-bootstrap="+addr, "-topics=orders,"+strings.Join(topics, ","))
		t.Logf("exit %d in %s: %.600q", r.code, r.elapsed.Round(time.Millisecond), r.stderr)
		assertExitLine(t, r, exitUsage, "-topics: t00000,t00001,", "and 9995 more", "not found")
	})
}

// The retry flags reach every node as the supervisor validated them,
// whether they came as flags or SWARM_* variables, with the flag route and
// with -config (whose nodes get only node-level flags), and the node's own
// environment cannot change them.
func TestFlagRetryReachesNodes(t *testing.T) {
	want := retryConfig{retryBackoff: 250 * time.Millisecond, retryMaxBackoff: 4 * time.Second, maxRetries: 7, onRetriesExhausted: "skip"}
	flags := []string{"-retry-backoff=250ms", "-retry-max-backoff=4s", "-max-retries=7", "-on-retries-exhausted=skip"}
	vars := map[string]string{"SWARM_RETRY_BACKOFF": "250ms", "SWARM_RETRY_MAX_BACKOFF": "4s", "SWARM_MAX_RETRIES": "7", "SWARM_ON_RETRIES_EXHAUSTED": "skip"}
	file := writeConfig(t, map[string]any{"routes": []map[string]any{{"group": "g", "topics": []string{"a"}}}})
	for _, tc := range []struct {
		name string
		args []string
		env  map[string]string
	}{
		{"flags", append([]string{"-bootstrap=127.0.0.1:9092", "-topics=orders"}, flags...), nil},
		{"env", []string{"-bootstrap=127.0.0.1:9092", "-topics=orders"}, vars},
		{"config", append([]string{"-bootstrap=127.0.0.1:9092", "-config=" + file}, flags...), nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			sup, err := parseConfig(tc.args, func(k string) string { return tc.env[k] })
			if err != nil {
				t.Fatal(err)
			}
			if sup.retryConfig != want {
				t.Fatalf("supervisor parsed %+v, want %+v", sup.retryConfig, want)
			}
			// A node's environment holds other values: its arguments win.
			nodeEnv := map[string]string{"SWARM_RETRY_BACKOFF": "9s", "SWARM_MAX_RETRIES": "1", "SWARM_ON_RETRIES_EXHAUSTED": "dead-letter"}
			node, err := parseNodeConfig(sup.nodeArgs(), func(k string) string { return nodeEnv[k] }, sup.routeJSON[0])
			if err != nil {
				t.Fatalf("node: %v (args %q)", err, sup.nodeArgs())
			}
			if node.retryConfig != want {
				t.Errorf("node parsed %+v from %q, want %+v", node.retryConfig, sup.nodeArgs(), want)
			}
		})
	}
	t.Run("defaults", func(t *testing.T) {
		cfg, err := parseConfig([]string{"-bootstrap=127.0.0.1:9092", "-topics=orders"}, func(string) string { return "" })
		if err != nil {
			t.Fatal(err)
		}
		def := retryConfig{retryBackoff: time.Second, retryMaxBackoff: 30 * time.Second, maxRetries: 3, onRetriesExhausted: "dead-letter"}
		if cfg.retryConfig != def {
			t.Errorf("defaults %+v, want %+v", cfg.retryConfig, def)
		}
	})
}
