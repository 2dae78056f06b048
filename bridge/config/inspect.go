package config

import (
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"net/url"
	"os"
	"strings"
	"time"

	"gopkg.in/yaml.v3"
)

// Report is everything a full check of one configuration file found. It is
// what config check prints and what serve refuses to start on.
type Report struct {
	// Config is the file decoded as far as it could be, with defaults
	// applied; nil when the file could not be read or is not YAML. It is
	// kept even when Errors is not empty, so connector options and
	// referenced files are still checked in the same pass.
	Config *Config
	// Errors are the problems; the file is valid when it is empty.
	Errors FieldErrors
	// Notes are facts worth showing that are not problems, such as when a
	// certificate expires.
	Notes FieldErrors
}

// Err returns the report's problems, nil when there are none.
func (r *Report) Err() error { return r.Errors.Err() }

// InspectOptions adjust Inspect.
type InspectOptions struct {
	// Now dates certificates; zero means time.Now().
	Now time.Time
	// SkipFiles leaves referenced files unchecked, for a configuration
	// checked on another machine than the one it runs on.
	SkipFiles bool
}

// Inspect reads and checks a configuration file in full: syntax, unknown
// fields, types, values, environment variables, and the files it refers
// to (TLS material, NATS credentials). Connector options are left to the
// connector registry, which takes Report.Config.
func Inspect(path string, opts InspectOptions) *Report {
	raw, err := os.ReadFile(path)
	if err != nil {
		return &Report{Errors: FieldErrors{{Msg: fmt.Sprintf("read config: %v", err)}}}
	}
	return InspectBytes(raw, opts)
}

// InspectBytes is Inspect for an in-memory document; relative file paths
// in it are relative to the working directory, as at runtime.
func InspectBytes(raw []byte, opts InspectOptions) *Report {
	rep := &Report{}
	var root yaml.Node
	if err := yaml.Unmarshal(raw, &root); err != nil {
		rep.Errors = FieldErrors{{Msg: fmt.Sprintf("invalid YAML: %v", err)}}
		return rep
	}
	var cfg Config
	rep.Errors.Merge("", DecodeStrict(&root, &cfg))
	cfg.applyDefaults()
	rep.Errors.Merge("", cfg.Validate())
	rep.Config = &cfg
	if !opts.SkipFiles {
		now := opts.Now
		if now.IsZero() {
			now = time.Now()
		}
		checkFiles(&root, "", now, rep)
	}
	return rep
}

// checkFiles walks the expanded document for the keys that name files:
// every tls block's ca, cert and key, and credentials (NATS .creds). It
// works on the tree rather than the Go types so connector options, which
// only their connector decodes, are covered too.
func checkFiles(n *yaml.Node, path string, now time.Time, rep *Report) {
	switch n.Kind {
	case yaml.DocumentNode:
		for _, c := range n.Content {
			checkFiles(c, path, now, rep)
		}
	case yaml.SequenceNode:
		for i, c := range n.Content {
			checkFiles(c, fmt.Sprintf("%s[%d]", path, i), now, rep)
		}
	case yaml.MappingNode:
		for i := 0; i+1 < len(n.Content); i += 2 {
			key, val := n.Content[i].Value, n.Content[i+1]
			p := Join(path, key)
			switch {
			case key == "tls" && val.Kind == yaml.MappingNode:
				checkTLS(val, p, now, rep)
			case key == "credentials" && val.Kind == yaml.ScalarNode && val.Value != "":
				if err := readable(val.Value); err != nil {
					rep.Errors.Add(p, "%v", err)
				}
			default:
				checkFiles(val, p, now, rep)
			}
		}
	}
}

func checkTLS(n *yaml.Node, path string, now time.Time, rep *Report) {
	files := map[string]string{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		switch k, v := n.Content[i].Value, n.Content[i+1]; k {
		case "ca", "cert", "key":
			if v.Kind == yaml.ScalarNode && v.Value != "" {
				files[k] = v.Value
			}
		}
	}
	for _, k := range []string{"ca", "cert"} {
		f, ok := files[k]
		if !ok {
			continue
		}
		certs, err := readCerts(f)
		if err != nil {
			rep.Errors.Add(Join(path, k), "%v", err)
			delete(files, k)
			continue
		}
		for _, c := range certs {
			expiry(c, Join(path, k), now, rep)
		}
	}
	if f, ok := files["key"]; ok {
		if err := readable(f); err != nil {
			rep.Errors.Add(Join(path, "key"), "%v", err)
			delete(files, "key")
		}
	}
	if cert, ok := files["cert"]; ok {
		if key, ok := files["key"]; ok {
			if _, err := tls.LoadX509KeyPair(cert, key); err != nil {
				rep.Errors.Add(Join(path, "key"), "does not go with cert %s: %v", cert, err)
			}
		}
	}
}

func readable(name string) error {
	f, err := os.Open(name)
	if err != nil {
		return fmt.Errorf("%s: %w", name, unwrapPathError(err))
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return fmt.Errorf("%s: %w", name, err)
	}
	if st.IsDir() {
		return fmt.Errorf("%s is a directory, not a file", name)
	}
	return nil
}

