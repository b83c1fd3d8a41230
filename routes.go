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
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os/exec"
	"reflect"
	"slices"
	"sort"
	"strconv"
	"strings"
	"unicode/utf8"
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
	// Nodes are the node ids that run the route; nil: every node. The
	// supervisor uses it to pick each node's routes; nodes get only theirs.
	Nodes []int `json:"nodes,omitempty"`
	// SharedGroup: the file has several routes of this group, so the
	// client id carries the route index to tell a node's clients apart.
	SharedGroup bool `json:"shared_group,omitempty"`
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

// routeFile is the -config file.
type routeFile struct {
	Bootstrap *stringList `json:"bootstrap"`
	Nodes     *int        `json:"nodes"`
	Routes    []fileRoute `json:"routes"`
}

// fileRoute is one route as the file gives it. Pointers tell a field left
// out from one given empty.
type fileRoute struct {
	Group           *string  `json:"group"`
	Topics          []string `json:"topics"`
	Handler         *string  `json:"handler"`
	Command         []string `json:"command"`
	Codec           *string  `json:"codec"`
	OutputTopic     *string  `json:"output_topic"`
	DeadLetterTopic *string  `json:"dead_letter_topic"`
	Nodes           []int    `json:"nodes"`
}

// stringList is a JSON string holding a comma-separated list, or a list of
// strings.
type stringList []string

func (l *stringList) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err == nil {
		*l = splitList(s)
		return nil
	}
	var ss []string
	if err := json.Unmarshal(b, &ss); err != nil {
		return errors.New(`"bootstrap" must be a string ("host:port,host:port") or a list of strings`)
	}
	*l = nil
	for _, s := range ss {
		*l = append(*l, splitList(s)...)
	}
	return nil
}

// routeFlags are the flags that describe the single flag route: with
// -config, the file's routes say all of that, so they are an error.
var routeFlags = []string{"topics", "group", "handler", "codec", "output-topic", "dead-letter-topic"}

// filterFlags are Karafka's CLI filters, in the order they apply.
var filterFlags = []string{"include-consumer-groups", "exclude-consumer-groups", "include-topics", "exclude-topics"}

// configErrorf is a usage error about the -config file.
func (c *config) configErrorf(format string, args ...any) error {
	return &usageError{msg: fmt.Sprintf("-config %s: ", clipped(c.configFile)) + fmt.Sprintf(format, args...), flags: []string{"config"}}
}

