//go:build linux

package main

// How records are framed on a handler command's stdin and how its answers
// on stdout are read. Both codecs are line based: one frame per record, one
// answer line per record, so the node can match answers to records by
// position alone and keep many records in flight.

import (
	"bytes"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"time"
	"unicode/utf8"

	"github.com/twmb/franz-go/pkg/kgo"
)

// codec frames records for a handler command and parses its answers.
type codec interface {
	// encode appends the frame of r, on the given attempt (1 for a first
	// delivery), newline included, to dst. An error means r cannot be
	// framed: it counts as failed and is never sent.
	encode(dst []byte, r *kgo.Record, attempt int) ([]byte, error)
	// decode parses one answer line (without its newline). An error means
	// the line is garbage: the protocol is broken and the node must stop.
	decode(line []byte) (answer, error)
}

// answer is what the handler said about one record.
type answer struct {
	out    *kgo.Record // a record to produce to -output-topic; nil: none
	failed bool        // the handler could not handle the record
	reason string      // why it failed, from the handler
}

// newCodec returns the codec named by -codec.
func newCodec(name string) (codec, error) {
	switch name {
	case "json":
		return &jsonCodec{}, nil
	case "lines":
		return linesCodec{}, nil
	}
	return nil, fmt.Errorf("unknown codec %q (want json or lines)", name)
}

// errUnframeable is a record the codec cannot put on one line.
var errUnframeable = errors.New("value contains a newline, which -codec lines cannot frame")

// linesCodec sends the bare value. It is for handlers that want no JSON
// parser (shell tools, awk); a value holding "\n" would split into two
// records on the handler's side, so it is refused instead.
type linesCodec struct{}

// encode appends the value and "\n", or refuses a value holding "\n".
func (linesCodec) encode(dst []byte, r *kgo.Record, _ int) ([]byte, error) {
	if bytes.IndexByte(r.Value, '\n') >= 0 {
		return dst, errUnframeable
	}
	dst = append(dst, r.Value...)
	return append(dst, '\n'), nil
}

// decode: an empty line is done, any other line is done and is the value of
// a record to produce (dropped when there is no -output-topic). There is no
// way to say "failed" in this codec.
func (linesCodec) decode(line []byte) (answer, error) {
	if len(line) == 0 {
		return answer{}, nil
	}
	return answer{out: &kgo.Record{Value: bytes.Clone(line)}}, nil
}

// jsonCodec sends one JSON object per record and reads one JSON object (or
// an empty line) per answer. The encoder is hand-written: it runs once per
// record on the hot path, and encoding/json's reflection would cost more
// than the pipe itself.
//
// The fields are encode's alone (the writer goroutine); decode, which runs
// on the reader goroutine, must not touch them.
type jsonCodec struct {
	// The last timestamp and its text: records of one producer batch
	// mostly share their millisecond, and formatting it costs as much as
	// escaping a 100-byte value.
	lastTS     time.Time
	lastTSText []byte
	// The frame up to the offset's digits, for the last topic and
	// partition: the same for every record of a partition's run in a batch.
	lastTopic     string
	lastPartition int32
	head          []byte
}

// jsonFrame documents the frame jsonCodec.encode writes; encode builds the
// same bytes by hand. A key or value that is not valid UTF-8 cannot be a
// JSON string without loss, so it travels base64-encoded in key_b64 /
// value_b64 and the plain field is left out.
//
//	{"topic":"orders","partition":3,"offset":42,"attempt":1,"timestamp":"2024-05-01T10:00:00.123Z",
//	 "key":"k1","value":"hello","headers":[{"key":"trace","value":"abc"}]}
type jsonFrame struct {
	Topic     string       `json:"topic"`
	Partition int32        `json:"partition"`
	Offset    int64        `json:"offset"`
	Attempt   int          `json:"attempt"` // 1 on first delivery, one more per retry (node_retry.go)
	Timestamp string       `json:"timestamp"`
	Key       *string      `json:"key,omitempty"`
	KeyB64    *string      `json:"key_b64,omitempty"`
	Value     *string      `json:"value,omitempty"`
	ValueB64  *string      `json:"value_b64,omitempty"`
	Headers   []jsonHeader `json:"headers"`
}

// jsonHeader is one record header, in frames and in answers. A list, not
// an object: Kafka headers are ordered and a key may repeat.
type jsonHeader struct {
	Key      *string `json:"key,omitempty"`
	KeyB64   *string `json:"key_b64,omitempty"`
	Value    *string `json:"value,omitempty"`
	ValueB64 *string `json:"value_b64,omitempty"`
}

