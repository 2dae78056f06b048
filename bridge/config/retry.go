package config

import (
	"strconv"
	"time"
)

// Retry is how the forwarder retries an event the ERP sink did not
// confirm: exponential backoff with jitter from InitialDelay, capped at
// MaxDelay, until MaxAttempts deliveries have failed; then the event is
// dead-lettered with reason max_attempts. Zero fields inherit: a partner's
// retry from forward.retry, forward.retry from the defaults below.
type Retry struct {
	// InitialDelay is the delay after the first failure; it doubles with
	// every further failure. Defaults to forward.retry_delay.
	InitialDelay time.Duration `yaml:"initial_delay"`
	// MaxDelay caps the delay between two attempts.
	MaxDelay time.Duration `yaml:"max_delay"`
	// MaxAttempts counts deliveries to the ERP sink, the first included;
	// -1 retries for ever and never dead-letters on transient failures.
	MaxAttempts int `yaml:"max_attempts"`
}

// Retry defaults: with a 1s start and a 5m cap, 20 attempts span about an
// hour of ERP outage before an event is dead-lettered.
const (
	DefaultRetryMaxDelay    = 5 * time.Minute
	DefaultRetryMaxAttempts = 20
)

// inherit fills r's zero fields from base.
func (r Retry) inherit(base Retry) Retry {
	if r.InitialDelay == 0 {
		r.InitialDelay = base.InitialDelay
	}
	if r.MaxDelay == 0 {
		r.MaxDelay = base.MaxDelay
	}
	if r.MaxAttempts == 0 {
		r.MaxAttempts = base.MaxAttempts
	}
	return r
}

// RetryFor is the retry policy in effect for a partner, with every
// inherited value filled in. An unknown partner gets forward.retry.
func (c *Config) RetryFor(partner string) Retry {
	r := c.Forward.EffectiveRetry()
	for _, p := range c.Partners {
		if p.Name == partner {
			return p.Retry.inherit(r)
		}
	}
	return r
}

// EffectiveRetry is forward.retry with its defaults filled in.
func (f Forward) EffectiveRetry() Retry {
	return f.Retry.inherit(Retry{
		InitialDelay: f.RetryDelay,
		MaxDelay:     DefaultRetryMaxDelay,
		MaxAttempts:  DefaultRetryMaxAttempts,
	})
}

func (r Retry) validate(path string, errs *FieldErrors) {
	if r.InitialDelay < 0 {
		errs.Add(path+".initial_delay", "must not be negative")
	}
	if r.MaxDelay < 0 {
		errs.Add(path+".max_delay", "must not be negative")
	}
	if r.MaxAttempts < -1 {
		errs.Add(path+".max_attempts", "%d: use a positive count, or -1 to retry for ever", r.MaxAttempts)
	}
}

// validateRetry checks forward.retry, every partner's retry, and that each
// effective policy is coherent.
func (c *Config) validateRetry(errs *FieldErrors) {
	c.Forward.Retry.validate("forward.retry", errs)
	if r := c.Forward.EffectiveRetry(); r.MaxDelay > 0 && r.InitialDelay > r.MaxDelay {
		errs.Add("forward.retry.max_delay", "%v is below the initial delay %v", r.MaxDelay, r.InitialDelay)
	}
	for i, p := range c.Partners {
		path := "partners[" + strconv.Itoa(i) + "].retry"
		p.Retry.validate(path, errs)
		if r := c.RetryFor(p.Name); r.MaxDelay > 0 && r.InitialDelay > r.MaxDelay {
			errs.Add(path+".max_delay", "%v is below the initial delay %v", r.MaxDelay, r.InitialDelay)
		}
	}
}
