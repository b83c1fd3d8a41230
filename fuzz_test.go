//go:build linux

package main

// Fuzz targets for the four parsers that take input from outside: a node's
// health reports, a handler command's answers, the -config file and the
// flags and SWARM_* variables. Each asserts properties, not only "no
// panic". Their seeds (below and testdata/fuzz/) run in every plain
// `go test`; a fuzzing run is `go test -run '^$' -fuzz FuzzX`.

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// checkErrorLine is the property every error shown to a user or logged
// must have: one line, short.
func checkErrorLine(t *testing.T, err error) {
	t.Helper()
	msg := err.Error()
	if strings.ContainsAny(msg, "\n\r") {
		t.Fatalf("error is not one line: %q", msg)
	}
	if len(msg) > maxErrorLine {
		t.Fatalf("error is %d bytes, want at most %d: %.200q...", len(msg), maxErrorLine, msg)
	}
}

// refStatuses is the health protocol read the simple way: complete lines
// of 1 to maxReportLine digits with a value up to maxStatus are statuses,
// every other complete line is garbage.
func refStatuses(b []byte) (highest int, ok bool, garbage int) {
	highest = -1
	lines := bytes.Split(b, []byte("\n"))
	for _, l := range lines[:len(lines)-1] { // the last is unterminated
		v, valid := 0, len(l) >= 1 && len(l) <= maxReportLine
		for _, c := range l {
			if c < '0' || c > '9' {
				valid = false
				break
			}
			v = min(v*10+int(c-'0'), maxStatus+1)
		}
		if valid && v <= maxStatus {
			ok, highest = true, max(highest, v)
		} else {
			garbage++
		}
	}
	return highest, ok, garbage
}

// FuzzHealthParser: however a node's stream is cut into reads, the parser
// finds what the simple reading finds, and never holds more than one
// report line.
func FuzzHealthParser(f *testing.F) {
	for _, s := range []string{"0\n", "3\n", "0\n1\n2\n", "255\n", "256\n", "-1\n", "abc\n0\n", "\n0\n",
		"000000001\n", "00000001\n", strings.Repeat("9", 5000) + "\n2\n", "1\r\n", "\x00\xff\n4\n", "7"} {
		f.Add([]byte(s), uint8(1))
		f.Add([]byte(s), uint8(3))
	}
	f.Fuzz(func(t *testing.T, b []byte, step uint8) {
		wantH, wantOK, wantG := refStatuses(b)
		var p healthParser
		gotH, gotOK, gotG := -1, false, 0
		n := max(int(step), 1)
		for i := 0; i < len(b); i += n {
			h, ok, g := p.feed(b[i:min(i+n, len(b))])
			if ok {
				gotOK, gotH = true, max(gotH, h)
			}
			gotG += g
			if cap(p.line) > 2*maxReportLine {
				t.Fatalf("parser holds %d bytes of line buffer, want at most %d", cap(p.line), 2*maxReportLine)
			}
		}
		if gotH != wantH || gotOK != wantOK || gotG != wantG {
			t.Fatalf("read in steps of %d: highest %d ok %v garbage %d, want %d %v %d", n, gotH, gotOK, gotG, wantH, wantOK, wantG)
		}
	})
}

