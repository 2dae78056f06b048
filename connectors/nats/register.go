package nats

import (
	"github.com/dmzbridge/dmzbridge/bridge"
)

// Name is the connector type used in configuration.
const Name = "nats"

// Register adds the NATS source and sink to r.
func Register(r *bridge.Registry) {
	r.RegisterSource(Name, NewSource)
	r.RegisterSink(Name, NewSink)
}

// init adds the connector to bridge.Default, so importing this package is
// what links it into a binary.
func init() { Register(bridge.Default()) }
