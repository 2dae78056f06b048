package validate

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"

	"github.com/santhosh-tekuri/jsonschema/v5"

	"github.com/dmzbridge/dmzbridge/bridge"
	"github.com/dmzbridge/dmzbridge/bridge/config"
	"github.com/dmzbridge/dmzbridge/bridge/jsontext"
)

// SubjectHeader is where the NATS source records the subject a message
// arrived on; RoutingKeyHeader is the AMQP source's routing key, which
// subject_from_token reads when there is no subject.
const (
	SubjectHeader    = "Nats-Subject"
	RoutingKeyHeader = "Amqp-Routing-Key"
)

// Masker rewrites a valid event before it is stored: AppendMasked masks
// the event's text along the tape the stage read and appends the result.
type Masker interface {
	Active(eventType string) bool
	AppendMasked(dst []byte, eventType string, src []byte, t *jsontext.Tape) []byte
}

// Partner is one partner's checks.
type Partner struct {
	Name string
	// MaxBytes rejects larger payloads as too_large; 0 = no limit.
	MaxBytes int
	// Validate turns on JSON, type and schema checks.
	Validate bool
	typeFrom typeSource
	allowed  map[string]bool
	mask     Masker
	limits   jsontext.Limits
	// identity is the identity rule's pointer, nil when there is none;
	// senders are the values that name this partner.
	identity         []string
	identityField    string
	identityRequired bool
	senders          map[string]bool
}

type typeSource struct {
	header    string
	field     []string
	fromToken int // -1 when unused
}

// Stage checks and masks partner events: size, one bounded read of the
// payload (jsontext.TapeReader), the identity rule, event type, schema
// and masking, in that order, all on the one tape. A failure is a
// *bridge.Rejection with one of the reason codes malformed, too_large,
// partner_mismatch, unknown_type, type_not_allowed, schema_invalid.
type Stage struct {
	reg      *Registry
	partners map[string]*Partner
	// work holds parsers and scratch space, one per event in progress.
	work sync.Pool
}

type work struct {
	reader jsontext.TapeReader
	walk   walkScratch
	str    []byte
}

// NewStage builds the stage from the config. masks holds each partner's
// masking policy (may be nil or lack partners). Errors name config fields.
func NewStage(cfg *config.Config, reg *Registry, masks map[string]Masker) (*Stage, error) {
	var errs config.FieldErrors
	s := &Stage{reg: reg, partners: map[string]*Partner{}}
	s.work.New = func() any { return new(work) }
	for i, pc := range cfg.Partners {
		path := "partners[" + strconv.Itoa(i) + "]"
		p := &Partner{Name: pc.Name, MaxBytes: pc.MaxMessageBytes, Validate: len(pc.AllowedTypes) > 0,
			allowed: map[string]bool{}, mask: masks[pc.Name], limits: pc.Limits.Effective(cfg.Limits)}
		if pc.Identity.Enabled() {
			segs, err := config.ParsePointer(pc.Identity.Field)
			if err != nil {
				errs.Add(path+".identity.field", "%v", err)
			}
			p.identity, p.identityField, p.identityRequired, p.senders = segs, pc.Identity.Field, pc.Identity.Required, map[string]bool{}
			for _, v := range pc.Identity.Values {
				p.senders[v] = true
			}
			if len(p.senders) == 0 {
				p.senders[pc.Name] = true
			}
		}
		p.typeFrom = typeSource{header: pc.EventType.Header, fromToken: -1}
		switch {
		case pc.EventType.JSONField != "":
			p.typeFrom.header = ""
			p.typeFrom.field = fieldPath(pc.EventType.JSONField)
		case pc.EventType.SubjectFromToken != nil:
			p.typeFrom.fromToken = *pc.EventType.SubjectFromToken
		case p.typeFrom.header == "":
			p.typeFrom.header = config.DefaultEventTypeHeader
		}
		for j, t := range pc.AllowedTypes {
			if reg == nil {
				break
			}
			if _, ok := reg.Lookup(t); !ok {
				errs.Add(path+".allowed_types["+strconv.Itoa(j)+"]", "%q has no schema in %s (known: %s)", t, cfg.SchemasPath(), strings.Join(reg.Types(), ", "))
			}
			p.allowed[BaseType(t)] = true
		}
		if p.Validate && reg == nil {
			errs.Add(path+".allowed_types", "needs schemas, but none were loaded")
		}
		s.partners[pc.Name] = p
	}
	if err := errs.Err(); err != nil {
		return nil, err
	}
	return s, nil
}

