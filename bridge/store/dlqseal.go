package store

import (
	"encoding/binary"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"

	"github.com/dmzbridge/dmzbridge/bridge"

	"github.com/nats-io/nats.go"

	"github.com/dmzbridge/dmzbridge/bridge/seal"
)

// sealFormat versions the sealed box and its additional data.
const sealFormat = "dmzbridge-dlq-v1"

// sealers maps a topology's subject root to the keyring sealing its
// dead-letter entries. Registration is per topology, so bridges and tests
// with different prefixes in one process keep their own keys.
var sealers sync.Map // subject root -> *seal.Keyring

// SealDeadLetters makes every dead-letter entry encoded for t's subjects
// (DeadLetterMsg, DeadLetterEntry) sealed under k. The returned function
// undoes it. A nil k leaves entries in clear.
func SealDeadLetters(t Topology, k *seal.Keyring) (undo func()) {
	if k == nil {
		return func() {}
	}
	root := t.subjectRoot()
	sealers.Store(root, k)
	return func() { sealers.CompareAndDelete(root, k) }
}

func sealerFor(subject string) *seal.Keyring {
	i := strings.LastIndex(subject, ".dlq.")
	if i < 0 {
		return nil
	}
	k, ok := sealers.Load(subject[:i])
	if !ok {
		return nil
	}
	return k.(*seal.Keyring)
}

// sealAAD binds a sealed box to its entry's clear metadata: a box moved
// to another partner's or another event's entry does not open.
func sealAAD(keyID string, h nats.Header) []byte {
	return []byte(sealFormat + "\x00" + keyID + "\x00" + h.Get(bridge.HeaderPartner) + "\x00" + h.Get(bridge.HeaderOriginalID))
}

// IsSealed reports whether a stored dead-letter entry is sealed.
func IsSealed(h nats.Header) bool { return h.Get(bridge.HeaderSealKey) != "" }

// sealEntry seals m in place under k: the error detail and partner headers
// leave the header and join the payload in one AES-256-GCM box.
func sealEntry(m *nats.Msg, k *seal.Keyring) {
	var hk []string
	for name := range m.Header {
		if strings.HasPrefix(name, partnerHeaderPrefix) {
			hk = append(hk, name)
		}
	}
	detail := m.Header.Get(bridge.HeaderError)
	buf := make([]byte, 0, len(m.Data)+len(detail)+64*len(hk)+16)
	buf = appendString(buf, detail)
	n := 0
	for _, name := range hk {
		n += len(m.Header[name])
	}
	buf = binary.AppendUvarint(buf, uint64(n))
	for _, name := range hk {
		for _, v := range m.Header[name] {
			buf = appendString(buf, strings.TrimPrefix(name, partnerHeaderPrefix))
			buf = appendString(buf, v)
		}
		delete(m.Header, name)
	}
	buf = append(buf, m.Data...)
	m.Header.Del(bridge.HeaderError)
	m.Header.Set(bridge.HeaderSize, strconv.Itoa(len(m.Data)))
	m.Header.Set(bridge.HeaderPayloadSHA256, bridge.PayloadDigest(m.Data))
	id := k.CurrentID()
	_, m.Data = k.Seal(sealAAD(id, m.Header), buf)
	m.Header.Set(bridge.HeaderSealKey, id)
}

// OpenEntry returns a sealed entry's header and data as they were before
// sealing (the seal headers dropped). An entry in clear comes back as is.
// A nil k fails with seal.ErrNoKey for a sealed entry.
func OpenEntry(h nats.Header, data []byte, k *seal.Keyring) (nats.Header, []byte, error) {
	id := h.Get(bridge.HeaderSealKey)
	if id == "" {
		return h, data, nil
	}
	plain, err := k.Open(id, sealAAD(id, h), data)
	if err != nil {
		return nil, nil, err
	}
	out := make(nats.Header, len(h)+4)
	for name, vs := range h {
		switch name {
		case bridge.HeaderSealKey, bridge.HeaderSize, bridge.HeaderPayloadSHA256:
		default:
			out[name] = vs
		}
	}
	detail, rest, err := readString(plain)
	if err != nil {
		return nil, nil, err
	}
	if detail != "" {
		out.Set(bridge.HeaderError, detail)
	}
	n, w := binary.Uvarint(rest)
	if w <= 0 {
		return nil, nil, errBadBox
	}
	rest = rest[w:]
	for range n {
		var name, v string
		if name, rest, err = readString(rest); err != nil {
			return nil, nil, err
		}
		if v, rest, err = readString(rest); err != nil {
			return nil, nil, err
		}
		out.Add(partnerHeaderPrefix+name, v)
	}
	return out, rest, nil
}

var errBadBox = errors.New("sealed dead-letter entry: malformed box")

func appendString(b []byte, s string) []byte {
	b = binary.AppendUvarint(b, uint64(len(s)))
	return append(b, s...)
}

func readString(b []byte) (string, []byte, error) {
	n, w := binary.Uvarint(b)
	if w <= 0 || uint64(len(b)-w) < n {
		return "", nil, errBadBox
	}
	return string(b[w : w+int(n)]), b[w+int(n):], nil
}

// ResealEntry re-seals a stored entry under k's current key, keeping its
// clear metadata. An entry in clear is sealed.
func ResealEntry(h nats.Header, data []byte, k *seal.Keyring) (*nats.Msg, error) {
	if k == nil {
		return nil, seal.ErrNoKey
	}
	oh, od, err := OpenEntry(h, data, k)
	if err != nil {
		return nil, fmt.Errorf("open: %w", err)
	}
	m := &nats.Msg{Header: make(nats.Header, len(oh)+3), Data: od}
	for name, vs := range oh {
		m.Header[name] = append([]string(nil), vs...)
	}
	sealEntry(m, k)
	return m, nil
}
