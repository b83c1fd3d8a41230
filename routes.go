//go:build linux

package main

// Routes: what the nodes consume. A route is one consumer group over some
// topics with one handler; a node runs one consumer (its own franz-go
// client, poll loop and handler) per route assigned to it. Without -config
// the flags make a single route; with -config FILE (JSON) the file lists
// them, each optionally pinned to some nodes (Karafka's per-node routing).
//
// The supervisor resolves the route set once (file or flags, then the
// -include-*/-exclude-* filters, then the checks that need the whole set)
// and hands each node the routes it runs, already resolved, as JSON in
// SWARM_NODE_ROUTES. Nodes never read the file nor apply the filters
// themselves: a node restarted hours later must run what the supervisor
// validated at start, not whatever the file says by then (an edited file,
// a command that no longer exists), or each node would run a different,
// unchecked route set and a mistake would show as a crash loop instead of
// one line and exit 2. The environment rather than argv: it is not shown
// to every user by ps, and argv stays the short list of node-level flags.

import (
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
	"strings"
)

// maxEnvString is MAX_ARG_STRLEN: the kernel's limit on one environment
// string ("NAME=value" and its NUL), which SWARM_NODE_ROUTES must fit.
const maxEnvString = 128 << 10

// route is one resolved route: what a node consumes with one client.
type route struct {
	// Index is the route's position in the file (0 for the flag route),
	// counted before any filter: it is the <route> of the static
	// membership id <prefix>_<node>_<route>, so hiding other routes with
	// filters changes no member's identity.
	Index  int      `json:"index"`
	Group  string   `json:"group"`
	Topics []string `json:"topics"`
	// Handler is the built-in handler spec; empty when Command is set.
	Handler         string   `json:"handler,omitempty"`
	Command         []string `json:"command,omitempty"`
	Codec           string   `json:"codec,omitempty"`
	OutputTopic     string   `json:"output_topic,omitempty"`
	DeadLetterTopic string   `json:"dead_letter_topic,omitempty"`
	// ExactlyOnce: each batch's outputs, dead letters and offsets commit
	// in one transaction (node_txn.go).
	ExactlyOnce bool `json:"exactly_once,omitempty"`
	// Nodes are the node ids that run the route; nil: every node. The
	// supervisor uses it to pick each node's routes; nodes get only theirs.
	Nodes []int `json:"nodes,omitempty"`
	// SharedGroup: the file has several routes of this group, so the
	// client id carries the route index to tell a node's clients apart.
	SharedGroup bool `json:"shared_group,omitempty"`
	// Flags: this is the flag route, not an entry of the -config file, so
	// its errors name flags (routeError), on the supervisor and on a node.
	Flags bool `json:"flags,omitempty"`
}

// clientID is <group>-node-<node>, plus -route-<index> when the file has
// several routes of the group (decided on the whole file, so it does not
// change with filters).
func (r *route) clientID(node int) string {
	id := r.Group + "-node-" + strconv.Itoa(node)
	if r.SharedGroup {
		id += "-route-" + strconv.Itoa(r.Index)
	}
	return id
}

// runsOn says whether node id runs the route.
func (r *route) runsOn(id int) bool {
	return r.Nodes == nil || slices.Contains(r.Nodes, id)
}

// nodeRoutes is what SWARM_NODE_ROUTES holds: the routes one node runs.
type nodeRoutes struct {
	// FileRoutes is how many routes the swarm's route set had before
	// filtering (1 without -config): with more than one, a handler's
	// stderr lines name their route.
	FileRoutes int     `json:"file_routes"`
	Routes     []route `json:"routes"`
}

