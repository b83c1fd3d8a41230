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
	ctx, cancel := context.WithTimeout(ctx, cfg.connectTimeout)
	defer cancel()
	// Rejected credentials end the wait at once: retrying cannot help.
	auth := newAuthWatch(&cfg.auth, cancel)
	opts := append([]kgo.Opt{kgo.SeedBrokers(cfg.bootstrap...), kgo.ClientID(cfg.routes[0].Group + "-supervisor"), kgo.WithHooks(auth)},
		cfg.auth.kgoOpts()...)
	cl, err := kgo.NewClient(opts...)
	if err != nil {
		return fmt.Errorf("create kafka client: %w", err)
	}
	defer cl.Close()
	// Every selected route's topics, and the topics its handler produces
	// to. Routes the filters hid are not checked: they will not run.
	var ask []string
	for _, r := range cfg.routes {
		ask = append(append(ask, r.Topics...), r.handlerTopics()...)
	}
	details, err := kadm.NewClient(cl).ListTopics(ctx, ask...)
	if err != nil {
		if aerr := auth.failed(err); aerr != nil {
			return aerr
		}
		return fmt.Errorf("reach brokers %s within -connect-timeout %s: %w", clipList(cfg.bootstrap, ","), cfg.connectTimeout, err)
	}
	exists := func(t string) (bool, error) {
		d, ok := details[t]
		switch {
		case !ok, errors.Is(d.Err, kerr.UnknownTopicOrPartition):
			return false, nil
		case d.Err != nil:
			return false, fmt.Errorf("describe topic %s: %w", clipped(t), d.Err)
		}
		return true, nil
	}
	// Lists are clipped (clip.go): ten thousand missing topics are five
	// names and "and 9995 more", not a line of 58 KB.
	brokers := clipList(cfg.bootstrap, ",")
	var missing []string
	for _, r := range cfg.routes {
		for _, t := range r.Topics {
			ok, err := exists(t)
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
	if len(missing) > 0 {
		// A wrong topic name is a configuration error: exit 2, like a bad flag.
		if cfg.flagRouted() {
			return usagef("-topics: %s not found on %s", clipList(missing, ","), brokers)
		}
		return cfg.configErrorf("topics not found on %s: %s", brokers, joinSome(missing, len(missing), ", "))
	}
	// The handler's topics must exist too: a node producing to a missing
	// one would hold its batch until the produce times out, then fail and
	// restart forever.
	for _, r := range cfg.routes {
		for _, t := range r.producedTopics() {
			ok, err := exists(t.topic)
			if err != nil {
				return err
			}
			if ok {
				continue
			}
			return cfg.routeError(&r, fieldErrorf(t.field, "%s not found on %s", clipped(t.topic), brokers))
		}
	}
	return nil
}