// answerJSON renders an answer as the handler would write it, every byte
// field base64 so that any bytes survive.
func answerJSON(t *testing.T, a answer) []byte {
	t.Helper()
	b64 := func(b []byte) *string {
		if b == nil {
			return nil
		}
		s := base64.StdEncoding.EncodeToString(b)
		return &s
	}
	var ja jsonAnswer
	switch {
	case a.failed:
		ja.Error = &a.reason
	case a.out != nil:
		ja.KeyB64, ja.ValueB64 = b64(a.out.Key), b64(a.out.Value)
		ja.Headers = []jsonHeader{} // present: a record with no headers is still a record
		for _, h := range a.out.Headers {
			ja.Headers = append(ja.Headers, jsonHeader{KeyB64: b64([]byte(h.Key)), ValueB64: b64(h.Value)})
		}
	}
	out, err := json.Marshal(ja)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// FuzzJSONAnswer: an answer line is garbage with a one-line error, or an
// answer that, written back, reads as the same answer.
func FuzzJSONAnswer(f *testing.F) {
	for _, s := range []string{"", "{}", " {} ", `{"value":"v","key":"k"}`, `{"value":""}`, `{"value_b64":"AP8=","key_b64":""}`,
		`{"value":"v","headers":[{"key":"a","value":"1"},{"key":"a","value_b64":"AA=="},{"key":"n","value":null}]}`,
		`{"error":"bad input"}`, `{"error":""}`, `{"error":null}`, `{"value":`, `{"vaule":"x"}`, `{"value":"a","value_b64":"YQ=="}`,
		`{"error":"e","value":"v"}`, `{} {}`, `{"value_b64":"!!"}`, `{"headers":[{"value":"v"}]}`, `{"value":5}`, `{"headers":[]}`,
		`[1]`, `{"value":"\ud800"}`,
		// A long unknown key: the decoder's error quotes it whole.
		`{"` + strings.Repeat("k", 600) + `":1}`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, line []byte) {
		c := &jsonCodec{}
		a, err := c.decode(line)
		if err != nil {
			checkErrorLine(t, err)
			return
		}
		again, err := c.decode(answerJSON(t, a))
		if err != nil {
			t.Fatalf("answer %q decoded, but written back as %s it is refused: %v", line, answerJSON(t, a), err)
		}
		if !sameAnswer(a, again) {
			t.Fatalf("answer %q: %+v, written back and read again: %+v", line, a, again)
		}
	})
}

// sameAnswer compares answers, records by key, value and headers (nil and
// empty apart: a null key is not an empty one).
func sameAnswer(a, b answer) bool {
	if a.failed != b.failed || a.reason != b.reason || (a.out == nil) != (b.out == nil) {
		return false
	}
	if a.out == nil {
		return true
	}
	same := func(x, y []byte) bool { return (x == nil) == (y == nil) && bytes.Equal(x, y) }
	if !same(a.out.Key, b.out.Key) || !same(a.out.Value, b.out.Value) || len(a.out.Headers) != len(b.out.Headers) {
		return false
	}
	for i, h := range a.out.Headers {
		if h.Key != b.out.Headers[i].Key || !same(h.Value, b.out.Headers[i].Value) {
			return false
		}
	}
	return true
}

// checkNodeRoutes is the property of every accepted configuration: each
// node's SWARM_NODE_ROUTES fits its environment and, parsed on the node's
// side with the node's arguments, gives exactly the supervisor's routes for
// that node; and without -config the node's arguments are a fixed point.
func checkNodeRoutes(t *testing.T, sup *config, getenv func(string) string) {
	t.Helper()
	if len(sup.routeJSON) != sup.nodes {
		t.Fatalf("%d route sets for %d nodes", len(sup.routeJSON), sup.nodes)
	}
	nodeEnv := func(k string) string {
		if k == saslPasswordEnv {
			return getenv(k)
		}
		return ""
	}
	for id, js := range sup.routeJSON {
		if n := len(nodeRoutesEnv) + len(js) + 2; n > maxEnvString {
			t.Fatalf("node %d's routes take %d bytes, more than %d", id, n, maxEnvString)
		}
		node, err := parseNodeConfig(sup.nodeArgs(), nodeEnv, js)
		if err != nil {
			t.Fatalf("node %d refuses what its supervisor accepted: %v\nargs %q\nroutes %s", id, err, sup.nodeArgs(), js)
		}
		var want []route
		for _, r := range sup.routes {
			if r.runsOn(id) {
				r.Nodes = nil
				want = append(want, r)
			}
		}
		if len(want) == 0 {
			t.Fatalf("node %d runs no route", id)
		}
		gotJSON, _ := json.Marshal(node.routes)
		wantJSON, _ := json.Marshal(want)
		if !bytes.Equal(gotJSON, wantJSON) {
			t.Fatalf("node %d runs %s, want %s", id, gotJSON, wantJSON)
		}
		// With -config a node is not told the file (it runs its routes
		// from SWARM_NODE_ROUTES), so only the flag route is a fixed point.
		if a, b := sup.nodeArgs(), node.nodeArgs(); sup.configFile == "" && !slices.Equal(a, b) {
			t.Fatalf("node %d's own arguments differ from those it was given:\n%q\n%q", id, b, a)
		}
	}
}

