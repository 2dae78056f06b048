package kafka

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	kafkago "github.com/segmentio/kafka-go"
	"github.com/segmentio/kafka-go/sasl"
	"github.com/segmentio/kafka-go/sasl/plain"
	"github.com/segmentio/kafka-go/sasl/scram"
	"github.com/twmb/franz-go/pkg/kfake"
	"gopkg.in/yaml.v3"

	"github.com/dmzbridge/dmzbridge/bridge"
	"github.com/dmzbridge/dmzbridge/connectors/conformance"
	"github.com/dmzbridge/dmzbridge/connectors/kafka/kafkatest"
)

func TestOptions(t *testing.T) {
	for _, tc := range []struct {
		name string
		doc  string
		want string // substring of the error; "" for valid
	}{
		{"minimal", "brokers: [k:9092]\ntopic: t\n", ""},
		{"several topics", "brokers: [k:9092]\ntopics: [a, b]\n", ""},
		{"scram", "brokers: [k:9092]\ntopic: t\nsasl: {mechanism: SCRAM-SHA-512, user: u, password: p}\n", ""},
		{"plain over tls", "brokers: [k:9093]\ntopic: t\ntls: {enabled: true}\nsasl: {mechanism: PLAIN, user: u, password: p}\n", ""},
		{"no brokers", "topic: t\n", "brokers: required"},
		{"url instead of host:port", "brokers: [kafka://k:9092]\ntopic: t\n", "brokers[0]"},
		{"no topic", "brokers: [k:9092]\n", "topic: required"},
		{"repeated topic", "brokers: [k:9092]\ntopic: t\ntopics: [t]\n", "topics[1]"},
		{"unknown field", "brokers: [k:9092]\ntopic: t\ngroup: x\n", "group"},
		{"bad mechanism", "brokers: [k:9092]\ntopic: t\nsasl: {mechanism: GSSAPI, user: u}\n", "sasl.mechanism"},
		{"plain in clear text", "brokers: [k:9092]\ntopic: t\nsasl: {mechanism: PLAIN, user: u, password: p}\n", "enable tls"},
		{"user without mechanism", "brokers: [k:9092]\ntopic: t\nsasl: {user: u}\n", "sasl.mechanism: required"},
		{"cert without key", "brokers: [k:9092]\ntopic: t\ntls: {cert: c.pem}\n", "tls.cert"},
		{"start offset", "brokers: [k:9092]\ntopic: t\nstart_offset: middle\n", "start_offset"},
		{"isolation", "brokers: [k:9092]\ntopic: t\nisolation: dirty\n", "isolation"},
		{"heartbeat vs session", "brokers: [k:9092]\ntopic: t\nheartbeat_interval: 10s\nsession_timeout: 5s\n", "heartbeat_interval"},
		{"window", "brokers: [k:9092]\ntopic: t\nmax_in_flight: -1\n", "max_in_flight"},
		{"max deliveries", "brokers: [k:9092]\ntopic: t\nmax_deliveries: 1\n", "max_deliveries"},
		{"missing ca file", "brokers: [k:9092]\ntopic: t\ntls: {ca: /nonexistent/ca.pem}\n", "tls"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var node yaml.Node
			if err := yaml.Unmarshal([]byte(tc.doc), &node); err != nil {
				t.Fatal(err)
			}
			_, err := NewSource(node.Content[0], bridge.SourceSpec{Partner: "p"})
			switch {
			case tc.want == "" && err != nil:
				t.Fatalf("unexpected error: %v", err)
			case tc.want != "" && err == nil:
				t.Fatalf("no error, want one mentioning %q", tc.want)
			case tc.want != "" && !strings.Contains(err.Error(), tc.want):
				t.Fatalf("error %q does not mention %q", err, tc.want)
			}
		})
	}
}