// unwrapPathError drops os.PathError's repetition of the file name.
func unwrapPathError(err error) error {
	if pe, ok := err.(*os.PathError); ok {
		return pe.Err
	}
	return err
}

func readCerts(name string) ([]*x509.Certificate, error) {
	if err := readable(name); err != nil {
		return nil, err
	}
	raw, err := os.ReadFile(name)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", name, unwrapPathError(err))
	}
	certs, err := PEMCertificates(raw)
	if err != nil {
		return nil, fmt.Errorf("%s: certificate %d does not parse: %v", name, len(certs)+1, err)
	}
	if len(certs) == 0 {
		return nil, fmt.Errorf("%s holds no PEM certificate", name)
	}
	return certs, nil
}

// PEMCertificates parses the CERTIFICATE blocks of raw, skipping other
// blocks. On one that does not parse it returns those before it and the
// parser's error.
func PEMCertificates(raw []byte) ([]*x509.Certificate, error) {
	var certs []*x509.Certificate
	for {
		var b *pem.Block
		b, raw = pem.Decode(raw)
		if b == nil {
			return certs, nil
		}
		if b.Type != "CERTIFICATE" {
			continue
		}
		c, err := x509.ParseCertificate(b.Bytes)
		if err != nil {
			return certs, err
		}
		certs = append(certs, c)
	}
}

// expiry notes when a certificate stops being valid; an expired or not
// yet valid one is an error, one expiring within 30 days is flagged.
func expiry(c *x509.Certificate, path string, now time.Time, rep *Report) {
	subject := c.Subject.CommonName
	if subject == "" {
		subject = c.Subject.String()
	}
	until := c.NotAfter.UTC().Format("2006-01-02")
	days := int(c.NotAfter.Sub(now).Hours() / 24)
	switch {
	case now.After(c.NotAfter):
		rep.Errors.Add(path, "certificate %q expired on %s", subject, until)
	case now.Before(c.NotBefore):
		rep.Errors.Add(path, "certificate %q is not valid before %s", subject, c.NotBefore.UTC().Format("2006-01-02"))
	case days < 30:
		rep.Notes.Add(path, "certificate %q expires on %s: in %d days, renew it soon", subject, until, days)
	default:
		rep.Notes.Add(path, "certificate %q expires on %s (in %d days)", subject, until, days)
	}
}

// Redacted renders the effective configuration as YAML with secrets
// replaced: the values of token and passphrase keys and of keys ending in
// password or secret, and passwords in URLs.
// Connector options appear as written (after ${ENV} expansion), since
// their defaults belong to the connectors.
func (c *Config) Redacted() ([]byte, error) {
	eff := *c
	// Retry policies inherit at runtime; show what is in effect.
	eff.Forward.Retry = c.Forward.EffectiveRetry()
	eff.Partners = append([]Partner(nil), c.Partners...)
	for i := range eff.Partners {
		eff.Partners[i].Retry = c.RetryFor(eff.Partners[i].Name)
	}
	var doc yaml.Node
	if err := doc.Encode(&eff); err != nil {
		return nil, fmt.Errorf("encode config: %w", err)
	}
	redact(&doc, "")
	var b bytes.Buffer
	enc := yaml.NewEncoder(&b)
	enc.SetIndent(2)
	if err := enc.Encode(&doc); err != nil {
		return nil, fmt.Errorf("encode config: %w", err)
	}
	if err := enc.Close(); err != nil {
		return nil, fmt.Errorf("encode config: %w", err)
	}
	return b.Bytes(), nil
}

const redactedValue = "REDACTED"

func redact(n *yaml.Node, key string) {
	switch n.Kind {
	case yaml.MappingNode:
		for i := 0; i+1 < len(n.Content); i += 2 {
			redact(n.Content[i+1], strings.ToLower(n.Content[i].Value))
		}
	case yaml.SequenceNode, yaml.DocumentNode:
		for _, c := range n.Content {
			redact(c, key)
		}
	case yaml.ScalarNode:
		if n.Value == "" {
			return
		}
		// Exact names and password/secret suffixes; not "_token", which
		// subject_from_token ends in.
		switch {
		case key == "token", key == "passphrase",
			strings.HasSuffix(key, "password"), strings.HasSuffix(key, "secret"):
			n.Value, n.Tag, n.Style = redactedValue, "!!str", 0
			return
		}
		n.Value = redactURLs(n.Value)
	}
}

// redactURLs hides the password of each URL in a comma-separated list.
func redactURLs(s string) string {
	if !strings.Contains(s, "://") || !strings.Contains(s, "@") {
		return s
	}
	parts := strings.Split(s, ",")
	for i, p := range parts {
		u, err := url.Parse(strings.TrimSpace(p))
		if err != nil || u.User == nil {
			continue
		}
		if _, has := u.User.Password(); has {
			u.User = url.UserPassword(u.User.Username(), redactedValue)
			parts[i] = u.String()
		}
	}
	return strings.Join(parts, ",")
}
