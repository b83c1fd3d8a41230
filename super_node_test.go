//go:build linux

package main

import (
	"testing"
	"time"
)

// simulateDelays runs the manager's use of nextDelay over a node's deaths:
// each element of uptimes is how long one incarnation ran before it died.
func simulateDelays(base time.Duration, uptimes []time.Duration) []time.Duration {
	var delay time.Duration
	var out []time.Duration
	for i, up := range uptimes {
		delay = nextDelay(base, delay, up, i+1)
		out = append(out, delay)
	}
	return out
}

func TestNextDelay(t *testing.T) {
	const ms = time.Millisecond
	short := time.Second     // a crash at start
	long := 10 * time.Second // ran the full window: an ordinary failure
	justShort := long - time.Nanosecond
	rep := func(d time.Duration, n int) []time.Duration {
		out := make([]time.Duration, n)
		for i := range out {
			out[i] = d
		}
		return out
	}
	cat := func(parts ...[]time.Duration) []time.Duration {
		var out []time.Duration
		for _, p := range parts {
			out = append(out, p...)
		}
		return out
	}
	cases := []struct {
		name    string
		doc     string
		base    time.Duration
		uptimes []time.Duration
		want    []time.Duration
	}{
		{name: "first death waits base", doc: "however short the run, the first death is not penalised",
			base: 5 * time.Second, uptimes: []time.Duration{0}, want: []time.Duration{5 * time.Second}},
		{name: "first death base 0", doc: "with no delay configured a first death restarts at once",
			base: 0, uptimes: []time.Duration{short}, want: []time.Duration{0}},
		{name: "base 0 crash loop", doc: "from 0: 100 ms floor, then doubling, capped at one minute",
			base: 0, uptimes: rep(short, 13),
			want: []time.Duration{0, 100 * ms, 200 * ms, 400 * ms, 800 * ms, 1600 * ms, 3200 * ms, 6400 * ms,
				12800 * ms, 25600 * ms, 51200 * ms, time.Minute, time.Minute}},
		{name: "base 0 recovers", doc: "a run of 10 s or more goes back to base; the next crash starts again at the floor",
			base: 0, uptimes: cat(rep(short, 4), []time.Duration{long, short, short}),
			want: []time.Duration{0, 100 * ms, 200 * ms, 400 * ms, 0, 100 * ms, 200 * ms}},
		{name: "base 5s crash loop", doc: "doubling from base, capped at one minute",
			base: 5 * time.Second, uptimes: rep(short, 6),
			want: []time.Duration{5 * time.Second, 10 * time.Second, 20 * time.Second, 40 * time.Second, time.Minute, time.Minute}},
		{name: "base 5s recovers", doc: "after the cap, one long run resets to base",
			base: 5 * time.Second, uptimes: cat(rep(short, 6), []time.Duration{long, short}),
			want: []time.Duration{5 * time.Second, 10 * time.Second, 20 * time.Second, 40 * time.Second, time.Minute, time.Minute,
				5 * time.Second, 10 * time.Second}},
		{name: "window edge", doc: "10 s exactly is a long run, a nanosecond less is a crash",
			base: time.Second, uptimes: []time.Duration{short, justShort, long, justShort},
			want: []time.Duration{time.Second, 2 * time.Second, time.Second, 2 * time.Second}},
		{name: "small base", doc: "a base below the floor doubles from the floor",
			base: 30 * ms, uptimes: rep(short, 4), want: []time.Duration{30 * ms, 100 * ms, 200 * ms, 400 * ms}},
		{name: "base above cap", doc: "never below base, even when base exceeds the one-minute cap",
			base: 2 * time.Minute, uptimes: rep(short, 3), want: []time.Duration{2 * time.Minute, 2 * time.Minute, 2 * time.Minute}},
		{name: "ordinary failures", doc: "a node that always runs long is always restarted after exactly base",
			base: 200 * ms, uptimes: rep(time.Hour, 5), want: rep(200*ms, 5)},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got := simulateDelays(tc.base, tc.uptimes)
			if len(got) != len(tc.want) {
				t.Fatalf("test table: %d uptimes, %d wants", len(tc.uptimes), len(tc.want))
			}
			for i := range got {
				if got[i] != tc.want[i] {
					t.Fatalf("%s: base %s, uptimes %v:\ndelays %v\nwant   %v (first difference at death %d)",
						tc.doc, tc.base, tc.uptimes, got, tc.want, i+1)
				}
			}
		})
	}
}