func TestEnvelope(t *testing.T) {
	s := newTestSource(t, "brokers: [k:9092]\ntopic: t\nid_header: X-Id\nmax_message_bytes: 10\nmax_deliveries: 2\n")
	ts := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	m := kafkago.Message{Topic: "t", Partition: 2, Offset: 41, Key: []byte("order-7"), Value: []byte(`{"a":1}`), Time: ts,
		Headers: []kafkago.Header{
			{Key: "traceparent", Value: []byte("00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01")},
			{Key: "X-Evil", Value: []byte("a\r\nDmz-Partner: other")},
			{Key: "bad key", Value: []byte("x")},
			{Key: "X-Bin", Value: []byte{0xff, 0xfe}},
		}}
	env := s.envelope(m)
	if env.ID != "t/2/41" || env.Headers[bridge.HeaderPartnerMessageID] != "t/2/41" {
		t.Fatalf("id %q, partner message id %q, want t/2/41 without the id header (the key is not the id by default)",
			env.ID, env.Headers[bridge.HeaderPartnerMessageID])
	}
	want := map[string]string{
		"traceparent": "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
		"X-Evil":      "aDmz-Partner: other",
		HeaderTopic:   "t", HeaderPartition: "2", HeaderOffset: "41", HeaderKey: "order-7",
		HeaderTimestamp: "2026-01-02T03:04:05Z",
	}
	for k, v := range want {
		if env.Headers[k] != v {
			t.Errorf("header %s = %q, want %q", k, env.Headers[k], v)
		}
	}
	for _, k := range []string{"bad key", "X-Bin"} {
		if _, ok := env.Headers[k]; ok {
			t.Errorf("header %q should have been dropped", k)
		}
	}
	if env.Partner != "conformance" || env.Source != Name || env.Rejection != nil {
		t.Fatalf("partner %q source %q rejection %v", env.Partner, env.Source, env.Rejection)
	}

	m.Headers = append(m.Headers, kafkago.Header{Key: "X-Id", Value: []byte("inv-9")})
	if env := s.envelope(m); env.ID != "inv-9" || env.Headers[bridge.HeaderPartnerMessageID] != "inv-9" {
		t.Fatalf("id %q, partner message id %q, want the id header's inv-9", env.ID, env.Headers[bridge.HeaderPartnerMessageID])
	}
	// Third fetch of the same offset without being stored: past max_deliveries.
	if env := s.envelope(m); env.Rejection == nil || env.Rejection.Reason != bridge.ReasonRedelivered {
		t.Fatalf("rejection %v, want %s", env.Rejection, bridge.ReasonRedelivered)
	}
	s.forget(m)
	big := kafkago.Message{Topic: "t", Offset: 1, Value: []byte("01234567890")}
	if env := s.envelope(big); env.Rejection == nil || env.Rejection.Reason != bridge.ReasonTooLarge || env.Payload != nil {
		t.Fatalf("rejection %v payload %q, want %s without payload", env.Rejection, env.Payload, bridge.ReasonTooLarge)
	}
}

// TestIDFromKey: with id_from_key the record key is the id (after an id
// header that is present), and a key that cannot be an id falls back to
// the record's coordinates.
func TestIDFromKey(t *testing.T) {
	s := newTestSource(t, "brokers: [k:9092]\ntopic: t\nid_header: X-Id\nid_from_key: true\n")
	for _, tc := range []struct {
		name string
		m    kafkago.Message
		want string
	}{
		{"key", kafkago.Message{Topic: "t", Offset: 1, Key: []byte("inv-1")}, "inv-1"},
		{"id header first", kafkago.Message{Topic: "t", Offset: 2, Key: []byte("inv-2"),
			Headers: []kafkago.Header{{Key: "X-Id", Value: []byte("h-2")}}}, "h-2"},
		{"no key", kafkago.Message{Topic: "t", Offset: 3}, "t/0/3"},
		{"binary key", kafkago.Message{Topic: "t", Offset: 4, Key: []byte{0xff, 0xfe}}, "t/0/4"},
		{"key too long", kafkago.Message{Topic: "t", Offset: 5, Key: []byte(strings.Repeat("k", 257))}, "t/0/5"},
		{"forged header replaced", kafkago.Message{Topic: "t", Offset: 6, Key: []byte("inv-6"),
			Headers: []kafkago.Header{{Key: bridge.HeaderPartnerMessageID, Value: []byte("forged")}}}, "inv-6"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			env := s.envelope(tc.m)
			if env.ID != tc.want || env.Headers[bridge.HeaderPartnerMessageID] != tc.want {
				t.Fatalf("id %q, partner message id %q, want %q", env.ID, env.Headers[bridge.HeaderPartnerMessageID], tc.want)
			}
		})
	}
}

