package audit

import (
	"encoding/json"
	"testing"
	"time"
)

// The hand-written encoding must read back as encoding/json's does, and
// match it byte for byte where encoding/json has nothing to HTML-escape.
func TestRecordAppendJSONMatchesEncodingJSON(t *testing.T) {
	ts := time.Date(2026, 12, 1, 22, 14, 37, 123456789, time.UTC)
	recs := []Record{
		{Time: ts, Action: ActionReceived, Partner: "p1", Connector: "nats", MessageID: "m-1", EventType: "order.created",
			PayloadSHA256: "ab12", Outcome: OutcomeAccepted, TraceID: "0af7651916cd43dd8448eb211c80319c"},
		{Time: ts.Truncate(time.Second), Action: ActionDeadLettered, Partner: "p2", MessageID: "m-2", Outcome: "schema", Reason: "schema", Attempt: 3},
		{Time: time.Date(2026, 1, 2, 3, 4, 5, 0, time.FixedZone("X", 3600)), Action: ActionReplayed, Partner: "", MessageID: "", Outcome: OutcomeOK, Operator: "alice"},
		{Time: ts, Action: ActionPurged, Partner: "p\"3\\", MessageID: "id\n\twith\x01control\u2028", Outcome: OutcomeFailed, Attempt: -1},
	}
	for i, r := range recs {
		want, err := json.Marshal(&r)
		if err != nil {
			t.Fatal(err)
		}
		got := r.AppendJSON(nil)
		if string(got) != string(want) {
			t.Errorf("record %d:\n got %s\nwant %s", i, got, want)
		}
		var back Record
		if err := json.Unmarshal(got, &back); err != nil {
			t.Fatalf("record %d: %s does not decode: %v", i, got, err)
		}
		if !back.Time.Equal(r.Time) {
			t.Errorf("record %d: time %v, want %v", i, back.Time, r.Time)
		}
		back.Time = r.Time
		if back != r {
			t.Errorf("record %d: decoded %+v, want %+v", i, back, r)
		}
	}
}

// Characters encoding/json escapes for HTML decode to the same record.
func TestRecordAppendJSONHTMLCharacters(t *testing.T) {
	r := Record{Time: time.Unix(0, 0).UTC(), Action: ActionReceived, Partner: "<p&1>", MessageID: "a<b>", Outcome: OutcomeAccepted}
	var back Record
	if err := json.Unmarshal(r.AppendJSON(nil), &back); err != nil {
		t.Fatal(err)
	}
	back.Time = r.Time
	if back != r {
		t.Errorf("decoded %+v, want %+v", back, r)
	}
}
