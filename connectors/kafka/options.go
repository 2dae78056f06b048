package kafka

import (
	"fmt"
	"log/slog"
	"strings"
	"time"

	kafkago "github.com/segmentio/kafka-go"
	"github.com/segmentio/kafka-go/sasl"
	"github.com/segmentio/kafka-go/sasl/plain"
	"github.com/segmentio/kafka-go/sasl/scram"

	"github.com/dmzbridge/dmzbridge/bridge/config"
	"github.com/dmzbridge/dmzbridge/bridge/connkit"
	"github.com/dmzbridge/dmzbridge/bridge/store"
)

// SourceOptions configure a partner's Kafka inbound connector.
type SourceOptions struct {
	// Brokers are the bootstrap addresses, host:port.
	Brokers []string `yaml:"brokers"`
	// Topics the partner publishes to; Topic is shorthand for one.
	Topic  string   `yaml:"topic"`
	Topics []string `yaml:"topics"`
	// GroupID is the consumer group shared by bridge replicas (default
	// dmzbridge-<partner>).
	GroupID  string `yaml:"group_id"`
	ClientID string `yaml:"client_id"`
	SASL     SASL   `yaml:"sasl"`
	TLS      TLS    `yaml:"tls"`
	// IDHeader names a record header holding the partner's message id;
	// without it (or when a record lacks it) the id is topic/partition/offset.
	IDHeader string `yaml:"id_header"`
	// IDFromKey takes the record key as the message id when id_header is
	// unset or absent from a record. Off by default: keys usually name an
	// entity (an order, a customer) shared by many records, and JetStream
	// would drop every later record of one key as a duplicate of the first.
	// A key that is not UTF-8 text of at most 256 bytes is not used.
	IDFromKey bool `yaml:"id_from_key"`
	// MaxInFlight bounds records fetched but not yet stored: when it is
	// reached the source stops fetching (backpressure).
	MaxInFlight int `yaml:"max_in_flight"`
	// CommitInterval is how often stored offsets are committed, one commit
	// request for all partitions.
	CommitInterval time.Duration `yaml:"commit_interval"`
	// StartOffset is where a group with no committed offset starts:
	// earliest (default, nothing the partner sent before the bridge first
	// ran is skipped) or latest.
	StartOffset string `yaml:"start_offset"`
	// SourceLimits: max_deliveries counts fetches by this process;
	// max_message_bytes is also the fetch size, so one such record always
	// fits.
	connkit.SourceLimits `yaml:",inline"`
	// Isolation is read_committed (default: aborted transactions are never
	// forwarded) or read_uncommitted.
	Isolation string `yaml:"isolation"`
	// MaxWait bounds a fetch's long poll.
	MaxWait           time.Duration `yaml:"max_wait"`
	DialTimeout       time.Duration `yaml:"dial_timeout"`
	SessionTimeout    time.Duration `yaml:"session_timeout"`
	HeartbeatInterval time.Duration `yaml:"heartbeat_interval"`
	RebalanceTimeout  time.Duration `yaml:"rebalance_timeout"`
	// RestartInitial and RestartMax bound the jittered delay before the
	// reader is recreated after an error or a record that was not stored.
	RestartInitial time.Duration `yaml:"restart_initial"`
	RestartMax     time.Duration `yaml:"restart_max"`
}

// SASL selects the authentication mechanism.
type SASL struct {
	// Mechanism is PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512; empty disables SASL.
	Mechanism string `yaml:"mechanism"`
	User      string `yaml:"user"`
	Password  string `yaml:"password"`
}

// TLS is the shared client TLS block plus a switch for brokers whose
// certificates chain to the system roots (no ca given).
type TLS struct {
	config.TLS `yaml:",inline"`
	Enabled    bool `yaml:"enabled"`
}

func (t TLS) on() bool { return t.Enabled || t.TLS.Enabled() }

func (o *SourceOptions) defaults(partner string) {
	if o.Topic != "" {
		o.Topics = append([]string{o.Topic}, o.Topics...)
	}
	connkit.Default(&o.GroupID, "dmzbridge-"+partner)
	connkit.Default(&o.ClientID, "dmzbridge-in-"+partner)
	connkit.Default(&o.MaxInFlight, 1024)
	connkit.Default(&o.CommitInterval, 200*time.Millisecond)
	connkit.Default(&o.StartOffset, "earliest")
	connkit.Default(&o.Isolation, "read_committed")
	connkit.Default(&o.MaxWait, 500*time.Millisecond)
	connkit.Default(&o.DialTimeout, 10*time.Second)
	connkit.Default(&o.SessionTimeout, 30*time.Second)
	connkit.Default(&o.HeartbeatInterval, 3*time.Second)
	connkit.Default(&o.RebalanceTimeout, 30*time.Second)
	connkit.Default(&o.RestartInitial, connkit.DefaultReconnectInitial)
	connkit.Default(&o.RestartMax, connkit.DefaultReconnectMax)
	o.SourceLimits.Defaults()
}

