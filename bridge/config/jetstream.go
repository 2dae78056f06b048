package config

import (
	"time"
)

// Durability modes decide when an event counts as stored.
const (
	// DurabilityFsync: the server fsyncs every write before its PubAck.
	DurabilityFsync = "fsync"
	// DurabilityReplicated: a quorum of fsyncing replicas holds every write.
	DurabilityReplicated = "replicated"
	// DurabilityRelaxed: NATS defaults; a power loss can lose acknowledged events.
	DurabilityRelaxed = "relaxed"
)

// JetStream is where events are persisted between partner and ERP.
type JetStream struct {
	// Environment of the JetStream endpoint; defaults to the bridge's.
	Environment string `yaml:"environment"`
	// Embedded starts an in-process nats-server with JetStream.
	Embedded bool `yaml:"embedded"`
	// StoreDir holds the embedded server's file store.
	StoreDir string `yaml:"store_dir"`
	// Listen is the embedded server's client address; loopback so the CLI
	// on the same host can reach it and nothing else can.
	Listen string `yaml:"listen"`
	// URL of an external NATS server or cluster (comma-separated).
	URL string `yaml:"url"`
	// Credentials is a NATS .creds file; User/Password are the alternative.
	Credentials string `yaml:"credentials"`
	User        string `yaml:"user"`
	Password    string `yaml:"password"`
	TLS         TLS    `yaml:"tls"`

	Durability string `yaml:"durability"`
	Replicas   int    `yaml:"replicas"`
	// StreamPrefix names the bridge's streams (<prefix>_INGEST, …) and
	// subjects, so several bridges or tests can share a server.
	StreamPrefix    string        `yaml:"stream_prefix"`
	DuplicateWindow time.Duration `yaml:"duplicate_window"`
	Ingest          Retention     `yaml:"ingest"`
	DeadLetter      Retention     `yaml:"dead_letter"`
	// Audit is the audit trail's retention (default 365 days).
	Audit Retention `yaml:"audit"`
	// MaxPending bounds asynchronous publishes awaiting their PubAck.
	MaxPending int `yaml:"max_pending"`
	// StallWait is how long a publish waits for room in the window.
	StallWait time.Duration `yaml:"stall_wait"`
	// MaxStore caps the embedded server's file store in bytes; 0 lets the
	// server size it from the disk's free space.
	MaxStore int64 `yaml:"max_store"`
	// Batch is the group commit of partner events (see batch.go).
	Batch Batch `yaml:"batch"`
}

// Retention limits a stream by age and size; zero means unlimited.
type Retention struct {
	MaxAge   time.Duration `yaml:"max_age"`
	MaxBytes int64         `yaml:"max_bytes"`
}

// TLS holds client TLS settings; CA alone verifies the server, Cert and Key
// add mutual TLS.
type TLS struct {
	CA         string `yaml:"ca"`
	Cert       string `yaml:"cert"`
	Key        string `yaml:"key"`
	ServerName string `yaml:"server_name"`
}

// Enabled reports whether any TLS setting is present.
func (t TLS) Enabled() bool { return t.CA != "" || t.Cert != "" || t.Key != "" }

// Validate checks the TLS fields relative to their own node.
func (t TLS) Validate() error {
	var errs FieldErrors
	if (t.Cert == "") != (t.Key == "") {
		errs.Add("cert", "cert and key must be given together")
	}
	return errs.Err()
}

func (j *JetStream) applyDefaults() {
	if j.Durability == "" {
		if j.Embedded {
			j.Durability = DurabilityFsync
		} else {
			j.Durability = DurabilityReplicated
		}
	}
	if j.Replicas == 0 {
		j.Replicas = 1
		if j.Durability == DurabilityReplicated {
			j.Replicas = 3
		}
	}
	if j.Embedded && j.StoreDir == "" {
		j.StoreDir = "./data/jetstream"
	}
	if j.Embedded && j.Listen == "" {
		j.Listen = "127.0.0.1:14222"
	}
	if j.StreamPrefix == "" {
		j.StreamPrefix = "DMZ"
	}
	if j.DuplicateWindow == 0 {
		j.DuplicateWindow = 10 * time.Minute
	}
	if j.DeadLetter.MaxAge == 0 {
		j.DeadLetter.MaxAge = 7 * 24 * time.Hour
	}
	if j.MaxPending == 0 {
		j.MaxPending = 256
	}
	if j.StallWait == 0 {
		j.StallWait = 5 * time.Second
	}
	if j.Batch.InFlight == 0 && j.Durability != DurabilityReplicated {
		// A single server commits a stream's batches one after another, so a
		// second batch in flight only waits in its queue: measured with
		// dmzbridge bench under fsync, one in flight gave ~6 % more events/s
		// and half the latency of four. Through a cluster's Raft log
		// pipelining can pay, so replicated keeps the batch default.
		j.Batch.InFlight = 1
	}
	j.Batch.applyDefaults()
}

func (j *JetStream) validate() error {
	var errs FieldErrors
	switch {
	case j.Embedded && j.URL != "":
		errs.Add("url", "set either embedded: true or url, not both")
	case !j.Embedded && j.URL == "":
		errs.Add("url", "required unless embedded: true")
	}
	switch j.Durability {
	case DurabilityFsync, DurabilityRelaxed:
	case DurabilityReplicated:
		if j.Embedded {
			errs.Add("durability", "replicated needs a JetStream cluster; the embedded server is a single node (use fsync)")
		}
		if j.Replicas < 3 {
			errs.Add("replicas", "durability replicated needs at least 3 replicas, got %d", j.Replicas)
		}
	default:
		errs.Add("durability", "%q is not one of fsync, replicated, relaxed", j.Durability)
	}
	if j.Replicas < 1 || j.Replicas > 5 {
		errs.Add("replicas", "%d is outside 1..5", j.Replicas)
	}
	if j.Embedded && j.Replicas != 1 {
		errs.Add("replicas", "the embedded server holds one replica")
	}
	if j.DuplicateWindow < time.Second {
		errs.Add("duplicate_window", "%v is below 1s", j.DuplicateWindow)
	}
	if j.MaxPending < 1 || j.MaxPending > 65536 {
		errs.Add("max_pending", "%d is outside 1..65536", j.MaxPending)
	}
	if j.Credentials != "" && j.User != "" {
		errs.Add("user", "set either credentials or user/password, not both")
	}
	errs.Merge("tls", j.TLS.Validate())
	errs.Merge("batch", j.Batch.validate())
	return errs.Err()
}
