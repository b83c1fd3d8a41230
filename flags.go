//go:build linux

package main

// The command line: every flag bound to its part of the config, the help
// text made from the same flag set (so the two cannot drift apart), and
// the flag package's errors restated as one clipped line.

import (
	"flag"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"time"
	"unicode"
)

// newFlagSet binds every flag to cfg. It is used by parseConfig and by usage
// so the help text and the parser cannot drift apart.
func newFlagSet(cfg *config) *flag.FlagSet {
	fs := flag.NewFlagSet("swarm", flag.ContinueOnError)
	fs.SetOutput(io.Discard) // we print one line ourselves, never the whole usage
	cfg.superConfig.bindFlags(fs)
	cfg.groupConfig.bindFlags(fs)
	cfg.healthConfig.bindFlags(fs)
	cfg.retryConfig.bindFlags(fs)
	cfg.flagRouteConfig.bindFlags(fs)
	cfg.routeConfig.bindFlags(fs)
	cfg.demoConfig.bindFlags(fs)
	fs.StringVar(&cfg.logFormat, "log-format", "text", "log format: text | json")
	fs.StringVar(&cfg.logLevel, "log-level", "info", "log level: debug | info | warn | error")
	fs.BoolVar(&cfg.version, "version", false, "print the version and exit")
	fs.BoolVar(&cfg.help, "h", false, "print usage and exit")
	fs.BoolVar(&cfg.help, "help", false, "print usage and exit")
	return fs
}

// bindFlags binds the supervisor's flags.
func (s *superConfig) bindFlags(fs *flag.FlagSet) {
	fs.IntVar(&s.nodes, "nodes", availableCPUs(), "number of node processes, one per available CPU by default")
	fs.DurationVar(&s.nodeReportTimeout, "node-report-timeout", 60*time.Second, "a node silent this long is stopped as hanging")
	fs.DurationVar(&s.nodeRestartTimeout, "node-restart-timeout", 0, "delay before a dead node is started again; a node that keeps dying within 10 s of its start backs off from 100 ms to 1 min whatever this is")
	fs.DurationVar(&s.shutdownTimeout, "shutdown-timeout", 60*time.Second, "time a node gets between TERM and KILL")
	fs.DurationVar(&s.connectTimeout, "connect-timeout", 30*time.Second, "how long the supervisor waits for the brokers at start (exit 1 when they cannot be reached)")
	fs.Int64Var(&s.memoryLimitMiB, "memory-limit", 0, "node RSS limit in MiB, its handler command's RSS included (0 = off)")
	fs.StringVar(&s.httpAddr, "http", "", "serve /healthz, /status, /metrics and a status page on this `addr` (e.g. 127.0.0.1:8080); off when empty")
	fs.BoolVar(&s.subreaper, "subreaper", false, "kept for compatibility: the supervisor is always a child subreaper")
}

// bindFlags binds the consumer group's flags, TLS and SASL included.
func (g *groupConfig) bindFlags(fs *flag.FlagSet) {
	host, _ := os.Hostname()
	fs.Func("bootstrap", "comma-separated Kafka `host:port` list (default 127.0.0.1:9092)", func(s string) error {
		g.bootstrap = splitList(s)
		return nil
	})
	fs.StringVar(&g.instanceID, "instance-id", host, "static membership prefix: node N uses <prefix>_N_0; empty disables static membership")
	fs.StringVar(&g.balancer, "balancer", "range", "group balancer (classic protocol): range | roundrobin | cooperative-sticky | sticky")
	fs.DurationVar(&g.sessionTimeout, "session-timeout", 45*time.Second, "group session timeout")
	fs.DurationVar(&g.heartbeatInterval, "heartbeat-interval", 3*time.Second, "group heartbeat interval (a third of -session-timeout when that is shorter and this is not set)")
	fs.StringVar(&g.groupProtocol, "group-protocol", "classic", "consumer group protocol: classic | consumer (KIP-848, needs Kafka 4.0+)")
	fs.StringVar(&g.initialOffset, "initial-offset", "earliest", "where a group with no commits starts: earliest | latest")
	fs.IntVar(&g.maxPollRecords, "max-poll-records", defaultMaxPollRecords, "most records one batch hands a handler (Kafka's max.poll.records); with -exactly-once, one transaction's worth")
	fs.DurationVar(&g.transactionTimeout, "transaction-timeout", 10*time.Second, "with -exactly-once: how long a batch's transaction may stay open before the broker aborts it (below -session-timeout and -shutdown-timeout); also bounds how long a crashed node's open transaction holds back read_committed readers")
	g.auth.bindFlags(fs)
}

// bindFlags binds the health report's flags.
func (h *healthConfig) bindFlags(fs *flag.FlagSet) {
	fs.DurationVar(&h.reportInterval, "report-interval", 10*time.Second, "how often a node reports its health")
	fs.DurationVar(&h.pollingTTL, "polling-ttl", 5*time.Minute, "a node that has not polled for this long reports status 1")
	fs.DurationVar(&h.consumingTTL, "consuming-ttl", 5*time.Minute, "a batch handled longer than this reports status 2")
	fs.DurationVar(&h.stallTTL, "stall-ttl", 5*time.Minute, "a node owning a partition with records to handle whose handled offset has not moved for this long (not paused for a retry) reports status 4; 0: off")
	fs.DurationVar(&h.statsInterval, "stats-interval", time.Second, "how often a node sends its stats to its supervisor (0: off); set by the supervisor from -http")
}

