package app

import (
	"context"

	"github.com/dmzbridge/dmzbridge/bridge"
	"github.com/dmzbridge/dmzbridge/bridge/config"
	"github.com/dmzbridge/dmzbridge/bridge/intake"
	"github.com/dmzbridge/dmzbridge/bridge/validate"
)

// Chain is the one list of rules a partner event passes before it is
// stored as forwardable: partner identity, size, allowed types, schema and
// masking. serve, `dlq replay` (and its --dry-run), the demo and the bench
// all take it from here, so no path skips a rule; tracing only wraps it.
type Chain struct {
	// Intake runs on an event as its partner sent it: on every event the
	// pipeline takes, and on every dead-letter entry that failed at intake.
	Intake []bridge.Stage
	// Stored runs on an event that already passed Intake and was stored,
	// so its payload may be masked: on every entry the forwarder gave up
	// on. Identity, size and allowed types apply with today's config; the
	// schema and masking apply too when today's policy masks nothing of
	// the event's type. A masked payload is not validated or masked again:
	// a redacted IBAN fails the IBAN pattern, and a hash hashed twice is no
	// longer the value's token.
	Stored []bridge.Stage
}

// NewChain builds the chain from the config; errors name config fields.
func NewChain(cfg *config.Config) (*Chain, error) {
	v, err := buildValidation(cfg)
	if err != nil {
		return nil, err
	}
	stored := &storedCheck{full: v.stage, stage: v.stage, reg: v.reg, masks: v.masks, partners: map[string]storedRules{}}
	for _, p := range cfg.Partners {
		r := storedRules{maxBytes: p.MaxMessageBytes}
		if len(p.AllowedTypes) > 0 {
			r.allowed = map[string]bool{}
			for _, t := range p.AllowedTypes {
				r.allowed[validate.BaseType(t)] = true
			}
		}
		stored.partners[p.Name] = r
	}
	// The identity rule runs inside the validation stage, on the same
	// reading of the payload as every other rule.
	return &Chain{
		Intake: intake.RecoverStages([]bridge.Stage{v.stage}),
		Stored: intake.RecoverStages([]bridge.Stage{stored}),
	}, nil
}

// storedCheck applies the intake rules to a stored event (see Chain.Stored).
type storedCheck struct {
	full     bridge.Stage
	stage    *validate.Stage
	reg      *validate.Registry
	masks    map[string]validate.Masker
	partners map[string]storedRules
}

type storedRules struct {
	maxBytes int
	// allowed holds the allowed base types; nil when the partner is not
	// validated.
	allowed map[string]bool
}

func (c *storedCheck) Name() string { return "validate-stored" }

func (c *storedCheck) Process(ctx context.Context, env *bridge.Envelope) error {
	r, ok := c.partners[env.Partner]
	if !ok || r.allowed == nil || c.reg == nil {
		// Not validated: only the size limit applies, as at intake.
		return c.full.Process(ctx, env)
	}
	sch, ok := c.reg.Lookup(env.EventType)
	m := c.masks[env.Partner]
	if !ok || m == nil || !m.Active(sch.Type) {
		// Nothing of this type is masked, so the payload is as the
		// partner sent it: every intake rule applies unchanged.
		return c.full.Process(ctx, env)
	}
	if r.maxBytes > 0 && len(env.Payload) > r.maxBytes {
		return bridge.Reject(bridge.ReasonTooLarge, "payload is %d bytes, the limit for %s is %d", len(env.Payload), env.Partner, r.maxBytes)
	}
	if !r.allowed[sch.Type] {
		return bridge.Reject(bridge.ReasonTypeNotAllowed, "%s may not send %s", env.Partner, sch.Type)
	}
	return c.stage.CheckIdentity(env)
}

// Normalizer builds the function that turns a stored event into what the
// ERP receives.
func Normalizer(cfg *config.Config) (bridge.Normalizer, error) {
	return cloudEventsNormalizer(cfg)
}