// TestIDFromKeyEndToEnd: records keyed by the partner's id, read from a
// broker, reach the ERP event with the key as partnermessageid.
func TestIDFromKeyEndToEnd(t *testing.T) {
	kc := kafkatest.Start(t, 1, []string{"keyed"}, kfake.GroupMinSessionTimeout(500*time.Millisecond))
	msgs := conformance.Messages("key", 10)
	recs := make([]kafkatest.Record, len(msgs))
	for i, m := range msgs {
		recs[i] = kafkatest.Record{Partition: 0, Key: m.ID, Value: m.Body}
	}
	kafkatest.NewPublisher(t, kc.Brokers, "keyed", nil).Publish(t, recs)
	src := newTestSource(t, fmt.Sprintf("brokers: [%s]\ntopic: keyed\ngroup_id: g-keyed\nid_from_key: true\n%s", kc.Brokers[0], fastGroup))
	in := conformance.NewIntake(conformance.Store)
	run := conformance.Start(t, src, in)
	in.WaitStored(t, 20*time.Second, conformance.IDs(msgs))
	run.Stop(t)
	for id, env := range in.Firsts() {
		if got := conformance.ERPPartnerMessageID(t, env); got != id {
			t.Fatalf("record keyed %s: partnermessageid %q", id, got)
		}
	}
}

// deliverThrough publishes 20 records through pub and checks that a
// source built from opts stores all of them.
func deliverThrough(t *testing.T, brokers []string, topic, extra string, tr *kafkago.Transport) {
	t.Helper()
	msgs := conformance.Messages(topic, 20)
	recs := make([]kafkatest.Record, len(msgs))
	ids := make([]string, len(msgs))
	for i, m := range msgs {
		recs[i] = kafkatest.Record{Partition: 0, Value: m.Body, Headers: map[string]string{"X-Message-Id": m.ID}}
		ids[i] = m.ID
	}
	kafkatest.NewPublisher(t, brokers, topic, tr).Publish(t, recs)
	src := newTestSource(t, fmt.Sprintf("brokers: [%s]\ntopic: %s\ngroup_id: g-%s\nid_header: X-Message-Id\n%s%s",
		brokers[0], topic, topic, fastGroup, extra))
	in := conformance.NewIntake(conformance.Store)
	run := conformance.Start(t, src, in)
	in.WaitStored(t, 20*time.Second, ids)
	run.Stop(t)
}

func TestSASLOverTLS(t *testing.T) {
	pki := kafkatest.NewPKI(t, "kafka.test")
	topics := []string{"plain", "scram256", "scram512"}
	kc := kafkatest.Start(t, 1, topics, kfake.GroupMinSessionTimeout(500*time.Millisecond), kfake.TLS(pki.ServerTLS(t, false)),
		kfake.EnableSASL(),
		kfake.Superuser("PLAIN", "bank-plain", "pw-plain"),
		kfake.Superuser("SCRAM-SHA-256", "bank-256", "pw-256"),
		kfake.Superuser("SCRAM-SHA-512", "bank-512", "pw-512"))
	tlsOpts := fmt.Sprintf("tls: {ca: %s, server_name: %s}\n", pki.CA, pki.ServerName)
	for _, tc := range []struct {
		topic, mech, user, pass string
		pub                     func() (sasl.Mechanism, error)
	}{
		{"plain", "PLAIN", "bank-plain", "pw-plain", func() (sasl.Mechanism, error) {
			return plain.Mechanism{Username: "bank-plain", Password: "pw-plain"}, nil
		}},
		{"scram256", "SCRAM-SHA-256", "bank-256", "pw-256", func() (sasl.Mechanism, error) {
			return scram.Mechanism(scram.SHA256, "bank-256", "pw-256")
		}},
		{"scram512", "SCRAM-SHA-512", "bank-512", "pw-512", func() (sasl.Mechanism, error) {
			return scram.Mechanism(scram.SHA512, "bank-512", "pw-512")
		}},
	} {
		t.Run(tc.mech, func(t *testing.T) {
			m, err := tc.pub()
			if err != nil {
				t.Fatal(err)
			}
			tr := &kafkago.Transport{SASL: m, TLS: pki.ClientTLS(t)}
			deliverThrough(t, kc.Brokers, tc.topic,
				tlsOpts+fmt.Sprintf("sasl: {mechanism: %s, user: %s, password: %s}\n", tc.mech, tc.user, tc.pass), tr)
		})
	}
	t.Run("wrong password", func(t *testing.T) {
		src := newTestSource(t, fmt.Sprintf("brokers: [%s]\ntopic: plain\ngroup_id: g-wrong\n%s%ssasl: {mechanism: SCRAM-SHA-256, user: bank-256, password: guessed}\n",
			kc.Brokers[0], fastGroup, tlsOpts))
		in := conformance.NewIntake(conformance.Store)
		run := conformance.Start(t, src, in)
		deadline := time.Now().Add(15 * time.Second)
		for src.Snapshot().LastError == "" && time.Now().Before(deadline) {
			time.Sleep(50 * time.Millisecond)
		}
		run.Stop(t)
		if in.Calls() != 0 {
			t.Fatalf("%d records submitted with a wrong password", in.Calls())
		}
		st := src.Snapshot()
		if st.LastError == "" {
			t.Fatal("no error reported for a wrong password")
		}
		if strings.Contains(st.LastError, "guessed") {
			t.Fatalf("the password appears in the reported error: %s", st.LastError)
		}
		t.Logf("reported: %s", st.LastError)
	})
}

