package validate

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"

	"github.com/santhosh-tekuri/jsonschema/v5"
	segjson "github.com/segmentio/encoding/json"

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

// Masker rewrites a valid event before it is stored. Apply works on a
// decoded document, which it may modify (the stage owns it), and returns
// the document to store; AppendMasked masks the event's text along its
// tape and appends JSON that reads as the document Apply gives.
type Masker interface {
	Active(eventType string) bool
	Apply(eventType string, doc any) any
	AppendMasked(dst []byte, eventType string, src []byte, t *jsontext.Tape) []byte
}

// Encoder turns a masked document back into JSON.
type Encoder func(dst []byte, doc any) []byte

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
}

type typeSource struct {
	header    string
	field     []string
	fromToken int // -1 when unused
}

// Stage checks and masks partner events. A failure is a *bridge.Rejection
// with one of the reason codes malformed, too_large, unknown_type,
// type_not_allowed, schema_invalid.
type Stage struct {
	reg      *Registry
	partners map[string]*Partner
	encode   Encoder
	// work holds parsers and scratch space, one per event in progress.
	work sync.Pool
}

type work struct {
	reader jsontext.TapeReader
	walk   walkScratch
}

// NewStage builds the stage from the config. masks holds each partner's
// masking policy (may be nil or lack partners); encode writes a masked
// document. Errors name config fields.
func NewStage(cfg *config.Config, reg *Registry, masks map[string]Masker, encode Encoder) (*Stage, error) {
	var errs config.FieldErrors
	s := &Stage{reg: reg, partners: map[string]*Partner{}, encode: encode}
	s.work.New = func() any { return new(work) }
	for i, pc := range cfg.Partners {
		path := "partners[" + strconv.Itoa(i) + "]"
		p := &Partner{Name: pc.Name, MaxBytes: pc.MaxMessageBytes, Validate: len(pc.AllowedTypes) > 0,
			allowed: map[string]bool{}, mask: masks[pc.Name]}
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
func (s *Stage) Process(_ context.Context, env *bridge.Envelope) error {
	p := s.partners[env.Partner]
	if p == nil {
		return nil
	}
	if p.MaxBytes > 0 && len(env.Payload) > p.MaxBytes {
		return bridge.Reject(bridge.ReasonTooLarge, "payload is %d bytes, the limit for %s is %d", len(env.Payload), p.Name, p.MaxBytes)
	}
	if !p.Validate {
		return nil
	}
	w := s.work.Get().(*work)
	defer s.work.Put(w)
	if t := w.reader.Read(env.Payload); t != nil {
		err := s.processTree(p, env, t, w)
		t.Release() // the pooled tape must not keep the payload alive
		return err
	}
	return s.processDecoded(p, env)
}

// processTree is the way of nearly every event: read onto a tape, checked
// by the schema's fast path on it, and masked in its own text. Only when
// the fast path is unsure is the event decoded for the library, which then
// gives the verdict.
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
		doc, err := Decode(env.Payload)
		if err != nil {
			return bridge.Reject(bridge.ReasonMalformed, "not a JSON document: %v", err)
		}
		if err := sch.Validate(doc); err != nil {
			return schemaInvalid(sch, err)
		}
	}
	if p.mask != nil && p.mask.Active(sch.Type) {
		env.Payload = p.mask.AppendMasked(make([]byte, 0, len(env.Payload)+64), sch.Type, env.Payload, t)
	}
	return nil
}

// processDecoded handles what the tape reader leaves to encoding/json's
// reading (see jsontext.TapeReader): malformed payloads, repeated or
// escaped member names, escaped surrogates, invalid UTF-8, deep nesting.
func (s *Stage) processDecoded(p *Partner, env *bridge.Envelope) error {
	doc, err := Decode(env.Payload)
	if err != nil {
		return bridge.Reject(bridge.ReasonMalformed, "not a JSON document: %v", err)
	}
	fieldType := ""
	if p.typeFrom.field != nil {
		fieldType = stringAt(doc, p.typeFrom.field)
	}
	sch, err := s.route(p, env, fieldType)
	if err != nil {
		return err
	}
	if err := sch.Validate(doc); err != nil {
		return schemaInvalid(sch, err)
	}
	if p.mask != nil && p.mask.Active(sch.Type) {
		doc = p.mask.Apply(sch.Type, doc)
		env.Payload = s.encode(make([]byte, 0, len(env.Payload)), doc)
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

// stringAt is the string at a member path of a decoded document, or "".
func stringAt(doc any, path []string) string {
	v := doc
	for _, k := range path {
		m, ok := v.(map[string]any)
		if !ok {
			return ""
		}
		v = m[k]
	}
	t, _ := v.(string)
	return t
}

// tapeStringAt is stringAt for a tape; the string is a copy.
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

// Decode parses a payload the way the schemas expect it: numbers kept
// exact as json.Number, exactly one JSON value. It uses segmentio's
// encoding/json-compatible parser, which decodes an event into the same
// tree as encoding/json at about twice the speed (see FuzzDecodeMatchesStdlib).
func Decode(payload []byte) (any, error) {
	var doc any
	rest, err := segjson.Parse(payload, &doc, segjson.UseNumber)
	if err != nil {
		return nil, err
	}
	if len(bytes.TrimLeft(rest, " \t\r\n")) > 0 {
		return nil, fmt.Errorf("data after the JSON value at offset %d", len(payload)-len(rest))
	}
	return doc, nil
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
