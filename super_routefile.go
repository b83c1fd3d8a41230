//go:build linux

package main

// The -config file: a JSON object with the routes and optionally the
// brokers and the node count. Only the supervisor reads it, once; its
// routes are built and checked by super_routebuild.go, and each node is
// handed its share (routes.go).

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"reflect"
	"strings"
)

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
	ExactlyOnce     *bool    `json:"exactly_once"`
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

// configErrorf is a usage error about the -config file.
func (c *config) configErrorf(format string, args ...any) error {
	return &usageError{msg: fmt.Sprintf("-config %s: ", clipped(c.configFile)) + fmt.Sprintf(format, args...), flags: []string{"config"}}
}

// loadConfigFile reads -config, checks that no route-level flag competes
// with it, and applies its node-level settings where no flag or variable
// gave one (those win). Its routes are resolved later, by resolveRoutes.
func (c *config) loadConfigFile() error {
	if err := c.checkNoFlagRoute(); err != nil {
		return err
	}
	b, err := readInputFile(c.configFile, routesFileKind)
	if err != nil {
		// readInputFile names the path itself.
		return &usageError{msg: "-config " + err.Error(), flags: []string{"config"}}
	}
	f, err := c.decodeRouteFile(b)
	if err != nil {
		return err
	}
	if err := c.applyFileSettings(f); err != nil {
		return err
	}
	if len(f.Routes) == 0 {
		return c.configErrorf("no routes: want \"routes\": [{\"group\": ..., \"topics\": [...]}, ...]")
	}
	c.file = f
	return nil
}

// checkNoFlagRoute refuses what describes the flag route next to -config,
// whose routes say all of that.
func (c *config) checkNoFlagRoute() error {
	for _, name := range routeFlags() {
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
	return nil
}

// decodeRouteFile decodes the file's one JSON object, strictly: no unknown
// field, no key twice or in another case, nothing after it.
func (c *config) decodeRouteFile(b []byte) (*routeFile, error) {
	// Before the decoder, which takes the last of two equal keys and
	// matches field names in any case: both would pass a slip silently.
	if err := checkJSONKeys(b, reflect.TypeFor[routeFile]()); err != nil {
		return nil, c.configErrorf("%v", err)
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	var f routeFile
	if err := dec.Decode(&f); err != nil {
		if errors.Is(err, io.EOF) {
			return nil, c.configErrorf("empty file: want a JSON object with \"routes\"")
		}
		return nil, c.configErrorf("%s", jsonErrorText(b, err))
	}
	if err := dec.Decode(&struct{}{}); !errors.Is(err, io.EOF) {
		return nil, c.configErrorf("line %d: more after the JSON object", lineOf(b, dec.InputOffset()))
	}
	return &f, nil
}

// applyFileSettings checks the file's node-level settings like their
// flags and applies those no flag or variable gave.
func (c *config) applyFileSettings(f *routeFile) error {
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