// bindFlags binds the flags for records a handler fails. They apply to
// every route of every node.
func (r *retryConfig) bindFlags(fs *flag.FlagSet) {
	fs.DurationVar(&r.retryBackoff, "retry-backoff", time.Second, "a record the handler fails pauses its partition (the node's other partitions keep flowing) and is retried from that record after this long, doubling per attempt up to -retry-max-backoff")
	fs.DurationVar(&r.retryMaxBackoff, "retry-max-backoff", 30*time.Second, "cap on the doubling retry backoff")
	fs.IntVar(&r.maxRetries, "max-retries", 3, "retries of a failed record before it goes to the route's dead-letter topic (0: at once); without one it is retried forever, never skipped, unless -on-retries-exhausted skip")
	fs.StringVar(&r.onRetriesExhausted, "on-retries-exhausted", "dead-letter", "dead-letter | skip: a record out of retries goes to its route's dead-letter topic; on a route without one it is retried forever (dead-letter) or logged and skipped (skip, refused on a route with a dead-letter topic)")
}

// bindFlags binds the flag route's flags (the command is what follows "--").
func (r *flagRouteConfig) bindFlags(fs *flag.FlagSet) {
	fs.Func("topics", "comma-separated `topics` to consume (required)", func(s string) error {
		r.topics = splitList(s)
		return nil
	})
	fs.StringVar(&r.group, "group", "swarm", "consumer group id")
	fs.StringVar(&r.handler, "handler", "print", "built-in handler: print | discard | burn=N (not with a command after --)")
	fs.StringVar(&r.codec, "codec", "json", "how records reach a handler command: json | lines")
	fs.StringVar(&r.outputTopic, "output-topic", "", "topic for the records a handler command answers with")
	fs.BoolVar(&r.exactlyOnce, "exactly-once", false, "commit each batch's outputs, dead letters and offsets in one Kafka transaction: read_committed readers see each output once, even across crashes (needs -output-topic or -dead-letter-topic)")
	fs.StringVar(&r.deadLetterTopic, "dead-letter-topic", "", "topic for records a handler command still fails after -max-retries retries (without it, they are retried forever unless -on-retries-exhausted skip)")
}

// bindFlags binds -config and the route filters.
func (r *routeConfig) bindFlags(fs *flag.FlagSet) {
	fs.StringVar(&r.configFile, "config", "", "JSON `file` of routes (group, topics, handler or command, ...) and optionally bootstrap and nodes; flags and SWARM_* variables win for bootstrap and nodes")
	for _, f := range []struct {
		name  string
		list  *[]string
		usage string
	}{
		{"include-consumer-groups", &r.includeGroups, "comma-separated `groups`: run only the routes of these consumer groups"},
		{"exclude-consumer-groups", &r.excludeGroups, "comma-separated `groups`: run no route of these consumer groups"},
		{"include-topics", &r.includeTopics, "comma-separated `topics`: consume only these topics (a route left with none is dropped)"},
		{"exclude-topics", &r.excludeTopics, "comma-separated `topics`: do not consume these topics (a route left with none is dropped)"},
	} {
		fs.Func(f.name, f.usage, func(s string) error {
			*f.list = splitList(s)
			return nil
		})
	}
}

// bindFlags binds the demo's flags.
func (d *demoConfig) bindFlags(fs *flag.FlagSet) {
	fs.BoolVar(&d.demo, "demo", false, "run against an embedded demo broker and show progress")
	fs.IntVar(&d.demoRecords, "demo-records", 200000, "records the demo produces")
}

// printUsage writes the full help text (only on -h).
func printUsage(w io.Writer) {
	fmt.Fprintf(w, "Usage: swarm [flags] [-- CMD ARGS...]\n\nRuns one Kafka consumer group as a supervised swarm of node processes.\nEvery flag can also be set as SWARM_<NAME> (upper case, dashes as underscores); a flag wins.\n\nFlags:\n")
	fs := newFlagSet(&config{})
	fs.SetOutput(w)
	fs.PrintDefaults()
}

// oneLine escapes control characters. The flag package echoes arguments
// unquoted ("bad flag syntax: ...", an unknown flag's name), and a newline
// in one must not split the one-line error.
func oneLine(s string) string {
	var b strings.Builder
	for _, r := range s {
		if unicode.IsControl(r) {
			q := strconv.QuoteRune(r)
			b.WriteString(q[1 : len(q)-1])
			continue
		}
		b.WriteRune(r)
	}
	return b.String()
}

// flagParseError restates an error of the flag package with the argument
// it echoes clipped: "invalid value %q for flag -%s: %v" puts the whole
// value in the middle of the line, the others put it at the end.
func flagParseError(msg string) string {
	for _, prefix := range []string{"invalid value ", "invalid boolean value "} {
		rest, ok := strings.CutPrefix(msg, prefix)
		if !ok {
			continue
		}
		q, err := strconv.QuotedPrefix(rest)
		if err != nil {
			break
		}
		v, err := strconv.Unquote(q)
		if err != nil {
			break
		}
		return prefix + fmt.Sprintf("%q", clipped(v)) + oneLine(rest[len(q):])
	}
	for _, prefix := range []string{"bad flag syntax: ", "flag provided but not defined: ", "flag needs an argument: "} {
		if rest, ok := strings.CutPrefix(msg, prefix); ok {
			return prefix + fmt.Sprint(clipped(rest))
		}
	}
	return oneLine(msg)
}
