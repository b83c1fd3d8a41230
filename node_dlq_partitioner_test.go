//go:build linux

package main

import (
	"context"
	"fmt"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
)

// A dead letter goes to its source partition modulo the dead-letter
// topic's partition count, whatever its key, on every dead-letter topic
// given and on no other.
func TestDLQPartitionerSourceModulo(t *testing.T) {
	p := newRoutePartitioner("", "dlq", "dlq2")
	for _, topic := range []string{"dlq", "dlq2"} {
		tp := p.ForTopic(topic)
		for _, n := range []int{1, 2, 3, 4, 7, 12} {
			for src := int32(0); src < 30; src++ {
				for _, key := range [][]byte{nil, []byte("k"), []byte(fmt.Sprint(src * 7))} {
					r := &kgo.Record{Topic: topic, Partition: src, Key: key}
					if !tp.RequiresConsistency(r) {
						t.Fatalf("%s: a dead letter (key %q) does not require consistency: n would count only writable partitions", topic, key)
					}
					if got, want := tp.Partition(r, n), int(src)%n; got != want {
						t.Fatalf("%s: source partition %d of %d (key %q) -> %d, want %d", topic, src, n, key, got, want)
					}
				}
			}
		}
	}
	// A negative source partition is an invalid pick, which franz-go
	// fails the record with, not some partition.
	if got := p.ForTopic("dlq").Partition(&kgo.Record{Partition: -1}, 3); got >= 0 {
		t.Errorf("source partition -1 -> %d, want a negative (invalid) pick", got)
	}
}

// Every other topic is partitioned by franz-go's own default partitioner:
// the same type (so its batching and OnNewBatch behaviour are kept), keyed
// records hashed as kgo.StickyKeyPartitioner (murmur2, like Kafka) does,
// unkeyed ones free to go to any writable partition.
func TestDLQPartitionerOtherTopicsDefault(t *testing.T) {
	p := newRoutePartitioner("dlq")
	tp := p.ForTopic("out")
	def := kgo.UniformBytesPartitioner(64<<10, true, true, nil).ForTopic("out")
	if reflect.TypeOf(tp) != reflect.TypeOf(def) {
		t.Fatalf("output topic partitioner is %T, want franz-go's default %T", tp, def)
	}
	if _, ok := p.ForTopic("dlq").(kgo.TopicBackupPartitioner); ok {
		t.Fatal("the dead-letter partitioner is a TopicBackupPartitioner: franz-go would never call its Partition")
	}
	backup, ok := tp.(kgo.TopicBackupPartitioner)
	if !ok {
		t.Fatalf("output topic partitioner %T is not a TopicBackupPartitioner", tp)
	}
	sticky := kgo.StickyKeyPartitioner(nil).ForTopic("out")
	for _, n := range []int{1, 3, 10, 64} {
		for i := 0; i < 200; i++ {
			r := &kgo.Record{Topic: "out", Partition: 5, Key: []byte(fmt.Sprintf("key-%d", i))}
			if !tp.RequiresConsistency(r) {
				t.Fatalf("keyed output record %q does not require consistency", r.Key)
			}
			// A keyed record is hashed before the backup iterator is read.
			if got, want := backup.PartitionByBackup(r, n, nil), sticky.Partition(r, n); got != want {
				t.Fatalf("key %q over %d partitions -> %d, want %d as kgo.StickyKeyPartitioner", r.Key, n, got, want)
			}
		}
	}
	if tp.RequiresConsistency(&kgo.Record{Topic: "out", Value: []byte("v")}) {
		t.Error("an unkeyed output record requires consistency: the default sends it to any writable partition")
	}
}

// Through a real client against kfake: a dead letter with r.Partition 5
// lands on partition 2 of a 3-partition dead-letter topic, dead letters of
// one source partition keep their order, and a keyed output record lands
// where franz-go's default puts it.
func TestDLQPartitionerKfake(t *testing.T) {
	_, addr := newBroker(t, 3, "dlq", "out")
	cl, err := kgo.NewClient(kgo.SeedBrokers(addr), kgo.RecordPartitioner(newRoutePartitioner("dlq")))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	var recs []*kgo.Record
	for i, src := range []int32{5, 0, 4, 5, 1, 2, 5} {
		recs = append(recs, &kgo.Record{Topic: "dlq", Partition: src, Key: []byte("same-key"), Value: []byte(fmt.Sprintf("%d:%d", i, src))})
	}
	out := &kgo.Record{Topic: "out", Partition: 5, Key: []byte("answer-key"), Value: []byte("answer")}
	// One at a time, so the broker's order is the order given.
	for _, r := range append(recs, out) {
		if err := cl.ProduceSync(ctx, r).FirstErr(); err != nil {
			t.Fatalf("produce %s %q: %v", r.Topic, r.Value, err)
		}
	}
	got := readTopic(t, addr, "dlq")
	want := map[int32][]string{0: {"1:0"}, 1: {"2:4", "4:1"}, 2: {"0:5", "3:5", "5:2", "6:5"}}
	for p := int32(0); p < 3; p++ {
		var vals []string
		for _, r := range got[p] {
			vals = append(vals, string(r.Value))
		}
		if strings.Join(vals, " ") != strings.Join(want[p], " ") {
			t.Errorf("dlq partition %d holds %q, want %q", p, vals, want[p])
		}
	}
	wantOut := int32(kgo.StickyKeyPartitioner(nil).ForTopic("out").Partition(out, 3))
	if outs := readTopic(t, addr, "out"); len(outs[wantOut]) != 1 || string(outs[wantOut][0].Value) != "answer" {
		t.Errorf("output record: partitions %v, want it alone on %d (its key's murmur2 partition)", outs, wantOut)
	}
	// A dead letter whose caller set no valid source partition fails.
	if err := cl.ProduceSync(ctx, &kgo.Record{Topic: "dlq", Partition: -1, Value: []byte("x")}).FirstErr(); err == nil {
		t.Error("a dead letter with source partition -1 was produced")
	}
}
