package main

import (
	"context"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/dmzbridge/dmzbridge/bridge/config"
	"github.com/dmzbridge/dmzbridge/bridge/dlq"
)

// policyMasker builds the display masking policy from the config. Until
// the masking package is wired in, the generic rules in dlqmask.go apply.
func policyMasker(*config.Config) (func(partner, eventType string, doc any) any, error) {
	return nil, nil
}

// auditRecorder builds the audit trail recorder for replay and purge.
func auditRecorder(ctx context.Context, js jetstream.JetStream, cfg *config.Config, operator string) (dlq.Recorder, error) {
	return nil, nil
}
