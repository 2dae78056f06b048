// Package policy enforces per-partner security policy at intake: a rate
// limit that throttles (never drops) and the rule that a partner's identity
// comes from the connector, never from the payload.
package policy

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"strings"

	"golang.org/x/time/rate"

	"github.com/dmzbridge/dmzbridge/bridge"
)

// RateLimited wraps a partner's source so that every Submit first waits for
// a token from the partner's bucket. Waiting holds the source's delivery,
// which is how the partner's broker sees backpressure; nothing is dropped.
// When ctx ends while waiting, Submit returns the error and the source
// leaves the message to its broker's redelivery.
type RateLimited struct {
	bridge.Source
	Limiter *rate.Limiter
	// OnThrottle is called for each event that had to wait.
	OnThrottle func(env *bridge.Envelope)
}

// NewRateLimited wraps src; perSecond <= 0 returns src unchanged.
func NewRateLimited(src bridge.Source, perSecond float64, burst int, onThrottle func(*bridge.Envelope)) bridge.Source {
	if perSecond <= 0 {
		return src
	}
	return &RateLimited{Source: src, Limiter: rate.NewLimiter(rate.Limit(perSecond), max(burst, 1)), OnThrottle: onThrottle}
}

// Run implements bridge.Source.
func (r *RateLimited) Run(ctx context.Context, in bridge.Intake) error {
	return r.Source.Run(ctx, &limitedIntake{next: in, r: r})
}

// State forwards the wrapped source's state.
func (r *RateLimited) State() string {
	if sr, ok := r.Source.(bridge.StateReporter); ok {
		return sr.State()
	}
	return bridge.StateUp
}

type limitedIntake struct {
	next bridge.Intake
	r    *RateLimited
}

func (l *limitedIntake) Submit(ctx context.Context, env *bridge.Envelope, done func(error)) error {
	res := l.r.Limiter.Reserve()
	if d := res.Delay(); d > 0 {
		if l.r.OnThrottle != nil {
			l.r.OnThrottle(env)
		}
		if !bridge.Sleep(ctx, d) {
			res.Cancel()
			return fmt.Errorf("rate limit wait: %w", ctx.Err())
		}
	}
	return l.next.Submit(ctx, env, done)
}

// IdentityFields are top-level payload fields that name a sender. A
// payload whose field names a different partner than the connector it
// arrived on is rejected: identity comes from the connection, and a
// payload claiming otherwise is either a mistake or an impersonation.
var IdentityFields = []string{"partner", "partner_id", "partnerId", "partner_name", "sender", "sender_id"}

// mayNameSender reports whether a JSON object could hold one of the
// IdentityFields, without decoding it: every such key starts with
// "partner or "sender, unless it is spelled with \u escapes. Most events
// name no sender, so this spares them a second full decode.
func mayNameSender(p []byte) bool {
	return bytes.Contains(p, []byte(`"partner`)) || bytes.Contains(p, []byte(`"sender`)) || bytes.Contains(p, []byte(`\u`))
}

// PartnerIdentity is the stage that enforces it.
func PartnerIdentity() bridge.Stage {
	return bridge.StageFunc{StageName: "partner-identity", Fn: checkIdentity}
}

func checkIdentity(_ context.Context, env *bridge.Envelope) error {
	p := bytes.TrimLeft(env.Payload, " \t\r\n")
	if len(p) == 0 || p[0] != '{' {
		return nil // not a JSON object: validation reports it
	}
	if !mayNameSender(p) {
		return nil
	}
	var top map[string]json.RawMessage
	if err := json.Unmarshal(p, &top); err != nil {
		return nil
	}
	for _, f := range IdentityFields {
		raw, ok := top[f]
		if !ok {
			continue
		}
		var claimed string
		if err := json.Unmarshal(raw, &claimed); err != nil {
			// A non-string identity cannot equal the partner's name.
			return bridge.Reject(bridge.ReasonPartnerMismatch, "payload field %q is not the partner's name", f)
		}
		if !strings.EqualFold(strings.TrimSpace(claimed), env.Partner) {
			// The claimed value is not echoed: it is partner data.
			return bridge.Reject(bridge.ReasonPartnerMismatch, "payload field %q names another partner than the connection (%s)", f, env.Partner)
		}
	}
	return nil
}
