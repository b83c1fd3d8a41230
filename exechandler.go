//go:build linux

package main

import (
	"strconv"
	"strings"
)

// handlerEnv is the node's environment for CMD, with the node's identity
// as CMD should see it (the caller adds SWARM_ROUTE, the route's index). SWARM_SUPERVISOR_PID goes: with it, a swarm binary
// run as (or by) the handler would take itself for a node. The SASL
// password goes too: it is the node's credential, not the user code's.
func handlerEnv(base []string, nodeID int, group string, topics []string) []string {
	env := make([]string, 0, len(base)+3)
	for _, kv := range base {
		switch {
		case strings.HasPrefix(kv, "SWARM_NODE_ID="), strings.HasPrefix(kv, "SWARM_SUPERVISOR_PID="),
			strings.HasPrefix(kv, "SWARM_QUIET="), strings.HasPrefix(kv, "SWARM_GROUP="),
			strings.HasPrefix(kv, "SWARM_TOPICS="), strings.HasPrefix(kv, "SWARM_ROUTE="),
			// The node's routes are the node's business.
			strings.HasPrefix(kv, nodeRoutesEnv+"="),
			// The Kafka password is the node's, not the user code's.
			strings.HasPrefix(kv, saslPasswordEnv+"="):
			continue
		}
		env = append(env, kv)
	}
	return append(env, "SWARM_NODE_ID="+strconv.Itoa(nodeID), "SWARM_GROUP="+group,
		"SWARM_TOPICS="+strings.Join(topics, ","))
}
