//go:build linux

package main

// Validation: every value that could only fail later, after processes were
// spawned, is refused while parsing, with an error that names its flag.

import (
	"errors"
	"fmt"
	"math"
	"net"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Caps on numbers that are valid in form but absurd in size.
const (
	maxMemoryLimitMiB = 1 << 30 // 1 PiB
	maxDemoRecords    = 10_000_000
	// The retry backoff doubles from -retry-backoff up to
	// -retry-max-backoff: with the first at most an hour and the cap at
	// most a day, no doubling comes near time.Duration's overflow, and a
	// larger value is a typo (a record paused for days looks like a hang).
	maxRetryBackoff    = time.Hour
	maxRetryMaxBackoff = 24 * time.Hour
	maxMaxRetries      = 1_000_000
	// A batch is held in memory whole and answered before it is marked.
	maxMaxPollRecords = 100_000
)

// validate rejects every value that could only fail later, after processes
// were spawned. Each error names the flag.
func (c *config) validate() error {
	if c.configFile != "" && c.nodeRoutes == "" {
		// First: the file may set -nodes and -bootstrap, checked below.
		if err := c.loadConfigFile(); err != nil {
			return err
		}
	}
	for _, check := range []func() error{
		c.checkNodes, c.checkDurations, c.checkBatch, c.checkStats, c.checkRetry, c.checkMemoryLimit, c.checkBrokers, c.checkHTTP,
		c.checkChoices, c.auth.load, c.checkDemo,
	} {
		if err := check(); err != nil {
			return err
		}
	}
	if c.demo {
		if names := c.filterNames(); len(names) > 0 {
			return flagErrorf(names[0], "does not apply to -demo, which runs its own topic")
		}
		// The demo's route is the flag route with the demo's choices.
		demoDefaults(c)
	}
	if err := c.resolveRoutes(); err != nil {
		return err
	}
	if err := c.checkTransactionTimeout(); err != nil {
		return err
	}
	return c.checkSkip()
}

// maxTransactionTimeout is Kafka's default transaction.max.timeout.ms: a
// longer timeout is refused by a default broker at the node's first
// transaction.
const maxTransactionTimeout = 15 * time.Minute

// checkTransactionTimeout checks -transaction-timeout, and, with an
// exactly-once route, that it ends before the session (a member must
// outlive its transaction, or its commit would land after a rebalance)
// and before the shutdown timeout (a stop must be able to end it).
func (c *config) checkTransactionTimeout() error {
	t := c.transactionTimeout
	if t < 100*time.Millisecond || t > maxTransactionTimeout {
		return flagErrorf("transaction-timeout", "must be from 100ms to %s, got %s", maxTransactionTimeout, t)
	}
	if !slices.ContainsFunc(c.routes, func(r route) bool { return r.ExactlyOnce }) {
		return nil
	}
	for _, other := range []struct {
		name string
		v    time.Duration
		used bool
	}{
		{"session-timeout", c.sessionTimeout, c.groupProtocol != "consumer"},
		{"shutdown-timeout", c.shutdownTimeout, true},
	} {
		if other.used && t >= other.v {
			return &usageError{
				msg:   fmt.Sprintf("-transaction-timeout (%s) must be below -%s (%s) with an exactly-once route", t, other.name, other.v),
				flags: []string{"transaction-timeout", other.name},
			}
		}
	}
	return nil
}

// checkNodes checks the node count.
func (c *config) checkNodes() error {
	if c.nodes < 1 {
		return flagErrorf("nodes", "must be at least 1, got %d", c.nodes)
	}
	if c.nodes > 1024 {
		return flagErrorf("nodes", "at most 1024 nodes on one host, got %d", c.nodes)
	}
	return nil
}

// checkDurations checks every duration flag by itself, then the ones that
// must fit each other or a bound of Kafka or of the poll loop.
func (c *config) checkDurations() error {
	for _, d := range []struct {
		name string
		v    time.Duration
		pos  bool
	}{
		{"session-timeout", c.sessionTimeout, true},
		{"heartbeat-interval", c.heartbeatInterval, true},
		{"report-interval", c.reportInterval, true},
		{"node-report-timeout", c.nodeReportTimeout, true},
		{"node-restart-timeout", c.nodeRestartTimeout, false},
		{"shutdown-timeout", c.shutdownTimeout, true},
		{"connect-timeout", c.connectTimeout, true},
		{"polling-ttl", c.pollingTTL, true},
		{"consuming-ttl", c.consumingTTL, true},
	} {
		if d.v < 0 || (d.pos && d.v == 0) {
			return flagErrorf(d.name, "must be %s, got %s", map[bool]string{true: "positive", false: "zero or positive"}[d.pos], d.v)
		}
	}
	// franz-go refuses session timeouts outside these bounds, and Kafka's
	// protocol carries them as int32 milliseconds: catch it here, not as
	// every node failing at start.
	if c.sessionTimeout < 100*time.Millisecond || c.sessionTimeout > math.MaxInt32*time.Millisecond {
		return flagErrorf("session-timeout", "must be from 100ms to %s, got %s", math.MaxInt32*time.Millisecond, c.sessionTimeout)
	}
	if err := c.checkGroupTiming(); err != nil {
		return err
	}
	// An idle poll waits up to pollWait, so a shorter TTL would flag idle,
	// healthy nodes as stalled.
	if c.pollingTTL <= 2*pollWait {
		return flagErrorf("polling-ttl", "must be above %s (an idle poll waits up to %s), got %s", 2*pollWait, pollWait, c.pollingTTL)
	}
	if c.reportInterval >= c.nodeReportTimeout {
		return &usageError{
			msg:   fmt.Sprintf("-report-interval (%s) must be below -node-report-timeout (%s), or every node would be stopped as hanging", c.reportInterval, c.nodeReportTimeout),
			flags: []string{"report-interval", "node-report-timeout"},
		}
	}
	return nil
}

// checkBatch checks -max-poll-records.
func (c *config) checkBatch() error {
	if c.maxPollRecords < 1 || c.maxPollRecords > maxMaxPollRecords {
		return flagErrorf("max-poll-records", "must be from 1 to %d, got %d", maxMaxPollRecords, c.maxPollRecords)
	}
	return nil
}

// checkStats checks -stall-ttl and -stats-interval: 0 is off, and a
// value must be one worth acting on (a handled offset still for less than
// a second is noise, not a stall; stats more often than every 100 ms cost
// the node more than they tell, less often than a minute show a stale
// swarm).
func (c *config) checkStats() error {
	if c.stallTTL != 0 && (c.stallTTL < time.Second || c.stallTTL > 24*time.Hour) {
		return flagErrorf("stall-ttl", "must be 0 (off) or from 1s to 24h, got %s", c.stallTTL)
	}
	if c.statsInterval != 0 && (c.statsInterval < 100*time.Millisecond || c.statsInterval > time.Minute) {
		return flagErrorf("stats-interval", "must be 0 (off) or from 100ms to 1m, got %s", c.statsInterval)
	}
	return nil
}

// checkRetry checks the retry backoff, its cap and the retry count.
func (c *config) checkRetry() error {
	if c.retryBackoff <= 0 || c.retryBackoff > maxRetryBackoff {
		return flagErrorf("retry-backoff", "must be positive and at most %s, got %s", maxRetryBackoff, c.retryBackoff)
	}
	if c.retryMaxBackoff > maxRetryMaxBackoff {
		return flagErrorf("retry-max-backoff", "must be at most %s, got %s", maxRetryMaxBackoff, c.retryMaxBackoff)
	}
	if c.retryMaxBackoff < c.retryBackoff {
		return &usageError{
			msg:   fmt.Sprintf("-retry-max-backoff (%s) must be at least -retry-backoff (%s): it caps the backoff, which starts at -retry-backoff", c.retryMaxBackoff, c.retryBackoff),
			flags: []string{"retry-max-backoff", "retry-backoff"},
		}
	}
	if c.maxRetries < 0 || c.maxRetries > maxMaxRetries {
		return flagErrorf("max-retries", "must be from 0 (dead-letter at once) to %d, got %d", maxMaxRetries, c.maxRetries)
	}
	return nil
}

// checkSkip refuses -on-retries-exhausted skip with a selected route that
// has a dead-letter topic: that route dead-letters a record out of
// retries, so the user who asked for skipping would never get it. The
// error names the route as its other errors do (routeError).
func (c *config) checkSkip() error {
	if c.onRetriesExhausted != "skip" {
		return nil
	}
	for i := range c.routes {
		r := &c.routes[i]
		if r.DeadLetterTopic == "" {
			continue
		}
		err := c.routeError(r, fieldErrorf("dead_letter_topic", "%q is set, so with -on-retries-exhausted skip a record out of retries would be dead-lettered, never skipped: drop one of the two", clipped(r.DeadLetterTopic)))
		var ue *usageError
		if errors.As(err, &ue) {
			// Name SWARM_ON_RETRIES_EXHAUSTED too when skip came from it.
			return &usageError{msg: ue.msg, flags: append(ue.flags, "on-retries-exhausted")}
		}
		return err
	}
	return nil
}

// checkMemoryLimit caps -memory-limit, which keeps it in bytes (and the
// node's GOMEMLIMIT, nine tenths of it) far from int64 overflow.
func (c *config) checkMemoryLimit() error {
	if c.memoryLimitMiB < 0 || c.memoryLimitMiB > maxMemoryLimitMiB {
		return flagErrorf("memory-limit", "must be zero (off) or a number of MiB up to %d (1 PiB), got %d", maxMemoryLimitMiB, c.memoryLimitMiB)
	}
	return nil
}

// checkBrokers checks -bootstrap, which the demo without it does not use.
func (c *config) checkBrokers() error {
	if c.demo {
		return nil
	}
	if len(c.bootstrap) == 0 {
		return flagErrorf("bootstrap", "at least one host:port is required")
	}
	for _, b := range c.bootstrap {
		if err := checkHostPort(b); err != nil {
			return flagErrorf("bootstrap", "%q: %v", clipped(b), err)
		}
	}
	return nil
}

// checkHTTP checks -http: empty (off), or [host]:port.
func (c *config) checkHTTP() error {
	if c.httpAddr == "" {
		return nil
	}
	if _, port, err := net.SplitHostPort(c.httpAddr); err != nil {
		return flagErrorf("http", "want [host]:port, got %q", clipped(c.httpAddr))
	} else if p, err := strconv.Atoi(port); err != nil || p < 0 || p > 65535 {
		return flagErrorf("http", "port %q is not a number from 0 to 65535", clipped(port))
	}
	return nil
}

// checkChoices checks the flags that take one of a few words, and the
// static membership prefix.
func (c *config) checkChoices() error {
	if strings.ContainsAny(c.instanceID, " \t\n") {
		return flagErrorf("instance-id", "must not contain white space, got %q", clipped(c.instanceID))
	}
	for _, f := range []struct {
		name, value, want string
		ok                []string
	}{
		{"balancer", c.balancer, "range, roundrobin, cooperative-sticky or sticky", []string{"cooperative-sticky", "range", "sticky", "roundrobin"}},
		{"group-protocol", c.groupProtocol, "classic or consumer", []string{"classic", "consumer"}},
		{"initial-offset", c.initialOffset, "earliest or latest", []string{"earliest", "latest"}},
		{"log-format", c.logFormat, "text or json", []string{"text", "json"}},
		{"on-retries-exhausted", c.onRetriesExhausted, "dead-letter or skip", []string{"dead-letter", "skip"}},
	} {
		if !slices.Contains(f.ok, f.value) {
			return flagErrorf(f.name, "must be %s, got %q", f.want, clipped(f.value))
		}
	}
	if _, err := parseLevel(c.logLevel); err != nil {
		return flagErrorf("log-level", "must be debug, info, warn or error, got %q", clipped(c.logLevel))
	}
	return nil
}

// checkDemo checks the demo's own flags (-demo-records is checked even
// without -demo, as a value no run could use).
func (c *config) checkDemo() error {
	if c.demo && !c.given["bootstrap"] && (c.auth.tls || c.auth.mechanism != nil) {
		return &usageError{msg: "-demo runs its own plaintext broker: TLS and SASL flags need -bootstrap", flags: []string{"demo"}}
	}
	if c.demoRecords < 1 || c.demoRecords > maxDemoRecords {
		return flagErrorf("demo-records", "must be from 1 to %d (the demo broker holds them all in memory), got %d", maxDemoRecords, c.demoRecords)
	}
	return nil
}

// checkHostPort accepts host:port with a non-empty host and a port 1-65535.
func checkHostPort(s string) error {
	host, port, err := net.SplitHostPort(s)
	if err != nil {
		return errors.New("want host:port")
	}
	if host == "" {
		return errors.New("missing host")
	}
	p, err := strconv.Atoi(port)
	if err != nil || p < 1 || p > 65535 {
		return fmt.Errorf("port %q is not a number from 1 to 65535", clipped(port))
	}
	return nil
}