// fieldPath splits a JSON pointer or a dotted path into member names.
func fieldPath(p string) []string {
	if strings.HasPrefix(p, "/") {
		parts := strings.Split(p[1:], "/")
		for i, s := range parts {
			s = strings.ReplaceAll(s, "~1", "/")
			parts[i] = strings.ReplaceAll(s, "~0", "~")
		}
		return parts
	}
	return strings.Split(p, ".")
}

// Name implements bridge.Stage.
func (s *Stage) Name() string { return "validate" }

// Process implements bridge.Stage. It replaces env.Payload with the masked
// document and sets env.EventType; it never modifies the original bytes.
// A partner with neither allowed types nor an identity rule is passed
// through unread: its payloads need not be JSON.
func (s *Stage) Process(_ context.Context, env *bridge.Envelope) error {
	p := s.partners[env.Partner]
	if p == nil {
		return nil
	}
	if p.MaxBytes > 0 && len(env.Payload) > p.MaxBytes {
		return bridge.Reject(bridge.ReasonTooLarge, "payload is %d bytes, the limit for %s is %d", len(env.Payload), p.Name, p.MaxBytes)
	}
	if !p.Validate && p.identity == nil {
		return nil
	}
	w := s.work.Get().(*work)
	defer s.work.Put(w)
	w.reader.Limits = p.limits
	t, err := w.reader.Read(env.Payload)
	if err != nil {
		return readRejection(err)
	}
	defer t.Release() // the pooled tape must not keep the payload alive
	if err := p.checkIdentity(t, &w.str); err != nil {
		return err
	}
	if !p.Validate {
		return nil
	}
	return s.processTree(p, env, t, w)
}

// CheckIdentity applies only the partner's identity rule (with its
// limits) to a payload, for a stored event that was already masked and so
// must not be validated or masked again.
func (s *Stage) CheckIdentity(env *bridge.Envelope) error {
	p := s.partners[env.Partner]
	if p == nil || p.identity == nil {
		return nil
	}
	w := s.work.Get().(*work)
	defer s.work.Put(w)
	w.reader.Limits = p.limits
	t, err := w.reader.Read(env.Payload)
	if err != nil {
		return readRejection(err)
	}
	defer t.Release()
	return p.checkIdentity(t, &w.str)
}

// readRejection is the reason for a payload the reader refused: too_large
// for a limit, malformed otherwise. The detail says what and where, never
// the bytes.
func readRejection(err error) error {
	var e *jsontext.Error
	if errors.As(err, &e) && e.Limit {
		return bridge.Reject(bridge.ReasonTooLarge, "%s", e.Error())
	}
	return bridge.Reject(bridge.ReasonMalformed, "not a JSON document: %v", err)
}

// checkIdentity applies the partner's identity rule: the string at its
// field, when there is one (or always, when required), must be one of the
// partner's values. The value is not echoed: it is partner data.
func (p *Partner) checkIdentity(t *jsontext.Tape, buf *[]byte) error {
	if p.identity == nil {
		return nil
	}
	i := valueAt(t, p.identity, buf)
	switch {
	case i < 0 && !p.identityRequired:
		return nil
	case i < 0:
		return bridge.Reject(bridge.ReasonPartnerMismatch, "payload has no %s, which names the sender of %s", p.identityField, p.Name)
	case t.Kind(i) != jsontext.KindString:
		return bridge.Reject(bridge.ReasonPartnerMismatch, "payload field %s is not a string", p.identityField)
	case !p.senders[string(t.Str(i, buf))]:
		return bridge.Reject(bridge.ReasonPartnerMismatch, "payload field %s names another sender than %s", p.identityField, p.Name)
	}
	return nil
}

// valueAt is the token at a JSON pointer's reference tokens (member names,
// or indexes into arrays), or -1.
func valueAt(t *jsontext.Tape, segs []string, buf *[]byte) int {
	i := 0
	for _, k := range segs {
		switch t.Kind(i) {
		case jsontext.KindObject:
			if i = t.Member(i, k); i < 0 {
				return -1
			}
		case jsontext.KindArray:
			n, err := strconv.Atoi(k)
			if err != nil || n < 0 || n >= t.Len(i) || (len(k) > 1 && k[0] == '0') {
				return -1
			}
			j := i + 1
			for range n {
				j = t.Next(j)
			}
			i = j
		default:
			return -1
		}
	}
	return i
}

// processTree checks the event on its tape by the schema's fast path,
// and masks it in its own text. Where the fast path is unsure, the
// library gives the verdict on the document built from the same tape,
// which is bounded by the reader's limits.
func (s *Stage) processTree(p *Partner, env *bridge.Envelope, t *jsontext.Tape, w *work) error {
	fieldType := ""
	if p.typeFrom.field != nil {
		fieldType = tapeStringAt(t, p.typeFrom.field)
	}
	sch, err := s.route(p, env, fieldType)
	if err != nil {
		return err
	}
	if !sch.certainlyValid(t, &w.walk) {
		if err := sch.Validate(t.Value(0)); err != nil {
			return schemaInvalid(sch, err)
		}
	}
	if p.mask != nil && p.mask.Active(sch.Type) {
		env.Payload = p.mask.AppendMasked(make([]byte, 0, len(env.Payload)+64), sch.Type, env.Payload, t)
	}
	return nil
}

