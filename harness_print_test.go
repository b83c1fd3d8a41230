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

// printed matches the print handler's line for a record of topic orders
// produced by produce: partition, offset, key.
var printed = regexp.MustCompile(`^orders \[(\d+)\] at offset (\d+): key (\d+): `)

// collectPrinted is a waitStdout predicate: it adds the keys of new print
// handler lines to seen and holds once seen has want keys.
func collectPrinted(seen map[int]bool, want int) func([]string) bool {
	parsed := 0
	return func(lines []string) bool {
		for _, l := range lines[parsed:] {
			if m := printed.FindStringSubmatch(l); m != nil {
				k, _ := strconv.Atoi(m[3])
				seen[k] = true
			}
		}
		parsed = len(lines)
		return len(seen) >= want
	}
}

// printedKeys parses print-handler lines into key -> times printed, and
// fails on any line that is not one.
func printedKeys(t *testing.T, lines []string) map[int]int {
	t.Helper()
	keys := map[int]int{}
	for _, l := range lines {
		m := printed.FindStringSubmatch(l)
		if m == nil {
			t.Errorf("stdout line is not a printed record: %q", l)
			continue
		}
		k, _ := strconv.Atoi(m[3])
		keys[k]++
	}
	return keys
}

// keysSeen collects "key-N" from print handler lines of topic.
func keysSeen(lines []string, topic string) map[string]int {
	seen := map[string]int{}
	for _, l := range lines {
		if !strings.HasPrefix(l, topic+" [") {
			continue
		}
		_, kv, ok := strings.Cut(l, ": key ")
		if !ok {
			continue
		}
		k, _, _ := strings.Cut(kv, ": ")
		seen[k]++
	}
	return seen
}
