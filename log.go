//go:build linux

package main

import (
	"fmt"
	"io"
	"log/slog"
	"strings"
)

// newLogger builds the slog logger for either side; attrs (role, node id,
// pid) are attached to every line. Lines go through a logSink, so a log call
// never blocks on w (see logsink.go).
func newLogger(w io.Writer, format, level string, attrs ...any) *slog.Logger {
	lv, _ := parseLevel(level) // validated already
	sink := newLogSink(w, logWait, dropReporter(format, attrs))
	return slog.New(newSlogHandler(sink, format, lv)).With(attrs...)
}

// newSlogHandler is the text or JSON handler at level lv writing to w.
func newSlogHandler(w io.Writer, format string, lv slog.Leveler) slog.Handler {
	opts := &slog.HandlerOptions{Level: lv}
	if format == "json" {
		return slog.NewJSONHandler(w, opts)
	}
	return slog.NewTextHandler(w, opts)
}

// parseLevel reads -log-level.
func parseLevel(s string) (slog.Level, error) {
	switch strings.ToLower(s) {
	case "debug":
		return slog.LevelDebug, nil
	case "info":
		return slog.LevelInfo, nil
	case "warn", "warning":
		return slog.LevelWarn, nil
	case "error":
		return slog.LevelError, nil
	}
	return 0, fmt.Errorf("must be debug, info, warn or error, got %q", s)
}
