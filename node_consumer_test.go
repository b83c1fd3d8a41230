//go:build linux

package main

import (
	"testing"
)

func TestInstanceID(t *testing.T) {
	for _, tc := range []struct {
		prefix      string
		node, route int
		want        string
	}{
		{"test", 0, 0, "test_0_0"},
		{"test", 1, 0, "test_1_0"},
		{"host-a.example", 12, 3, "host-a.example_12_3"},
		{"p_1", 1, 0, "p_1_1_0"}, // Karafka's mapping has no escaping: the prefix is taken as given
	} {
		if got := instanceID(tc.prefix, tc.node, tc.route); got != tc.want {
			t.Errorf("instanceID(%q, %d, %d) = %q, want %q", tc.prefix, tc.node, tc.route, got, tc.want)
		}
	}
}
