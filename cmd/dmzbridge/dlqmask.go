package main

import (
	"bytes"
	"encoding/json"
	"regexp"
	"sort"
	"strings"

	"github.com/dmzbridge/dmzbridge/bridge/config"
	"github.com/dmzbridge/dmzbridge/bridge/mask"
)

// redacted replaces a value `dlq show` hides.
const redacted = "[REDACTED]"

// displayMasker masks an entry's payload for display. The partner's
// masking policy from the config applies when one is configured (see
// policyMasker); the generic rules below always apply on top, because a
// dead-letter entry that failed at intake holds the payload as received,
// before any policy ran.
type displayMasker struct {
	policy func(partner, eventType string, doc any) any
}

// sensitiveKey matches field and header names whose values are personal
// or secret wherever they appear.
var sensitiveKey = regexp.MustCompile(`(?i)(iban|bic|swift|card|pan$|cvv|cvc|account|email|e-mail|phone|mobile|fax|tax|vat|ssn|social|passport|birth|password|passwd|secret|token|authorization|cookie|api[-_]?key|credential|signature)`)

// detectors are bridge/mask's value detectors (IBAN, card, e-mail), the
// pipeline's own, applied to every string.
var detectors = func() *mask.Policy {
	p, err := mask.Compile("dlq display", config.Masking{Policies: []config.MaskPolicy{{Detectors: mask.DetectorNames()}}}, func(string) string { return "" })
	if err != nil {
		panic(err) // a fixed policy: cannot fail
	}
	return p
}()

// phone catches international phone numbers, which bridge/mask has no
// detector for; without the + a short digit run is as likely a date or an
// amount.
var phone = regexp.MustCompile(`\+[0-9](?:[ ()/.-]?[0-9]){6,14}`)

func maskText(s string) string {
	if m, ok := detectors.Apply("", s).(mask.Masked); ok {
		s = string(m)
	}
	return phone.ReplaceAllString(s, redacted)
}

// maskTree redacts every value under a sensitive key and sensitive
// substrings elsewhere.
func maskTree(v any) any {
	switch x := v.(type) {
	case mask.Masked:
		// Already masked by the partner's policy (e.g. last4): kept.
		return x
	case map[string]any:
		for k, e := range x {
			if sensitiveKey.MatchString(k) {
				x[k] = redactAll(e)
			} else {
				x[k] = maskTree(e)
			}
		}
		return x
	case []any:
		for i, e := range x {
			x[i] = maskTree(e)
		}
		return x
	case string:
		return maskText(x)
	case json.Number:
		if m := maskText(x.String()); m != x.String() {
			return m
		}
		return x
	default:
		return v
	}
}

func redactAll(v any) any {
	switch x := v.(type) {
	case mask.Masked:
		return x
	case map[string]any:
		for k, e := range x {
			x[k] = redactAll(e)
		}
		return x
	case []any:
		for i, e := range x {
			x[i] = redactAll(e)
		}
		return x
	case nil:
		return nil
	default:
		return redacted
	}
}

// Payload returns the payload for display: indented JSON, masked unless
// reveal. A payload that is not JSON cannot be masked field by field and is
// shown only with reveal.
func (m displayMasker) Payload(partner, eventType string, payload []byte, reveal bool) (string, bool) {
	if reveal {
		// Revealed means as stored, byte for byte: field order and
		// number spelling included.
		return string(payload), true
	}
	var doc any
	dec := json.NewDecoder(bytes.NewReader(payload))
	dec.UseNumber()
	if err := dec.Decode(&doc); err != nil || dec.More() {
		if reveal {
			return string(payload), true
		}
		return "", false
	}
	if !reveal {
		if m.policy != nil {
			doc = m.policy(partner, eventType, doc)
		}
		doc = maskTree(doc)
	}
	out, err := json.MarshalIndent(doc, "", "  ")
	if err != nil {
		return "", false
	}
	return string(out), true
}

// Headers returns the partner headers for display, sorted by name.
func (m displayMasker) Headers(h map[string]string, reveal bool) [][2]string {
	keys := make([]string, 0, len(h))
	for k := range h {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	out := make([][2]string, 0, len(keys))
	for _, k := range keys {
		v := h[k]
		if !reveal {
			if sensitiveKey.MatchString(k) {
				v = redacted
			} else {
				v = maskText(v)
			}
		}
		out = append(out, [2]string{k, v})
	}
	return out
}

// Text masks free text such as a validator's error detail, which may quote
// the offending value.
func (m displayMasker) Text(s string, reveal bool) string {
	if reveal {
		return s
	}
	return strings.TrimSpace(maskText(s))
}
