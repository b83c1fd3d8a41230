//go:build linux

package main

// runDemo is filled in below.
func runDemo(cfg *config) int { return supervise(cfg) }
