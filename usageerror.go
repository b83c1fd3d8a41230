//go:build linux

package main

// Usage errors: invalid input from the user, reported as one line and exit
// 2 before anything is spawned. An error about flags names the SWARM_
// variable too when that is where the value came from.

import (
	"errors"
	"fmt"
	"strings"
)

// usageError is invalid input from the user: one line, exit 2, nothing spawned.
// flags names the flags it is about, so parseConfig can name the SWARM_
// variable instead when that is where the value came from.
type usageError struct {
	msg   string
	flags []string
}

// Error is the message, clipped to maxErrorLine: a last resort, as every
// user value in it was clipped already (clip.go).
func (e *usageError) Error() string { return clipLine(e.msg, maxErrorLine) }

// usagef builds a usage error from a format.
func usagef(format string, args ...any) error {
	return &usageError{msg: fmt.Sprintf(format, args...)}
}

// flagErrorf is a usage error about one flag: "-name: ...".
func flagErrorf(name, format string, args ...any) error {
	return &usageError{msg: "-" + name + ": " + fmt.Sprintf(format, args...), flags: []string{name}}
}

// nameEnv puts the variables in front of an error about flags whose value
// came from the environment: the user never typed those flags.
func nameEnv(err error, fromEnv map[string]string) error {
	var ue *usageError
	if !errors.As(err, &ue) {
		return err
	}
	var vars []string
	for _, f := range ue.flags {
		if v, ok := fromEnv[f]; ok {
			vars = append(vars, fmt.Sprintf("%s=%q", envName(f), clipped(v)))
		}
	}
	if len(vars) == 0 {
		return err
	}
	return &usageError{msg: strings.Join(vars, ", ") + ": " + ue.msg, flags: ue.flags}
}
