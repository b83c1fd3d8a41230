//go:build linux

package main

// Karafka's CLI filters (-include-consumer-groups, -exclude-consumer-groups,
// -include-topics, -exclude-topics): the supervisor applies them to the
// route set once; nodes get only what is left.

import (
	"slices"
	"sort"
	"strings"
)

// filterFlags are Karafka's CLI filters, in the order they apply.
var filterFlags = []string{"include-consumer-groups", "exclude-consumer-groups", "include-topics", "exclude-topics"}

// filterNames are the filter flags given.
func (c *config) filterNames() []string {
	var out []string
	for _, f := range filterFlags {
		if len(c.filterValues(f)) > 0 {
			out = append(out, f)
		}
	}
	return out
}

// filtersGiven renders the given filters as -flag=a,b ..., for errors.
func (c *config) filtersGiven() string {
	var parts []string
	for _, f := range c.filterNames() {
		parts = append(parts, "-"+f+"="+clipList(c.filterValues(f), ","))
	}
	return strings.Join(parts, " ")
}

func (c *config) filterValues(name string) []string {
	switch name {
	case "include-consumer-groups":
		return c.includeGroups
	case "exclude-consumer-groups":
		return c.excludeGroups
	case "include-topics":
		return c.includeTopics
	case "exclude-topics":
		return c.excludeTopics
	}
	return nil
}

// filterRoutes applies Karafka's CLI filters: the group filters select
// routes, the topic filters select topics within them, and a route left
// without topics is dropped. Every name must match something in the whole
// route set (before any filter), and something must be left.
func (c *config) filterRoutes(all []route) ([]route, error) {
	groups, topics := map[string]bool{}, map[string]bool{}
	for _, r := range all {
		groups[r.Group] = true
		for _, t := range r.Topics {
			topics[t] = true
		}
	}
	for _, f := range filterFlags {
		known, what := groups, "group"
		if strings.HasSuffix(f, "-topics") {
			known, what = topics, "topic"
		}
		for _, name := range c.filterValues(f) {
			if !known[name] {
				return nil, flagErrorf(f, "%q matches no route's %s (%ss: %s)", clipped(name), what, what, someNames(known))
			}
		}
	}
	if len(c.filterNames()) == 0 {
		return all, nil
	}
	in := func(list []string, s string) bool { return slices.Contains(list, s) }
	var out []route
	for _, r := range all {
		if (len(c.includeGroups) > 0 && !in(c.includeGroups, r.Group)) || in(c.excludeGroups, r.Group) {
			continue
		}
		var ts []string
		for _, t := range r.Topics {
			if (len(c.includeTopics) == 0 || in(c.includeTopics, t)) && !in(c.excludeTopics, t) {
				ts = append(ts, t)
			}
		}
		if len(ts) == 0 {
			continue
		}
		r.Topics = ts
		out = append(out, r)
	}
	if len(out) == 0 {
		return nil, &usageError{msg: c.filtersGiven() + ": the filters leave nothing to consume", flags: c.filterNames()}
	}
	return out, nil
}

// someNames lists a set's names, sorted and clipped, for an error line.
func someNames(set map[string]bool) string {
	names := make([]string, 0, len(set))
	for s := range set {
		names = append(names, s)
	}
	sort.Strings(names)
	return clipList(names, ", ")
}
