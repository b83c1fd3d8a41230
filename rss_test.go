//go:build linux

package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestRssOf(t *testing.T) {
	// testdata/proc_status is a real /proc/PID/status with VmRSS: 48216 kB.
	got, err := rssOf(filepath.Join("testdata", "proc_status"))
	if err != nil {
		t.Fatalf("rssOf(fixture): %v", err)
	}
	if want := int64(48216 * 1024); got != want {
		t.Fatalf("rssOf(fixture) = %d, want %d", got, want)
	}

	dir := t.TempDir()
	write := func(name, content string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	for _, tc := range []struct {
		name, content string
		want          int64 // -1: an error is expected
	}{
		{"spaces", "Name:\tx\nVmRSS:      12 kB\n", 12 * 1024},
		{"zero", "VmRSS:\t0 kB\n", 0},
		{"no VmRSS (kernel thread)", "Name:\tkthreadd\nState:\tS (sleeping)\n", -1},
		{"VmRSS without value", "VmRSS:\n", -1},
		{"VmRSS not a number", "VmRSS:\tlots kB\n", -1},
		{"similar names do not match", "VmRSSx: 5 kB\nRssAnon: 6 kB\n", -1},
		{"empty file", "", -1},
	} {
		got, err := rssOf(write(strings.ReplaceAll(tc.name, " ", "_"), tc.content))
		switch {
		case tc.want < 0 && err == nil:
			t.Errorf("%s: rssOf = %d, want an error", tc.name, got)
		case tc.want >= 0 && (err != nil || got != tc.want):
			t.Errorf("%s: rssOf = %d, %v, want %d", tc.name, got, err, tc.want)
		}
	}
	if _, err := rssOf(filepath.Join(dir, "missing")); err == nil {
		t.Error("rssOf(missing file): no error")
	}
	// And the live one: this process has resident memory.
	if rss, err := readRSS(); err != nil || rss <= 0 {
		t.Errorf("readRSS() = %d, %v, want > 0", rss, err)
	}
}