// FuzzRoutesFile: a -config file is refused with one short usage line, or
// gives a route set every node can run as the supervisor resolved it; a
// file with a duplicated key is never accepted.
func FuzzRoutesFile(f *testing.F) {
	for _, s := range []string{
		`{"routes": [{"group": "g", "topics": ["a"]}]}`,
		`{"nodes": 2, "routes": [{"group": "ga", "topics": ["a"]}, {"group": "gb", "topics": ["b"], "nodes": [1]}]}`,
		`{"bootstrap": "h:1,h:2", "routes": [{"group": "g", "topics": ["a", "b"], "handler": "burn=10"}]}`,
		`{"bootstrap": ["h:1"], "nodes": 3, "routes": [{"group": "g", "topics": ["a"]}, {"group": "g", "topics": ["b"], "nodes": [0, 2]}]}`,
		`{"routes": [{"group": "g", "topics": ["a"], "command": ["true"], "codec": "lines", "output_topic": "o", "dead_letter_topic": "d"}]}`,
		`{"routes": [{"group": "g", "topics": ["a"]}], "routes": []}`,
		`{"ROUTES": [{"GROUP": "g", "topics": ["a"]}]}`,
		`{"routes": [{"group": "g", "topics": ["a"], "group": "h"}]}`,
		"{\"routes\": [\n  {\"group\": \"g\",}\n]}", `[{"group": "g"}]`, ``, `{"routes": []}`, `{"nodes": 0}`,
		`{"routes": [{"group": "g", "topics": ["a,b"]}]}`, `{"routes": [{"group": "g", "topics": ["a"], "nodes": [5]}]}`,
	} {
		f.Add([]byte(s))
	}
	dir := f.TempDir()
	f.Fuzz(func(t *testing.T, b []byte) {
		path := filepath.Join(dir, "routes.json")
		if err := os.WriteFile(path, b, 0o600); err != nil {
			t.Fatal(err)
		}
		env := func(string) string { return "" }
		cfg, err := parseConfig([]string{"-bootstrap=127.0.0.1:9092", "-nodes=2", "-config=" + path}, env)
		if err != nil {
			var ue *usageError
			if !errors.As(err, &ue) {
				t.Fatalf("not a usage error (exit 2): %v", err)
			}
			checkErrorLine(t, err)
			return
		}
		if dup, key := duplicateKey(b); dup {
			t.Fatalf("accepted a file with key %q given twice in one object", key)
		}
		checkNodeRoutes(t, cfg, env)
	})
}

// duplicateKey reports a key given twice in one object anywhere in the
// first JSON value of b, found independently of checkJSONKeys: by
// decoding into generic values, where a repeated key is lost, and
// counting keys on the way.
func duplicateKey(b []byte) (bool, string) {
	dec := json.NewDecoder(bytes.NewReader(b))
	var walk func() (bool, string)
	walk = func() (bool, string) {
		tok, err := dec.Token()
		if err != nil {
			return false, ""
		}
		switch tok {
		case json.Delim('{'):
			seen := map[string]bool{}
			for dec.More() {
				k, err := dec.Token()
				if err != nil {
					return false, ""
				}
				key, _ := k.(string)
				if seen[key] {
					return true, key
				}
				seen[key] = true
				if dup, key := walk(); dup {
					return dup, key
				}
			}
			dec.Token()
		case json.Delim('['):
			for dec.More() {
				if dup, key := walk(); dup {
					return dup, key
				}
			}
			dec.Token()
		}
		return false, ""
	}
	return walk()
}

