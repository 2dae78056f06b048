package kafka

import "github.com/dmzbridge/dmzbridge/bridge"

// Name is the connector type used in configuration.
const Name = "kafka"

// Register adds the Kafka source to r.
func Register(r *bridge.Registry) {
	r.RegisterSource(Name, NewSource)
}
