package amqp

import (
	"fmt"
	"strings"
	"sync"
	"testing"

	amqp "github.com/rabbitmq/amqp091-go"
	"gopkg.in/yaml.v3"

	"github.com/dmzbridge/dmzbridge/bridge"
)

type recordedAck struct {
	op       string
	tag      uint64
	multiple bool
}

type fakeChannel struct {
	mu  sync.Mutex
	ops []recordedAck
}

func (f *fakeChannel) Ack(tag uint64, multiple bool) error {
	f.mu.Lock()
	f.ops = append(f.ops, recordedAck{"ack", tag, multiple})
	f.mu.Unlock()
	return nil
}

func (f *fakeChannel) Nack(tag uint64, multiple, requeue bool) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if !requeue {
		return fmt.Errorf("nack without requeue would drop tag %d", tag)
	}
	f.ops = append(f.ops, recordedAck{"nack", tag, multiple})
	return nil
}

func (f *fakeChannel) snapshot() []recordedAck {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]recordedAck(nil), f.ops...)
}

// TestAckerContiguous checks that a success is acknowledged only once every
// earlier delivery is settled, with one multiple ack for the prefix, and
// that a failure is nacked alone with requeue.
func TestAckerContiguous(t *testing.T) {
	type step struct {
		tag uint64
		ok  bool
	}
	for _, tc := range []struct {
		name  string
		tags  int
		steps []step
		want  []recordedAck
	}{
		{"in order", 3, []step{{1, true}, {2, true}, {3, true}},
			[]recordedAck{{"ack", 3, true}}},
		{"gap holds back later acks", 3, []step{{2, true}, {3, true}},
			nil},
		{"gap filled acks all", 3, []step{{2, true}, {3, true}, {1, true}},
			[]recordedAck{{"ack", 3, true}}},
		{"failure nacked alone, prefix continues past it", 3, []step{{1, false}, {2, true}},
			[]recordedAck{{"nack", 1, false}, {"ack", 2, true}}},
		{"failure in the middle", 4, []step{{1, true}, {2, false}, {3, true}},
			[]recordedAck{{"nack", 2, false}, {"ack", 3, true}}},
		{"all failures", 2, []step{{1, false}, {2, false}},
			[]recordedAck{{"nack", 1, false}, {"nack", 2, false}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			fc := &fakeChannel{}
			a := newAcker(fc, 8, testLog())
			for i := 1; i <= tc.tags; i++ {
				a.add(uint64(i))
			}
			done := make(chan struct{})
			go func() { defer close(done); a.run() }()
			// Settle all in one batch so the outcome does not depend on
			// how the acker's loop interleaves with this goroutine.
			a.mu.Lock()
			for _, s := range tc.steps {
				a.results = append(a.results, outcome{s.tag, s.ok})
			}
			a.mu.Unlock()
			// close lets run apply everything recorded before it stops.
			a.close()
			<-done
			got := fc.snapshot()
			if fmt.Sprint(got) != fmt.Sprint(tc.want) {
				t.Fatalf("got %v, want %v", got, tc.want)
			}
		})
	}
}

// TestAckerIgnoresLateOutcomes: after the channel is gone its tags are
// meaningless; a late outcome must not be applied to anything.
func TestAckerIgnoresLateOutcomes(t *testing.T) {
	fc := &fakeChannel{}
	a := newAcker(fc, 8, testLog())
	a.add(1)
	done := make(chan struct{})
	go func() { defer close(done); a.run() }()
	a.close()
	<-done
	a.settle(1, true)
	if ops := fc.snapshot(); len(ops) != 0 {
		t.Fatalf("late outcome applied: %v", ops)
	}
}

func decodeSource(t *testing.T, doc string) (*Source, error) {
	t.Helper()
	var node yaml.Node
	if err := yaml.Unmarshal([]byte(doc), &node); err != nil {
		t.Fatal(err)
	}
	src, err := NewSource(node.Content[0], bridge.SourceSpec{Partner: "bank-a", Logger: testLog()})
	if err != nil {
		return nil, err
	}
	return src.(*Source), nil
}