func TestMutualTLS(t *testing.T) {
	pki := kafkatest.NewPKI(t, "kafka.test")
	kc := kafkatest.Start(t, 1, []string{"mtls"}, kfake.GroupMinSessionTimeout(500*time.Millisecond), kfake.TLS(pki.ServerTLS(t, true)))
	deliverThrough(t, kc.Brokers, "mtls",
		fmt.Sprintf("tls: {ca: %s, cert: %s, key: %s, server_name: %s}\n", pki.CA, pki.ClientCert, pki.ClientKey, pki.ServerName),
		&kafkago.Transport{TLS: pki.ClientTLS(t)})

	// Without a client certificate the broker refuses the connection.
	src := newTestSource(t, fmt.Sprintf("brokers: [%s]\ntopic: mtls\ngroup_id: g-nocert\n%stls: {ca: %s, server_name: %s}\n",
		kc.Brokers[0], fastGroup, pki.CA, pki.ServerName))
	in := conformance.NewIntake(conformance.Store)
	run := conformance.Start(t, src, in)
	deadline := time.Now().Add(15 * time.Second)
	for src.Snapshot().LastError == "" && time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond)
	}
	run.Stop(t)
	if in.Calls() != 0 || src.Snapshot().LastError == "" {
		t.Fatalf("without a client certificate: %d submits, last error %q", in.Calls(), src.Snapshot().LastError)
	}
}

// TestCommitsOnlyStored: with the first 30 of 50 records stored and the
// rest held by the pipeline, the group's committed offset is exactly 30,
// also across a rebalance that a second member causes, and after both
// members stop.
func TestCommitsOnlyStored(t *testing.T) {
	const topic, group = "commits", "g-commits"
	kc := kafkatest.Start(t, 1, []string{topic}, testClusterOpts()...)
	msgs := conformance.Messages("c", 50)
	recs := make([]kafkatest.Record, len(msgs))
	for i, m := range msgs {
		recs[i] = kafkatest.Record{Partition: 0, Value: m.Body}
	}
	kafkatest.NewPublisher(t, kc.Brokers, topic, nil).Publish(t, recs)

	policy := func(env *bridge.Envelope, _ int) conformance.Action {
		var off int
		fmt.Sscanf(env.Headers[HeaderOffset], "%d", &off)
		if off < 30 {
			return conformance.Store
		}
		return conformance.Hold
	}
	doc := fmt.Sprintf("brokers: [%s]\ntopic: %s\ngroup_id: %s\n%sdrain_timeout: 1s\n", kc.Brokers[0], topic, group, fastGroup)
	lag := func() int64 {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		l, err := kafkatest.GroupLag(ctx, kc.Brokers, group, topic)
		if err != nil {
			t.Fatal(err)
		}
		return l
	}
	in1 := conformance.NewIntake(conformance.Store)
	in1.SetPolicyFunc(policy)
	run1 := conformance.Start(t, newTestSource(t, doc), in1)
	waitLag := func(want int64) {
		t.Helper()
		deadline := time.Now().Add(15 * time.Second)
		for lag() != want && time.Now().Before(deadline) {
			time.Sleep(50 * time.Millisecond)
		}
		if l := lag(); l != want {
			t.Fatalf("lag %d, want %d", l, want)
		}
	}
	waitLag(20)

	// A second member joins: the partition may move. Neither member may
	// commit past offset 30, since nothing after it is stored.
	in2 := conformance.NewIntake(conformance.Store)
	in2.SetPolicyFunc(policy)
	run2 := conformance.Start(t, newTestSource(t, doc), in2)
	time.Sleep(2 * time.Second)
	if l := lag(); l != 20 {
		t.Fatalf("lag %d after a rebalance, want 20 (committed offset must stay at 30)", l)
	}
	run2.Stop(t)
	go func() {
		for range 40 {
			in1.Release(fmt.Errorf("not stored"))
			time.Sleep(50 * time.Millisecond)
		}
	}()
	run1.Stop(t)
	if l := lag(); l != 20 {
		t.Fatalf("lag %d after both members stopped, want 20", l)
	}
}

