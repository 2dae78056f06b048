package config

import (
	"fmt"
	"os"
	"regexp"
	"strconv"
	"time"

	"gopkg.in/yaml.v3"
)

// Config is the whole bridge configuration: one file per bridge instance.
type Config struct {
	// Environment is what this bridge serves, e.g. "prod" or "test". Every
	// endpoint declares its own and startup refuses to mix them.
	Environment string    `yaml:"environment"`
	JetStream   JetStream `yaml:"jetstream"`
	Forward     Forward   `yaml:"forward"`
	ERP         ERP       `yaml:"erp"`
	Partners    []Partner `yaml:"partners"`
	Admin       Admin     `yaml:"admin"`
	Log         Log       `yaml:"log"`
	// SchemasDir holds the event types' JSON Schemas (see validation.go).
	SchemasDir string  `yaml:"schemas_dir"`
	Tracing    Tracing `yaml:"tracing"`
	// ShutdownTimeout bounds the drain after SIGINT/SIGTERM; what is not
	// stored and acknowledged by then is redelivered by the partner's
	// broker.
	ShutdownTimeout time.Duration `yaml:"shutdown_timeout"`
	// Limits bound every partner's JSON events (intake.go); a partner's
	// own limits override them.
	Limits Limits `yaml:"limits"`
	// DeadLetter: sealing of dead-letter entries at rest (deadletter.go).
	DeadLetter DeadLetter `yaml:"dead_letter"`
}

// DefaultShutdownTimeout is shutdown_timeout's default.
const DefaultShutdownTimeout = 30 * time.Second

// Connector names a registered connector type and carries its options,
// which the connector itself decodes and validates.
type Connector struct {
	Type    string    `yaml:"type"`
	Options yaml.Node `yaml:"options"`
}

// ERP is the single outbound link towards the ERP's internal queue.
type ERP struct {
	Environment string    `yaml:"environment"`
	Sink        Connector `yaml:",inline"`
}

// Partner is one external party with its own inbound connector.
type Partner struct {
	Name        string    `yaml:"name"`
	Environment string    `yaml:"environment"`
	Inbound     Connector `yaml:"inbound"`
	Retry       Retry     `yaml:"retry"` // overrides forward.retry (retry.go)
	// PartnerChecks: event type, allowed types, size limit, masking.
	PartnerChecks `yaml:",inline"`
	RateLimit     RateLimit `yaml:"rate_limit"`
}

// Forward tunes the forwarder that moves stored events to the ERP.
type Forward struct {
	// BatchSize is how many stored events are sent to the ERP sink at once.
	BatchSize int `yaml:"batch_size"`
	// MaxAckPending bounds events handed to the forwarder but not yet
	// confirmed by the ERP, per partner.
	MaxAckPending int           `yaml:"max_ack_pending"`
	AckWait       time.Duration `yaml:"ack_wait"`
	// RetryDelay is how long a failed forward waits before it is retried.
	RetryDelay time.Duration `yaml:"retry_delay"`
	Retry      Retry         `yaml:"retry"` // backoff and dead-lettering (retry.go)
	// PurgeInterval is how often the ingest stream drops the events the
	// ERP has confirmed (everything up to each partner's ack floor). One
	// purge replaces one deletion, and one fsync, per event.
	PurgeInterval time.Duration `yaml:"purge_interval"`
}

// Admin is the operators' HTTP listener.
type Admin struct {
	Listen string `yaml:"listen"`
}

// Log configures structured logging.
type Log struct {
	Level  string `yaml:"level"`
	Format string `yaml:"format"`
}

var partnerName = regexp.MustCompile(`^[a-z0-9][a-z0-9_-]{0,62}$`)

// Load reads, expands, decodes, defaults and validates a config file.
// Connector options are checked later by the connector registry.
func Load(path string) (*Config, error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		// A FieldErrors, so a missing file is a configuration problem
		// (exit code 3) for serve as for config check.
		return nil, FieldErrors{{Msg: fmt.Sprintf("read config: %v", err)}}
	}
	return Parse(raw)
}

// Parse is Load for an in-memory document.
func Parse(raw []byte) (*Config, error) {
	var root yaml.Node
	if err := yaml.Unmarshal(raw, &root); err != nil {
		return nil, FieldErrors{{Msg: fmt.Sprintf("invalid YAML: %v", err)}}
	}
	var cfg Config
	var errs FieldErrors
	// Decoding goes on past unknown fields and type errors, so validation
	// still runs and the operator sees every problem at once.
	errs.Merge("", DecodeStrict(&root, &cfg))
	cfg.applyDefaults()
	errs.Merge("", cfg.Validate())
	if err := errs.Err(); err != nil {
		return nil, err
	}
	return &cfg, nil
}

