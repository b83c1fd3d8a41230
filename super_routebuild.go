//go:build linux

package main

// Building routes on the supervisor: the flag route and every entry of
// the -config file go through buildRoute and route.check, so the two
// sources follow the same rules. The flags are first put in the shape of
// a file's entry (flagSpec); what is only the file's (the node lists, two
// routes of a group sharing a topic) is checked after.

import (
	"fmt"
	"slices"
	"strconv"
)

// commandFields are the route fields that only mean something with a
// handler command.
var commandFields = []string{"codec", "output_topic", "dead_letter_topic", "exactly_once"}

// buildRoute makes a route from one as the user gave it (a file's entry,
// or the flags as flagSpec puts them): the defaults for the fields left
// out, and no setting that cannot apply. Giving both a built-in handler
// and a command is an error rather than a silent choice: one of the two
// would be ignored. r.check follows. On error the route says where it came
// from, for routeError.
func buildRoute(fr fileRoute, index int, flags bool) (route, error) {
	r := route{Index: index, Topics: fr.Topics, Command: fr.Command, Nodes: fr.Nodes, Flags: flags}
	if fr.Group == nil {
		return r, fieldErrorf("", "%q is required", "group")
	}
	r.Group = *fr.Group
	if fr.Handler != nil && fr.Command != nil {
		if flags {
			return r, fieldErrorf("handler", "a built-in handler and a command after -- exclude each other: give one")
		}
		return r, fieldErrorf("", "\"handler\" (built-in) and \"command\" exclude each other: give one")
	}
	if fr.Command == nil {
		r.Handler = valueOr(fr.Handler, "print")
		for i, set := range []bool{fr.Codec != nil, fr.OutputTopic != nil, fr.DeadLetterTopic != nil, fr.ExactlyOnce != nil} {
			switch {
			case set && flags:
				return r, fieldErrorf(commandFields[i], "only applies to a handler command (swarm [flags] -- CMD ARGS...)")
			case set:
				return r, fieldErrorf("", "%q only applies to a handler \"command\"", commandFields[i])
			}
		}
		return r, nil
	}
	r.Codec = valueOr(fr.Codec, "json")
	r.OutputTopic, r.DeadLetterTopic = valueOr(fr.OutputTopic, ""), valueOr(fr.DeadLetterTopic, "")
	r.ExactlyOnce = fr.ExactlyOnce != nil && *fr.ExactlyOnce
	for i, p := range []*string{fr.OutputTopic, fr.DeadLetterTopic} {
		if p != nil && *p == "" {
			return r, fieldErrorf("", "%q is empty: leave it out for none", commandFields[i+1])
		}
	}
	return r, nil
}

// valueOr is *p, or def when the field was left out.
func valueOr(p *string, def string) string {
	if p == nil {
		return def
	}
	return *p
}

// flagSpec is the flag route as a file's entry would give it. A flag
// always has a value (its default, or the demo's), so a field is left out
// where the user did not give its flag and the value does not apply: the
// handler with a command, the command's settings without one. An empty
// -output-topic or -dead-letter-topic is the flag's default, none.
// Duplicate topics are dropped: "-topics=a,a" always meant topic a.
func (c *config) flagSpec() fileRoute {
	cmd := len(c.command) > 0
	pick := func(v *string, keep bool) *string {
		if keep {
			return v
		}
		return nil
	}
	var topics []string
	for _, t := range c.topics {
		if !slices.Contains(topics, t) {
			topics = append(topics, t)
		}
	}
	return fileRoute{
		Group: &c.group, Topics: topics, Command: c.command,
		Handler:         pick(&c.handler, !cmd || c.given["handler"]),
		Codec:           pick(&c.codec, cmd || c.given["codec"]),
		OutputTopic:     pick(&c.outputTopic, cmd && c.outputTopic != "" || !cmd && c.given["output-topic"]),
		DeadLetterTopic: pick(&c.deadLetterTopic, cmd && c.deadLetterTopic != "" || !cmd && c.given["dead-letter-topic"]),
		ExactlyOnce:     pickBool(&c.exactlyOnce, cmd && c.exactlyOnce || !cmd && c.given["exactly-once"]),
	}
}

// pickBool is v where the flag belongs in the route's spec, else nil.
func pickBool(v *bool, keep bool) *bool {
	if keep {
		return v
	}
	return nil
}

// flagRoute is the single route the flags describe, as validation built it.
func (c *config) flagRoute() route {
	r, _ := buildRoute(c.flagSpec(), 0, true)
	return r
}

// allRoutes is the route set before the filters, checked: the file's
// routes with their file indices, or the flag route.
func (c *config) allRoutes() ([]route, error) {
	if c.file != nil {
		return c.fileRoutes()
	}
	r, err := buildRoute(c.flagSpec(), 0, true)
	if err == nil {
		err = r.check()
	}
	if err != nil {
		return nil, c.routeError(&r, err)
	}
	return []route{r}, nil
}

// fileRoutes turns the file's routes into checked routes, with their file
// indices.
func (c *config) fileRoutes() ([]route, error) {
	groups := map[string]int{}
	for _, fr := range c.file.Routes {
		if fr.Group != nil {
			groups[*fr.Group]++
		}
	}
	out := make([]route, 0, len(c.file.Routes))
	for i, fr := range c.file.Routes {
		r, err := buildRoute(fr, i, false)
		if err == nil {
			err = r.check()
		}
		if err == nil {
			err = c.checkRouteNodes(fr.Nodes)
		}
		if err != nil {
			return nil, c.routeError(&r, err)
		}
		r.SharedGroup = groups[r.Group] > 1
		out = append(out, r)
	}
	return out, c.checkGroupTopics(out)
}

// checkRouteNodes checks a file route's "nodes": nil is every node, else
// each one a node id that exists, once.
func (c *config) checkRouteNodes(nodes []int) error {
	if nodes == nil {
		return nil
	}
	if len(nodes) == 0 {
		return fieldErrorf("", "%q is empty, so no node would run it: leave it out for every node", "nodes")
	}
	seen := map[int]bool{}
	for _, n := range nodes {
		switch {
		case n < 0:
			return fieldErrorf("nodes", "%d is not a node id", n)
		case n >= c.nodes:
			return fieldErrorf("nodes", "node %d does not exist: node ids run from 0 to %d (%s)", n, c.nodes-1, c.nodesSource())
		case seen[n]:
			return fieldErrorf("nodes", "node %d is listed twice", n)
		}
		seen[n] = true
	}
	return nil
}

// checkGroupTopics refuses two routes of one group that share a topic: a
// group splits each partition between its members, so the topic's
// partitions would go to either handler at random.
func (c *config) checkGroupTopics(routes []route) error {
	owner := map[[2]string]int{}
	for _, r := range routes {
		for _, t := range r.Topics {
			k := [2]string{r.Group, t}
			if j, ok := owner[k]; ok {
				return c.configErrorf("routes[%d] and routes[%d] both consume topic %q in group %q: the group would give each partition to one of them at random", j, r.Index, clipped(t), clipped(r.Group))
			}
			owner[k] = r.Index
		}
	}
	return nil
}

// nodesSource says how many nodes there are and where that came from.
func (c *config) nodesSource() string {
	switch {
	case c.given["nodes"]:
		return "-nodes=" + strconv.Itoa(c.nodes)
	case c.nodesFrom != "":
		return fmt.Sprintf("%s is %d", c.nodesFrom, c.nodes)
	}
	return fmt.Sprintf("-nodes defaults to the %d CPUs available", c.nodes)
}
