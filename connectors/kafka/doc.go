// Package kafka connects partners' Kafka topics to the bridge. A source is
// a consumer group member (segmentio/kafka-go) that commits an offset only
// once every message up to it is stored in JetStream.
//
// It fetches with FetchMessage and commits with CommitMessages itself, in
// batches every commit_interval; kafka-go never commits on its own, so a
// rebalance cannot commit what the bridge did not store. Per partition
// only the highest offset whose predecessors are all stored (or
// dead-lettered) is committed: a record still held by the pipeline holds
// back the later offsets of its partition, and other partitions go on.
// Records are submitted in fetch order, so each partition's order is kept
// into JetStream, also across a crash.
//
// kafka-go cannot seek inside a consumer group, so a record that was not
// stored is fetched again by rejoining: the source stops fetching, lets the
// pipeline settle what it holds, commits what is stored, closes the reader
// and, after a jittered backoff, creates a new one that starts from the
// last commit. Records after it come again with unchanged ids
// (<topic>/<partition>/<offset> unless id_header names one), and JetStream
// drops the copies. A record fetched max_deliveries times without being
// stored is dead-lettered (redelivery_limit), so one poison record cannot
// stop its partition.
//
// Backpressure: at most max_in_flight records are between fetch and
// their outcome; past that the source stops fetching, and nothing that was
// not stored is committed.
package kafka