// route finds the event's schema and checks the partner may send it.
// fieldType is the event type read from the payload, when the partner's
// type comes from a JSON field.
func (s *Stage) route(p *Partner, env *bridge.Envelope, fieldType string) (*Schema, error) {
	eventType := p.eventType(env, fieldType)
	if eventType == "" {
		return nil, bridge.Reject(bridge.ReasonUnknownType, "no event type in %s", p.typeWhere(env))
	}
	sch, ok := s.reg.Lookup(eventType)
	if !ok {
		return nil, bridge.Reject(bridge.ReasonUnknownType, "event type %s has no schema", printable(eventType))
	}
	// A known type is recorded even on a rejection, so the dead-letter
	// entry can be filtered by it; an unknown one may be any text.
	env.EventType = eventType
	if !p.allowed[sch.Type] {
		return nil, bridge.Reject(bridge.ReasonTypeNotAllowed, "%s may not send %s", p.Name, sch.Type)
	}
	return sch, nil
}

func schemaInvalid(sch *Schema, err error) error {
	return bridge.Reject(bridge.ReasonSchemaInvalid, "%s: %s", sch.ID, Summary(err, maxDetail))
}

// tapeStringAt is the string at a member path of a tape, or ""; the
// string is a copy.
func tapeStringAt(t *jsontext.Tape, path []string) string {
	i := 0
	for _, k := range path {
		if t.Kind(i) != jsontext.KindObject {
			return ""
		}
		if i = t.Member(i, k); i < 0 {
			return ""
		}
	}
	if t.Kind(i) != jsontext.KindString {
		return ""
	}
	var buf []byte
	return string(t.Str(i, &buf))
}

func (p *Partner) eventType(env *bridge.Envelope, fieldType string) string {
	ts := p.typeFrom
	switch {
	case ts.field != nil:
		return fieldType
	case ts.fromToken >= 0:
		subj := p.subject(env)
		for range ts.fromToken {
			i := strings.IndexByte(subj, '.')
			if i < 0 {
				return ""
			}
			subj = subj[i+1:]
		}
		return subj
	}
	if t := env.Headers[ts.header]; t != "" {
		return t
	}
	return env.EventType
}

// typeWhere says where the event type was looked for, for the rejection
// of an event without one.
func (p *Partner) typeWhere(env *bridge.Envelope) string {
	ts := p.typeFrom
	switch {
	case ts.field != nil:
		return "JSON field " + strings.Join(ts.field, ".")
	case ts.fromToken >= 0:
		return "subject " + printable(p.subject(env)) + " from token " + strconv.Itoa(ts.fromToken)
	}
	return "header " + ts.header
}

func (p *Partner) subject(env *bridge.Envelope) string {
	if subj, ok := env.Headers[SubjectHeader]; ok {
		return subj
	}
	return env.Headers[RoutingKeyHeader]
}

// maxDetail caps the validator report carried in the dead-letter header.
const maxDetail = 1024

// valueKeywords are keywords whose messages quote the instance value; the
// report leaves their message out so no payload value reaches a header.
var valueKeywords = map[string]bool{
	"format": true, "minimum": true, "maximum": true, "exclusiveMinimum": true,
	"exclusiveMaximum": true, "multipleOf": true,
}

// Summary lists a validation error's failures as "instance path: keyword:
// message", at most max bytes long.
func Summary(err error, max int) string {
	var ve *jsonschema.ValidationError
	if !errors.As(err, &ve) {
		return err.Error()
	}
	var b strings.Builder
	ls := leaves(ve, nil)
	for i, l := range ls {
		kw := l.KeywordLocation
		if j := strings.LastIndexByte(kw, '/'); j >= 0 {
			kw = kw[j+1:]
		}
		inst := l.InstanceLocation
		if inst == "" {
			inst = "/"
		}
		item := inst + ": " + kw
		if !valueKeywords[kw] {
			item += ": " + l.Message
		}
		if i > 0 {
			item = "; " + item
		}
		if b.Len()+len(item) > max {
			fmt.Fprintf(&b, "; … %d more", len(ls)-i)
			break
		}
		b.WriteString(item)
	}
	return b.String()
}

// printable caps and cleans a partner-supplied string for a header.
func printable(s string) string {
	if len(s) > 100 {
		s = s[:100] + "…"
	}
	return strconv.Quote(s)
}
