//go:build linux

package main

// The partitioner of a route's producer. A dead letter goes to the same
// partition number as the record it came from, modulo the dead-letter
// topic's partition count, so the dead letters of one source partition
// stay in their source order. Everything else a handler command produces (its answers to
// -output-topic) is partitioned exactly as franz-go does by default.
//
// What franz-go v1.22.2 does with a record on its way to the partitioner
// (pkg/kgo, read to rely on it):
//   - Produce does not touch r.Partition: doPartition hands the record to
//     TopicPartitioner.Partition as the caller left it ("a record struct is
//     unmodified ... from producing through partitioning", partitioner.go),
//     and only bufferRecord (sink.go) sets r.Partition, to the partition
//     picked. So the caller sets r.Partition to the source record's
//     partition and this partitioner reads it.
//   - Partition(r, n) picks an index into a mapping of n partitions:
//     every partition of the topic, in partition order (metadata.go checks
//     they are 0..n-1), when RequiresConsistency(r) is true; otherwise only
//     the writable ones, so an index would name a different partition
//     whenever one has no leader. RequiresConsistency must therefore be
//     true for "source partition modulo n" to mean a partition number; a
//     dead letter for a partition without a leader then waits for one
//     rather than landing on another partition, out of order.

import (
	"github.com/twmb/franz-go/pkg/kgo"
)

// defaultPartitionBytes is the batch size of franz-go's default
// partitioner, UniformBytesPartitioner(64 KiB, adaptive, keys, murmur2):
// kgo.RecordPartitioner replaces the default, so routePartitioner builds
// that default itself for the topics it does not handle.
const defaultPartitionBytes = 64 << 10

// routePartitioner partitions a route's produced records: dead letters by
// their source partition, the rest by franz-go's default partitioner.
type routePartitioner struct {
	deadLetter map[string]bool
	other      kgo.Partitioner
}

// newRoutePartitioner is the partitioner for a producer whose records to
// deadLetterTopics carry their source partition in r.Partition. Empty
// names are ignored, so a route's unset dead-letter topic can be passed.
func newRoutePartitioner(deadLetterTopics ...string) kgo.Partitioner {
	p := &routePartitioner{
		deadLetter: make(map[string]bool, len(deadLetterTopics)),
		other:      kgo.UniformBytesPartitioner(defaultPartitionBytes, true, true, nil),
	}
	for _, t := range deadLetterTopics {
		if t != "" {
			p.deadLetter[t] = true
		}
	}
	return p
}

// ForTopic returns the source-partition rule for a dead-letter topic and
// the default partitioner's own for any other, unwrapped, so that its
// optional interfaces (batch-size backup, OnNewBatch) keep working.
func (p *routePartitioner) ForTopic(topic string) kgo.TopicPartitioner {
	if p.deadLetter[topic] {
		return sourcePartitioner{}
	}
	return p.other.ForTopic(topic)
}

// sourcePartitioner puts a record on partition r.Partition modulo the
// topic's partition count.
type sourcePartitioner struct{}

// RequiresConsistency is true for every record: n must count every
// partition, not only the writable ones (see the top of this file).
func (sourcePartitioner) RequiresConsistency(*kgo.Record) bool { return true }

// Partition maps the source partition onto the topic's n partitions. A
// negative r.Partition gives a negative pick, which franz-go fails the
// record with ("invalid record partitioning choice"): a caller that forgot
// to set it is told, not silently sent to some partition.
func (sourcePartitioner) Partition(r *kgo.Record, n int) int {
	return int(r.Partition) % n
}
