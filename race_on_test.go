//go:build linux && race

package main

// raceEnabled makes TestMain build the binary under test with -race too, so
// the race detector watches the real supervisor and nodes.
const raceEnabled = true
