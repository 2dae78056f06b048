// Package cloudevents turns a stored event into the CloudEvents 1.0
// structured-mode JSON message the ERP receives.
package cloudevents

import (
	"encoding/base64"
	"encoding/json"
	"strconv"
	"sync"
	"time"

	"github.com/dmzbridge/dmzbridge/bridge"
	"github.com/dmzbridge/dmzbridge/bridge/jsontext"
)

// ContentType is the media type of a structured-mode CloudEvent.
const ContentType = "application/cloudevents+json; charset=utf-8"

// Extension attribute names (lowercase alphanumerics, as the spec requires).
const (
	ExtTraceParent      = "traceparent"
	ExtTraceState       = "tracestate"
	ExtPartnerMessageID = "partnermessageid"
	ExtSourceConnector  = "dmzconnector"
)

// Event is a CloudEvents 1.0 event in JSON form.
type Event struct {
	SpecVersion     string          `json:"specversion"`
	ID              string          `json:"id"`
	Source          string          `json:"source"`
	Type            string          `json:"type"`
	Time            string          `json:"time,omitempty"`
	DataContentType string          `json:"datacontenttype,omitempty"`
	DataSchema      string          `json:"dataschema,omitempty"`
	TraceParent     string          `json:"traceparent,omitempty"`
	TraceState      string          `json:"tracestate,omitempty"`
	PartnerMsgID    string          `json:"partnermessageid,omitempty"`
	Connector       string          `json:"dmzconnector,omitempty"`
	Data            json.RawMessage `json:"data,omitempty"`
	DataBase64      string          `json:"data_base64,omitempty"`
}

// Options shape the events.
type Options struct {
	// SourcePrefix is put before the partner name in "source", e.g.
	// "dmzbridge/partners/" → dmzbridge/partners/bank-a. Empty: the
	// partner name alone.
	SourcePrefix string
	// DataSchema returns the schema URI of an event type ("" if none).
	DataSchema func(eventType string) string
	// PartnerIDHeader names the partner header that carries the partner's
	// own message id when it differs from the bridge's id (e.g. a Kafka
	// header); Nats-Msg-Id is tried as well.
	PartnerIDHeader string
}

// Normalizer returns a bridge.Normalizer producing structured-mode
// CloudEvents. Event data is the stored (validated, masked) payload: JSON
// payloads go in "data", anything else base64 in "data_base64".
func Normalizer(o Options) bridge.Normalizer {
	return func(env *bridge.Envelope) (*bridge.ERPMessage, error) {
		msg, err := bridge.PassThrough(env)
		if err != nil {
			return nil, err
		}
		ev := Event{
			SpecVersion: "1.0",
			ID:          env.ID,
			Source:      o.SourcePrefix + env.Partner,
			Type:        env.EventType,
			TraceParent: env.TraceParent(),
			TraceState:  env.Headers[bridge.HeaderTraceState],
			Connector:   env.Source,
		}
		if ev.Type == "" {
			ev.Type = "unknown"
		}
		if !env.ReceivedAt.IsZero() {
			ev.Time = env.ReceivedAt.UTC().Format(time.RFC3339Nano)
		}
		if o.DataSchema != nil && env.EventType != "" {
			ev.DataSchema = o.DataSchema(env.EventType)
		}
		ev.PartnerMsgID = env.Headers[o.PartnerIDHeader]
		if ev.PartnerMsgID == "" {
			ev.PartnerMsgID = env.Headers[bridge.HeaderPartnerMessageID]
		}
		if ev.PartnerMsgID == "" {
			// Events stored before connectors set HeaderPartnerMessageID.
			ev.PartnerMsgID = env.Headers[bridge.HeaderMsgID]
		}
		if isJSON(env.Payload) {
			ev.DataContentType = "application/json"
			ev.Data = env.Payload
		} else {
			ev.DataContentType = "application/octet-stream"
			ev.DataBase64 = base64.StdEncoding.EncodeToString(env.Payload)
		}
		msg.Body = ev.AppendJSON(make([]byte, 0, 512+len(ev.Data)+len(ev.DataBase64)))
		msg.Headers["content-type"] = ContentType
		return msg, nil
	}
}

// AppendJSON writes the event in structured mode, as json.Marshal would
// (same members, same order, omitempty), but without reflection: it runs
// once per event on the way to the ERP. Data must be valid JSON.
func (ev *Event) AppendJSON(b []byte) []byte {
	b = append(b, `{"specversion":`...)
	b = jsontext.AppendString(b, ev.SpecVersion)
	for _, f := range [...]struct {
		name, value string
		always      bool
	}{
		{"id", ev.ID, true}, {"source", ev.Source, true}, {"type", ev.Type, true},
		{"time", ev.Time, false}, {"datacontenttype", ev.DataContentType, false},
		{"dataschema", ev.DataSchema, false}, {"traceparent", ev.TraceParent, false},
		{"tracestate", ev.TraceState, false}, {"partnermessageid", ev.PartnerMsgID, false},
		{"dmzconnector", ev.Connector, false},
	} {
		if f.value == "" && !f.always {
			continue
		}
		b = append(b, ',', '"')
		b = append(b, f.name...)
		b = append(b, '"', ':')
		b = jsontext.AppendString(b, f.value)
	}
	if len(ev.Data) > 0 {
		b = append(b, `,"data":`...)
		b = append(b, ev.Data...)
	}
	if ev.DataBase64 != "" {
		b = append(b, `,"data_base64":`...)
		b = jsontext.AppendString(b, ev.DataBase64)
	}
	return append(b, '}')
}

// Parse decodes a structured-mode CloudEvent (for consumers and tests) and
// checks the required attributes.
func Parse(b []byte) (*Event, error) {
	var ev Event
	if err := json.Unmarshal(b, &ev); err != nil {
		return nil, err
	}
	for name, v := range map[string]string{"specversion": ev.SpecVersion, "id": ev.ID, "source": ev.Source, "type": ev.Type} {
		if v == "" {
			return nil, &missingError{name}
		}
	}
	if ev.SpecVersion != "1.0" {
		return nil, &missingError{"specversion 1.0 (got " + strconv.Quote(ev.SpecVersion) + ")"}
	}
	return &ev, nil
}

type missingError struct{ attr string }

func (e *missingError) Error() string { return "CloudEvent lacks " + e.attr }

// readers read payloads for isJSON.
var readers = sync.Pool{New: func() any {
	// Validity only: the partner's own limits were applied at intake, so
	// these are the widest any partner may have, and keep the read bounded.
	return &jsontext.TapeReader{Limits: jsontext.Limits{MaxDepth: 1000, MaxStringBytes: 1 << 30, MaxNumberBytes: 1 << 30, MaxNameBytes: 1 << 30}}
}}

// isJSON says whether the payload goes to the ERP as data (JSON) rather
// than data_base64: JSON as the intake's reader takes it, so what was
// validated is embedded as it was, and invalid UTF-8 or a lone surrogate
// escape is never handed on inside JSON.
func isJSON(b []byte) bool {
	r := readers.Get().(*jsontext.TapeReader)
	_, err := r.Read(b)
	r.Release()
	readers.Put(r)
	return err == nil
}
