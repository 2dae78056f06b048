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
