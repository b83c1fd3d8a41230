//go:build linux

package main

// What the demo measures at each tick, from the broker side: the group's
// committed offsets and who holds each partition, so that every committed
// record is credited to a node.

import (
	"context"
	"strconv"
	"strings"
	"time"
)

// measureNow is measure with the tick's own deadline.
func (p *demoProgress) measureNow() {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	p.measure(ctx)
}

// measure reads committed offsets and the group's assignment from the
// broker. A failed read (the group does not exist yet) keeps the last view.
// Newly committed records are credited to the node that held the partition
// at the previous look, so a partition that moves in a rebalance is mostly
// credited right. Who did the work is an estimate; that the per-node
// counts add up to the total is not (attribute).
func (p *demoProgress) measure(ctx context.Context) {
	offs, err := p.adm.FetchOffsets(ctx, p.cfg.group)
	if err != nil {
		return
	}
	current, members := p.groupOwners(ctx)
	p.consumed = 0
	for tp, end := range p.end {
		c := p.committed[tp]
		if o, ok := offs.Lookup(tp.topic, tp.partition); ok && o.Err == nil && o.At >= 0 {
			c = min(max(o.At, c), end) // commits only move forward here
		}
		p.attribute(tp, c-p.committed[tp], current)
		p.committed[tp] = c
		p.consumed += c - p.start[tp]
	}
	// Between the two rounds of a cooperative rebalance the group is
	// Stable with revoked partitions unassigned: all must be held.
	p.settled = members == p.cfg.nodes && p.seeOwners(current) == len(p.end)
	now := time.Now()
	p.samples = append(p.samples, rateSample{now, p.consumed})
	for len(p.samples) > 2 && now.Sub(p.samples[1].at) >= demoRateWindow {
		p.samples = p.samples[1:]
	}
}

// attribute credits delta records newly committed on tp to the node that
// held tp at the previous look, else to the one holding it now; a
// partition no node was seen holding yet (its first owner left before a
// look found it) waits in pending for the first node seen holding it, so
// every committed record is credited to some node.
func (p *demoProgress) attribute(tp topicPartition, delta int64, current map[topicPartition]int) {
	if delta <= 0 {
		return
	}
	id, ok := p.owner[tp]
	if !ok {
		id, ok = current[tp]
	}
	if ok {
		p.perNode[id] += delta
	} else {
		p.pending[tp] += delta
	}
}

// seeOwners records who holds each partition now, credits what waited in
// pending for its partition's first holder, and says how many of the
// demo's partitions are held.
func (p *demoProgress) seeOwners(current map[topicPartition]int) int {
	assigned := 0
	for tp, id := range current {
		p.owner[tp] = id
		p.perNode[id] += p.pending[tp]
		delete(p.pending, tp)
		if _, ok := p.end[tp]; ok {
			assigned++
		}
	}
	return assigned
}

// groupOwners is which node holds each partition now, from the group's
// member assignments, and how many members a Stable group has.
func (p *demoProgress) groupOwners(ctx context.Context) (map[topicPartition]int, int) {
	current := map[topicPartition]int{}
	members := 0
	groups, err := p.adm.DescribeGroups(ctx, p.cfg.group)
	if err != nil {
		return current, 0
	}
	for _, g := range groups {
		if g.State == "Stable" {
			members += len(g.Members)
		}
		for _, mem := range g.Members {
			id, ok := demoNodeID(p.cfg.group, mem.ClientID)
			a, isConsumer := mem.Assigned.AsConsumer()
			if !ok || id >= len(p.perNode) || !isConsumer {
				continue
			}
			for _, t := range a.Topics {
				for _, part := range t.Partitions {
					current[topicPartition{t.Topic, part}] = id
				}
			}
		}
	}
	return current, members
}

// demoNodeID reads the node id out of a client id "<group>-node-<id>".
func demoNodeID(group, clientID string) (int, bool) {
	s, ok := strings.CutPrefix(clientID, group+"-node-")
	if !ok {
		return 0, false
	}
	id, err := strconv.Atoi(s)
	return id, err == nil && id >= 0
}
