//go:build linux

package main

import (
	"cmp"
	"slices"
	"time"
)

// The swarm's view of its partitions, from the nodes' stats lines: per
// (group, topic, partition) the last known offsets, lag and owner, and a
// lag history for the page's trend. A partition whose node died or stopped
// reporting it stays, marked stale, so its lag is never silently gone.

const (
	maxPartitions  = 4096            // the oldest-updated beyond this is dropped
	lagSamples     = 60              // history length: 5 minutes
	lagSampleEvery = 5 * time.Second // history step
	// staleAfter: a partition not reported for this long is stale.
	staleAfter = 3 * superStatsInterval
)

// partKey names a partition of a group.
type partKey struct {
	group     string
	topic     string
	partition int32
}

// partView is what the swarm last knew of one partition.
type partView struct {
	node, route int
	p           statsPartition // offsets -1 when unknown
	updated     time.Time
	history     []int64 // lag samples, oldest first, -1 unknown; replaced, never modified
}

// lag is high watermark minus committed, -1 when either is unknown; never
// below 0 (a high watermark fetched before the last commit).
func (v *partView) lag() int64 {
	if v.p.HighWatermark < 0 || v.p.Committed < 0 {
		return -1
	}
	return max(v.p.HighWatermark-v.p.Committed, 0)
}

// partitionView is every partition the swarm has heard of.
type partitionView struct {
	byKey      map[partKey]*partView
	lastSample time.Time
}

// update takes the partitions of one node's stats line.
func (pv *partitionView) update(nodeID int, s *statsLine, now time.Time) {
	if pv.byKey == nil {
		pv.byKey = map[partKey]*partView{}
	}
	for _, r := range s.Routes {
		for _, p := range r.Partitions {
			k := partKey{group: r.Group, topic: p.Topic, partition: p.Partition}
			v := pv.byKey[k]
			if v == nil {
				pv.makeRoom(now)
				v = &partView{}
				pv.byKey[k] = v
			}
			v.node, v.route, v.p, v.updated = nodeID, r.Route, p, now
		}
	}
}

// makeRoom drops the oldest-updated partition when the view is full.
func (pv *partitionView) makeRoom(now time.Time) {
	if len(pv.byKey) < maxPartitions {
		return
	}
	var oldest partKey
	at := now.Add(time.Hour)
	for k, v := range pv.byKey {
		if v.updated.Before(at) {
			oldest, at = k, v.updated
		}
	}
	delete(pv.byKey, oldest)
}

// sample appends every partition's lag to its history once per
// lagSampleEvery.
func (pv *partitionView) sample(now time.Time) {
	if !pv.lastSample.IsZero() && now.Sub(pv.lastSample) < lagSampleEvery {
		return
	}
	pv.lastSample = now
	for _, v := range pv.byKey {
		h := v.history
		if len(h) >= lagSamples {
			h = h[len(h)-lagSamples+1:]
		}
		v.history = append(append(make([]int64, 0, len(h)+1), h...), v.lag())
	}
}

// partSnapshot is one partition as /status and /metrics show it.
type partSnapshot struct {
	key     partKey
	node    int
	route   int
	p       statsPartition
	lag     int64
	stale   bool
	history []int64 // shared with the view: never modified
}

// snapshot lists the partitions sorted by group, topic, partition. down
// says whether a node is down: its partitions are stale.
func (pv *partitionView) snapshot(now time.Time, down func(node int) bool) []partSnapshot {
	out := make([]partSnapshot, 0, len(pv.byKey))
	for k, v := range pv.byKey {
		out = append(out, partSnapshot{key: k, node: v.node, route: v.route, p: v.p, lag: v.lag(),
			stale: down(v.node) || now.Sub(v.updated) > staleAfter, history: v.history})
	}
	slices.SortFunc(out, func(a, b partSnapshot) int {
		return cmp.Or(cmp.Compare(a.key.group, b.key.group), cmp.Compare(a.key.topic, b.key.topic),
			cmp.Compare(a.key.partition, b.key.partition))
	})
	return out
}