func (o *SourceOptions) validate() error {
	var errs config.FieldErrors
	if len(o.Brokers) == 0 {
		errs.Add("brokers", "required")
	}
	for i, b := range o.Brokers {
		if !strings.Contains(b, ":") || strings.Contains(b, "://") {
			errs.Add(fmt.Sprintf("brokers[%d]", i), "%q is not host:port", b)
		}
	}
	if len(o.Topics) == 0 {
		errs.Add("topic", "required (topic or topics)")
	}
	seen := map[string]bool{}
	for i, t := range o.Topics {
		if t == "" || seen[t] {
			errs.Add(fmt.Sprintf("topics[%d]", i), "empty or repeated topic %q", t)
		}
		seen[t] = true
	}
	if o.MaxInFlight < 1 {
		errs.Add("max_in_flight", "must be at least 1")
	}
	if o.CommitInterval < 0 {
		errs.Add("commit_interval", "must be positive")
	}
	connkit.OneOf(&errs, "start_offset", o.StartOffset, "earliest", "latest")
	connkit.OneOf(&errs, "isolation", o.Isolation, "read_committed", "read_uncommitted")
	o.SourceLimits.Validate(&errs)
	if o.HeartbeatInterval >= o.SessionTimeout {
		errs.Add("heartbeat_interval", "must be below session_timeout")
	}
	connkit.ValidateBackoff(&errs, "restart_initial", "restart_max", o.RestartInitial, o.RestartMax)
	switch o.SASL.Mechanism {
	case "":
		if o.SASL.User != "" || o.SASL.Password != "" {
			errs.Add("sasl.mechanism", "required when sasl.user or sasl.password is set")
		}
	case "PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512":
		if o.SASL.User == "" {
			errs.Add("sasl.user", "required")
		}
		if o.SASL.Mechanism == "PLAIN" && !o.TLS.on() {
			errs.Add("sasl.mechanism", "PLAIN sends the password in clear text; enable tls")
		}
	default:
		errs.Add("sasl.mechanism", "%q is not one of PLAIN, SCRAM-SHA-256, SCRAM-SHA-512", o.SASL.Mechanism)
	}
	errs.Merge("tls", o.TLS.TLS.Validate())
	return errs.Err()
}

func (o *SourceOptions) mechanism() (sasl.Mechanism, error) {
	switch o.SASL.Mechanism {
	case "PLAIN":
		return plain.Mechanism{Username: o.SASL.User, Password: o.SASL.Password}, nil
	case "SCRAM-SHA-256":
		return scram.Mechanism(scram.SHA256, o.SASL.User, o.SASL.Password)
	case "SCRAM-SHA-512":
		return scram.Mechanism(scram.SHA512, o.SASL.User, o.SASL.Password)
	}
	return nil, nil
}

// dialer builds the connection settings every connection of the reader
// (partition leaders and the group coordinator) uses.
func (o *SourceOptions) dialer() (*kafkago.Dialer, error) {
	d := &kafkago.Dialer{ClientID: o.ClientID, Timeout: o.DialTimeout, DualStack: true}
	if o.TLS.on() {
		tc, err := store.ClientTLS(o.TLS.TLS)
		if err != nil {
			return nil, err
		}
		d.TLS = tc
	}
	m, err := o.mechanism()
	if err != nil {
		return nil, fmt.Errorf("sasl %s: %w", o.SASL.Mechanism, err)
	}
	d.SASLMechanism = m
	return d, nil
}

// readerConfig is the kafka-go configuration of one reader. CommitInterval
// stays 0: commits are synchronous, issued by the source's committer only
// for stored records; the reader never commits on its own.
func (o *SourceOptions) readerConfig(d *kafkago.Dialer, log *slog.Logger) kafkago.ReaderConfig {
	rc := kafkago.ReaderConfig{
		Brokers:           o.Brokers,
		GroupID:           o.GroupID,
		Dialer:            d,
		QueueCapacity:     min(o.MaxInFlight, 1000),
		MinBytes:          1,
		MaxBytes:          max(o.MaxMessageBytes, 1<<20),
		MaxWait:           o.MaxWait,
		ReadLagInterval:   -1,
		HeartbeatInterval: o.HeartbeatInterval,
		SessionTimeout:    o.SessionTimeout,
		RebalanceTimeout:  o.RebalanceTimeout,
		JoinGroupBackoff:  o.RestartInitial,
		StartOffset:       kafkago.FirstOffset,
		IsolationLevel:    kafkago.ReadCommitted,
		Logger:            kafkago.LoggerFunc(func(f string, a ...any) { log.Debug("kafka-go: " + fmt.Sprintf(f, a...)) }),
		ErrorLogger:       kafkago.LoggerFunc(func(f string, a ...any) { log.Debug("kafka-go error: " + fmt.Sprintf(f, a...)) }),
	}
	if len(o.Topics) == 1 {
		rc.Topic = o.Topics[0]
	} else {
		rc.GroupTopics = o.Topics
	}
	if o.StartOffset == "latest" {
		rc.StartOffset = kafkago.LastOffset
	}
	if o.Isolation == "read_uncommitted" {
		rc.IsolationLevel = kafkago.ReadUncommitted
	}
	return rc
}
