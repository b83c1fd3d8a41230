//go:build linux

package main

// Unit tests of the handler command's framing: what a handler reads for a
// record, and what the node makes of an answer, byte for byte.

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
)

// codecCases are records that stress the framing: binary and empty data,
// null keys and values, everything JSON must escape, repeated headers.
func codecCases() []struct {
	doc string
	rec *kgo.Record
} {
	return []struct {
		doc string
		rec *kgo.Record
	}{
		{"plain text", &kgo.Record{Key: []byte("k1"), Value: []byte("hello")}},
		{"null key and value", &kgo.Record{}},
		{"empty key and value (not null)", &kgo.Record{Key: []byte{}, Value: []byte{}}},
		{"JSON specials", &kgo.Record{Key: []byte(`"quoted" \back\`), Value: []byte("tab\there\nnewline\r\x00nul\x1fus\x7fdel")}},
		{"unicode", &kgo.Record{Key: []byte("ключ"), Value: []byte("日本語 \u2028 \u2029 😀")}},
		{"binary value", &kgo.Record{Key: []byte("bin"), Value: []byte{0xff, 0xfe, 0x00, 0x80, '\n'}}},
		{"binary key", &kgo.Record{Key: []byte{0xc3, 0x28}, Value: []byte("v")}},
		{"truncated UTF-8", &kgo.Record{Value: []byte("ab\xe6\x97")}},
		{"headers", &kgo.Record{Value: []byte("v"), Headers: []kgo.RecordHeader{
			{Key: "trace", Value: []byte("abc")},
			{Key: "trace", Value: []byte("def")}, // repeated: order and both kept
			{Key: "empty", Value: []byte{}},
			{Key: "null", Value: nil},
			{Key: "bin", Value: []byte{0x00, 0xff}},
			{Key: "\xff\xfebad key", Value: []byte("x")},
			{Key: "", Value: []byte("empty key")},
		}}},
		{"large value", &kgo.Record{Value: bytes.Repeat([]byte("x\"\n\\y"), 100_000)}},
	}
}

// TestJSONCodecFrames: every frame is one line of valid JSON that gives back
// the record's topic, partition, offset, timestamp, key, value and headers.
func TestJSONCodecFrames(t *testing.T) {
	ts := time.Date(2024, 5, 1, 10, 0, 0, 123_000_000, time.FixedZone("CEST", 2*3600))
	for _, tc := range codecCases() {
		t.Run(tc.doc, func(t *testing.T) {
			r := *tc.rec
			r.Topic, r.Partition, r.Offset, r.Timestamp = "orders\"x", 7, 1<<40, ts
			line, err := (&jsonCodec{}).encode([]byte("prefix"), &r, 1)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.HasPrefix(line, []byte("prefix")) {
				t.Fatal("encode did not append")
			}
			line = line[len("prefix"):]
			if bytes.IndexByte(line, '\n') != len(line)-1 {
				t.Fatalf("frame is not exactly one line: %q", line)
			}
			var raw map[string]json.RawMessage
			if err := json.Unmarshal(line, &raw); err != nil {
				t.Fatalf("frame is not JSON: %v: %q", err, line)
			}
			for _, k := range []string{"partition", "offset"} {
				if c := raw[k][0]; c < '0' || c > '9' {
					t.Errorf("%s is not a JSON number: %s", k, raw[k])
				}
			}
			var f jsonFrame
			dec := json.NewDecoder(bytes.NewReader(line))
			dec.DisallowUnknownFields()
			if err := dec.Decode(&f); err != nil {
				t.Fatalf("frame has fields jsonFrame does not document: %v", err)
			}
			if f.Topic != r.Topic || f.Partition != r.Partition || f.Offset != r.Offset {
				t.Errorf("topic/partition/offset %q/%d/%d, want %q/%d/%d", f.Topic, f.Partition, f.Offset, r.Topic, r.Partition, r.Offset)
			}
			if got, err := time.Parse(time.RFC3339, f.Timestamp); err != nil || !got.Equal(ts) {
				t.Errorf("timestamp %q (%v), want RFC 3339 of %v", f.Timestamp, err, ts)
			}
			if _, present := raw["key"]; !present && f.KeyB64 == nil {
				t.Error(`neither "key" (null when absent) nor "key_b64"`)
			}
			checkField(t, "key", r.Key, f.Key, f.KeyB64)
			checkField(t, "value", r.Value, f.Value, f.ValueB64)
			if f.Headers == nil || len(f.Headers) != len(r.Headers) {
				t.Fatalf("headers %v, want %d (a list, [] when none)", f.Headers, len(r.Headers))
			}
			for i, h := range r.Headers {
				checkField(t, "header key", []byte(h.Key), f.Headers[i].Key, f.Headers[i].KeyB64)
				checkField(t, "header value", h.Value, f.Headers[i].Value, f.Headers[i].ValueB64)
			}
		})
	}
}

// checkField: UTF-8 travels as a JSON string, anything else as base64 in
// the _b64 twin, nil as null.
func checkField(t *testing.T, name string, want []byte, plain, b64 *string) {
	t.Helper()
	switch {
	case want == nil:
		if plain != nil || b64 != nil {
			t.Errorf("%s: want null, got %v / %v", name, plain, b64)
		}
	case plain != nil:
		if b64 != nil || *plain != string(want) {
			t.Errorf("%s: got %q (b64 %v), want %q", name, *plain, b64, want)
		}
	case b64 != nil:
		got, err := base64.StdEncoding.DecodeString(*b64)
		if err != nil || !bytes.Equal(got, want) {
			t.Errorf("%s_b64: got %q (%v), want %q", name, got, err, want)
		}
		if strings.ToValidUTF8(string(want), "") == string(want) {
			t.Errorf("%s: valid UTF-8 %q sent as base64", name, want)
		}
	default:
		t.Errorf("%s: absent, want %q", name, want)
	}
}

// TestJSONCodecEchoRoundTrip: a handler that answers with the key, value and
// headers it was given produces exactly the record it got, including
// binary data, empty and null values and repeated headers.
func TestJSONCodecEchoRoundTrip(t *testing.T) {
	cases := codecCases()
	rng := rand.New(rand.NewPCG(1, 2))
	for i := 0; i < 200; i++ {
		v := make([]byte, rng.IntN(64))
		for j := range v {
			v[j] = byte(rng.IntN(256))
		}
		cases = append(cases, struct {
			doc string
			rec *kgo.Record
		}{"random bytes", &kgo.Record{Key: v[:len(v)/2], Value: v, Headers: []kgo.RecordHeader{{Key: string(v[len(v)/3:]), Value: v[:len(v)/3]}}}})
	}
	for _, tc := range cases {
		line, err := (&jsonCodec{}).encode(nil, tc.rec, 1)
		if err != nil {
			t.Fatal(err)
		}
		// The echo answer as a handler builds it: the frame minus its
		// metadata, re-encoded by a real JSON encoder.
		var f jsonFrame
		if err := json.Unmarshal(line, &f); err != nil {
			t.Fatal(err)
		}
		ans, err := json.Marshal(jsonAnswer{Key: f.Key, KeyB64: f.KeyB64, Value: f.Value, ValueB64: f.ValueB64, Headers: f.Headers})
		if err != nil {
			t.Fatal(err)
		}
		a, err := (&jsonCodec{}).decode(ans)
		if err != nil {
			t.Fatalf("%s: decode %s: %v", tc.doc, ans, err)
		}
		if a.failed || a.out == nil {
			t.Fatalf("%s: answer %s: failed=%v out=%v, want a record", tc.doc, ans, a.failed, a.out)
		}
		if err := sameRecord(a.out, tc.rec); err != nil {
			t.Errorf("%s: %v (answer %s)", tc.doc, err, ans)
		}
	}
}

// sameRecord compares key, value and headers exactly, nil apart from empty.
func sameRecord(got, want *kgo.Record) error {
	eq := func(a, b []byte) bool { return (a == nil) == (b == nil) && bytes.Equal(a, b) }
	if !eq(got.Key, want.Key) {
		return fmt.Errorf("key %q (nil %v), want %q (nil %v)", got.Key, got.Key == nil, want.Key, want.Key == nil)
	}
	if !eq(got.Value, want.Value) {
		return fmt.Errorf("value %.40q (nil %v), want %.40q (nil %v)", got.Value, got.Value == nil, want.Value, want.Value == nil)
	}
	if len(got.Headers) != len(want.Headers) {
		return fmt.Errorf("headers %v, want %v", got.Headers, want.Headers)
	}
	for i := range want.Headers {
		if got.Headers[i].Key != want.Headers[i].Key || !eq(got.Headers[i].Value, want.Headers[i].Value) {
			return fmt.Errorf("header %d: %q=%q, want %q=%q", i, got.Headers[i].Key, got.Headers[i].Value, want.Headers[i].Key, want.Headers[i].Value)
		}
	}
	return nil
}

func TestJSONCodecAnswers(t *testing.T) {
	type want struct {
		garbage bool
		failed  bool
		reason  string
		out     *kgo.Record // nil: done, nothing to produce
	}
	for _, tc := range []struct {
		doc  string
		line string
		want want
	}{
		{"empty line is done", "", want{}},
		{"white space is done", " \t\r", want{}},
		{"{} is done", "{}", want{}},
		{"{} with spaces is done", " { } ", want{}},
		{"value and key produce", `{"value":"v","key":"k"}`, want{out: &kgo.Record{Key: []byte("k"), Value: []byte("v")}}},
		{"value alone: null key", `{"value":"v"}`, want{out: &kgo.Record{Value: []byte("v")}}},
		{"empty value is not null", `{"value":""}`, want{out: &kgo.Record{Value: []byte{}}}},
		{"base64", `{"value_b64":"AP8=","key_b64":""}`, want{out: &kgo.Record{Key: []byte{}, Value: []byte{0, 0xff}}}},
		{"headers", `{"value":"v","headers":[{"key":"a","value":"1"},{"key":"a","value_b64":"AA=="},{"key":"n","value":null}]}`,
			want{out: &kgo.Record{Value: []byte("v"), Headers: []kgo.RecordHeader{{Key: "a", Value: []byte("1")}, {Key: "a", Value: []byte{0}}, {Key: "n"}}}}},
		{"error fails", `{"error":"bad input"}`, want{failed: true, reason: "bad input"}},
		{"empty error still fails", `{"error":""}`, want{failed: true}},
		{"null error is no error", `{"error":null}`, want{}},
		{"not JSON", "ok", want{garbage: true}},
		{"half an object", `{"value":`, want{garbage: true}},
		{"array", `[]`, want{garbage: true}},
		{"null", `null`, want{garbage: true}},
		{"string", `"done"`, want{garbage: true}},
		{"misspelt field", `{"vaule":"x"}`, want{garbage: true}},
		{"value twice", `{"value":"a","value_b64":"YQ=="}`, want{garbage: true}},
		{"error with a record", `{"error":"e","value":"v"}`, want{garbage: true}},
		{"two objects", `{} {}`, want{garbage: true}},
		{"bad base64", `{"value_b64":"!!"}`, want{garbage: true}},
		{"header without key", `{"headers":[{"value":"v"}]}`, want{garbage: true}},
		{"value of the wrong type", `{"value":5}`, want{garbage: true}},
	} {
		t.Run(tc.doc, func(t *testing.T) {
			a, err := (&jsonCodec{}).decode([]byte(tc.line))
			if tc.want.garbage {
				if err == nil {
					t.Fatalf("%q: accepted (%+v), want garbage", tc.line, a)
				}
				return
			}
			if err != nil {
				t.Fatalf("%q: %v", tc.line, err)
			}
			if a.failed != tc.want.failed || a.reason != tc.want.reason {
				t.Errorf("%q: failed=%v reason=%q, want %v %q", tc.line, a.failed, a.reason, tc.want.failed, tc.want.reason)
			}
			switch {
			case tc.want.out == nil && a.out != nil:
				t.Errorf("%q: produces %+v, want nothing", tc.line, a.out)
			case tc.want.out != nil && a.out == nil:
				t.Errorf("%q: produces nothing", tc.line)
			case tc.want.out != nil:
				if err := sameRecord(a.out, tc.want.out); err != nil {
					t.Errorf("%q: %v", tc.line, err)
				}
			}
		})
	}
}

func TestLinesCodec(t *testing.T) {
	for _, tc := range []struct {
		doc   string
		value []byte
		frame string // "" with bad: refused
		bad   bool
	}{
		{"text", []byte("hello world"), "hello world\n", false},
		{"null value is an empty line", nil, "\n", false},
		{"empty value", []byte{}, "\n", false},
		{"binary without newline passes as is", []byte{0, 0xff, '\r'}, "\x00\xff\r\n", false},
		{"newline cannot be framed", []byte("a\nb"), "", true},
		{"trailing newline cannot be framed", []byte("a\n"), "", true},
	} {
		got, err := linesCodec{}.encode(nil, &kgo.Record{Value: tc.value}, 1)
		if tc.bad {
			if !errors.Is(err, errUnframeable) || len(got) != 0 {
				t.Errorf("%s: encode = %q, %v; want nothing and errUnframeable", tc.doc, got, err)
			}
			continue
		}
		if err != nil || string(got) != tc.frame {
			t.Errorf("%s: encode = %q, %v; want %q", tc.doc, got, err, tc.frame)
		}
	}
	if a, err := (linesCodec{}).decode(nil); err != nil || a.out != nil || a.failed {
		t.Errorf("empty answer: %+v, %v; want done", a, err)
	}
	line := []byte("out \xff value")
	a, err := linesCodec{}.decode(line)
	if err != nil || a.failed || a.out == nil || string(a.out.Value) != "out \xff value" || a.out.Key != nil {
		t.Fatalf("answer line: %+v, %v; want a record with that value and no key", a, err)
	}
	line[0] = 'X'
	if a.out.Value[0] != 'o' {
		t.Error("the produced value aliases the read buffer")
	}
}

// TestJSONCodecCachedParts: one codec across topics, partitions and
// timestamps frames each record exactly as a fresh codec does (encode keeps
// the last frame head and timestamp text).
func TestJSONCodecCachedParts(t *testing.T) {
	c := &jsonCodec{}
	ts := time.UnixMilli(1700000000123)
	for i, p := range []struct {
		topic string
		part  int32
		ts    time.Time
	}{{"a", 0, ts}, {"a", 0, ts}, {"a", 1, ts}, {"b", 1, ts}, {"b", 1, ts.Add(time.Millisecond)}, {"a", 0, ts}, {"a\"", 0, ts}} {
		r := &kgo.Record{Topic: p.topic, Partition: p.part, Offset: int64(i), Timestamp: p.ts, Value: []byte("v")}
		got, _ := c.encode(nil, r, 1)
		want, _ := (&jsonCodec{}).encode(nil, r, 1)
		if !bytes.Equal(got, want) {
			t.Fatalf("record %d: %s, want %s", i, got, want)
		}
	}
}

// TestAppendJSONString: every byte that needs escaping is found wherever it
// sits in the 8-byte words the fast path scans, and nothing else is touched.
func TestAppendJSONString(t *testing.T) {
	alphabet := []string{"a", "Z", " ", "~", "\x7f", "é", "日", "😀", "\"", "\\", "\n", "\r", "\t", "\x00", "\x1f", "\u2028"}
	rng := rand.New(rand.NewPCG(3, 4))
	for i := 0; i < 20000; i++ {
		var sb strings.Builder
		for j := rng.IntN(40); j > 0; j-- {
			sb.WriteString(alphabet[rng.IntN(len(alphabet))])
		}
		in := sb.String()
		out := appendJSONString(nil, []byte(in))
		var back string
		if err := json.Unmarshal(out, &back); err != nil || back != in {
			t.Fatalf("%q encodes to %s, which reads back as %q (%v)", in, out, back, err)
		}
		if bytes.ContainsFunc(out, func(r rune) bool { return r < 0x20 }) {
			t.Fatalf("%q encodes to %q, which holds a raw control character", in, out)
		}
	}
}

// BenchmarkJSONEncode is the per-record cost of framing on the hot path.
func BenchmarkJSONEncode(b *testing.B) {
	r := &kgo.Record{Topic: "orders", Partition: 3, Offset: 123456, Timestamp: time.UnixMilli(1700000000123),
		Key: []byte("12345"), Value: bytes.Repeat([]byte("v"), 100)}
	c := &jsonCodec{}
	var buf []byte
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		buf, _ = c.encode(buf[:0], r, 1)
	}
}
