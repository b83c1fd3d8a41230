//go:build linux

package main

import (
	"flag"
	"time"
)

// bindFlags: TEMPORARY until h-retryflags merges.
func (r *retryConfig) bindFlags(fs *flag.FlagSet) {
	fs.DurationVar(&r.retryBackoff, "retry-backoff", time.Second, "tmp")
	fs.DurationVar(&r.retryMaxBackoff, "retry-max-backoff", 30*time.Second, "tmp")
	fs.IntVar(&r.maxRetries, "max-retries", 3, "tmp")
	fs.StringVar(&r.onRetriesExhausted, "on-retries-exhausted", "dead-letter", "tmp")
}
