//go:build linux

package main

// The checks of one route, and how their errors name a field. A route
// comes from the flags (-topics -group -handler -codec -output-topic
// -dead-letter-topic -- CMD) or from an entry of the -config file; both
// are checked by the same code, which names fields by their key in the
// file ("output_topic"), and routeError then says it the way the user
// gave it: as a flag for the flag route, as routes[i] and the key for a
// file's route. A node checks the routes its supervisor passed again
// with the same code (a handler command must still be there to start).

import (
	"errors"
	"fmt"
	"io"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"
)

// routeFields are the fields of a route the user sets: each one's key in a
// -config route and the flag that sets it on the flag route. The command
// is the words after "--", which no flag names.
var routeFields = []struct{ key, flag string }{
	{"topics", "topics"}, {"group", "group"}, {"handler", "handler"}, {"command", ""},
	{"codec", "codec"}, {"output_topic", "output-topic"}, {"dead_letter_topic", "dead-letter-topic"},
	{"exactly_once", "exactly-once"},
}

// fieldFlag is the flag that sets the route field with the file key key.
func fieldFlag(key string) string {
	for _, f := range routeFields {
		if f.key == key {
			return f.flag
		}
	}
	return key
}

// routeFlags are the flags that describe the single flag route: with
// -config, the file's routes say all of that, so they are an error.
func routeFlags() []string {
	var flags []string
	for _, f := range routeFields {
		if f.flag != "" {
			flags = append(flags, f.flag)
		}
	}
	return flags
}

// fieldError is what is wrong with one route: with one of its fields (its
// file key), or with the route as a whole when field is "". Its text is
// the file's wording; routeError restates it for the route's source.
type fieldError struct {
	field string
	msg   string
}

func (e *fieldError) Error() string {
	if e.field == "" {
		return e.msg
	}
	return strconv.Quote(e.field) + ": " + e.msg
}

// fieldErrorf is an error about the field with file key field.
func fieldErrorf(field, format string, args ...any) error {
	return &fieldError{field: field, msg: fmt.Sprintf(format, args...)}
}

// routeError states err, an error about route r, as the user gave the
// route: the flag route's names the flag (so nameEnv can name its SWARM_
// variable when that is where the value came from), a file route's its
// entry; on a node it names the route in SWARM_NODE_ROUTES.
func (c *config) routeError(r *route, err error) error {
	var fe *fieldError
	if !errors.As(err, &fe) {
		return err
	}
	switch {
	case c.nodeRoutes != "":
		// A node names what it was given, whatever the route came from.
		return fmt.Errorf("check %s route %d: %w", nodeRoutesEnv, r.Index, err)
	case r.Flags && fe.field == "command":
		return usagef("handler command: %s", fe.msg)
	case r.Flags && fe.field != "":
		return flagErrorf(fieldFlag(fe.field), "%s", fe.msg)
	}
	return c.configErrorf("routes[%d]: %v", r.Index, err)
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
	if err := checkTopics(r.Topics); err != nil {
		return err
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
	return r.checkCommand()
}

// checkTopics checks a route's input topics: at least one, each a Kafka
// topic name, none twice.
func checkTopics(topics []string) error {
	if len(topics) == 0 {
		return fieldErrorf("topics", "at least one topic is required")
	}
	seen := make(map[string]bool, len(topics))
	for _, t := range topics {
		if err := checkTopicName(t); err != nil {
			return fieldErrorf("topics", "%v", err)
		}
		if seen[t] {
			return fieldErrorf("topics", "%q is listed twice", clipped(t))
		}
		seen[t] = true
	}
	return nil
}

// checkCommand checks a route with a handler command: the command can be
// started, and its codec and topics are valid. exec.LookPath is what
// starting it will do, so "not found" and "not executable" are caught
// before any node is spawned.
func (r *route) checkCommand() error {
	if r.Handler != "" {
		return fieldErrorf("handler", "a built-in handler and a command exclude each other: give one")
	}
	if _, err := newCodec(r.Codec); err != nil {
		return fieldErrorf("codec", "must be json or lines, got %q", clipped(r.Codec))
	}
	if _, err := exec.LookPath(r.Command[0]); err != nil {
		return fieldErrorf("command", "%s", lookPathText(err))
	}
	if r.ExactlyOnce && r.OutputTopic == "" && r.DeadLetterTopic == "" {
		return fieldErrorf("exactly_once", "has nothing to write in its transactions: it needs an output topic or a dead-letter topic")
	}
	if r.OutputTopic != "" && r.OutputTopic == r.DeadLetterTopic {
		return fieldErrorf("dead_letter_topic", "%q is also the output topic: answers and failed records would mix", clipped(r.DeadLetterTopic))
	}
	for _, o := range r.producedTopics() {
		if err := r.checkOutputTopic(o.field, o.topic); err != nil {
			return err
		}
	}
	return nil
}

// checkOutputTopic checks a topic CMD's answers or failures go to: one
// valid name, and not one the route consumes, or every record would come
// back as input.
func (r *route) checkOutputTopic(field, topic string) error {
	if r.Flags && strings.ContainsAny(topic, ", \t\n") {
		return fieldErrorf(field, "one topic name, got %q", clipped(topic))
	}
	if err := checkTopicName(topic); err != nil {
		return fieldErrorf(field, "%v", err)
	}
	if !slices.Contains(r.Topics, topic) {
		return nil
	}
	if r.Flags {
		return fieldErrorf(field, "%q is also consumed (-topics): every record would come back as input", clipped(topic))
	}
	return fieldErrorf(field, "%q is also consumed by this route: every record would come back as input", clipped(topic))
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

// checkHandler checks a built-in handler spec. A spec longer than any
// valid one is refused here, so newHandler's error, which quotes the whole
// spec, is only ever about a short one.
func checkHandler(spec string) error {
	if len(spec) > maxValueBytes {
		return fmt.Errorf("unknown handler %q (want print, discard or burn=N)", clipped(spec))
	}
	_, err := newHandler(spec, io.Discard)
	return err
}

// lookPathText is exec.LookPath's error with the program name clipped.
func lookPathText(err error) string {
	var ee *exec.Error
	if errors.As(err, &ee) {
		return fmt.Sprintf("%q: %s", clipped(ee.Name), pathErrText(ee.Err))
	}
	return fmt.Sprint(clipped(err.Error()))
}

// producedTopic is a topic a route's handler command produces to, with
// the field that names it.
type producedTopic struct{ field, topic string }

// producedTopics are the topics the route's handler command produces to:
// its answers' and its failures', where set.
func (r *route) producedTopics() []producedTopic {
	var ts []producedTopic
	for _, t := range []producedTopic{{"output_topic", r.OutputTopic}, {"dead_letter_topic", r.DeadLetterTopic}} {
		if t.topic != "" {
			ts = append(ts, t)
		}
	}
	return ts
}

// handlerTopics are the names of producedTopics.
func (r *route) handlerTopics() []string {
	var ts []string
	for _, t := range r.producedTopics() {
		ts = append(ts, t.topic)
	}
	return ts
}
