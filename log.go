//go:build linux

package main

import (
	"fmt"
	"io"
	"log/slog"
	"strings"
)

// newLogger builds the slog logger for either side; attrs (role, node id,
// pid) are attached to every line.
func newLogger(w io.Writer, format, level string, attrs ...any) *slog.Logger {
	lv, _ := parseLevel(level) // validated already
	opts := &slog.HandlerOptions{Level: lv}
	var h slog.Handler
	if format == "json" {
		h = slog.NewJSONHandler(w, opts)
	} else {
		h = slog.NewTextHandler(w, opts)
	}
	return slog.New(h).With(attrs...)
}

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