// encode appends r as one line of JSON, laid out as jsonFrame documents.
func (c *jsonCodec) encode(dst []byte, r *kgo.Record, attempt int) ([]byte, error) {
	if c.head == nil || r.Partition != c.lastPartition || r.Topic != c.lastTopic {
		c.lastTopic, c.lastPartition = r.Topic, r.Partition
		c.head = append(c.head[:0], `{"topic":`...)
		c.head = appendJSONString(c.head, r.Topic)
		c.head = append(c.head, `,"partition":`...)
		c.head = strconv.AppendInt(c.head, int64(r.Partition), 10)
		c.head = append(c.head, `,"offset":`...)
	}
	dst = append(dst, c.head...)
	dst = strconv.AppendInt(dst, r.Offset, 10)
	dst = append(dst, `,"attempt":`...)
	dst = strconv.AppendInt(dst, int64(attempt), 10)
	dst = append(dst, `,"timestamp":"`...)
	if c.lastTSText == nil || !r.Timestamp.Equal(c.lastTS) {
		c.lastTS = r.Timestamp
		c.lastTSText = r.Timestamp.UTC().AppendFormat(c.lastTSText[:0], time.RFC3339Nano)
	}
	dst = append(dst, c.lastTSText...)
	dst = append(dst, '"', ',')
	dst = appendBytesField(dst, "key", r.Key)
	dst = append(dst, ',')
	dst = appendBytesField(dst, "value", r.Value)
	dst = append(dst, `,"headers":[`...)
	for i, h := range r.Headers {
		if i > 0 {
			dst = append(dst, ',')
		}
		dst = append(dst, '{')
		if utf8.ValidString(h.Key) {
			dst = append(dst, `"key":`...)
			dst = appendJSONString(dst, h.Key)
		} else {
			dst = append(dst, `"key_b64":"`...)
			dst = base64.StdEncoding.AppendEncode(dst, []byte(h.Key))
			dst = append(dst, '"')
		}
		dst = append(dst, ',')
		dst = appendBytesField(dst, "value", h.Value)
		dst = append(dst, '}')
	}
	return append(dst, "]}\n"...), nil
}

// appendBytesField appends "name":"..." for UTF-8 bytes, "name_b64":"..."
// for anything else, and "name":null for nil (absent, as Kafka has it).
func appendBytesField(dst []byte, name string, b []byte) []byte {
	if b == nil {
		dst = append(dst, '"')
		dst = append(dst, name...)
		return append(dst, `":null`...)
	}
	if plainASCII(b) {
		// The common case in one pass: no UTF-8 check, no escaping.
		dst = append(dst, '"')
		dst = append(dst, name...)
		dst = append(dst, '"', ':', '"')
		dst = append(dst, b...)
		return append(dst, '"')
	}
	if utf8.Valid(b) {
		dst = append(dst, '"')
		dst = append(dst, name...)
		dst = append(dst, '"', ':')
		return appendJSONString(dst, b)
	}
	dst = append(dst, '"')
	dst = append(dst, name...)
	dst = append(dst, `_b64":"`...)
	dst = base64.StdEncoding.AppendEncode(dst, b)
	return append(dst, '"')
}

// hexDigits are the digits of \u00XX escapes.
const hexDigits = "0123456789abcdef"

// Byte-parallel tests on a 64-bit word (Bit Twiddling Hacks, "determine if
// a word has a byte less than n"): lo8*n repeats byte n eight times.
const (
	lo8 = 0x0101010101010101
	hi8 = 0x8080808080808080
)

// needsEscape8 reports whether any byte of w is below 0x20, '"' or '\\'.
// Exact for the word as a whole, which is all the caller asks.
func needsEscape8(w uint64) bool {
	q := w ^ (lo8 * '"')
	b := w ^ (lo8 * '\\')
	return ((w-lo8*0x20)&^w|(q-lo8)&^q|(b-lo8)&^b)&hi8 != 0
}

// plainASCII reports whether b is ASCII that a JSON string holds as it is.
func plainASCII(b []byte) bool {
	i := 0
	for ; i+8 <= len(b); i += 8 {
		w := binary.LittleEndian.Uint64(b[i:])
		if w&hi8 != 0 || needsEscape8(w) {
			return false
		}
	}
	for ; i < len(b); i++ {
		if b[i] >= 0x80 || !jsonSafe[b[i]] {
			return false
		}
	}
	return true
}

// jsonSafe marks the bytes a JSON string may hold as they are: one table
// lookup per byte on the hot path instead of three comparisons.
var jsonSafe = func() (t [256]bool) {
	for c := 0x20; c < 256; c++ {
		t[c] = c != '"' && c != '\\'
	}
	return t
}()