// FuzzParseConfig: any arguments and SWARM_* variables are refused with one
// short line, or give a configuration whose nodes accept exactly what the
// supervisor validated.
func FuzzParseConfig(f *testing.F) {
	ok := "-bootstrap=127.0.0.1:9092\x00-topics=orders"
	for _, s := range []struct{ args, env string }{
		{ok, ""}, {"-nodes\x000\x00" + ok, ""}, {"-nodes=1025\x00" + ok, ""}, {"-nodes=abc\x00" + ok, ""},
		{"-session-timeout=50ms\x00" + ok, ""}, {"-report-interval=2m\x00" + ok, ""}, {"-bootstrap=:9092\x00-topics=a", ""},
		{"-bo\ngus\x00" + ok, ""}, {"-=a\nb\x00" + ok, ""}, {"-balancer=a\nb\x00" + ok, ""}, {"-handler=burn=0\x00" + ok, ""},
		{ok + "\x00extra", ""}, {ok, "SWARM_NODES=0"}, {ok, "SWARM_REPORT_INTERVAL=5m"}, {"-topics=orders", "SWARM_BOOTSTRAP=nohost"},
		{ok + "\x00-include-topics=orders\x00-exclude-topics=x", ""}, {ok + "\x00-nodes=3\x00-group=g\x00-instance-id=", ""},
		{ok + "\x00--\x00true\x00-x", ""}, {ok + "\x00-codec=lines\x00-output-topic=o\x00--\x00cat", ""},
		{ok + "\x00-sasl-mechanism=plain\x00-sasl-user=u", "SWARM_SASL_PASSWORD=pw"}, {ok + "\x00-tls", ""},
		{ok + "\x00-memory-limit=9223372036854775807", ""}, {"-demo\x00-demo-records=0", ""}, {"-h", ""}, {"-version", ""},
		{ok + "\x00-retry-backoff=200ms\x00-retry-max-backoff=1s\x00-max-retries=0", ""}, {"-retry-backoff=0\x00" + ok, ""},
		{"-retry-backoff=10s\x00-retry-max-backoff=5s\x00" + ok, ""}, {"-max-retries=1000001\x00" + ok, ""},
		{ok + "\x00-on-retries-exhausted=skip\x00--\x00true", ""}, {ok + "\x00-dead-letter-topic=d\x00--\x00true", "SWARM_ON_RETRIES_EXHAUSTED=skip"},
		{ok, "SWARM_RETRY_BACKOFF=1h\x00SWARM_RETRY_MAX_BACKOFF=24h\x00SWARM_MAX_RETRIES=1000000"},
	} {
		f.Add(s.args, s.env)
	}
	f.Fuzz(func(t *testing.T, args, envs string) {
		env := map[string]string{}
		for _, kv := range strings.Split(envs, "\x00") {
			if k, v, ok := strings.Cut(kv, "="); ok && strings.HasPrefix(k, "SWARM_") {
				env[k] = v
			}
		}
		// Files: none of the fuzzer's choosing is read (a FIFO would
		// wait for its writer); file flags have their own tests.
		argv := strings.Split(args, "\x00")
		for _, a := range argv {
			if strings.Contains(a, "config") || strings.Contains(a, "tls-") || strings.Contains(a, "password-file") {
				t.Skip()
			}
		}
		for k := range env {
			if strings.Contains(k, "CONFIG") || strings.Contains(k, "TLS_") || strings.Contains(k, "PASSWORD_FILE") {
				t.Skip()
			}
		}
		getenv := func(k string) string { return env[k] }
		cfg, err := parseConfig(argv, getenv)
		if err != nil {
			checkErrorLine(t, err)
			return
		}
		if cfg.help || cfg.version || cfg.demo {
			return
		}
		checkNodeRoutes(t, cfg, getenv)
	})
}