// loadConfigFile reads -config, checks that no route-level flag competes
// with it, and applies its node-level settings where no flag or variable
// gave one (those win). Its routes are resolved later, by resolveRoutes.
func (c *config) loadConfigFile() error {
	for _, name := range routeFlags {
		if c.given[name] {
			return flagErrorf(name, "a route setting, not allowed with -config: put it in the file's routes")
		}
	}
	if len(c.command) > 0 {
		return &usageError{msg: "a command after -- is a route setting, not allowed with -config: put it in a route's \"command\"", flags: []string{"config"}}
	}
	if c.demo {
		return flagErrorf("demo", "runs its own topic and handler: not with -config")
	}
	b, err := readInputFile(c.configFile, routesFileKind)
	if err != nil {
		// readInputFile names the path itself.
		return &usageError{msg: "-config " + err.Error(), flags: []string{"config"}}
	}
	// Before the decoder, which takes the last of two equal keys and
	// matches field names in any case: both would pass a slip silently.
	if err := checkJSONKeys(b, reflect.TypeFor[routeFile]()); err != nil {
		return c.configErrorf("%v", err)
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	var f routeFile
	if err := dec.Decode(&f); err != nil {
		if errors.Is(err, io.EOF) {
			return c.configErrorf("empty file: want a JSON object with \"routes\"")
		}
		return c.configErrorf("%s", jsonErrorText(b, err))
	}
	if err := dec.Decode(&struct{}{}); !errors.Is(err, io.EOF) {
		return c.configErrorf("line %d: more after the JSON object", lineOf(b, dec.InputOffset()))
	}
	if f.Bootstrap != nil {
		if len(*f.Bootstrap) == 0 {
			return c.configErrorf("\"bootstrap\": at least one host:port is required")
		}
		for _, h := range *f.Bootstrap {
			if err := checkHostPort(h); err != nil {
				return c.configErrorf("\"bootstrap\": %q: %v", clipped(h), err)
			}
		}
		if !c.given["bootstrap"] {
			c.bootstrap = *f.Bootstrap
		}
	}
	if f.Nodes != nil {
		if n := *f.Nodes; n < 1 || n > 1024 {
			return c.configErrorf("\"nodes\": must be from 1 to 1024, got %d", n)
		}
		if !c.given["nodes"] {
			c.nodes = *f.Nodes
			c.nodesFrom = fmt.Sprintf("\"nodes\" in %s", clipped(c.configFile))
		}
	}
	if len(f.Routes) == 0 {
		return c.configErrorf("no routes: want \"routes\": [{\"group\": ..., \"topics\": [...]}, ...]")
	}
	c.file = &f
	return nil
}

// jsonErrorText makes a decoder error one readable line with its place.
func jsonErrorText(b []byte, err error) string {
	var se *json.SyntaxError
	var te *json.UnmarshalTypeError
	switch {
	case errors.As(err, &se):
		return fmt.Sprintf("line %d: not valid JSON: %s", lineOf(b, se.Offset), oneLine(se.Error()))
	case errors.As(err, &te):
		field := te.Field
		if field == "" {
			return fmt.Sprintf("line %d: want a JSON object with \"routes\", got %s", lineOf(b, te.Offset), clipped(te.Value))
		}
		// te.Value quotes a number as written: it can be any length.
		return fmt.Sprintf("line %d: %q: want %s, got %s", lineOf(b, te.Offset), field, jsonTypeName(te.Type.String()), clipped(te.Value))
	case errors.Is(err, io.ErrUnexpectedEOF):
		return "not valid JSON: the file ends inside a value"
	}
	return clipLine(oneLine(strings.TrimPrefix(err.Error(), "json: ")), maxErrorLine/2)
}

// jsonTypeName says in words what a field of the file takes.
func jsonTypeName(goType string) string {
	switch goType {
	case "string", "*string":
		return "a string"
	case "int", "*int":
		return "a whole number"
	case "[]string":
		return "a list of strings"
	case "[]int":
		return "a list of node ids"
	case "[]main.fileRoute":
		return "a list of routes"
	case "main.fileRoute", "main.routeFile":
		return "an object"
	}
	return goType
}

// lineOf is the 1-based line of byte offset off in b.
func lineOf(b []byte, off int64) int {
	if off > int64(len(b)) {
		off = int64(len(b))
	}
	return 1 + bytes.Count(b[:off], []byte("\n"))
}

// flagRoute is the single route the flags describe.
func (c *config) flagRoute() route {
	// Duplicates are dropped: "-topics=a,a" always meant topic a.
	var topics []string
	for _, t := range c.topics {
		if !slices.Contains(topics, t) {
			topics = append(topics, t)
		}
	}
	r := route{Index: 0, Group: c.group, Topics: topics}
	if len(c.command) > 0 {
		r.Command, r.Codec, r.OutputTopic, r.DeadLetterTopic = c.command, c.codec, c.outputTopic, c.deadLetterTopic
	} else {
		r.Handler = c.handler
	}
	return r
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
	var out []route
	for i, fr := range c.file.Routes {
		r := route{Index: i, Topics: fr.Topics, Command: fr.Command, Nodes: fr.Nodes}
		if fr.Group == nil {
			return nil, c.configErrorf("routes[%d]: \"group\" is required", i)
		}
		r.Group = *fr.Group
		r.SharedGroup = groups[r.Group] > 1
		if fr.Handler != nil && fr.Command != nil {
			return nil, c.configErrorf("routes[%d]: \"handler\" (built-in) and \"command\" exclude each other: give one", i)
		}
		if fr.Command == nil {
			r.Handler = "print"
			if fr.Handler != nil {
				r.Handler = *fr.Handler
			}
			for _, f := range []struct {
				name string
				set  bool
			}{{"codec", fr.Codec != nil}, {"output_topic", fr.OutputTopic != nil}, {"dead_letter_topic", fr.DeadLetterTopic != nil}} {
				if f.set {
					return nil, c.configErrorf("routes[%d]: %q only applies to a handler \"command\"", i, f.name)
				}
			}
		} else {
			r.Codec = "json"
			if fr.Codec != nil {
				r.Codec = *fr.Codec
			}
			if fr.OutputTopic != nil {
				r.OutputTopic = *fr.OutputTopic
				if r.OutputTopic == "" {
					return nil, c.configErrorf("routes[%d]: \"output_topic\" is empty: leave it out for none", i)
				}
			}
			if fr.DeadLetterTopic != nil {
				r.DeadLetterTopic = *fr.DeadLetterTopic
				if r.DeadLetterTopic == "" {
					return nil, c.configErrorf("routes[%d]: \"dead_letter_topic\" is empty: leave it out for none", i)
				}
			}
		}
		if err := r.check(); err != nil {
			return nil, c.configErrorf("routes[%d]: %v", i, err)
		}
		if fr.Nodes != nil {
			if len(fr.Nodes) == 0 {
				return nil, c.configErrorf("routes[%d]: \"nodes\" is empty, so no node would run it: leave it out for every node", i)
			}
			seen := map[int]bool{}
			for _, n := range fr.Nodes {
				switch {
				case n < 0:
					return nil, c.configErrorf("routes[%d]: \"nodes\": %d is not a node id", i, n)
				case n >= c.nodes:
					return nil, c.configErrorf("routes[%d]: \"nodes\": node %d does not exist: node ids run from 0 to %d (%s)", i, n, c.nodes-1, c.nodesSource())
				case seen[n]:
					return nil, c.configErrorf("routes[%d]: \"nodes\": node %d is listed twice", i, n)
				}
				seen[n] = true
			}
		}
		out = append(out, r)
	}
	// One group splits each partition between its members: two routes of a
	// group that share a topic would see its partitions go to either
	// handler at random.
	owner := map[[2]string]int{}
	for _, r := range out {
		for _, t := range r.Topics {
			k := [2]string{r.Group, t}
			if j, ok := owner[k]; ok {
				return nil, c.configErrorf("routes[%d] and routes[%d] both consume topic %q in group %q: the group would give each partition to one of them at random", j, r.Index, clipped(t), clipped(r.Group))
			}
			owner[k] = r.Index
		}
	}
	return out, nil
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

// fieldError is a route check's failure, naming the file's field: the
// caller says where the route came from (a file entry or the flags).
type fieldError struct {
	field string // the file's field name: "topics", "output_topic", ...
	msg   string
}

func (e *fieldError) Error() string { return strconv.Quote(e.field) + ": " + e.msg }

// flagError restates a check of the flag route as an error about its flag.
func (e *fieldError) flagError() error {
	switch e.field {
	case "command":
		return usagef("handler command: %s", e.msg)
	case "output_topic", "dead_letter_topic":
		return flagErrorf(strings.ReplaceAll(e.field, "_", "-"), "%s", e.msg)
	}
	return flagErrorf(e.field, "%s", e.msg)
}

// fieldErrorf is an error about one field of the config file.
func fieldErrorf(field, format string, args ...any) error {
	return &fieldError{field: field, msg: fmt.Sprintf(format, args...)}
}

// check validates a route by itself: a file's route, the flag route, or one
// a node was given (which must pass exactly as it did on the supervisor).
func (r *route) check() error {
	if strings.TrimSpace(r.Group) == "" {
		return fieldErrorf("group", "must not be empty")
	}
	if err := checkUTF8("group", r.Group); err != nil {
		return err
	}
	for _, a := range r.Command {
		if err := checkUTF8("command", a); err != nil {
			return err
		}
	}
	if len(r.Topics) == 0 {
		return fieldErrorf("topics", "at least one topic is required")
	}
	seen := map[string]bool{}
	for _, t := range r.Topics {
		if err := checkTopicName(t); err != nil {
			return fieldErrorf("topics", "%v", err)
		}
		if seen[t] {
			return fieldErrorf("topics", "%q is listed twice", clipped(t))
		}
		seen[t] = true
	}
	if len(r.Command) == 0 {
		if r.Command != nil {
			return fieldErrorf("command", "empty: want [\"program\", \"arg\", ...]")
		}
		if err := checkHandler(r.Handler); err != nil {
			return fieldErrorf("handler", "%v", err)
		}
		return nil
	}
	if r.Handler != "" {
		return fieldErrorf("handler", "a built-in handler and a command exclude each other: give one")
	}
	if _, err := newCodec(r.Codec); err != nil {
		return fieldErrorf("codec", "must be json or lines, got %q", clipped(r.Codec))
	}
	if _, err := exec.LookPath(r.Command[0]); err != nil {
		return fieldErrorf("command", "%s", lookPathText(err))
	}
	for _, o := range []struct{ field, topic string }{{"output_topic", r.OutputTopic}, {"dead_letter_topic", r.DeadLetterTopic}} {
		if o.topic == "" {
			continue
		}
		if err := checkTopicName(o.topic); err != nil {
			return fieldErrorf(o.field, "%v", err)
		}
		if seen[o.topic] {
			return fieldErrorf(o.field, "%q is also consumed by this route: every record would come back as input", clipped(o.topic))
		}
	}
	return nil
}

// maxTopicName is Kafka's limit on a topic name's length.
const maxTopicName = 249

// checkTopicName rejects what cannot be one Kafka topic name. Kafka allows
// only ASCII letters, digits, '.', '_' and '-' (and no "." or ".."), so no
// broker holds any other name; checking it here also keeps every name the
// same in SWARM_NODE_ROUTES, whose JSON would turn bytes that are not
// UTF-8 into U+FFFD and send a node to a topic nobody checked.
func checkTopicName(t string) error {
	if t == "" {
		return errors.New("an empty topic name")
	}
	if strings.ContainsAny(t, ", \t\r\n") {
		return fmt.Errorf("%q is not one topic name", clipped(t))
	}
	if len(t) > maxTopicName || t == "." || t == ".." || strings.ContainsFunc(t, func(r rune) bool {
		return !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '.' || r == '_' || r == '-')
	}) {
		return fmt.Errorf("%q is not a Kafka topic name: ASCII letters, digits, '.', '_' and '-', at most %d of them", clipped(t), maxTopicName)
	}
	return nil
}

// checkUTF8 refuses a route's text that is not UTF-8: the nodes get their
// routes as JSON (SWARM_NODE_ROUTES), which would change it.
func checkUTF8(field, s string) error {
	if !utf8.ValidString(s) {
		return fieldErrorf(field, "%q is not valid UTF-8, which the routes passed to the nodes (JSON) cannot carry", clipped(s))
	}
	return nil
}

// resolveRoutes builds the route set the swarm runs. On a supervisor: the
// file's routes or the flag route, then the filters, then the checks on
// the whole set (every node has something to run), and each node's
// SWARM_NODE_ROUTES. On a node: the routes its supervisor passed.
func (c *config) resolveRoutes() error {
	if c.nodeRoutes != "" {
		return c.decodeNodeRoutes()
	}
	var all []route
	if c.file != nil {
		var err error
		if all, err = c.fileRoutes(); err != nil {
			return err
		}
	} else {
		r := c.flagRoute()
		if err := r.check(); err != nil {
			var fe *fieldError
			if errors.As(err, &fe) {
				return fe.flagError()
			}
			return err
		}
		all = []route{r}
	}
	if c.file != nil {
		if id, ok := idleNode(all, c.nodes); !ok {
			return c.configErrorf("node %d runs no route: every route lists its \"nodes\" and none lists %d (%s)", id, id, c.nodesSource())
		}
	}
	sel, err := c.filterRoutes(all)
	if err != nil {
		return err
	}
	if id, ok := idleNode(sel, c.nodes); !ok {
		return &usageError{msg: fmt.Sprintf("%s: the filters leave node %d with no route to run", c.filtersGiven(), id), flags: c.filterNames()}
	}
	c.routes, c.totalRoutes = sel, len(all)
	c.routeJSON = make([]string, c.nodes)
	for id := range c.routeJSON {
		nr := nodeRoutes{FileRoutes: c.totalRoutes}
		for _, r := range sel {
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
			if c.file == nil {
				return flagErrorf("topics", "node %d's route takes %d bytes, more than the %d a node's environment can carry", id, n, maxEnvString)
			}
			return c.configErrorf("node %d's routes take %d bytes, more than the %d a node's environment can carry", id, n, maxEnvString)
		}
		c.routeJSON[id] = string(b)
	}
	return nil
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

// filterNames are the filter flags given.
func (c *config) filterNames() []string {
	var out []string
	for _, f := range filterFlags {
		if len(c.filterValues(f)) > 0 {
			out = append(out, f)
		}
	}
	return out
}

// filtersGiven renders the given filters as -flag=a,b ..., for errors.
func (c *config) filtersGiven() string {
	var parts []string
	for _, f := range c.filterNames() {
		parts = append(parts, "-"+f+"="+clipList(c.filterValues(f), ","))
	}
	return strings.Join(parts, " ")
}

func (c *config) filterValues(name string) []string {
	switch name {
	case "include-consumer-groups":
		return c.includeGroups
	case "exclude-consumer-groups":
		return c.excludeGroups
	case "include-topics":
		return c.includeTopics
	case "exclude-topics":
		return c.excludeTopics
	}
	return nil
}

// filterRoutes applies Karafka's CLI filters: the group filters select
// routes, the topic filters select topics within them, and a route left
// without topics is dropped. Every name must match something in the whole
// route set (before any filter), and something must be left.
func (c *config) filterRoutes(all []route) ([]route, error) {
	groups, topics := map[string]bool{}, map[string]bool{}
	for _, r := range all {
		groups[r.Group] = true
		for _, t := range r.Topics {
			topics[t] = true
		}
	}
	for _, f := range filterFlags {
		known, what := groups, "group"
		if strings.HasSuffix(f, "-topics") {
			known, what = topics, "topic"
		}
		for _, name := range c.filterValues(f) {
			if !known[name] {
				return nil, flagErrorf(f, "%q matches no route's %s (%ss: %s)", clipped(name), what, what, someNames(known))
			}
		}
	}
	if len(c.filterNames()) == 0 {
		return all, nil
	}
	in := func(list []string, s string) bool { return slices.Contains(list, s) }
	var out []route
	for _, r := range all {
		if (len(c.includeGroups) > 0 && !in(c.includeGroups, r.Group)) || in(c.excludeGroups, r.Group) {
			continue
		}
		var ts []string
		for _, t := range r.Topics {
			if (len(c.includeTopics) == 0 || in(c.includeTopics, t)) && !in(c.excludeTopics, t) {
				ts = append(ts, t)
			}
		}
		if len(ts) == 0 {
			continue
		}
		r.Topics = ts
		out = append(out, r)
	}
	if len(out) == 0 {
		return nil, &usageError{msg: c.filtersGiven() + ": the filters leave nothing to consume", flags: c.filterNames()}
	}
	return out, nil
}

// someNames lists a set's names, sorted and clipped, for an error line.
func someNames(set map[string]bool) string {
	names := make([]string, 0, len(set))
	for s := range set {
		names = append(names, s)
	}
	sort.Strings(names)
	return clipList(names, ", ")
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
			return fmt.Errorf("check %s route %d: %w", nodeRoutesEnv, nr.Routes[i].Index, err)
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
