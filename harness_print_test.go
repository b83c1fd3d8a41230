//go:build linux

package main

// The test harness, the print handler's side: parsing the lines the print
// handler writes on stdout, one per handled record.

import (
	"regexp"
	"strconv"
	"strings"
	"testing"
)

// printedRecord is one line of the print handler, "topic [partition] at
// offset offset: key key: value" (kcat's -f '%t [%p] at offset %o: key %k:
// %s\n').
type printedRecord struct {
	topic     string
	partition int32
	offset    int64
	key       string
	value     string
}

// printedLine is the print handler's line. The key ends at the first ": "
// (the records tests produce have keys without one; values may hold it).
var printedLine = regexp.MustCompile(`^(\S+) \[(\d+)\] at offset (\d+): key (.*?): (.*)$`)

// producedValue is the value of every record produce writes.
var producedValue = strings.Repeat("v", 100)

// parsePrinted parses one print handler line; ok is false for any other line.
func parsePrinted(line string) (r printedRecord, ok bool) {
	m := printedLine.FindStringSubmatch(line)
	if m == nil {
		return r, false
	}
	p, err1 := strconv.ParseInt(m[2], 10, 32)
	o, err2 := strconv.ParseInt(m[3], 10, 64)
	if err1 != nil || err2 != nil {
		return r, false
	}
	return printedRecord{topic: m[1], partition: int32(p), offset: o, key: m[4], value: m[5]}, true
}

// producedKey is the record's key as produce wrote it (a decimal number);
// ok is false for any other key.
func (r printedRecord) producedKey() (int, bool) {
	if r.key == "" || strings.TrimLeft(r.key, "0123456789") != "" {
		return 0, false
	}
	k, err := strconv.Atoi(r.key)
	return k, err == nil
}

// printedOf parses line as the print handler's line for a record of topic
// that produce wrote, and returns its key; ok is false for any other line.
func printedOf(line, topic string) (r printedRecord, key int, ok bool) {
	r, ok = parsePrinted(line)
	if !ok || r.topic != topic {
		return r, 0, false
	}
	key, ok = r.producedKey()
	return r, key, ok
}

// collectPrinted is a waitStdout predicate: it adds the keys of new print
// handler lines of topic orders to seen and holds once seen has want keys.
func collectPrinted(seen map[int]bool, want int) func([]string) bool {
	parsed := 0
	return func(lines []string) bool {
		for _, l := range lines[parsed:] {
			if _, k, ok := printedOf(l, "orders"); ok {
				seen[k] = true
			}
		}
		parsed = len(lines)
		return len(seen) >= want
	}
}

// printedKeys parses print handler lines of topic orders into key -> times
// printed, and fails on any line that is not one.
func printedKeys(t *testing.T, lines []string) map[int]int {
	t.Helper()
	keys := map[int]int{}
	for _, l := range lines {
		_, k, ok := printedOf(l, "orders")
		if !ok {
			t.Errorf("stdout line is not a printed record: %q", l)
			continue
		}
		keys[k]++
	}
	return keys
}

// keysSeen counts the keys of the print handler lines of topic.
func keysSeen(lines []string, topic string) map[string]int {
	seen := map[string]int{}
	for _, l := range lines {
		if r, ok := parsePrinted(l); ok && r.topic == topic {
			seen[r.key]++
		}
	}
	return seen
}

// The print handler's line is parsed whole, a key ending at the first ": ",
// and only a decimal key counts as one produce wrote.
func TestParsePrinted(t *testing.T) {
	r, ok := parsePrinted("orders [3] at offset 42: key 17: vvv: with a colon")
	if want := (printedRecord{"orders", 3, 42, "17", "vvv: with a colon"}); !ok || r != want {
		t.Errorf("parsePrinted = %+v, %v; want %+v", r, ok, want)
	}
	if _, k, ok := printedOf("orders [0] at offset 0: key 7: ", "orders"); !ok || k != 7 {
		t.Errorf("printedOf with an empty value = %d, %v; want 7, true", k, ok)
	}
	for _, line := range []string{
		"orders [0] at offset 0: key k7: v", // not a produced key
		"events [0] at offset 0: key 7: v",  // another topic
		"orders [0] at offset x: key 7: v",  // not an offset
		"orders [0] at offset 0 key 7 v",    // not the format
		`{"msg":"app.batch","done":7}`,      // a log line
	} {
		if _, _, ok := printedOf(line, "orders"); ok {
			t.Errorf("printedOf(%q) ok, want not a printed record of orders", line)
		}
	}
}
