package config

import "strconv"

// DeadLetter configures how dead-letter entries are kept at rest.
type DeadLetter struct {
	// SealKeySource names the current sealing key (AES-256, base64 or
	// hex): it seals new entries and opens them.
	SealKeySource `yaml:",inline"`
	// OldKeys only open entries sealed before a key rotation; `dmzbridge
	// dlq reseal` moves those entries to the current key.
	OldKeys []SealKeySource `yaml:"old_keys"`
}

// SealKeySource is where a key is read from: an environment variable or a
// file, never the config file itself.
type SealKeySource struct {
	Env  string `yaml:"seal_key_env"`
	File string `yaml:"seal_key_file"`
}

// Sealed reports whether a current sealing key is configured.
func (d DeadLetter) Sealed() bool { return d.Env != "" || d.File != "" }

// EnvironmentProd is the environment in which sealing is mandatory.
const EnvironmentProd = "prod"

func (c *Config) validateDeadLetter(errs *FieldErrors) {
	d := c.DeadLetter
	if d.Env != "" && d.File != "" {
		errs.Add("dead_letter.seal_key_file", "set either seal_key_env or seal_key_file, not both")
	}
	if !d.Sealed() {
		if c.Environment == EnvironmentProd {
			errs.Add("dead_letter.seal_key_env", "required with environment: prod (or seal_key_file): dead-letter entries hold partner payloads and must be sealed at rest")
		}
		if len(d.OldKeys) > 0 {
			errs.Add("dead_letter.old_keys", "need a current key (seal_key_env or seal_key_file)")
		}
	}
	for i, o := range d.OldKeys {
		switch {
		case o.Env != "" && o.File != "":
			errs.Add("dead_letter.old_keys["+strconv.Itoa(i)+"]", "set either seal_key_env or seal_key_file, not both")
		case o.Env == "" && o.File == "":
			errs.Add("dead_letter.old_keys["+strconv.Itoa(i)+"]", "set seal_key_env or seal_key_file")
		}
	}
}

// WithDefaults is j with the defaults a loaded config would have, for
// tools that run without a config file.
func (j JetStream) WithDefaults() JetStream {
	j.applyDefaults()
	return j
}
