//go:build linux

package main

import (
	"context"
	"errors"
	"fmt"
	"strings"

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
	opts := append([]kgo.Opt{kgo.SeedBrokers(cfg.bootstrap...), kgo.ClientID(cfg.group + "-supervisor"), kgo.WithHooks(auth)},
		cfg.auth.kgoOpts()...)
	cl, err := kgo.NewClient(opts...)
	if err != nil {
		return fmt.Errorf("create kafka client: %w", err)
	}
	defer cl.Close()
	details, err := kadm.NewClient(cl).ListTopics(ctx, append(cfg.handlerTopics(), cfg.topics...)...)
	if err != nil {
		if aerr := auth.failed(err); aerr != nil {
			return aerr
		}
		return fmt.Errorf("reach brokers %s within -connect-timeout %s: %w", strings.Join(cfg.bootstrap, ","), cfg.connectTimeout, err)
	}
	var missing []string
	for _, t := range cfg.topics {
		d, ok := details[t]
		switch {
		case !ok, errors.Is(d.Err, kerr.UnknownTopicOrPartition):
			missing = append(missing, t)
		case d.Err != nil:
			return fmt.Errorf("describe topic %s: %w", t, d.Err)
		}
	}
	if len(missing) > 0 {
		// A wrong topic name is a configuration error: exit 2, like a bad flag.
		return usagef("-topics: %s not found on %s", strings.Join(missing, ","), strings.Join(cfg.bootstrap, ","))
	}
	// The handler's topics must exist too: a node producing to a missing
	// one would hold its batch until the produce times out, then fail and
	// restart forever.
	for _, t := range []struct{ flag, topic string }{{"output-topic", cfg.outputTopic}, {"dead-letter-topic", cfg.deadLetterTopic}} {
		if t.topic == "" {
			continue
		}
		d, ok := details[t.topic]
		switch {
		case !ok, errors.Is(d.Err, kerr.UnknownTopicOrPartition):
			return usagef("-%s: %s not found on %s", t.flag, t.topic, strings.Join(cfg.bootstrap, ","))
		case d.Err != nil:
			return fmt.Errorf("describe topic %s: %w", t.topic, d.Err)
		}
	}
	return nil
}

// handlerTopics are the topics the handler command produces to.
func (c *config) handlerTopics() []string {
	var ts []string
	for _, t := range []string{c.outputTopic, c.deadLetterTopic} {
		if t != "" {
			ts = append(ts, t)
		}
	}
	return ts
}
