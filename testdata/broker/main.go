// Command broker is a kfake Kafka-protocol broker for manual runs, scripts
// and container tests. It prints "ready <addr>" once it listens, optionally
// after producing -records sample records, and runs until killed. With -rate
// it prints "ready" first and then produces the records at that rate, as live
// traffic, printing "produced N" when they are all acknowledged.
//
// In a container it listens on 0.0.0.0:9092 (testdata/docker/broker.Dockerfile)
// and must tell clients an address they can reach: kfake puts its listener's
// own address into metadata, which for 0.0.0.0 would be useless. -advertise
// names the host clients should use (by default the machine's hostname, which
// on a Docker network is what a --network-alias equal to --hostname resolves).
//
// With -produce ADDR it is a client instead: it produces -records records to
// the broker at ADDR and exits. Every connection goes to ADDR whatever the
// metadata says, so it works from the host through a published port, and from
// inside the broker's own container while that is cut off its network.
package main

import (
	"context"
	"flag"
	"fmt"
	"net"
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
	advertise := flag.String("advertise", "", "host[:port] put into metadata (default: the listen address; an unspecified listen host is replaced by the hostname)")
	topics := flag.String("topics", "orders", "comma-separated topics to create")
	partitions := flag.Int("partitions", 4, "partitions per topic")
	records := flag.Int("records", 0, "records to produce into the first topic (before ready, or with -produce)")
	size := flag.Int("size", 100, "value size of produced records")
	keyStart := flag.Int("key-start", 0, "key of the first produced record; keys count up from it")
	rate := flag.Int("rate", 0, "records per second (0: as fast as possible); with a rate the records are produced after ready")
	produceTo := flag.String("produce", "", "client mode: produce -records records to the broker at this host:port and exit")
	flag.Parse()
	topic := strings.Split(*topics, ",")[0]

	if *produceTo != "" {
		if err := produce(*produceTo, *produceTo, topic, *keyStart, *records, *size, *rate); err != nil {
			fmt.Fprintln(os.Stderr, "broker: produce:", err)
			os.Exit(1)
		}
		fmt.Println("produced", *records)
		return
	}

	// kfake asks its listen function for 127.0.0.1:<port>; we listen on
	// -addr instead and report the advertised address as the listener's own,
	// which is what kfake puts into metadata.
	var real net.Addr
	listen := func(network, _ string) (net.Listener, error) {
		ln, err := net.Listen(network, *addr)
		if err != nil {
			return nil, err
		}
		real = ln.Addr()
		adv, err := advertised(*advertise, ln.Addr().(*net.TCPAddr))
		if err != nil {
			ln.Close()
			return nil, err
		}
		return advertisedListener{Listener: ln, addr: adv}, nil
	}
	c, err := kfake.NewCluster(
		kfake.NumBrokers(1),
		kfake.ListenFn(listen),
		kfake.SeedTopics(int32(*partitions), strings.Split(*topics, ",")...),
		kfake.GroupMinSessionTimeout(100*time.Millisecond),
		kfake.AllowAutoTopicCreation(),
	)
	if err != nil {
		fmt.Fprintln(os.Stderr, "broker: start:", err)
		os.Exit(1)
	}
	defer c.Close()
	fill := func() {
		if err := produce(c.ListenAddrs()[0], dialable(real), topic, *keyStart, *records, *size, *rate); err != nil {
			fmt.Fprintln(os.Stderr, "broker: produce:", err)
			os.Exit(1)
		}
	}
	if *records > 0 && *rate <= 0 {
		fill()
	}
	fmt.Println("ready", c.ListenAddrs()[0])
	if *records > 0 && *rate > 0 {
		go func() {
			fill()
			fmt.Println("produced", *records)
		}()
	}
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGTERM, syscall.SIGINT)
	<-sig
}

// advertised is the host:port clients are told: -advertise, with the
// listener's port when it names none; without it the listener's address,
// the hostname standing in for an unspecified IP.
func advertised(flagVal string, ln *net.TCPAddr) (tcpName, error) {
	port := strconv.Itoa(ln.Port)
	if flagVal == "" {
		if !ln.IP.IsUnspecified() {
			return tcpName(ln.String()), nil
		}
		host, err := os.Hostname()
		if err != nil {
			return "", fmt.Errorf("advertise: %w", err)
		}
		return tcpName(net.JoinHostPort(host, port)), nil
	}
	if _, _, err := net.SplitHostPort(flagVal); err == nil {
		return tcpName(flagVal), nil
	}
	return tcpName(net.JoinHostPort(flagVal, port)), nil
}

// dialable is an address this process can connect to for a listener on
// addr: loopback for an unspecified IP.
func dialable(addr net.Addr) string {
	ta := addr.(*net.TCPAddr)
	if ta.IP.IsUnspecified() {
		return net.JoinHostPort("127.0.0.1", strconv.Itoa(ta.Port))
	}
	return ta.String()
}

type tcpName string

func (a tcpName) Network() string { return "tcp" }
func (a tcpName) String() string  { return string(a) }

// advertisedListener is a real listener that names another address.
type advertisedListener struct {
	net.Listener
	addr tcpName
}

func (l advertisedListener) Addr() net.Addr { return l.addr }

// produce writes n records with keys keyStart.. to topic, round-robin over
// its partitions, at rate records per second (0: at once), through seed,
// every connection going to dialAddr (one broker: whatever metadata names,
// it is this one).
func produce(seed, dialAddr, topic string, keyStart, n, size, rate int) error {
	var d net.Dialer
	cl, err := kgo.NewClient(
		kgo.SeedBrokers(seed),
		kgo.Dialer(func(ctx context.Context, network, _ string) (net.Conn, error) {
			return d.DialContext(ctx, network, dialAddr)
		}),
		kgo.DefaultProduceTopic(topic),
		kgo.RecordPartitioner(kgo.RoundRobinPartitioner()),
		kgo.ProducerLinger(5*time.Millisecond),
	)
	if err != nil {
		return err
	}
	defer cl.Close()
	val := []byte(strings.Repeat("x", size))
	errs := make(chan error, 1)
	start := time.Now()
	for i := keyStart; i < keyStart+n; i++ {
		if rate > 0 {
			due := start.Add(time.Duration(i-keyStart) * time.Second / time.Duration(rate))
			if d := time.Until(due); d > 0 {
				time.Sleep(d)
			}
		}
		cl.Produce(context.Background(), &kgo.Record{Key: []byte(strconv.Itoa(i)), Value: val}, func(_ *kgo.Record, err error) {
			if err != nil {
				select {
				case errs <- err:
				default:
				}
			}
		})
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	if err := cl.Flush(ctx); err != nil {
		return err
	}
	select {
	case err := <-errs:
		return err
	default:
		return nil
	}
}
