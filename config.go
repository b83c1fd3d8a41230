//go:build linux

package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"net"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode"
)

// config is everything a supervisor or a node needs to know. The supervisor
// parses it once from flags and SWARM_* variables and hands it to every node
// as an explicit argument list (nodeArgs), so a node never has to guess what
// its supervisor was told.
type config struct {
	nodes              int
	bootstrap          []string
	topics             []string
	group              string
	instanceID         string
	balancer           string
	sessionTimeout     time.Duration
	heartbeatInterval  time.Duration
	groupProtocol      string
	reportInterval     time.Duration
	initialOffset      string
	nodeReportTimeout  time.Duration
	nodeRestartTimeout time.Duration
	shutdownTimeout    time.Duration
	connectTimeout     time.Duration
	memoryLimitMiB     int64
	pollingTTL         time.Duration
	consumingTTL       time.Duration
	handler            string
	// command is CMD ARGS... after "--": the node's handler process
	// (exechandler.go). With it, codec, outputTopic and deadLetterTopic
	// apply; without it they must not be set.
	command         []string
	codec           string
	outputTopic     string
	deadLetterTopic string
	logFormat       string
	logLevel        string
	httpAddr        string
	subreaper       bool
	demo            bool
	demoRecords     int
	version         bool
	// auth is TLS and SASL for every Kafka client (kafkaauth.go).
	auth kafkaAuth
	// configFile is -config: the routes (and optionally bootstrap and
	// nodes) as JSON; file is what loadConfigFile read from it, and
	// nodesFrom says when its "nodes" set the node count (for errors).
	configFile string
	file       *routeFile
	nodesFrom  string
	// The CLI filters (Karafka's names), applied by resolveRoutes.
	includeGroups, excludeGroups, includeTopics, excludeTopics []string
	// routes is the resolved route set (routes.go): on a supervisor every
	// route selected by the filters, on a node the routes it runs.
	// totalRoutes counts the routes before filtering; routeJSON is each
	// node's SWARM_NODE_ROUTES (supervisor only).
	routes      []route
	totalRoutes int
	routeJSON   []string
	// nodeRoutes is SWARM_NODE_ROUTES as a node was given it; empty on a
	// supervisor, which never reads that variable.
	nodeRoutes string
	// given names the flags the user set, on the command line or as
	// SWARM_* variables: the demo fills in only the others.
	given map[string]bool
	help  bool
}

// usageError is invalid input from the user: one line, exit 2, nothing spawned.
// flags names the flags it is about, so parseConfig can name the SWARM_
// variable instead when that is where the value came from.
type usageError struct {
	msg   string
	flags []string
}

// Error is the message, clipped to maxErrorLine: a last resort, as every
// user value in it was clipped already (clip.go).
func (e *usageError) Error() string { return clipLine(e.msg, maxErrorLine) }

// usagef builds a usage error from a format.
func usagef(format string, args ...any) error {
	return &usageError{msg: fmt.Sprintf(format, args...)}
}

// Caps on numbers that are valid in form but absurd in size.
const (
	maxMemoryLimitMiB = 1 << 30 // 1 PiB
	maxDemoRecords    = 10_000_000
)

// flagErrorf is a usage error about one flag: "-name: ...".
func flagErrorf(name, format string, args ...any) error {
	return &usageError{msg: "-" + name + ": " + fmt.Sprintf(format, args...), flags: []string{name}}
}

