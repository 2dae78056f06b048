package mask

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"hash"
	"strconv"
	"sync"
	"unicode/utf8"
	"unsafe"

	"github.com/dmzbridge/dmzbridge/bridge/config"
)

// RedactToken replaces a redacted value.
const RedactToken = "[REDACTED]"

// HashPrefix starts every hashed value, so a reader knows it is a token.
const HashPrefix = "hmac:"

// Masked marks a value the policy produced. Detectors skip it (a hash
// could look like a card number) and the encoder writes it as a string.
type Masked string

type action struct {
	kind string // config.MaskRedact … ; last4 is keep_last with keep 4
	keep int
}

type fieldRule struct {
	path Path
	act  action
}

type typePolicy struct {
	fields    []fieldRule
	detectors []detector
	detAct    action
	splice    bool // the splicer can mask this type (spliceable)
}

func (tp *typePolicy) empty() bool { return len(tp.fields) == 0 && len(tp.detectors) == 0 }

// Policy is one partner's compiled masking policy. It is safe for
// concurrent use.
type Policy struct {
	byType   map[string]*typePolicy
	anyType  *typePolicy
	key      []byte
	macs     sync.Pool
	splicers sync.Pool // *splicer
}

// Compile builds a partner's policy. getenv looks up the HMAC key (it is
// os.Getenv in production). Errors name the config field.
func Compile(path string, m config.Masking, getenv func(string) string) (*Policy, error) {
	var errs config.FieldErrors
	p := &Policy{byType: map[string]*typePolicy{}, anyType: &typePolicy{}}
	needKey := false
	type compiled struct {
		types []string
		tp    typePolicy
	}
	var all []compiled
	for i, pol := range m.Policies {
		pp := path + ".policies[" + strconv.Itoa(i) + "]"
		var tp typePolicy
		for j, f := range pol.Fields {
			fp := pp + ".fields[" + strconv.Itoa(j) + "]"
			act, err := newAction(f.Action, f.Keep)
			if err != nil {
				errs.Add(fp+".action", "%v", err)
			}
			needKey = needKey || act.kind == config.MaskHash
			pth, perr := ParsePath(f.Path)
			if perr != nil {
				errs.Add(fp+".path", "%v", perr)
			}
			if err != nil || perr != nil {
				continue
			}
			tp.fields = append(tp.fields, fieldRule{path: pth, act: act})
		}
		for j, name := range pol.Detectors {
			d, ok := detectors[name]
			if !ok {
				errs.Add(pp+".detectors["+strconv.Itoa(j)+"]", "%q is not one of iban, card, email", name)
				continue
			}
			tp.detectors = append(tp.detectors, d)
		}
		da := pol.DetectorAction
		if da == "" {
			da = config.MaskRedact
		}
		act, err := newAction(da, 0)
		if err != nil || act.kind == config.MaskDrop {
			errs.Add(pp+".detector_action", "%q is not one of redact, hash, last4", da)
		}
		tp.detAct = act
		if len(tp.detectors) > 0 && act.kind == config.MaskHash {
			needKey = true
		}
		all = append(all, compiled{types: pol.Types, tp: tp})
	}
	// A type's policy is every policy without types plus those naming it.
	for _, c := range all {
		if len(c.types) == 0 {
			p.anyType.merge(&c.tp)
		}
	}
	for _, c := range all {
		for _, t := range c.types {
			tp, ok := p.byType[t]
			if !ok {
				tp = &typePolicy{}
				tp.merge(p.anyType)
				p.byType[t] = tp
			}
			tp.merge(&c.tp)
		}
	}
	p.anyType.splice = p.anyType.spliceable()
	for _, tp := range p.byType {
		tp.splice = tp.spliceable()
	}
	if needKey {
		switch {
		case m.HashKeyEnv == "":
			errs.Add(path+".hash_key_env", "required: a hash rule needs the name of the environment variable holding the HMAC key")
		case getenv(m.HashKeyEnv) == "":
			errs.Add(path+".hash_key_env", "environment variable %s is not set or empty", m.HashKeyEnv)
		case len(getenv(m.HashKeyEnv)) < 16:
			errs.Add(path+".hash_key_env", "the key in %s is shorter than 16 bytes", m.HashKeyEnv)
		default:
			p.key = []byte(getenv(m.HashKeyEnv))
		}
	}
	if err := errs.Err(); err != nil {
		return nil, err
	}
	p.macs.New = func() any { return &macState{mac: hmac.New(sha256.New, p.key), sum: make([]byte, 0, sha256.Size)} }
	return p, nil
}

func (tp *typePolicy) merge(o *typePolicy) {
	tp.fields = append(tp.fields, o.fields...)
	for _, d := range o.detectors {
		dup := false
		for _, have := range tp.detectors {
			dup = dup || have.name == d.name
		}
		if !dup {
			tp.detectors = append(tp.detectors, d)
		}
	}
	if len(o.detectors) > 0 || tp.detAct.kind == "" {
		tp.detAct = o.detAct
	}
}

func newAction(kind string, keep int) (action, error) {
	switch kind {
	case config.MaskRedact, config.MaskHash, config.MaskDrop:
		return action{kind: kind}, nil
	case config.MaskLast4:
		return action{kind: config.MaskKeepLast, keep: 4}, nil
	case config.MaskKeepLast:
		if keep < 1 {
			return action{}, fmt.Errorf("keep_last needs keep of at least 1")
		}
		return action{kind: kind, keep: keep}, nil
	}
	return action{}, fmt.Errorf("%q is not one of redact, last4, keep_last, hash, drop", kind)
}

