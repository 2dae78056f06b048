package config

import "time"

// Batch modes decide how events are written to JetStream.
const (
	// BatchAuto uses atomic batch publish (group commit) under fsync and
	// replicated durability and asynchronous single publishes under relaxed.
	BatchAuto = "auto"
	// BatchAtomic always uses atomic batch publish where the server has it.
	BatchAtomic = "atomic"
	// BatchOff always publishes one message at a time, asynchronously.
	BatchOff = "off"
)

// ServerMaxBatch is nats-server's default limit on messages in one atomic
// batch (ADR-50); a larger batch is rejected as a whole.
const ServerMaxBatch = 1000

// Batch configures group commit: the events bound for one stream are
// gathered into one JetStream atomic batch, so a single fsync covers up to
// MaxMessages events instead of one each.
type Batch struct {
	Mode string `yaml:"mode"`
	// MaxMessages closes a batch once it holds this many events.
	MaxMessages int `yaml:"max_messages"`
	// Linger closes a batch this long after its first event at the latest.
	Linger time.Duration `yaml:"linger"`
	// InFlight is how many batches per stream may await their commit at
	// once; the server allows 50 per stream in all.
	InFlight int `yaml:"in_flight"`
	// CommitTimeout bounds the wait for a commit's PubAck; after it the
	// batch's events are published again one by one with their ids.
	CommitTimeout time.Duration `yaml:"commit_timeout"`
}

func (b *Batch) applyDefaults() {
	if b.Mode == "" {
		b.Mode = BatchAuto
	}
	if b.MaxMessages == 0 {
		b.MaxMessages = ServerMaxBatch
	}
	if b.Linger == 0 {
		b.Linger = 5 * time.Millisecond
	}
	if b.InFlight == 0 {
		b.InFlight = 4
	}
	if b.CommitTimeout == 0 {
		b.CommitTimeout = 10 * time.Second
	}
}

// Enabled reports whether events are group-committed under durability.
func (b Batch) Enabled(durability string) bool {
	switch b.Mode {
	case BatchAtomic:
		return true
	case BatchOff:
		return false
	default:
		return durability != DurabilityRelaxed
	}
}

func (b *Batch) validate() error {
	var errs FieldErrors
	switch b.Mode {
	case BatchAuto, BatchAtomic, BatchOff:
	default:
		errs.Add("mode", "%q is not one of auto, atomic, off", b.Mode)
	}
	if b.MaxMessages < 1 || b.MaxMessages > ServerMaxBatch {
		errs.Add("max_messages", "%d is outside 1..%d (the server's atomic batch limit)", b.MaxMessages, ServerMaxBatch)
	}
	if b.Linger < 0 || b.Linger > time.Second {
		errs.Add("linger", "%v is outside 0..1s", b.Linger)
	}
	if b.InFlight < 1 || b.InFlight > 16 {
		errs.Add("in_flight", "%d is outside 1..16", b.InFlight)
	}
	if b.CommitTimeout < time.Second {
		errs.Add("commit_timeout", "%v is below 1s", b.CommitTimeout)
	}
	return errs.Err()
}

// DurabilityLevel maps a durability mode to a number for a metrics gauge:
// 0 relaxed, 1 fsync, 2 replicated (higher survives more), -1 unknown.
func DurabilityLevel(mode string) int {
	switch mode {
	case DurabilityRelaxed:
		return 0
	case DurabilityFsync:
		return 1
	case DurabilityReplicated:
		return 2
	default:
		return -1
	}
}

// WithDefaults returns b with zero fields set to their defaults, for
// callers that build a config in code rather than loading it.
func (b Batch) WithDefaults() Batch {
	b.applyDefaults()
	return b
}
