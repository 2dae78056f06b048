package cloudevents

import (
	"encoding/base64"
	"encoding/json"
	"reflect"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/dmzbridge/dmzbridge/bridge"
	"github.com/dmzbridge/dmzbridge/bridge/jsontext"
)

func TestNormalizer(t *testing.T) {
	at := time.Date(2026, 11, 23, 10, 0, 0, 123000000, time.FixedZone("CET", 3600))
	n := Normalizer(Options{DataSchema: func(t string) string {
		if t == "order.created" {
			return "https://schemas.example/order.created/v1.json"
		}
		return ""
	}})
	for _, tc := range []struct {
		name    string
		env     bridge.Envelope
		check   func(t *testing.T, ev map[string]any)
		payload string
	}{
		{"json event with trace and partner id", bridge.Envelope{
			ID: "id-1", Partner: "dealer-c", Source: "nats", EventType: "order.created", ReceivedAt: at,
			Headers: map[string]string{"traceparent": "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01", "tracestate": "a=b", "Nats-Msg-Id": "partner-7"},
			Payload: []byte(`{"order_id":"O-1","total":21}`),
		}, func(t *testing.T, ev map[string]any) {
			want := map[string]any{
				"specversion": "1.0", "id": "id-1", "source": "dealer-c", "type": "order.created",
				"time": "2026-11-23T09:00:00.123Z", "datacontenttype": "application/json",
				"dataschema":  "https://schemas.example/order.created/v1.json",
				"traceparent": "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01", "tracestate": "a=b",
				"partnermessageid": "partner-7", "dmzconnector": "nats",
			}
			for k, v := range want {
				if ev[k] != v {
					t.Errorf("%s = %v, want %v", k, ev[k], v)
				}
			}
			data, _ := ev["data"].(map[string]any)
			if data["order_id"] != "O-1" {
				t.Errorf("data = %v", ev["data"])
			}
		}, ""},
		{"partner message id set by the connector", bridge.Envelope{
			ID: "id-3", Partner: "bank-a", Source: "amqp",
			Headers: map[string]string{bridge.HeaderPartnerMessageID: "amqp-42", "Nats-Msg-Id": "other"},
			Payload: []byte(`{}`),
		}, func(t *testing.T, ev map[string]any) {
			if ev["partnermessageid"] != "amqp-42" {
				t.Errorf("partnermessageid = %v, want amqp-42", ev["partnermessageid"])
			}
		}, ""},
		{"no partner message id", bridge.Envelope{ID: "sha256-x", Partner: "p", Source: "amqp", Headers: map[string]string{}, Payload: []byte(`{}`)},
			func(t *testing.T, ev map[string]any) {
				if _, ok := ev["partnermessageid"]; ok {
					t.Errorf("partnermessageid = %v, want none", ev["partnermessageid"])
				}
			}, ""},
		{"binary payload goes base64", bridge.Envelope{ID: "id-2", Partner: "p", Payload: []byte{0xff, 0x00, 'x'}},
			func(t *testing.T, ev map[string]any) {
				if ev["data_base64"] != base64.StdEncoding.EncodeToString([]byte{0xff, 0x00, 'x'}) || ev["data"] != nil {
					t.Errorf("data_base64 = %v, data = %v", ev["data_base64"], ev["data"])
				}
				if ev["type"] != "unknown" || ev["dataschema"] != nil || ev["datacontenttype"] != "application/octet-stream" {
					t.Errorf("attributes: %v", ev)
				}
			}, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			msg, err := n(&tc.env)
			if err != nil {
				t.Fatal(err)
			}
			if msg.ID != tc.env.ID || msg.Partner != tc.env.Partner || msg.Headers["content-type"] != ContentType {
				t.Errorf("message: %+v", msg)
			}
			var ev map[string]any
			if err := json.Unmarshal(msg.Body, &ev); err != nil {
				t.Fatalf("body is not JSON: %v", err)
			}
			tc.check(t, ev)
			if _, err := Parse(msg.Body); err != nil {
				t.Errorf("Parse: %v", err)
			}
		})
	}
}

func TestParseRequiresAttributes(t *testing.T) {
	for _, b := range []string{`{}`, `{"specversion":"1.0","id":"x","source":"s"}`, `{"specversion":"0.3","id":"x","source":"s","type":"t"}`, `nope`} {
		if _, err := Parse([]byte(b)); err == nil {
			t.Errorf("%s: accepted", b)
		}
	}
}

// TestAppendJSONMatchesMarshal: the hand-written encoder says what
// encoding/json would say about the same event.
func TestAppendJSONMatchesMarshal(t *testing.T) {
	events := []Event{
		{SpecVersion: "1.0", ID: "x", Source: "bank-a", Type: "t"},
		{SpecVersion: "1.0", ID: "id \"quoted\" \\ <&>", Source: "dealer\nc", Type: "order.created", Time: "2026-12-01T10:00:00Z",
			DataContentType: "application/json", DataSchema: "https://s/x.json", TraceParent: "00-aa-bb-01", TraceState: "k=v",
			PartnerMsgID: "m\u2028-1", Connector: "kafka", Data: json.RawMessage(` {"a": [1, 2.5, "é"], "b": null} `)},
		{SpecVersion: "1.0", ID: "b", Source: "s", Type: "unknown", DataContentType: "application/octet-stream", DataBase64: "AAEC"},
	}
	for i, ev := range events {
		want, err := json.Marshal(&ev)
		if err != nil {
			t.Fatal(err)
		}
		got := ev.AppendJSON(nil)
		var w, g map[string]any
		if err := json.Unmarshal(want, &w); err != nil {
			t.Fatal(err)
		}
		if err := json.Unmarshal(got, &g); err != nil {
			t.Fatalf("event %d: invalid JSON %s: %v", i, got, err)
		}
		if !reflect.DeepEqual(w, g) {
			t.Errorf("event %d:\n got %s\nwant %s", i, got, want)
		}
	}
}

// FuzzIsJSON: what goes to the ERP as data is JSON encoding/json reads,
// in valid UTF-8; JSON the intake's reader takes always goes as data.
func FuzzIsJSON(f *testing.F) {
	for _, s := range []string{`{"a":1}`, ` [1,2] `, `{"a":`, "\"\xff\"", `1e400`, `{"a":"\ud800"}`, `{"a":"\ud83d\ude00"}`, `nul`, ``, `{} {}`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		got := isJSON(b)
		if got && (!json.Valid(b) || !utf8.Valid(b)) {
			t.Fatalf("%q: embedded as JSON, but encoding/json refuses it or it is not UTF-8", b)
		}
		var r jsontext.TapeReader
		if _, err := r.Read(b); err == nil && !got {
			t.Fatalf("%q: the intake reads it, but it goes as data_base64", b)
		}
	})
}
