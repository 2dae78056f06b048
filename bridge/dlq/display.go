package dlq

import (
	"bytes"
	"encoding/json"
	"errors"
	"regexp"
	"sort"
	"strconv"
	"strings"

	"github.com/dmzbridge/dmzbridge/bridge/config"
	"github.com/dmzbridge/dmzbridge/bridge/mask"
)

// Redacted replaces a value `dlq show` hides.
const Redacted = "[REDACTED]"

// Display masks an entry for an operator's eyes (`dlq show`, `dlq list
// --json`, replay details). The partner's masking policy from the config
// applies when one is set (see PartnerPolicies); the generic rules below
// always apply on top, because a dead-letter entry that failed at intake
// holds the payload as received, before any policy ran.
type Display struct {
	// Policy applies the partner's own masking policy; nil: none.
	Policy func(partner, eventType string, doc any) any
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

// MaskText masks the values the detectors and the phone pattern find in
// free text.
func MaskText(s string) string {
	if m, ok := detectors.Apply("", s).(mask.Masked); ok {
		s = string(m)
	}
	return phone.ReplaceAllString(s, Redacted)
}

// maskTree redacts every value under a sensitive key and sensitive
// substrings elsewhere.
func maskTree(v any) any {
	switch x := v.(type) {
	case mask.Masked:
		// Already masked by the partner's policy (e.g. last4): kept.
		return x
	case string:
		return MaskText(x)
	case json.Number:
		if m := MaskText(x.String()); m != x.String() {
			return m
		}
		return x
	}
	eachChild(v, func(k string, e any) any {
		if sensitiveKey.MatchString(k) {
			return redactAll(e)
		}
		return maskTree(e)
	}, maskTree)
	return v
}

func redactAll(v any) any {
	switch v.(type) {
	case mask.Masked, nil:
		return v
	}
	if eachChild(v, func(_ string, e any) any { return redactAll(e) }, redactAll) {
		return v
	}
	return Redacted
}

// eachChild replaces each member of a JSON object by member(key, value) and
// each element of an array by elem(value), in place, and reports whether v
// is an object or an array.
func eachChild(v any, member func(string, any) any, elem func(any) any) bool {
	switch x := v.(type) {
	case map[string]any:
		for k, e := range x {
			x[k] = member(k, e)
		}
	case []any:
		for i, e := range x {
			x[i] = elem(e)
		}
	default:
		return false
	}
	return true
}

// Payload returns the payload for display: indented JSON, masked unless
// reveal. A payload that is not JSON cannot be masked field by field and is
// shown only with reveal.
func (m Display) Payload(partner, eventType string, payload []byte, reveal bool) (string, bool) {
	if reveal {
		// Revealed means as stored, byte for byte: field order and
		// number spelling included.
		return string(payload), true
	}
	var doc any
	dec := json.NewDecoder(bytes.NewReader(payload))
	dec.UseNumber()
	if err := dec.Decode(&doc); err != nil || dec.More() {
		return "", false
	}
	if m.Policy != nil {
		doc = m.Policy(partner, eventType, doc)
	}
	doc = maskTree(doc)
	out, err := json.MarshalIndent(doc, "", "  ")
	if err != nil {
		return "", false
	}
	return string(out), true
}

// Headers returns the partner headers for display, sorted by name.
func (m Display) Headers(h map[string]string, reveal bool) [][2]string {
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
				v = Redacted
			} else {
				v = MaskText(v)
			}
		}
		out = append(out, [2]string{k, v})
	}
	return out
}

// Text masks free text such as a validator's error detail, which may quote
// the offending value.
func (m Display) Text(s string, reveal bool) string {
	if reveal {
		return s
	}
	return strings.TrimSpace(MaskText(s))
}

// PartnerPolicies compiles every partner's masking policy from the config,
// so an operator sees what the pipeline would mask. A policy that cannot be
// compiled here (its HMAC key variable is not set for the operator) is
// reported and left out; the generic rules still apply.
func PartnerPolicies(cfg *config.Config, getenv func(string) string) (func(partner, eventType string, doc any) any, error) {
	policies := map[string]*mask.Policy{}
	var errs []error
	for i, p := range cfg.Partners {
		pol, err := mask.Compile("partners["+strconv.Itoa(i)+"].masking", p.Masking, getenv)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		policies[p.Name] = pol
	}
	apply := func(partner, eventType string, doc any) any {
		if pol, ok := policies[partner]; ok {
			return pol.Apply(eventType, doc)
		}
		return doc
	}
	return apply, errors.Join(errs...)
}