// resolveRoutes builds the route set the swarm runs. On a supervisor: the
// file's routes or the flag route, then the filters, then the checks on
// the whole set (every node has something to run), and each node's
// SWARM_NODE_ROUTES. On a node: the routes its supervisor passed.
func (c *config) resolveRoutes() error {
	if c.nodeRoutes != "" {
		return c.decodeNodeRoutes()
	}
	all, err := c.allRoutes()
	if err != nil {
		return err
	}
	if id, ok := idleNode(all, c.nodes); !ok {
		return c.configErrorf("node %d runs no route: every route lists its \"nodes\" and none lists %d (%s)", id, id, c.nodesSource())
	}
	sel, err := c.filterRoutes(all)
	if err != nil {
		return err
	}
	if id, ok := idleNode(sel, c.nodes); !ok {
		return &usageError{msg: fmt.Sprintf("%s: the filters leave node %d with no route to run", c.filtersGiven(), id), flags: c.filterNames()}
	}
	c.routes, c.totalRoutes = sel, len(all)
	return c.encodeNodeRoutes()
}

// encodeNodeRoutes renders each node's SWARM_NODE_ROUTES: the selected
// routes it runs, which must fit one environment string.
func (c *config) encodeNodeRoutes() error {
	c.routeJSON = make([]string, c.nodes)
	for id := range c.routeJSON {
		nr := nodeRoutes{FileRoutes: c.totalRoutes}
		for _, r := range c.routes {
			if r.runsOn(id) {
				r.Nodes = nil // the node needs only its own, not the list
				nr.Routes = append(nr.Routes, r)
			}
		}
		b, err := json.Marshal(nr)
		if err != nil {
			return fmt.Errorf("encode routes of node %d: %w", id, err)
		}
		if n := len(nodeRoutesEnv) + 1 + len(b) + 1; n > maxEnvString {
			if c.flagRouted() {
				return flagErrorf("topics", "node %d's route takes %d bytes, more than the %d a node's environment can carry", id, n, maxEnvString)
			}
			return c.configErrorf("node %d's routes take %d bytes, more than the %d a node's environment can carry", id, n, maxEnvString)
		}
		c.routeJSON[id] = string(b)
	}
	return nil
}

// flagRouted says the swarm runs the flag route, not a -config file's
// routes (also on a node, which is never told the file).
func (c *config) flagRouted() bool {
	return c.file == nil
}

// idleNode finds a node that runs none of routes; ok when there is none.
func idleNode(routes []route, nodes int) (int, bool) {
	for id := 0; id < nodes; id++ {
		busy := false
		for i := range routes {
			if routes[i].runsOn(id) {
				busy = true
				break
			}
		}
		if !busy {
			return id, false
		}
	}
	return 0, true
}

// decodeNodeRoutes is the node's side: the routes in SWARM_NODE_ROUTES,
// checked again (a handler command must still be there to start), in the
// supervisor's order.
func (c *config) decodeNodeRoutes() error {
	dec := json.NewDecoder(strings.NewReader(c.nodeRoutes))
	dec.DisallowUnknownFields()
	var nr nodeRoutes
	if err := dec.Decode(&nr); err != nil {
		return fmt.Errorf("decode %s: %w", nodeRoutesEnv, err)
	}
	if len(nr.Routes) == 0 {
		return fmt.Errorf("%s: no routes for this node", nodeRoutesEnv)
	}
	for i := range nr.Routes {
		if err := nr.Routes[i].check(); err != nil {
			return c.routeError(&nr.Routes[i], err)
		}
	}
	c.routes, c.totalRoutes = nr.Routes, nr.FileRoutes
	return nil
}

// routeGroups and routeTopics summarise the route set for logs.
func (c *config) routeGroups() string {
	var gs []string
	for _, r := range c.routes {
		if !slices.Contains(gs, r.Group) {
			gs = append(gs, r.Group)
		}
	}
	return strings.Join(gs, ",")
}

func (c *config) routeTopics() []string {
	var ts []string
	for _, r := range c.routes {
		for _, t := range r.Topics {
			if !slices.Contains(ts, t) {
				ts = append(ts, t)
			}
		}
	}
	return ts
}
