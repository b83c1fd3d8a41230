//go:build linux

package main

import (
	"errors"
	"flag"
	"strconv"
	"strings"
	"time"
)

// config is everything a supervisor or a node needs to know. The supervisor
// parses it once from flags and SWARM_* variables and hands it to every node
// as an explicit argument list (nodeArgs), so a node never has to guess what
// its supervisor was told. Its parts are grouped by who uses them; they are
// embedded, so cfg.nodes reads as before (a composite literal names the
// part: config{healthConfig: healthConfig{pollingTTL: ...}}).
type config struct {
	groupConfig
	superConfig
	healthConfig
	retryConfig
	flagRouteConfig
	routeConfig
	demoConfig
	logFormat string
	logLevel  string
	version   bool
	help      bool
	// given names the flags the user set, on the command line or as
	// SWARM_* variables: the demo fills in only the others, and a route
	// flag given with -config is an error.
	given map[string]bool
}

// groupConfig is the consumer group's Kafka side: how every node's clients
// join it, and how the supervisor reaches the brokers before it starts any.
type groupConfig struct {
	bootstrap         []string
	instanceID        string
	balancer          string
	sessionTimeout    time.Duration
	heartbeatInterval time.Duration
	groupProtocol     string
	initialOffset     string
	// maxPollRecords caps one batch (node_consumer.go).
	maxPollRecords int
	// transactionTimeout is how long an exactly-once route's transaction
	// may stay open before the broker aborts it (node_txn.go).
	transactionTimeout time.Duration
	// auth is TLS and SASL for every Kafka client (kafkaauth.go).
	auth kafkaAuth
}

// superConfig is the supervisor's: how many nodes, when one is hanging,
// dead or too big, and the status server.
type superConfig struct {
	nodes              int
	nodeReportTimeout  time.Duration
	nodeRestartTimeout time.Duration
	shutdownTimeout    time.Duration
	connectTimeout     time.Duration
	memoryLimitMiB     int64
	httpAddr           string
	subreaper          bool
}

// healthConfig is what a node's health report says and how often: its
// poll loop and batches against their TTLs.
type healthConfig struct {
	reportInterval time.Duration
	pollingTTL     time.Duration
	consumingTTL   time.Duration
	// stallTTL: how long an owned partition with records to handle may
	// keep its handled offset still (0: never judged; node_stall.go).
	stallTTL time.Duration
	// statsInterval is how often a node writes its stats line to fd 4
	// (stats_protocol.go); its supervisor sets it from -http (nodeArgs).
	statsInterval time.Duration
}

// retryConfig is what a node does with a record its handler fails, on
// every route it runs: the record's partition pauses and the record is
// delivered again after a backoff that doubles per attempt up to its cap;
// after maxRetries retries it goes to the route's dead-letter topic, or,
// without one, keeps being retried unless onRetriesExhausted is "skip".
type retryConfig struct {
	retryBackoff       time.Duration
	retryMaxBackoff    time.Duration
	maxRetries         int
	onRetriesExhausted string
}

// args renders the retry flags for nodeArgs.
func (r *retryConfig) args() []string {
	return []string{
		"-retry-backoff=" + r.retryBackoff.String(),
		"-retry-max-backoff=" + r.retryMaxBackoff.String(),
		"-max-retries=" + strconv.Itoa(r.maxRetries),
		"-on-retries-exhausted=" + r.onRetriesExhausted,
	}
}

// flagRouteConfig is the single route the flags describe (-topics -group
// -handler -codec -output-topic -dead-letter-topic -- CMD). flagSpec turns
// it into a route the way a -config entry is.
type flagRouteConfig struct {
	topics  []string
	group   string
	handler string
	// command is CMD ARGS... after "--": the node's handler process
	// (node_cmd_process.go). With it, codec, outputTopic and deadLetterTopic
	// apply; without it they must not be given.
	command         []string
	codec           string
	outputTopic     string
	deadLetterTopic string
	exactlyOnce     bool
}

// routeConfig is where the routes come from and what they resolved to.
type routeConfig struct {
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
}

// demoConfig is -demo's: a topic of demoRecords sample records, on an
// embedded broker unless -bootstrap is given.
type demoConfig struct {
	demo        bool
	demoRecords int
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
	cfg := &config{groupConfig: groupConfig{bootstrap: []string{"127.0.0.1:9092"}}, routeConfig: routeConfig{nodeRoutes: routesJSON}}
	fs := newFlagSet(cfg)
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			cfg.help = true
			return cfg, nil
		}
		return nil, &usageError{msg: flagParseError(err.Error())}
	}
	if err := cfg.takeCommand(fs, args); err != nil {
		return nil, err
	}
	fromEnv, err := cfg.applyEnv(fs, getenv)
	if err != nil {
		return nil, err
	}
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

// takeCommand takes everything after "--" as the handler command. The
// flag package stops at the first non-flag too, so only a "--" right
// before the rest makes it a command; anything else is a stray word.
func (c *config) takeCommand(fs *flag.FlagSet, args []string) error {
	if rest := args[len(args)-fs.NArg():]; len(args) > len(rest) && args[len(args)-len(rest)-1] == "--" {
		if len(rest) == 0 {
			return usagef("no command after --")
		}
		c.command = rest
	} else if fs.NArg() > 0 {
		return usagef("unexpected argument %q", clipped(fs.Arg(0)))
	}
	return nil
}

// applyEnv sets each flag not given on the command line from its
// SWARM_<NAME> variable, and records in c.given the flags set either way.
// It returns the variables' values by flag name, for nameEnv.
func (c *config) applyEnv(fs *flag.FlagSet, getenv func(string) string) (map[string]string, error) {
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
	c.given = given
	return fromEnv, envErr
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
		"-transaction-timeout=" + c.transactionTimeout.String(),
		"-max-poll-records=" + strconv.Itoa(c.maxPollRecords),
		"-node-report-timeout=" + c.nodeReportTimeout.String(),
		"-node-restart-timeout=" + c.nodeRestartTimeout.String(),
		"-shutdown-timeout=" + c.shutdownTimeout.String(),
		"-memory-limit=" + strconv.FormatInt(c.memoryLimitMiB, 10),
		"-polling-ttl=" + c.pollingTTL.String(),
		"-consuming-ttl=" + c.consumingTTL.String(),
		"-stall-ttl=" + c.stallTTL.String(),
		"-stats-interval=" + c.nodeStatsInterval(),
		"-log-format=" + c.logFormat,
		"-log-level=" + c.logLevel,
	}...)
	args = append(args, c.retryConfig.args()...)
	if !c.flagRouted() {
		return args
	}
	return append(args, c.handlerArgs()...)
}

// nodeStatsInterval is the -stats-interval a supervisor gives its nodes:
// stats only when -http serves them, nothing reads them otherwise.
func (c *config) nodeStatsInterval() string {
	if c.httpAddr == "" {
		return "0"
	}
	return superStatsInterval.String()
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
	if c.exactlyOnce {
		args = append(args, "-exactly-once")
	}
	return append(append(args, "--"), c.command...)
}