func TestSourceOptions(t *testing.T) {
	for _, tc := range []struct {
		name    string
		doc     string
		wantErr string
		check   func(*testing.T, SourceOptions)
	}{
		{name: "defaults", doc: "url: amqp://h/\nexchange: bank-a.events\n", check: func(t *testing.T, o SourceOptions) {
			if o.Queue != "dmzbridge.bank-a" || o.QueueType != "quorum" || o.ExchangeType != "topic" ||
				o.Prefetch != 256 || o.MaxDeliveries != 20 || strings.Join(o.BindingKeys, ",") != "#" ||
				o.ConnectionName != "dmzbridge-in-bank-a" {
				t.Fatalf("defaults: %+v", o)
			}
		}},
		{name: "fanout binds with empty key", doc: "url: amqp://h/\nexchange: x\nexchange_type: fanout\n", check: func(t *testing.T, o SourceOptions) {
			if len(o.BindingKeys) != 1 || o.BindingKeys[0] != "" {
				t.Fatalf("binding keys %q", o.BindingKeys)
			}
		}},
		{name: "missing url and exchange", doc: "queue: q\n", wantErr: "url: required"},
		{name: "missing exchange", doc: "url: amqp://h/\n", wantErr: "exchange: required"},
		{name: "direct needs keys", doc: "url: amqp://h/\nexchange: x\nexchange_type: direct\n", wantErr: "binding_keys: required"},
		{name: "bad exchange type", doc: "url: amqp://h/\nexchange: x\nexchange_type: headers\n", wantErr: "exchange_type"},
		{name: "bad queue type", doc: "url: amqp://h/\nexchange: x\nqueue_type: stream\n", wantErr: "queue_type"},
		{name: "tls needs amqps", doc: "url: amqp://h/\nexchange: x\ntls: {ca: /etc/ca.pem}\n", wantErr: "amqps://"},
		{name: "bad url", doc: "url: http://h/\nexchange: x\n", wantErr: "url:"},
		{name: "prefetch range", doc: "url: amqp://h/\nexchange: x\nprefetch: -1\n", wantErr: "prefetch"},
		{name: "max deliveries", doc: "url: amqp://h/\nexchange: x\nmax_deliveries: 1\n", wantErr: "max_deliveries"},
		{name: "password without user", doc: "url: amqp://h/\nexchange: x\npassword: s\n", wantErr: "user: required"},
		{name: "unknown field", doc: "url: amqp://h/\nexchange: x\nprefech: 3\n", wantErr: "prefech"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			src, err := decodeSource(t, tc.doc)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("error %v, want one containing %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			tc.check(t, src.opts)
		})
	}
}

func TestEnvelope(t *testing.T) {
	src, err := decodeSource(t, "url: amqp://h/\nexchange: x\nid_header: X-Id\nmax_message_bytes: 16\nmax_deliveries: 3\n")
	if err != nil {
		t.Fatal(err)
	}
	tp := "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
	for _, tc := range []struct {
		name      string
		d         amqp.Delivery
		wantID    string
		noPMID    bool // the partner gave no id: no partner message id
		wantRej   string
		wantHdr   map[string]string
		noHeaders []string
	}{
		{name: "message-id wins", d: amqp.Delivery{MessageId: "m-1", Headers: amqp.Table{"X-Id": "h-1"}, Body: []byte("{}")}, wantID: "m-1"},
		{name: "id header next", d: amqp.Delivery{Headers: amqp.Table{"X-Id": "h-1"}, Body: []byte("{}")}, wantID: "h-1"},
		{name: "content hash last", d: amqp.Delivery{Body: []byte("{}")}, wantID: bridge.ContentID("bank-a", []byte("{}")), noPMID: true},
		{name: "partner message id cannot be forged", d: amqp.Delivery{Headers: amqp.Table{bridge.HeaderPartnerMessageID: "forged"}, Body: []byte("{}")},
			wantID: bridge.ContentID("bank-a", []byte("{}")), noPMID: true},
		{name: "partner message id replaced", d: amqp.Delivery{MessageId: "m-6", Headers: amqp.Table{bridge.HeaderPartnerMessageID: "forged"}, Body: []byte("{}")},
			wantID: "m-6"},
		{name: "headers and properties carried", d: amqp.Delivery{
			MessageId: "m-2", Exchange: "x", RoutingKey: "pay.in", ContentType: "application/json", Type: "payment.received",
			Headers: amqp.Table{"traceparent": tp, "n": int32(7), "x-delivery-count": int64(1), "bad\nkey": "v", "evil": "a\r\nDmz-Partner: other"},
			Body:    []byte("{}"),
		}, wantID: "m-2", wantHdr: map[string]string{
			"traceparent": tp, "n": "7", HeaderExchange: "x", HeaderRoutingKey: "pay.in",
			HeaderContentType: "application/json", "evil": "aDmz-Partner: other",
		}, noHeaders: []string{"x-delivery-count", "bad\nkey"}},
		{name: "too large", d: amqp.Delivery{MessageId: "m-3", Body: []byte(strings.Repeat("x", 17))}, wantID: "m-3", wantRej: bridge.ReasonTooLarge},
		{name: "redelivered below limit", d: amqp.Delivery{MessageId: "m-4", Headers: amqp.Table{"x-delivery-count": int64(2)}, Body: []byte("{}")}, wantID: "m-4"},
		{name: "redelivered at limit", d: amqp.Delivery{MessageId: "m-5", Headers: amqp.Table{"x-delivery-count": int64(3)}, Body: []byte("{}")}, wantID: "m-5", wantRej: bridge.ReasonRedelivered},
	} {
		t.Run(tc.name, func(t *testing.T) {
			env := src.envelope(tc.d)
			if env.ID != tc.wantID {
				t.Fatalf("id %q, want %q", env.ID, tc.wantID)
			}
			wantPMID := tc.wantID
			if tc.noPMID {
				wantPMID = ""
			}
			if got := env.Headers[bridge.HeaderPartnerMessageID]; got != wantPMID {
				t.Fatalf("partner message id %q, want %q", got, wantPMID)
			}
			if env.Partner != "bank-a" || env.Source != Name {
				t.Fatalf("identity %q/%q", env.Partner, env.Source)
			}
			gotRej := ""
			if env.Rejection != nil {
				gotRej = env.Rejection.Reason
			}
			if gotRej != tc.wantRej {
				t.Fatalf("rejection %q, want %q", gotRej, tc.wantRej)
			}
			if tc.wantRej == bridge.ReasonTooLarge && env.Payload != nil {
				t.Fatal("an oversized body must not be stored")
			}
			for k, v := range tc.wantHdr {
				if env.Headers[k] != v {
					t.Fatalf("header %q = %q, want %q (all: %v)", k, env.Headers[k], v, env.Headers)
				}
			}
			for _, k := range tc.noHeaders {
				if _, ok := env.Headers[k]; ok {
					t.Fatalf("header %q must not be carried", k)
				}
			}
			if tc.d.Type != "" && env.EventType != tc.d.Type {
				t.Fatalf("event type %q", env.EventType)
			}
		})
	}
}