func (c *Config) applyDefaults() {
	c.JetStream.applyDefaults()
	c.applyObserveDefaults()
	if c.Forward.BatchSize == 0 {
		c.Forward.BatchSize = 256
	}
	if c.Forward.MaxAckPending == 0 {
		c.Forward.MaxAckPending = 4096
	}
	if c.Forward.AckWait == 0 {
		c.Forward.AckWait = 30 * time.Second
	}
	if c.Forward.RetryDelay == 0 {
		c.Forward.RetryDelay = time.Second
	}
	if c.Forward.PurgeInterval == 0 {
		c.Forward.PurgeInterval = time.Second
	}
	if c.Admin.Listen == "" {
		c.Admin.Listen = "127.0.0.1:9180"
	}
	if c.ShutdownTimeout == 0 {
		c.ShutdownTimeout = DefaultShutdownTimeout
	}
	if c.Log.Level == "" {
		c.Log.Level = "info"
	}
	if c.Log.Format == "" {
		c.Log.Format = "text"
	}
	if c.ERP.Environment == "" {
		c.ERP.Environment = c.Environment
	}
	for i := range c.Partners {
		if c.Partners[i].Environment == "" {
			c.Partners[i].Environment = c.Environment
		}
		c.Partners[i].Identity.applyDefaults(c.Partners[i].Name)
	}
}

// Validate reports every problem in the file, each with its field path.
func (c *Config) Validate() error {
	var errs FieldErrors
	if c.Environment == "" {
		errs.Add("environment", "required (e.g. prod or test)")
	}
	if c.ShutdownTimeout < 0 {
		errs.Add("shutdown_timeout", "must not be negative")
	}
	errs.Merge("jetstream", c.JetStream.validate())
	c.validateObserve(&errs)
	c.Forward.validate(&errs)
	c.validateRetry(&errs)
	if c.ERP.Sink.Type == "" {
		errs.Add("erp.type", "required")
	}
	if c.ERP.Environment != c.Environment {
		errs.Add("erp.environment", "is %q but the bridge serves %q: test and production flows never mix", c.ERP.Environment, c.Environment)
	}
	if len(c.Partners) == 0 {
		errs.Add("partners", "at least one partner is required")
	}
	seen := map[string]int{}
	for i, p := range c.Partners {
		path := "partners[" + strconv.Itoa(i) + "]"
		switch {
		case p.Name == "":
			errs.Add(path+".name", "required")
		case !partnerName.MatchString(p.Name):
			errs.Add(path+".name", "%q must be lowercase letters, digits, '-' or '_' (it becomes a subject token)", p.Name)
		default:
			if j, dup := seen[p.Name]; dup {
				errs.Add(path+".name", "%q already used by partners[%d]", p.Name, j)
			}
			seen[p.Name] = i
		}
		if p.Environment != c.Environment {
			errs.Add(path+".environment", "is %q but the bridge serves %q: test and production flows never mix", p.Environment, c.Environment)
		}
		if p.Inbound.Type == "" {
			errs.Add(path+".inbound.type", "required")
		}
	}
	c.validateChecks(&errs)
	c.Limits.validate("limits", &errs)
	c.validateDeadLetter(&errs)
	switch c.Log.Level {
	case "debug", "info", "warn", "error":
	default:
		errs.Add("log.level", "%q is not one of debug, info, warn, error", c.Log.Level)
	}
	switch c.Log.Format {
	case "text", "json":
	default:
		errs.Add("log.format", "%q is not one of text, json", c.Log.Format)
	}
	return errs.Err()
}

func (f *Forward) validate(errs *FieldErrors) {
	if f.BatchSize < 1 || f.BatchSize > 10000 {
		errs.Add("forward.batch_size", "%d is outside 1..10000", f.BatchSize)
	}
	if f.MaxAckPending < f.BatchSize {
		errs.Add("forward.max_ack_pending", "%d must be at least forward.batch_size (%d)", f.MaxAckPending, f.BatchSize)
	}
	if f.AckWait < time.Second {
		errs.Add("forward.ack_wait", "%v is below 1s", f.AckWait)
	}
	if f.RetryDelay <= 0 {
		errs.Add("forward.retry_delay", "must be positive")
	}
	if f.PurgeInterval < 10*time.Millisecond || f.PurgeInterval > time.Hour {
		errs.Add("forward.purge_interval", "%v is outside 10ms..1h", f.PurgeInterval)
	}
}
