package main

import (
	"context"
	"errors"
	"os"
	"strconv"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/dmzbridge/dmzbridge/bridge/audit"
	"github.com/dmzbridge/dmzbridge/bridge/config"
	"github.com/dmzbridge/dmzbridge/bridge/dlq"
	"github.com/dmzbridge/dmzbridge/bridge/mask"
	"github.com/dmzbridge/dmzbridge/bridge/store"
)

// policyMasker compiles every partner's masking policy from the config, so
// `dlq show` masks what the pipeline would mask. A policy that cannot be
// compiled here (its HMAC key variable is not set for the operator) is
// reported and left out; the generic rules still apply.
func policyMasker(cfg *config.Config) (func(partner, eventType string, doc any) any, error) {
	policies := map[string]*mask.Policy{}
	var errs []error
	for i, p := range cfg.Partners {
		pol, err := mask.Compile("partners["+strconv.Itoa(i)+"].masking", p.Masking, os.Getenv)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		policies[p.Name] = pol
	}
	apply := func(partner, eventType string, doc any) any {
		if pol, ok := policies[partner]; ok {
			return pol.Apply(eventType, doc)
		}
		return doc
	}
	return apply, errors.Join(errs...)
}

// auditRecorder opens the audit trail for the dlq commands.
func auditRecorder(ctx context.Context, js jetstream.JetStream, topo store.Topology, cfg *config.Config, operator string, now func() time.Time) (dlq.Recorder, error) {
	trail, err := audit.OpenTrail(ctx, js, topo, cfg, operator, now)
	if err != nil {
		return nil, err
	}
	return dlq.TrailRecorder{Trail: trail, Stream: topo.DeadLetterStream()}, nil
}