// appendJSONString appends s, which must be valid UTF-8, as a JSON string.
// Only what RFC 8259 requires is escaped: the quote, the backslash and the
// control characters below U+0020. In particular "\n" is escaped, which is
// what keeps one record on one line.
func appendJSONString[T string | []byte](dst []byte, s T) []byte {
	dst = append(dst, '"')
	start := 0
	for i := 0; i < len(s); i++ {
		// Eight bytes at a time while none needs escaping: most values are
		// plain text, and this is most of the cost of a frame.
		for i+8 <= len(s) && !needsEscape8(uint64(s[i])|uint64(s[i+1])<<8|uint64(s[i+2])<<16|uint64(s[i+3])<<24|
			uint64(s[i+4])<<32|uint64(s[i+5])<<40|uint64(s[i+6])<<48|uint64(s[i+7])<<56) {
			i += 8
		}
		if i == len(s) {
			break
		}
		c := s[i]
		if jsonSafe[c] {
			continue
		}
		dst = append(dst, s[start:i]...)
		switch c {
		case '"', '\\':
			dst = append(dst, '\\', c)
		case '\n':
			dst = append(dst, '\\', 'n')
		case '\r':
			dst = append(dst, '\\', 'r')
		case '\t':
			dst = append(dst, '\\', 't')
		default:
			dst = append(dst, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
		}
		start = i + 1
	}
	dst = append(dst, s[start:]...)
	return append(dst, '"')
}

// jsonAnswer is one answer line of -codec json. Pointers tell an absent or
// null field from an empty string.
type jsonAnswer struct {
	Key      *string      `json:"key"`
	KeyB64   *string      `json:"key_b64"`
	Value    *string      `json:"value"`
	ValueB64 *string      `json:"value_b64"`
	Headers  []jsonHeader `json:"headers"`
	Error    *string      `json:"error"`
}

// decode is strict on purpose: an unknown field (a typo such as "vaule")
// or a field given both plain and base64 is garbage, not a silent "done"
// that would drop the record the handler meant to produce.
func (*jsonCodec) decode(line []byte) (answer, error) {
	line = bytes.TrimSpace(line)
	if len(line) == 0 || string(line) == "{}" {
		return answer{}, nil // the common "done": no parser needed
	}
	if line[0] != '{' {
		return answer{}, errors.New("not a JSON object")
	}
	var a jsonAnswer
	dec := json.NewDecoder(bytes.NewReader(line))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&a); err != nil {
		// Clipped: the decoder quotes an unknown key whole, and the
		// error goes into a log line (found by FuzzJSONAnswer).
		return answer{}, fmt.Errorf("parse answer: %s", clipLine(oneLine(err.Error()), maxErrorLine/2))
	}
	if dec.More() {
		return answer{}, errors.New("parse answer: more than one JSON value on the line")
	}
	produce := a.Key != nil || a.KeyB64 != nil || a.Value != nil || a.ValueB64 != nil || a.Headers != nil
	if a.Error != nil {
		if produce {
			return answer{}, errors.New("an answer with \"error\" must not also carry a record")
		}
		return answer{failed: true, reason: *a.Error}, nil
	}
	if !produce {
		return answer{}, nil
	}
	out := &kgo.Record{}
	var err error
	if out.Key, err = plainOrB64("key", a.Key, a.KeyB64); err != nil {
		return answer{}, err
	}
	if out.Value, err = plainOrB64("value", a.Value, a.ValueB64); err != nil {
		return answer{}, err
	}
	for i, h := range a.Headers {
		k, err := plainOrB64("key", h.Key, h.KeyB64)
		if err != nil {
			return answer{}, fmt.Errorf("header %d: %w", i, err)
		}
		if k == nil {
			return answer{}, fmt.Errorf("header %d: no key", i)
		}
		v, err := plainOrB64("value", h.Value, h.ValueB64)
		if err != nil {
			return answer{}, fmt.Errorf("header %d: %w", i, err)
		}
		out.Headers = append(out.Headers, kgo.RecordHeader{Key: string(k), Value: v})
	}
	return answer{out: out}, nil
}

// plainOrB64 returns the bytes of a field given either as a JSON string or
// base64-encoded in its _b64 twin; nil when neither is there.
func plainOrB64(name string, plain, b64 *string) ([]byte, error) {
	switch {
	case plain != nil && b64 != nil:
		return nil, fmt.Errorf("both %q and %q given", name, name+"_b64")
	case plain != nil:
		return []byte(*plain), nil
	case b64 != nil:
		b, err := base64.StdEncoding.DecodeString(*b64)
		if err != nil {
			return nil, fmt.Errorf("decode %s_b64: %w", name, err)
		}
		return b, nil
	}
	return nil, nil
}
