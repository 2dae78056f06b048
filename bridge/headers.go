package bridge

import (
	"strings"
	"unicode"
)

// CleanHeaderValue drops control characters from a partner's header value:
// header values end up in NATS headers, where a line break would forge
// another header.
func CleanHeaderValue(s string) string {
	if strings.IndexFunc(s, unicode.IsControl) < 0 {
		return s
	}
	return strings.Map(func(r rune) rune {
		if unicode.IsControl(r) {
			return -1
		}
		return r
	}, s)
}

// ValidHeaderKey reports whether a partner's header name can be carried as
// a NATS header name.
func ValidHeaderKey(k string) bool {
	if k == "" || len(k) > 256 {
		return false
	}
	for _, r := range k {
		if r <= ' ' || r >= 0x7f || r == ':' {
			return false
		}
	}
	return true
}

// HeaderPartnerMessageID is the partner header, set by the inbound
// connector, that holds the id the partner's transport gave the message
// (AMQP message-id, Nats-Msg-Id, a Kafka id header or key, or the
// broker's own coordinates). The CloudEvents normalizer puts it in the
// partnermessageid attribute. It is bridge-owned: a connector sets or
// deletes it after copying the partner's headers, so it cannot be forged.
const HeaderPartnerMessageID = "Dmz-Partner-Message-Id"

// SetPartnerMessageID records id as the partner's message id of env, or
// removes a header of that name the partner sent when id is empty.
func SetPartnerMessageID(env *Envelope, id string) {
	if id == "" {
		delete(env.Headers, HeaderPartnerMessageID)
		return
	}
	env.Headers[HeaderPartnerMessageID] = id
}

// Dead-letter headers: what failed, why, and where it came from.
const (
	HeaderReason       = "Dmz-Reason"
	HeaderError        = "Dmz-Error"
	HeaderOriginalID   = "Dmz-Original-Id"
	HeaderFirstFailure = "Dmz-First-Failure"
	HeaderLastFailure  = "Dmz-Last-Failure"
	// HeaderFailedIn says where the event failed: FailedAtIntake (the
	// payload is the original as received) or FailedAtForward (the payload
	// is what was stored, already validated and masked).
	HeaderFailedIn = "Dmz-Failed-In"
	// HeaderReplayOf marks an ingest message put back by `dlq replay`: the
	// dead-letter stream sequence it came from.
	HeaderReplayOf = "Dmz-Replay-Of"
)

// Where an event failed, the value of HeaderFailedIn.
const (
	FailedAtIntake  = "intake"
	FailedAtForward = "forward"
)

// Headers of a sealed dead-letter entry. The payload, the partner's
// headers (Dmz-H-*) and the error detail travel sealed in the message
// data; what operators filter on stays in clear.
const (
	// HeaderSealKey is the id of the key the entry is sealed under.
	HeaderSealKey = "Dmz-Seal-Key"
	// HeaderSize is the clear payload's size in bytes.
	HeaderSize = "Dmz-Size"
	// HeaderPayloadSHA256 is the hex SHA-256 of the clear payload, so an
	// audit record or an operator can match an entry without the key.
	HeaderPayloadSHA256 = "Dmz-Payload-Sha256"
)
