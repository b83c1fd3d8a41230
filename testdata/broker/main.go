// Command broker is a kfake Kafka-protocol broker for manual runs, scripts
// and container tests. It prints "ready <addr>" once it listens, optionally
// after producing -records sample records, and runs until killed.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
)

func main() {
	addr := flag.String("addr", "127.0.0.1:0", "listen address (port 0: any free port)")
	topics := flag.String("topics", "orders", "comma-separated topics to create")
	partitions := flag.Int("partitions", 4, "partitions per topic")
	records := flag.Int("records", 0, "records to produce into the first topic before ready")
	size := flag.Int("size", 100, "value size of produced records")
	flag.Parse()

	host, portStr, err := splitAddr(*addr)
	if err != nil {
		fmt.Fprintln(os.Stderr, "broker:", err)
		os.Exit(2)
	}
	opts := []kfake.Opt{
		kfake.NumBrokers(1),
		kfake.SeedTopics(int32(*partitions), strings.Split(*topics, ",")...),
		kfake.GroupMinSessionTimeout(100 * time.Millisecond),
		kfake.AllowAutoTopicCreation(),
	}
	port, _ := strconv.Atoi(portStr)
	if port != 0 {
		opts = append(opts, kfake.Ports(port))
	}
	_ = host
	c, err := kfake.NewCluster(opts...)
	if err != nil {
		fmt.Fprintln(os.Stderr, "broker: start:", err)
		os.Exit(1)
	}
	defer c.Close()
	if *records > 0 {
		if err := produce(c.ListenAddrs(), strings.Split(*topics, ",")[0], *records, *size); err != nil {
			fmt.Fprintln(os.Stderr, "broker: produce:", err)
			os.Exit(1)
		}
	}
	fmt.Println("ready", c.ListenAddrs()[0])
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGTERM, syscall.SIGINT)
	<-sig
}

func splitAddr(a string) (string, string, error) {
	i := strings.LastIndexByte(a, ':')
	if i < 0 {
		return "", "", fmt.Errorf("bad -addr %q", a)
	}
	return a[:i], a[i+1:], nil
}

func produce(seeds []string, topic string, n, size int) error {
	cl, err := kgo.NewClient(kgo.SeedBrokers(seeds...), kgo.DefaultProduceTopic(topic), kgo.ProducerLinger(5*time.Millisecond))
	if err != nil {
		return err
	}
	defer cl.Close()
	val := []byte(strings.Repeat("x", size))
	errs := make(chan error, 1)
	for i := 0; i < n; i++ {
		cl.Produce(context.Background(), &kgo.Record{Key: []byte(strconv.Itoa(i)), Value: val}, func(_ *kgo.Record, err error) {
			if err != nil {
				select {
				case errs <- err:
				default:
				}
			}
		})
	}
	if err := cl.Flush(context.Background()); err != nil {
		return err
	}
	select {
	case err := <-errs:
		return err
	default:
		return nil
	}
}