// Active reports whether the policy does anything for eventType.
func (p *Policy) Active(eventType string) bool {
	return !p.forType(eventType).empty()
}

func (p *Policy) forType(t string) *typePolicy {
	if tp, ok := p.byType[t]; ok {
		return tp
	}
	return p.anyType
}

// Apply masks doc, a value decoded by encoding/json with UseNumber, for
// eventType and returns the masked document. doc itself is modified: the
// caller passes a tree it owns, never one shared with the stored payload.
func (p *Policy) Apply(eventType string, doc any) any {
	tp := p.forType(eventType)
	for _, r := range tp.fields {
		doc = visit(doc, r.path.segs, func(v any) (any, bool) {
			if r.act.kind == config.MaskDrop {
				return nil, false
			}
			return Masked(p.value(r.act, v)), true
		})
	}
	if len(tp.detectors) > 0 {
		if nd, changed := p.scan(doc, tp); changed {
			doc = nd
		}
	}
	return doc
}

// scan runs the detectors over every string value not already masked. It
// stores a value back only when it changed: re-boxing every string into an
// interface would allocate for nothing.
func (p *Policy) scan(node any, tp *typePolicy) (any, bool) {
	switch n := node.(type) {
	case map[string]any:
		for k, v := range n {
			if nv, changed := p.scan(v, tp); changed {
				n[k] = nv
			}
		}
	case []any:
		for i, v := range n {
			if nv, changed := p.scan(v, tp); changed {
				n[i] = nv
			}
		}
	case string:
		var hits [][2]int
		if out, changed := p.scanString(nil, n, tp, &hits); changed {
			return Masked(out), true
		}
	}
	return node, false
}

// scanString appends s with what the detectors find replaced to dst, if
// they find anything. hits is scratch space for the ranges found, kept by
// the caller so that a string with no finding costs no allocation.
func (p *Policy) scanString(dst []byte, s string, tp *typePolicy, hits *[][2]int) ([]byte, bool) {
	if len(s) < shortestDetectable {
		return dst, false
	}
	found := (*hits)[:0]
	for _, d := range tp.detectors {
		found = d.find(found, s)
	}
	*hits = found
	if len(found) == 0 {
		return dst, false
	}
	found = mergeHits(found)
	out := dst
	last := 0
	for _, h := range found {
		out = append(out, s[last:h[0]]...)
		out = p.appendMaskString(out, tp.detAct, s[h[0]:h[1]])
		last = h[1]
	}
	out = append(out, s[last:]...)
	return out, true
}

// mergeHits sorts the ranges of several detectors by start and joins the
// overlapping ones in place, so that one replacement covers what two
// detectors found. Ranges that only touch stay apart.
func mergeHits(hits [][2]int) [][2]int {
	for i := 1; i < len(hits); i++ {
		for j := i; j > 0 && hits[j][0] < hits[j-1][0]; j-- {
			hits[j], hits[j-1] = hits[j-1], hits[j]
		}
	}
	out := hits[:1]
	for _, h := range hits[1:] {
		last := &out[len(out)-1]
		if h[0] < last[1] {
			last[1] = max(last[1], h[1])
			continue
		}
		out = append(out, h)
	}
	return out
}

// value is what replaces v under act; a redaction needs no text, so none
// is computed.
func (p *Policy) value(act action, v any) string {
	if act.kind == config.MaskRedact {
		return RedactToken
	}
	return string(p.appendMaskString(nil, act, text(v)))
}

// appendMaskString appends what replaces the string s to dst.
func (p *Policy) appendMaskString(dst []byte, act action, s string) []byte {
	switch act.kind {
	case config.MaskHash:
		return p.appendHash(dst, s)
	case config.MaskKeepLast:
		return appendKeepLast(dst, s, act.keep)
	}
	return append(dst, RedactToken...)
}

// macState is a reusable MAC with room for its sum: a sum written through
// the hash.Hash interface would otherwise escape to the heap each time.
type macState struct {
	mac hash.Hash
	sum []byte
}

// appendHash appends HMAC-SHA256 truncated to 128 bits: the same value
// gives the same token for correlation, and without the key it cannot be
// reversed.
func (p *Policy) appendHash(dst []byte, s string) []byte {
	st := p.macs.Get().(*macState)
	st.mac.Reset()
	// The MAC only reads its input: a view of s, not a copy.
	st.mac.Write(unsafe.Slice(unsafe.StringData(s), len(s)))
	st.sum = st.mac.Sum(st.sum[:0])
	dst = append(dst, HashPrefix...)
	dst = hex.AppendEncode(dst, st.sum[:16])
	p.macs.Put(st)
	return dst
}

// appendKeepLast shows only the last n characters; a value not longer
// than n is hidden completely, so it never appears whole. The fixed prefix
// does not reveal the length.
func appendKeepLast(dst []byte, s string, n int) []byte {
	dst = append(dst, "****"...)
	if utf8.RuneCountInString(s) <= n {
		return dst
	}
	i := len(s)
	for k := 0; k < n; k++ {
		_, size := utf8.DecodeLastRuneInString(s[:i])
		i -= size
	}
	return append(dst, s[i:]...)
}

// text is the string form of a JSON value: strings as they are, numbers
// as written, anything else as compact JSON.
func text(v any) string {
	switch x := v.(type) {
	case string:
		return x
	case Masked:
		return string(x)
	case json.Number:
		return string(x)
	}
	return string(Append(nil, v))
}
