//go:build linux

package main

import (
	"context"
	"errors"
	"fmt"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
)

// preflight asks the brokers, once and before any node is spawned, whether
// they can be reached and hold every topic. Without it a typo in -topics or
// -bootstrap would give N nodes that retry quietly forever; with it the
// operator gets one line and an exit code. The client is closed at once, so
// the supervisor holds no Kafka connection while it supervises.
func preflight(ctx context.Context, cfg *config) error {
	known, err := listRouteTopics(ctx, cfg)
	if err != nil {
		return err
	}
	if err := checkConsumedTopics(cfg, known); err != nil {
		return err
	}
	return checkProducedTopics(cfg, known)
}

// topicsKnown is what the brokers said of the topics the routes name.
type topicsKnown kadm.TopicDetails

// listRouteTopics asks for every selected route's topics, and the topics
// its handler produces to, within -connect-timeout. Routes the filters hid
// are not asked for: they will not run.
func listRouteTopics(ctx context.Context, cfg *config) (topicsKnown, error) {
	ctx, cancel := context.WithTimeout(ctx, cfg.connectTimeout)
	defer cancel()
	// Rejected credentials end the wait at once: retrying cannot help.
	auth := newAuthWatch(&cfg.auth, cancel)
	opts := append([]kgo.Opt{kgo.SeedBrokers(cfg.bootstrap...), kgo.ClientID(cfg.routes[0].Group + "-supervisor"), kgo.WithHooks(auth)},
		cfg.auth.kgoOpts()...)
	cl, err := kgo.NewClient(opts...)
	if err != nil {
		return nil, fmt.Errorf("create kafka client: %w", err)
	}
	defer cl.Close()
	var ask []string
	for _, r := range cfg.routes {
		ask = append(append(ask, r.Topics...), r.handlerTopics()...)
	}
	details, err := kadm.NewClient(cl).ListTopics(ctx, ask...)
	if err != nil {
		if aerr := auth.failed(err); aerr != nil {
			return nil, aerr
		}
		return nil, fmt.Errorf("reach brokers %s within -connect-timeout %s: %w", clipList(cfg.bootstrap, ","), cfg.connectTimeout, err)
	}
	return topicsKnown(details), nil
}

// exists says whether topic t exists; an error is one the brokers gave
// about it other than "unknown".
func (k topicsKnown) exists(t string) (bool, error) {
	d, ok := k[t]
	switch {
	case !ok, errors.Is(d.Err, kerr.UnknownTopicOrPartition):
		return false, nil
	case d.Err != nil:
		return false, fmt.Errorf("describe topic %s: %w", clipped(t), d.Err)
	}
	return true, nil
}

// checkConsumedTopics fails when a route consumes a topic that does not
// exist: a configuration error, exit 2 like a bad flag. Every missing topic
// is named, in a clipped list (clip.go): ten thousand missing topics are
// five names and "and 9995 more", not a line of 58 KB.
func checkConsumedTopics(cfg *config, known topicsKnown) error {
	var missing []string
	for _, r := range cfg.routes {
		for _, t := range r.Topics {
			ok, err := known.exists(t)
			if err != nil {
				return err
			}
			if ok {
				continue
			}
			if r.Flags {
				missing = append(missing, t)
			} else {
				missing = append(missing, fmt.Sprintf("%s (routes[%d])", clipped(t), r.Index))
			}
		}
	}
	if len(missing) == 0 {
		return nil
	}
	brokers := clipList(cfg.bootstrap, ",")
	if cfg.flagRouted() {
		return usagef("-topics: %s not found on %s", clipList(missing, ","), brokers)
	}
	return cfg.configErrorf("topics not found on %s: %s", brokers, joinSome(missing, len(missing), ", "))
}

// checkProducedTopics fails when a handler's output or dead-letter topic
// does not exist: a node producing to it would hold its batch until the
// produce times out, then fail and restart forever.
func checkProducedTopics(cfg *config, known topicsKnown) error {
	for _, r := range cfg.routes {
		for _, t := range r.producedTopics() {
			ok, err := known.exists(t.topic)
			if err != nil {
				return err
			}
			if !ok {
				return cfg.routeError(&r, fieldErrorf(t.field, "%s not found on %s", clipped(t.topic), clipList(cfg.bootstrap, ",")))
			}
		}
	}
	return nil
}