// TestClassicQueueCountsDeliveries: classic queues carry no delivery count,
// so the source counts per id and dead-letters past the limit.
func TestClassicQueueCountsDeliveries(t *testing.T) {
	src, err := decodeSource(t, "url: amqp://h/\nexchange: x\nqueue_type: classic\nmax_deliveries: 2\n")
	if err != nil {
		t.Fatal(err)
	}
	var rejected []bool
	for range 3 {
		env := src.envelope(amqp.Delivery{MessageId: "m", Body: []byte("{}")})
		src.countDelivery(env)
		rejected = append(rejected, env.Rejection != nil)
	}
	if fmt.Sprint(rejected) != "[false false true]" {
		t.Fatalf("rejections per delivery %v", rejected)
	}
	src.counts.Forget("m")
	env := src.envelope(amqp.Delivery{MessageId: "m", Body: []byte("{}")})
	src.countDelivery(env)
	if env.Rejection != nil {
		t.Fatal("count not reset after the message was stored")
	}
}

// TestDefaultPrefetchFollowsTheStoreBatch: a delivery is acknowledged
// only after its group commit, so the default window must hold more than
// one batch; a prefetch that is set wins.
func TestDefaultPrefetchFollowsTheStoreBatch(t *testing.T) {
	for _, tc := range []struct {
		name       string
		doc        string
		storeBatch int
		want       int
	}{
		{"no group commit", "url: amqp://h/\nexchange: x\n", 0, 256},
		{"small batch keeps the floor", "url: amqp://h/\nexchange: x\n", 64, 256},
		{"default batch of 1000", "url: amqp://h/\nexchange: x\n", 1000, 2000},
		{"capped at the AMQP limit", "url: amqp://h/\nexchange: x\n", 40000, 65535},
		{"set prefetch wins", "url: amqp://h/\nexchange: x\nprefetch: 300\n", 1000, 300},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var node yaml.Node
			if err := yaml.Unmarshal([]byte(tc.doc), &node); err != nil {
				t.Fatal(err)
			}
			src, err := NewSource(node.Content[0], bridge.SourceSpec{Partner: "bank-a", Logger: testLog(), StoreBatch: tc.storeBatch})
			if err != nil {
				t.Fatal(err)
			}
			s := src.(*Source)
			if s.opts.Prefetch != tc.want {
				t.Fatalf("prefetch %d, want %d", s.opts.Prefetch, tc.want)
			}
			if got, want := s.Describe(), fmt.Sprintf("amqp prefetch %d", tc.want); got != want {
				t.Fatalf("Describe() = %q, want %q", got, want)
			}
		})
	}
}