// TestMaxDeliveriesDeadLetters: a record the pipeline never stores is,
// after max_deliveries fetches, handed on with a redelivery_limit
// rejection (the pipeline dead-letters it), and the partition moves on.
func TestMaxDeliveriesDeadLetters(t *testing.T) {
	const topic = "poison"
	kc := kafkatest.Start(t, 1, []string{topic}, testClusterOpts()...)
	msgs := conformance.Messages("poison", 5)
	recs := make([]kafkatest.Record, len(msgs))
	ids := make([]string, len(msgs))
	for i, m := range msgs {
		recs[i] = kafkatest.Record{Partition: 0, Value: m.Body, Headers: map[string]string{"X-Message-Id": m.ID}}
		ids[i] = m.ID
	}
	kafkatest.NewPublisher(t, kc.Brokers, topic, nil).Publish(t, recs)
	in := conformance.NewIntake(conformance.Store)
	var rejected *bridge.Rejection
	in.SetPolicyFunc(func(env *bridge.Envelope, _ int) conformance.Action {
		if env.ID == "poison-00002" {
			if env.Rejection == nil {
				return conformance.Fail
			}
			rejected = env.Rejection
		}
		return conformance.Store
	})
	src := newTestSource(t, fmt.Sprintf("brokers: [%s]\ntopic: %s\ngroup_id: g-poison\nid_header: X-Message-Id\nmax_deliveries: 3\n%s", kc.Brokers[0], topic, fastGroup))
	run := conformance.Start(t, src, in)
	in.WaitStored(t, 20*time.Second, ids)
	run.Stop(t)
	if rejected == nil || rejected.Reason != bridge.ReasonRedelivered {
		t.Fatalf("rejection %v, want %s", rejected, bridge.ReasonRedelivered)
	}
	if n := in.Deliveries("poison-00002"); n != 4 {
		t.Fatalf("poison record fetched %d times, want 3 failures plus the rejected one", n)
	}
	if st := src.Snapshot(); st.Connects < 4 {
		t.Fatalf("%d reader sessions; each failure should recreate the reader", st.Connects)
	}
}

// TestConsumesSeveralTopics: a partner publishing to two topics is
// consumed from both by one group reader (kafka-go GroupTopics), and every
// record of either topic is stored.
func TestConsumesSeveralTopics(t *testing.T) {
	c := kafkatest.Start(t, 2, []string{"multi.orders", "multi.invoices"}, testClusterOpts()...)
	var ids []string
	for _, topic := range []string{"multi.orders", "multi.invoices"} {
		msgs := conformance.Messages(topic, 15)
		recs := make([]kafkatest.Record, len(msgs))
		for i, m := range msgs {
			recs[i] = kafkatest.Record{Partition: i % 2, Value: m.Body, Headers: map[string]string{"X-Message-Id": m.ID}}
			ids = append(ids, m.ID)
		}
		kafkatest.NewPublisher(t, c.Brokers, topic, nil).Publish(t, recs)
	}
	src := newTestSource(t, fmt.Sprintf("brokers: [%s]\ntopics: [multi.orders, multi.invoices]\ngroup_id: g-multi\nid_header: X-Message-Id\n%s",
		c.Brokers[0], fastGroup))
	in := conformance.NewIntake(conformance.Store)
	run := conformance.Start(t, src, in)
	in.WaitStored(t, 30*time.Second, ids)
	run.Stop(t)
}
