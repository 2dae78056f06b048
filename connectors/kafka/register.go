// Package kafka connects partners' Kafka topics to the bridge. A source is
// a consumer group member (segmentio/kafka-go) that commits an offset only
// once every message up to it is stored in JetStream.
package kafka

import "github.com/dmzbridge/dmzbridge/bridge"

// Name is the connector type used in configuration.
const Name = "kafka"

// Register adds the Kafka source to r.
func Register(r *bridge.Registry) {
	r.RegisterSource(Name, NewSource)
}
