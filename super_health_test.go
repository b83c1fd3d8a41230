//go:build linux

package main

import (
	"bytes"
	"strconv"
	"strings"
	"testing"
)

// feedResult is what one feed call returned.
type feedResult struct {
	highest int // only meaningful when ok
	ok      bool
	garbage int
}

func TestHealthParserFeed(t *testing.T) {
	long := strings.Repeat("1", 5000)
	cases := []struct {
		name  string
		doc   string
		feeds []string     // consecutive feed calls on one parser
		want  []feedResult // one per feed
	}{
		{name: "healthy", doc: "the one report every node writes first",
			feeds: []string{"0\n"}, want: []feedResult{{0, true, 0}}},
		{name: "each status", doc: "1, 2 and 3 are the node's own problem reports",
			feeds: []string{"1\n", "2\n", "3\n"}, want: []feedResult{{1, true, 0}, {2, true, 0}, {3, true, 0}}},
		{name: "max of several", doc: "one read may hold many reports: the worst wins, whatever the order",
			feeds: []string{"0\n3\n1\n0\n"}, want: []feedResult{{3, true, 0}}},
		{name: "255 is the largest status", doc: "the top of the range is still a status",
			feeds: []string{"255\n"}, want: []feedResult{{255, true, 0}}},
		{name: "nothing", doc: "an empty read changes nothing",
			feeds: []string{""}, want: []feedResult{{0, false, 0}}},
		{name: "split line", doc: "a report split across two reads is one report",
			feeds: []string{"2", "\n"}, want: []feedResult{{0, false, 0}, {2, true, 0}}},
		{name: "split digits", doc: "a multi-digit status split between reads",
			feeds: []string{"0\n1", "2\n"}, want: []feedResult{{0, true, 0}, {12, true, 0}}},
		{name: "letters", doc: "not a number",
			feeds: []string{"ok\n"}, want: []feedResult{{0, false, 1}}},
		{name: "digits then letters", doc: "strconv-style prefixes do not count",
			feeds: []string{"1x\n"}, want: []feedResult{{0, false, 1}}},
		{name: "negative", doc: "-1 is the supervisor's own verdict, never a node's report",
			feeds: []string{"-1\n"}, want: []feedResult{{0, false, 1}}},
		{name: "plus sign", doc: "only plain digits",
			feeds: []string{"+1\n"}, want: []feedResult{{0, false, 1}}},
		{name: "spaces", doc: "no trimming",
			feeds: []string{" 1\n", "1 \n"}, want: []feedResult{{0, false, 1}, {0, false, 1}}},
		{name: "above 255", doc: "a status does not go past 255",
			feeds: []string{"256\n"}, want: []feedResult{{0, false, 1}}},
		{name: "huge number", doc: "overflowing an int is garbage, not a panic",
			feeds: []string{"99999999\n"}, want: []feedResult{{0, false, 1}}},
		{name: "empty line", doc: "a bare newline is not a report",
			feeds: []string{"\n"}, want: []feedResult{{0, false, 1}}},
		{name: "CR", doc: "CRLF line ends are garbage: the protocol is \\n only",
			feeds: []string{"1\r\n"}, want: []feedResult{{0, false, 1}}},
		{name: "garbage among reports", doc: "garbage is counted, valid reports around it still count",
			feeds: []string{"x\n2\n\n-3\n1\n"}, want: []feedResult{{2, true, 3}}},
		{name: "longest allowed line", doc: "maxReportLine bytes (leading zeros) is still parsed",
			feeds: []string{strings.Repeat("0", maxReportLine-1) + "3\n"}, want: []feedResult{{3, true, 0}}},
		{name: "one byte too long", doc: "maxReportLine+1 bytes is garbage, even when it is a valid number",
			feeds: []string{strings.Repeat("0", maxReportLine) + "3\n"}, want: []feedResult{{0, false, 1}}},
		{name: "overlong split", doc: "an endless line over many reads is one garbage line, and the next line is parsed",
			feeds: []string{long, long, long + "\n2\n"}, want: []feedResult{{0, false, 0}, {0, false, 0}, {2, true, 1}}},
		{name: "overlong then valid in next read", doc: "the overflow state ends exactly at the newline",
			feeds: []string{long, "\n", "1\n"}, want: []feedResult{{0, false, 0}, {0, false, 1}, {1, true, 0}}},
		{name: "binary", doc: "NULs and high bytes",
			feeds: []string{"\x00\xff\x01\n\x00\n1\n"}, want: []feedResult{{1, true, 2}}},
		{name: "binary no newline", doc: "binary bytes without a newline are held (bounded) until one comes",
			feeds: []string{"\x00\xfe\xff", "\n0\n"}, want: []feedResult{{0, false, 0}, {0, true, 1}}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var p healthParser
			for i, f := range tc.feeds {
				h, ok, g := p.feed([]byte(f))
				w := tc.want[i]
				if ok != w.ok || g != w.garbage || (ok && h != w.highest) {
					t.Fatalf("%s: feed #%d %q = (%d, %v, %d), want (%d, %v, %d)",
						tc.doc, i, shortInput(f), h, ok, g, w.highest, w.ok, w.garbage)
				}
				if !ok && h != -1 {
					t.Errorf("feed #%d: no valid status but highest %d, want -1", i, h)
				}
				// Whatever a node writes, the parser holds at most one line's worth.
				if len(p.line) > maxReportLine {
					t.Fatalf("feed #%d: parser buffers %d bytes, more than %d", i, len(p.line), maxReportLine)
				}
			}
		})
	}
}

// The parser's buffer stays bounded, also by capacity: megabytes of one
// line never grow it.
func TestHealthParserBounded(t *testing.T) {
	var p healthParser
	chunk := bytes.Repeat([]byte{'7'}, 64<<10)
	for i := 0; i < 64; i++ {
		if _, ok, g := p.feed(chunk); ok || g != 0 {
			t.Fatalf("chunk %d: ok %v garbage %d from an unterminated line", i, ok, g)
		}
	}
	if cap(p.line) > 2*maxReportLine {
		t.Fatalf("parser buffer grew to cap %d after 4 MiB of one line", cap(p.line))
	}
	if h, ok, g := p.feed([]byte("\n0\n")); !ok || h != 0 || g != 1 {
		t.Fatalf("after the endless line: (%d, %v, %d), want (0, true, 1)", h, ok, g)
	}
}

func shortInput(s string) string {
	if len(s) > 20 {
		return s[:20] + "..." + strconv.Itoa(len(s)) + " bytes"
	}
	return s
}
