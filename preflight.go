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
	cl, err := kgo.NewClient(kgo.SeedBrokers(cfg.bootstrap...), kgo.ClientID(cfg.group+"-supervisor"))
	if err != nil {
		return fmt.Errorf("create kafka client: %w", err)
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(ctx, cfg.connectTimeout)
	defer cancel()
	details, err := kadm.NewClient(cl).ListTopics(ctx, cfg.topics...)
	if err != nil {
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
	return nil
}
