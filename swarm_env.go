//go:build linux

package main

// The SWARM_* environment: every variable name swarm reads or sets, and
// the one scrubber that builds a child's environment from ours. Three
// kinds share the prefix: the flags' variables (SWARM_<FLAG>, envName),
// what a supervisor tells its nodes (identity, routes, quiet), and what a
// node tells its handler command (identity, group, topics, route).

import (
	"os"
	"slices"
	"strconv"
	"strings"
)

// Variable names. A supervisor sets the node ones in nodeEnv; a node sets
// the handler ones in handlerEnv.
const (
	// envPrefix starts every swarm variable; envName adds a flag's name.
	envPrefix = "SWARM_"

	// nodeIDEnv and supervisorPIDEnv are a node's identity: a process
	// that has both is a node (main.go), one of them alone is not.
	nodeIDEnv        = "SWARM_NODE_ID"
	supervisorPIDEnv = "SWARM_SUPERVISOR_PID"
	// quietEnv=1 starts a node quiet: a node restarted after TSTP made the
	// swarm quiet takes no records either.
	quietEnv = "SWARM_QUIET"
	// nodeRoutesEnv carries a node's resolved routes (nodeRoutes as JSON)
	// from the supervisor to the node (routes.go). Only nodes read it.
	nodeRoutesEnv = "SWARM_NODE_ROUTES"

	// saslPasswordEnv is where the SASL password comes from when
	// -sasl-password-file is not given. It is not a flag's variable: there
	// is no -sasl-password flag, so the password cannot end up in argv.
	saslPasswordEnv = "SWARM_SASL_PASSWORD"

	// groupEnv, topicsEnv and routeEnv tell a handler command which route
	// it serves. The first two are also the -group and -topics variables,
	// so a swarm started by a handler command inherits its route.
	groupEnv  = "SWARM_GROUP"
	topicsEnv = "SWARM_TOPICS"
	routeEnv  = "SWARM_ROUTE"

	// httpIdleTimeoutEnv overrides httpIdleTimeout (a Go duration); meant
	// for tests, which cannot wait 30 s to see an idle connection closed.
	httpIdleTimeoutEnv = "SWARM_HTTP_IDLE_TIMEOUT"
)

// envName maps a flag name to its environment variable: node-report-timeout
// becomes SWARM_NODE_REPORT_TIMEOUT.
func envName(flagName string) string {
	return envPrefix + strings.ToUpper(strings.ReplaceAll(flagName, "-", "_"))
}

// withoutEnv is base without the variables named in drop, in base's order,
// with room for extra more; base itself is not modified.
func withoutEnv(base []string, extra int, drop ...string) []string {
	env := make([]string, 0, len(base)+extra)
	for _, kv := range base {
		if name, _, ok := strings.Cut(kv, "="); !ok || !slices.Contains(drop, name) {
			env = append(env, kv)
		}
	}
	return env
}

// hasEnv says whether env sets the variable name.
func hasEnv(env []string, name string) bool {
	return slices.ContainsFunc(env, func(kv string) bool { return strings.HasPrefix(kv, name+"=") })
}

// nodeEnv builds a node's environment: ours, minus stale swarm identity
// variables, plus its identity and per-node runtime limits.
func nodeEnv(base []string, id, nodes int, memLimitMiB int64, quiet bool, cpus int) []string {
	env := withoutEnv(base, 5, nodeIDEnv, supervisorPIDEnv, quietEnv, nodeRoutesEnv)
	env = append(env, nodeIDEnv+"="+strconv.Itoa(id), supervisorPIDEnv+"="+strconv.Itoa(os.Getpid()))
	if quiet {
		env = append(env, quietEnv+"=1")
	}
	if !hasEnv(base, "GOMAXPROCS") {
		env = append(env, "GOMAXPROCS="+strconv.Itoa(max(1, cpus/nodes)))
	}
	if memLimitMiB > 0 && !hasEnv(base, "GOMEMLIMIT") {
		// 90 %: the Go runtime collects harder before the node crosses the
		// limit it is judged by.
		env = append(env, "GOMEMLIMIT="+strconv.FormatInt(memLimitMiB*1024*1024*9/10, 10))
	}
	return env
}

// handlerEnv is the node's environment for CMD, with the node's identity
// as CMD should see it (the caller adds routeEnv, the route's index).
// The supervisor's pid goes: with it, a swarm binary run as (or by) the
// handler would take itself for a node. The node's routes are the node's
// business, and the SASL password is the node's credential, not the user
// code's.
func handlerEnv(base []string, nodeID int, group string, topics []string) []string {
	env := withoutEnv(base, 3, nodeIDEnv, supervisorPIDEnv, quietEnv, groupEnv, topicsEnv, routeEnv,
		nodeRoutesEnv, saslPasswordEnv)
	return append(env, nodeIDEnv+"="+strconv.Itoa(nodeID), groupEnv+"="+group,
		topicsEnv+"="+strings.Join(topics, ","))
}
