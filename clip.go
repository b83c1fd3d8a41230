//go:build linux

package main

// Short error lines. An error about bad input names the input, but input
// can be anything: a 128 KiB argument, a 4 MiB topic name from -config, a
// list of ten thousand missing topics. Every value a usage error echoes is
// clipped to its first maxValueBytes bytes with a count of the rest, every
// list to its first few names with "and N more", and the whole message to
// maxErrorLine bytes as a last resort (usageError.Error), so an error stays
// one short line whatever the input was. Call sites wrap each user value
// in clipped explicitly: a message of our own passed as an argument must
// not be cut.

import (
	"fmt"
	"strconv"
	"strings"
	"unicode/utf8"
)

const (
	// maxValueBytes is how much of one user value an error line shows:
	// a host:port, a topic name or nearly any real path whole.
	maxValueBytes = 128
	// maxListNames is how many names of a list an error line shows.
	maxListNames = 5
	// maxErrorLine bounds a whole error message (main.go adds "swarm: "
	// and a short hint). Only a message built from many clipped values
	// ever reaches it.
	maxErrorLine = 470
)

// clipped is a user value in an error: printed with %s or %v it is the
// value's head with control characters escaped, with %q the quoted head;
// either way followed by "... (N bytes)" when it was cut.
type clipped string

// Format implements fmt.Formatter.
func (c clipped) Format(f fmt.State, verb rune) {
	s := string(c)
	head, cut := s, false
	if len(s) > maxValueBytes {
		n := maxValueBytes
		for n > 0 && !utf8.RuneStart(s[n]) {
			n-- // never split a rune: the head stays valid UTF-8
		}
		head, cut = s[:n], true
	}
	if verb == 'q' {
		head = strconv.Quote(head)
	} else {
		head = oneLine(head)
	}
	fmt.Fprint(f, head)
	if cut {
		fmt.Fprintf(f, "... (%d bytes)", len(s))
	}
}

// clipList renders names joined by sep, at most maxListNames of them,
// each clipped, and "and N more" for the rest.
func clipList(names []string, sep string) string {
	shown := make([]string, 0, min(len(names), maxListNames))
	for _, n := range names[:min(len(names), maxListNames)] {
		shown = append(shown, fmt.Sprint(clipped(n)))
	}
	return joinSome(shown, len(names), sep)
}

// joinSome joins items (already clipped), at most maxListNames of them,
// saying how many of total were left out.
func joinSome(items []string, total int, sep string) string {
	s := strings.Join(items[:min(len(items), maxListNames)], sep)
	if total > maxListNames {
		s += fmt.Sprintf(" and %d more", total-maxListNames)
	}
	return s
}

// clipLine cuts s to at most limit bytes (on a rune boundary), saying how
// many bytes were left out.
func clipLine(s string, limit int) string {
	if len(s) <= limit {
		return s
	}
	tail := fmt.Sprintf("... (%d bytes in all)", len(s))
	n := max(limit-len(tail), 0)
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n] + tail
}
