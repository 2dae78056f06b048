package config

import "strconv"

// DefaultSchemasDir is where schema files are read from unless schemas_dir
// says otherwise; relative paths are relative to the working directory.
const DefaultSchemasDir = "schemas"

// PartnerChecks are a partner's validation and masking settings. They are
// inlined into Partner, so they appear as partner-level fields.
type PartnerChecks struct {
	// EventType says where the event type is read from.
	EventType EventTypeSource `yaml:"event_type"`
	// AllowedTypes are the event types the partner may send. A partner
	// without them is not schema-validated (only the size limit applies).
	AllowedTypes []string `yaml:"allowed_types"`
	// MaxMessageBytes rejects larger payloads as too_large; 0 = no limit.
	MaxMessageBytes int `yaml:"max_message_bytes"`
	// Masking is applied to valid events before they are stored.
	Masking Masking `yaml:"masking"`
	// Limits override the top-level limits for this partner (intake.go).
	Limits Limits `yaml:"limits"`
	// Identity is the partner's identity rule (intake.go); default none.
	Identity Identity `yaml:"identity"`
}

// EventTypeSource names exactly one place the event type comes from.
// Without any, the header Event-Type is used.
type EventTypeSource struct {
	Header string `yaml:"header"`
	// JSONField is a JSON pointer (/meta/type) or a dotted path (meta.type).
	JSONField string `yaml:"json_field"`
	// SubjectFromToken takes the NATS subject (header Nats-Subject) from
	// this 0-based token on: partners.bank-a.payment.received with 2 gives
	// payment.received.
	SubjectFromToken *int `yaml:"subject_from_token"`
}

// DefaultEventTypeHeader is used when a partner configures no source.
const DefaultEventTypeHeader = "Event-Type"

// Masking is a partner's masking policy.
type Masking struct {
	// HashKeyEnv names the environment variable holding the HMAC-SHA256
	// key for the hash action; required when any rule hashes.
	HashKeyEnv string       `yaml:"hash_key_env"`
	Policies   []MaskPolicy `yaml:"policies"`
}

// MaskPolicy applies to the listed event types (all when empty).
type MaskPolicy struct {
	Types  []string    `yaml:"types"`
	Fields []MaskField `yaml:"fields"`
	// Detectors scan every string value not covered by Fields: iban, card,
	// email.
	Detectors []string `yaml:"detectors"`
	// DetectorAction is applied to what a detector finds: redact (default),
	// hash or last4.
	DetectorAction string `yaml:"detector_action"`
}

// MaskField masks the values at one path.
type MaskField struct {
	// Path is a JSON pointer (/payer/iban, /lines/*/card) or a simple path
	// (payer.iban, lines[*].card); * matches every array element.
	Path string `yaml:"path"`
	// Action: redact, last4, keep_last (with Keep), hash, drop.
	Action string `yaml:"action"`
	Keep   int    `yaml:"keep"`
}

// Mask actions.
const (
	MaskRedact   = "redact"
	MaskLast4    = "last4"
	MaskKeepLast = "keep_last"
	MaskHash     = "hash"
	MaskDrop     = "drop"
)

// SchemasPath is the schema directory in effect.
func (c *Config) SchemasPath() string {
	if c.SchemasDir == "" {
		return DefaultSchemasDir
	}
	return c.SchemasDir
}

// validateChecks reports structural problems of the partner-level checks;
// paths, schemas and keys are checked when the stages are built.
func (c *Config) validateChecks(errs *FieldErrors) {
	for i, p := range c.Partners {
		path := "partners[" + strconv.Itoa(i) + "]"
		p.PartnerChecks.validate(path, errs)
	}
}

func (pc *PartnerChecks) validate(path string, errs *FieldErrors) {
	n := 0
	if pc.EventType.Header != "" {
		n++
	}
	if pc.EventType.JSONField != "" {
		n++
	}
	if pc.EventType.SubjectFromToken != nil {
		n++
		if *pc.EventType.SubjectFromToken < 0 {
			errs.Add(path+".event_type.subject_from_token", "must not be negative")
		}
	}
	if n > 1 {
		errs.Add(path+".event_type", "set only one of header, json_field, subject_from_token")
	}
	for j, t := range pc.AllowedTypes {
		if t == "" {
			errs.Add(path+".allowed_types["+strconv.Itoa(j)+"]", "empty event type")
		}
	}
	if pc.MaxMessageBytes < 0 {
		errs.Add(path+".max_message_bytes", "must not be negative")
	}
	pc.Limits.validate(path+".limits", errs)
	pc.Identity.validate(path, errs)
	hashes := false
	for j, pol := range pc.Masking.Policies {
		pp := path + ".masking.policies[" + strconv.Itoa(j) + "]"
		for k, f := range pol.Fields {
			fp := pp + ".fields[" + strconv.Itoa(k) + "]"
			if f.Path == "" {
				errs.Add(fp+".path", "required")
			}
			switch f.Action {
			case MaskRedact, MaskLast4, MaskDrop:
			case MaskHash:
				hashes = true
			case MaskKeepLast:
				if f.Keep < 1 {
					errs.Add(fp+".keep", "keep_last needs keep of at least 1")
				}
			case "":
				errs.Add(fp+".action", "required (redact, last4, keep_last, hash, drop)")
			default:
				errs.Add(fp+".action", "%q is not one of redact, last4, keep_last, hash, drop", f.Action)
			}
			if f.Keep != 0 && f.Action != MaskKeepLast {
				errs.Add(fp+".keep", "only used with action keep_last")
			}
		}
		for k, d := range pol.Detectors {
			switch d {
			case "iban", "card", "email":
			default:
				errs.Add(pp+".detectors["+strconv.Itoa(k)+"]", "%q is not one of iban, card, email", d)
			}
		}
		switch pol.DetectorAction {
		case "", MaskRedact, MaskLast4:
		case MaskHash:
			hashes = hashes || len(pol.Detectors) > 0
		default:
			errs.Add(pp+".detector_action", "%q is not one of redact, hash, last4", pol.DetectorAction)
		}
	}
	if hashes && pc.Masking.HashKeyEnv == "" {
		errs.Add(path+".masking.hash_key_env", "required: a hash rule needs the name of the environment variable holding the HMAC key")
	}
}
