package kafka

import "github.com/dmzbridge/dmzbridge/bridge"

// Name is the connector type used in configuration.
const Name = "kafka"

// Register adds the Kafka source to r.
func Register(r *bridge.Registry) {
	r.RegisterSource(Name, NewSource)
}

// init adds the connector to bridge.Default, so importing this package is
// what links it into a binary.
func init() { Register(bridge.Default()) }
