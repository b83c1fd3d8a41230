//go:build linux

package main

import (
	"fmt"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
)

// The consumer-group settings are part of supervision: what a user feels
// after a crash is how long the dead node's partitions stand still, and that
// is decided here, not by how fast the supervisor forks.
//
// A restarted node rejoins with its old static instance id. Kafka's classic
// coordinator answers a static member that rejoins a Stable group without
// changing the selected protocol with the group's current generation and the
// member's old assignment: no rebalance, the other members notice nothing
// (GroupCoordinator.updateStaticMemberAndRebalance; in Kafka 4's
// group-coordinator, ClassicGroup via updateStaticMemberThenRebalanceOrCompleteJoin).
// kfake does the same only when the rejoin's protocol metadata is byte for
// byte the old one (groups.go replaceStaticMember -> sameJoin). Two things
// change those bytes across a restart: the generation franz-go writes into
// every ConsumerMemberMetadata v2+, and the owned partitions a cooperative
// balancer must send. So the default balancer is range (Kafka's and
// librdkafka's own default), with the generation pinned: range never reads
// it (only cooperative protocols do, KIP-792), so on Kafka this changes
// nothing, and on kfake a restart is a no-op as on Kafka.

// defaultHeartbeat is Kafka's, librdkafka's and franz-go's default.
const defaultHeartbeat = 3 * time.Second

// checkGroupTiming validates the heartbeat against the session and picks the
// default for a short session: the broker expires a member that has not
// heartbeated within the session, so a heartbeat must fit in it with room
// for two misses, and franz-go refuses a heartbeat at or above the session.
func (c *config) checkGroupTiming() error {
	if c.groupProtocol == "consumer" {
		// KIP-848: the broker dictates the heartbeat and the session
		// (group.consumer.heartbeat.interval.ms, .session.timeout.ms)
		// and assigns partitions itself.
		for _, name := range []string{"balancer", "session-timeout", "heartbeat-interval"} {
			if c.given[name] {
				return &usageError{msg: fmt.Sprintf("-%s applies to -group-protocol classic only: with consumer the broker sets it", name), flags: []string{name, "group-protocol"}}
			}
		}
		return nil
	}
	if !c.given["heartbeat-interval"] && c.heartbeatInterval >= c.sessionTimeout/3 {
		c.heartbeatInterval = c.sessionTimeout / 3
	}
	if c.heartbeatInterval >= c.sessionTimeout {
		return &usageError{
			msg:   fmt.Sprintf("-heartbeat-interval (%s) must be below -session-timeout (%s), a third of it or less is advised", c.heartbeatInterval, c.sessionTimeout),
			flags: []string{"heartbeat-interval", "session-timeout"},
		}
	}
	return nil
}

// groupArgs renders the classic protocol's settings for a node; with the
// consumer protocol the broker owns them and a node must not be given any.
func (c *config) groupArgs() []string {
	if c.groupProtocol == "consumer" {
		return nil
	}
	return []string{"-balancer=" + c.balancer, "-session-timeout=" + c.sessionTimeout.String(),
		"-heartbeat-interval=" + c.heartbeatInterval.String()}
}

// groupOpts is the group part of a route's client options.
func groupOpts(cfg *config) []kgo.Opt {
	if cfg.groupProtocol == "consumer" {
		return []kgo.Opt{kgo.ServerSideBalancer()}
	}
	return []kgo.Opt{
		kgo.SessionTimeout(cfg.sessionTimeout),
		kgo.HeartbeatInterval(cfg.heartbeatInterval),
		kgo.Balancers(balancer(cfg.balancer)),
	}
}

// balancer maps -balancer to franz-go's group balancer.
func balancer(name string) kgo.GroupBalancer {
	switch name {
	case "cooperative-sticky":
		return kgo.CooperativeStickyBalancer()
	case "sticky":
		return kgo.StickyBalancer()
	case "roundrobin":
		return restartStable{kgo.RoundRobinBalancer()}
	default:
		return restartStable{kgo.RangeBalancer()}
	}
}

// restartStable is an eager balancer whose join metadata is the same before
// and after a restart: the generation, which franz-go writes into it and
// range and roundrobin never read, is always -1. Its ProtocolName is the
// wrapped one, so franz-go still treats it as a well-known balancer
// (KIP-814: a restarted leader checks the old plan against its own).
type restartStable struct{ kgo.GroupBalancer }

// JoinGroupMetadata drops what changes across restarts.
func (b restartStable) JoinGroupMetadata(interests []string, _ map[string][]int32, _ int32) []byte {
	return b.GroupBalancer.JoinGroupMetadata(interests, nil, -1)
}