// nameEnv puts the variables in front of an error about flags whose value
// came from the environment: the user never typed those flags.
func nameEnv(err error, fromEnv map[string]string) error {
	var ue *usageError
	if !errors.As(err, &ue) {
		return err
	}
	var vars []string
	for _, f := range ue.flags {
		if v, ok := fromEnv[f]; ok {
			vars = append(vars, fmt.Sprintf("%s=%q", envName(f), clipped(v)))
		}
	}
	if len(vars) == 0 {
		return err
	}
	return &usageError{msg: strings.Join(vars, ", ") + ": " + ue.msg, flags: ue.flags}
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

// newFlagSet binds every flag to cfg. It is used by parseConfig and by usage
// so the help text and the parser cannot drift apart.
func newFlagSet(cfg *config) *flag.FlagSet {
	host, _ := os.Hostname()
	fs := flag.NewFlagSet("swarm", flag.ContinueOnError)
	fs.SetOutput(io.Discard) // we print one line ourselves, never the whole usage
	fs.IntVar(&cfg.nodes, "nodes", availableCPUs(), "number of node processes, one per available CPU by default")
	fs.Func("bootstrap", "comma-separated Kafka `host:port` list (default 127.0.0.1:9092)", func(s string) error {
		cfg.bootstrap = splitList(s)
		return nil
	})
	fs.Func("topics", "comma-separated `topics` to consume (required)", func(s string) error {
		cfg.topics = splitList(s)
		return nil
	})
	fs.StringVar(&cfg.group, "group", "swarm", "consumer group id")
	fs.StringVar(&cfg.instanceID, "instance-id", host, "static membership prefix: node N uses <prefix>_N_0; empty disables static membership")
	fs.StringVar(&cfg.balancer, "balancer", "range", "group balancer (classic protocol): range | roundrobin | cooperative-sticky | sticky")
	fs.DurationVar(&cfg.sessionTimeout, "session-timeout", 45*time.Second, "group session timeout")
	fs.DurationVar(&cfg.heartbeatInterval, "heartbeat-interval", 3*time.Second, "group heartbeat interval (a third of -session-timeout when that is shorter and this is not set)")
	fs.StringVar(&cfg.groupProtocol, "group-protocol", "classic", "consumer group protocol: classic | consumer (KIP-848, needs Kafka 4.0+)")
	fs.DurationVar(&cfg.reportInterval, "report-interval", 10*time.Second, "how often a node reports its health")
	fs.StringVar(&cfg.initialOffset, "initial-offset", "earliest", "where a group with no commits starts: earliest | latest")
	fs.DurationVar(&cfg.nodeReportTimeout, "node-report-timeout", 60*time.Second, "a node silent this long is stopped as hanging")
	fs.DurationVar(&cfg.nodeRestartTimeout, "node-restart-timeout", 0, "delay before a dead node is started again; a node that keeps dying within 10 s of its start backs off from 100 ms to 1 min whatever this is")
	fs.DurationVar(&cfg.shutdownTimeout, "shutdown-timeout", 60*time.Second, "time a node gets between TERM and KILL")
	fs.DurationVar(&cfg.connectTimeout, "connect-timeout", 30*time.Second, "how long the supervisor waits for the brokers at start (exit 1 when they cannot be reached)")
	fs.Int64Var(&cfg.memoryLimitMiB, "memory-limit", 0, "node RSS limit in MiB, its handler command's RSS included (0 = off)")
	fs.DurationVar(&cfg.pollingTTL, "polling-ttl", 5*time.Minute, "a node that has not polled for this long reports status 1")
	fs.DurationVar(&cfg.consumingTTL, "consuming-ttl", 5*time.Minute, "a batch handled longer than this reports status 2")
	fs.StringVar(&cfg.handler, "handler", "print", "built-in handler: print | discard | burn=N (not with a command after --)")
	fs.StringVar(&cfg.codec, "codec", "json", "how records reach a handler command: json | lines")
	fs.StringVar(&cfg.outputTopic, "output-topic", "", "topic for the records a handler command answers with")
	fs.StringVar(&cfg.deadLetterTopic, "dead-letter-topic", "", "topic for records a handler command fails (without it, a failure stops the node)")
	fs.StringVar(&cfg.configFile, "config", "", "JSON `file` of routes (group, topics, handler or command, ...) and optionally bootstrap and nodes; flags and SWARM_* variables win for bootstrap and nodes")
	for _, f := range []struct {
		name  string
		list  *[]string
		usage string
	}{
		{"include-consumer-groups", &cfg.includeGroups, "comma-separated `groups`: run only the routes of these consumer groups"},
		{"exclude-consumer-groups", &cfg.excludeGroups, "comma-separated `groups`: run no route of these consumer groups"},
		{"include-topics", &cfg.includeTopics, "comma-separated `topics`: consume only these topics (a route left with none is dropped)"},
		{"exclude-topics", &cfg.excludeTopics, "comma-separated `topics`: do not consume these topics (a route left with none is dropped)"},
	} {
		fs.Func(f.name, f.usage, func(s string) error {
			*f.list = splitList(s)
			return nil
		})
	}
	fs.StringVar(&cfg.logFormat, "log-format", "text", "log format: text | json")
	fs.StringVar(&cfg.logLevel, "log-level", "info", "log level: debug | info | warn | error")
	fs.StringVar(&cfg.httpAddr, "http", "", "serve /healthz, /status, /metrics and a status page on this `addr` (e.g. 127.0.0.1:8080); off when empty")
	fs.BoolVar(&cfg.subreaper, "subreaper", false, "kept for compatibility: the supervisor is always a child subreaper")
	fs.BoolVar(&cfg.demo, "demo", false, "run against an embedded demo broker and show progress")
	fs.IntVar(&cfg.demoRecords, "demo-records", 200000, "records the demo produces")
	cfg.auth.bindFlags(fs)
	fs.BoolVar(&cfg.version, "version", false, "print the version and exit")
	fs.BoolVar(&cfg.help, "h", false, "print usage and exit")
	fs.BoolVar(&cfg.help, "help", false, "print usage and exit")
	return fs
}

// parseConfig reads flags, then SWARM_<NAME> variables for flags not given
// (a flag wins over the environment), then validates.
func parseConfig(args []string, getenv func(string) string) (*config, error) {
	return parseConfigRoutes(args, getenv, "")
}

// parseNodeConfig is parseConfig on a node: its routes are the ones its
// supervisor resolved and passed in SWARM_NODE_ROUTES (routes.go), never
// the file or the flags.
func parseNodeConfig(args []string, getenv func(string) string, routesJSON string) (*config, error) {
	if routesJSON == "" {
		return nil, errors.New(nodeRoutesEnv + " is not set: a node runs the routes its supervisor passes")
	}
	return parseConfigRoutes(args, getenv, routesJSON)
}

// parseConfigRoutes is parseConfig with the routes a node was handed (empty
// for a supervisor, which resolves them itself).
func parseConfigRoutes(args []string, getenv func(string) string, routesJSON string) (*config, error) {
	cfg := &config{bootstrap: []string{"127.0.0.1:9092"}, nodeRoutes: routesJSON}
	fs := newFlagSet(cfg)
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			cfg.help = true
			return cfg, nil
		}
		return nil, &usageError{msg: flagParseError(err.Error())}
	}
	// Everything after "--" is the handler command. The flag package stops
	// at the first non-flag too, so only a "--" right before the rest makes
	// it a command; anything else is a stray word.
	if rest := args[len(args)-fs.NArg():]; len(args) > len(rest) && args[len(args)-len(rest)-1] == "--" {
		if len(rest) == 0 {
			return nil, usagef("no command after --")
		}
		cfg.command = rest
	} else if fs.NArg() > 0 {
		return nil, usagef("unexpected argument %q", clipped(fs.Arg(0)))
	}
	given := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { given[f.Name] = true })
	var envErr error
	fromEnv := map[string]string{} // flag name -> value of its variable
	fs.VisitAll(func(f *flag.Flag) {
		if given[f.Name] || envErr != nil || f.Name == "h" || f.Name == "help" {
			return
		}
		name := envName(f.Name)
		if v := getenv(name); v != "" {
			fromEnv[f.Name] = v
			if err := fs.Set(f.Name, v); err != nil {
				envErr = usagef("%s=%q: %s", name, clipped(v), clipped(err.Error()))
			}
			given[f.Name] = true
		}
	})
	if envErr != nil {
		return nil, envErr
	}
	cfg.given = given
	// Not a flag's variable: the password never becomes a flag value.
	cfg.auth.envPassword = &secret{text: getenv(saslPasswordEnv)}
	if cfg.help || cfg.version {
		return cfg, nil
	}
	if err := cfg.validate(); err != nil {
		return nil, nameEnv(err, fromEnv)
	}
	return cfg, nil
}

