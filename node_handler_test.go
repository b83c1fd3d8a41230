//go:build linux

package main

import (
	"bytes"
	"strings"
	"testing"

	"github.com/twmb/franz-go/pkg/kgo"
)

// recordingWriter keeps every Write call separately.
type recordingWriter struct{ writes [][]byte }

func (w *recordingWriter) Write(b []byte) (int, error) {
	w.writes = append(w.writes, append([]byte(nil), b...))
	return len(b), nil
}

func TestWriteLinesKeepsLinesWholeAndWritesAtomic(t *testing.T) {
	for _, tc := range []struct {
		doc   string
		lines []string
	}{
		{"small batch fits one write", []string{"a", "bb", "ccc"}},
		{"many lines need several writes", strings.Split(strings.Repeat("x", 99)+strings.Repeat("\n"+strings.Repeat("y", 99), 200), "\n")},
		{"a line longer than PIPE_BUF goes alone", []string{"short", strings.Repeat("z", 3*pipeBuf), "after"}},
	} {
		t.Run(tc.doc, func(t *testing.T) {
			in := []byte(strings.Join(tc.lines, "\n") + "\n")
			w := &recordingWriter{}
			if err := writeLines(w, in); err != nil {
				t.Fatal(err)
			}
			if got := bytes.Join(w.writes, nil); !bytes.Equal(got, in) {
				t.Fatalf("output differs from input")
			}
			for i, b := range w.writes {
				if b[len(b)-1] != '\n' {
					t.Errorf("write %d does not end at a line boundary", i)
				}
				if len(b) > pipeBuf && bytes.Count(b, []byte("\n")) > 1 {
					t.Errorf("write %d is %d bytes with several lines: not atomic on a pipe", i, len(b))
				}
			}
		})
	}
}

func TestPrintHandlerFormat(t *testing.T) {
	var out bytes.Buffer
	h, err := newHandler("print", &out)
	if err != nil {
		t.Fatal(err)
	}
	d, err := handleNew(h, []*kgo.Record{{Topic: "orders", Partition: 3, Offset: 42, Key: []byte("k1"), Value: []byte("hello")}})
	if err != nil || outcomeLetters(d) != "h" {
		t.Fatalf("handle: outcomes %s err=%v", outcomeLetters(d), err)
	}
	if want := "orders [3] at offset 42: key k1: hello\n"; out.String() != want {
		t.Fatalf("got %q, want %q", out.String(), want)
	}
}

func TestBurnAndDiscardHandleEverything(t *testing.T) {
	recs := []*kgo.Record{{Value: []byte("a")}, {Value: []byte("b")}}
	for _, spec := range []string{"discard", "burn=3"} {
		h, err := newHandler(spec, nil)
		if err != nil {
			t.Fatal(err)
		}
		if d, err := handleNew(h, recs); err != nil || outcomeLetters(d) != "hh" {
			t.Errorf("%s: outcomes %s err=%v", spec, outcomeLetters(d), err)
		}
	}
}
