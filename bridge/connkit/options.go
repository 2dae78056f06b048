package connkit

import (
	"time"

	"gopkg.in/yaml.v3"

	"github.com/dmzbridge/dmzbridge/bridge/config"
)

// DecodeOptions decodes a connector's options from node strictly into out,
// then fills what was left out and validates the result, so a bad config
// is refused naming every bad field before anything connects.
func DecodeOptions(node *yaml.Node, out any, defaults func(), validate func() error) error {
	if err := config.DecodeStrict(node, out); err != nil {
		return err
	}
	defaults()
	return validate()
}

// SourceLimits are the options of a source whose broker hands messages
// out until they are acknowledged (AMQP queues, Kafka groups). Connectors
// embed it inline, so the fields sit beside their own.
type SourceLimits struct {
	// MaxDeliveries bounds how often a message is handed over without
	// being stored; the next time it goes to the dead-letter stream.
	MaxDeliveries int `yaml:"max_deliveries"`
	// MaxMessageBytes: larger messages are dead-lettered without their
	// body instead of being retried against JetStream's payload limit
	// forever.
	MaxMessageBytes int `yaml:"max_message_bytes"`
	// DrainTimeout bounds how long a stopping source waits for messages it
	// handed to the pipeline; what is left comes again from the broker.
	DrainTimeout time.Duration `yaml:"drain_timeout"`
}

// Defaults fills the limits left out.
func (o *SourceLimits) Defaults() {
	Default(&o.MaxDeliveries, 20)
	Default(&o.MaxMessageBytes, 8<<20)
	Default(&o.DrainTimeout, 30*time.Second)
}

// Validate adds an error for every limit out of range.
func (o *SourceLimits) Validate(errs *config.FieldErrors) {
	if o.MaxDeliveries < 2 {
		errs.Add("max_deliveries", "must be at least 2 (one delivery plus a retry)")
	}
	if o.MaxMessageBytes < 1 {
		errs.Add("max_message_bytes", "must be positive")
	}
}

// Defaults of the delay between sessions.
const (
	DefaultReconnectInitial = 200 * time.Millisecond
	DefaultReconnectMax     = 15 * time.Second
)

// ValidateBackoff reports maxField when the longest delay between
// sessions is below the first.
func ValidateBackoff(errs *config.FieldErrors, initialField, maxField string, initial, max time.Duration) {
	if max < initial {
		errs.Add(maxField, "must not be below %s", initialField)
	}
}