// splitList splits a comma list, trimming blanks and dropping empties.
func splitList(s string) []string {
	var out []string
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}

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
		c.checkNodes, c.checkDurations, c.checkMemoryLimit, c.checkBrokers, c.checkHTTP,
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
	return c.resolveRoutes()
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

// nodeArgs renders the node-relevant part of the config as explicit flags, so
// a node sees exactly what the supervisor validated, whatever its environment.
func (c *config) nodeArgs() []string {
	// TLS and SASL go first, so they stay ahead of any "--" that ends the
	// flags. They never include the password (see kafkaAuth.nodeArgs).
	//
	// A node runs the routes in its SWARM_NODE_ROUTES (routes.go), not
	// route flags. The flag route is still rendered as flags (topics as
	// filtered), so ps shows what a node of a one-route swarm consumes and
	// with which command; with -config there are only node-level flags.
	var route []string
	if c.flagRouted() {
		topics := c.topics
		if len(c.routes) == 1 {
			topics = c.routes[0].Topics
		}
		route = []string{"-topics=" + strings.Join(topics, ","), "-group=" + c.group}
	}
	args := append(c.auth.nodeArgs(), "-nodes="+strconv.Itoa(c.nodes), "-bootstrap="+strings.Join(c.bootstrap, ","))
	args = append(args, route...)
	args = append(args, c.groupArgs()...)
	args = append(args, []string{
		"-instance-id=" + c.instanceID,
		"-group-protocol=" + c.groupProtocol,
		"-report-interval=" + c.reportInterval.String(),
		"-initial-offset=" + c.initialOffset,
		"-node-report-timeout=" + c.nodeReportTimeout.String(),
		"-node-restart-timeout=" + c.nodeRestartTimeout.String(),
		"-shutdown-timeout=" + c.shutdownTimeout.String(),
		"-memory-limit=" + strconv.FormatInt(c.memoryLimitMiB, 10),
		"-polling-ttl=" + c.pollingTTL.String(),
		"-consuming-ttl=" + c.consumingTTL.String(),
		"-log-format=" + c.logFormat,
		"-log-level=" + c.logLevel,
	}...)
	if !c.flagRouted() {
		return args
	}
	return append(args, c.handlerArgs()...)
}

// handlerArgs renders the handler: the built-in one, or the command flags
// and then "--" and the command, which must come last.
func (c *config) handlerArgs() []string {
	if len(c.command) == 0 {
		return []string{"-handler=" + c.handler}
	}
	args := []string{"-codec=" + c.codec}
	if c.outputTopic != "" {
		args = append(args, "-output-topic="+c.outputTopic)
	}
	if c.deadLetterTopic != "" {
		args = append(args, "-dead-letter-topic="+c.deadLetterTopic)
	}
	return append(append(args, "--"), c.command...)
}

// printUsage writes the full help text (only on -h).
func printUsage(w io.Writer) {
	fmt.Fprintf(w, "Usage: swarm [flags] [-- CMD ARGS...]\n\nRuns one Kafka consumer group as a supervised swarm of node processes.\nEvery flag can also be set as SWARM_<NAME> (upper case, dashes as underscores); a flag wins.\n\nFlags:\n")
	fs := newFlagSet(&config{})
	fs.SetOutput(w)
	fs.PrintDefaults()
}
