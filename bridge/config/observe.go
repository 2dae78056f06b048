package config

import (
	"net"
	"strconv"
)

// RateLimit is a partner's token bucket: intake waits for a token, it
// never drops. Zero PerSecond means unlimited.
type RateLimit struct {
	PerSecond float64 `yaml:"per_second"`
	// Burst is how many events may arrive at once (default: one second's worth).
	Burst int `yaml:"burst"`
}

// Tracing configures trace export. Trace context is always propagated;
// spans leave the process only when an OTLP endpoint is set.
type Tracing struct {
	// OTLPEndpoint is an OTLP/HTTP collector, e.g. http://otel-collector:4318.
	OTLPEndpoint string `yaml:"otlp_endpoint"`
	// SampleRatio of new traces to record (default 1 with an endpoint).
	// A partner's sampled flag is honoured.
	SampleRatio float64 `yaml:"sample_ratio"`
	ServiceName string  `yaml:"service_name"`
}

func (c *Config) applyObserveDefaults() {
	if c.JetStream.Environment == "" {
		c.JetStream.Environment = c.Environment
	}
	for i := range c.Partners {
		rl := &c.Partners[i].RateLimit
		if rl.PerSecond > 0 && rl.Burst == 0 {
			rl.Burst = max(1, int(rl.PerSecond))
		}
	}
	if c.Tracing.ServiceName == "" {
		c.Tracing.ServiceName = "dmzbridge"
	}
	if c.Tracing.OTLPEndpoint != "" && c.Tracing.SampleRatio == 0 {
		c.Tracing.SampleRatio = 1
	}
}

func (c *Config) validateObserve(errs *FieldErrors) {
	if c.JetStream.Environment != c.Environment {
		errs.Add("jetstream.environment", "is %q but the bridge serves %q: test and production flows never mix", c.JetStream.Environment, c.Environment)
	}
	for i, p := range c.Partners {
		path := "partners[" + strconv.Itoa(i) + "].rate_limit"
		if p.RateLimit.PerSecond < 0 {
			errs.Add(path+".per_second", "must not be negative")
		}
		if p.RateLimit.Burst < 0 {
			errs.Add(path+".burst", "must not be negative")
		}
	}
	if c.Tracing.SampleRatio < 0 || c.Tracing.SampleRatio > 1 {
		errs.Add("tracing.sample_ratio", "%v is outside 0..1", c.Tracing.SampleRatio)
	}
	if c.Admin.Listen != "off" {
		if _, _, err := net.SplitHostPort(c.Admin.Listen); err != nil {
			errs.Add("admin.listen", "%q: %v (host:port, or off)", c.Admin.Listen, err)
		}
	}
}
