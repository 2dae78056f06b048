// Package dlq reads, replays and removes entries of the bridge's
// dead-letter stream. It talks to JetStream only, so the operators' CLI
// works whether or not a bridge is running.
package dlq

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/dmzbridge/dmzbridge/bridge"
	"github.com/dmzbridge/dmzbridge/bridge/seal"
	"github.com/dmzbridge/dmzbridge/bridge/store"
)

// Entry is one dead-lettered event.
type Entry struct {
	// Seq is the entry's sequence in the dead-letter stream: its id for
	// the CLI (dlq show 42, dlq replay --id 42).
	Seq uint64 `json:"seq"`
	// ID is the event's own id (Dmz-Original-Id).
	ID           string            `json:"id"`
	Partner      string            `json:"partner"`
	Source       string            `json:"source"`
	EventType    string            `json:"event_type"`
	Reason       string            `json:"reason"`
	Error        string            `json:"error,omitempty"`
	FailedIn     string            `json:"failed_in"`
	Attempts     int               `json:"attempts"`
	ReceivedAt   time.Time         `json:"received_at"`
	FirstFailure time.Time         `json:"first_failure"`
	LastFailure  time.Time         `json:"last_failure"`
	TraceParent  string            `json:"traceparent,omitempty"`
	Headers      map[string]string `json:"headers,omitempty"`
	Size         int               `json:"size"`
	// PayloadSHA256 is the hex SHA-256 of the clear payload.
	PayloadSHA256 string `json:"payload_sha256,omitempty"`
	// KeyID is the sealing key's id; empty for an entry in clear.
	KeyID string `json:"seal_key,omitempty"`
	// Sealed: payload, partner headers and error detail are still sealed
	// (Open has not run); Payload holds the sealed box.
	Sealed bool `json:"sealed,omitempty"`
	// Stored is when JetStream stored the entry.
	Stored  time.Time   `json:"-"`
	Subject string      `json:"-"`
	Header  nats.Header `json:"-"`
	Payload []byte      `json:"-"`
}

// Open unseals a sealed entry with k, filling Payload, Headers and Error.
// An entry in clear is left as it is. On failure the entry is unchanged.
func (e *Entry) Open(k *seal.Keyring) error {
	if !e.Sealed {
		return nil
	}
	h, data, err := store.OpenEntry(e.Header, e.Payload, k)
	if err != nil {
		return fmt.Errorf("entry %d: %w", e.Seq, err)
	}
	o := entryFrom(e.Seq, e.Stored, e.Subject, h, data)
	o.KeyID = e.KeyID
	*e = *o
	return nil
}

// Time is the entry's failure time, which the --since/--until filters
// use: the last failure, or when it was stored for entries without one.
func (e *Entry) Time() time.Time {
	if !e.LastFailure.IsZero() {
		return e.LastFailure
	}
	return e.Stored
}

// Envelope rebuilds the event as it was stored.
func (e *Entry) Envelope() (*bridge.Envelope, error) {
	if e.Sealed {
		return nil, fmt.Errorf("entry %d: %w", e.Seq, seal.ErrNoKey)
	}
	return store.Decode(e.Subject, e.Header, e.Payload)
}

// entryFrom parses a stored dead-letter message. It never fails: an entry
// with odd headers is still listed so an operator can see and remove it.
func entryFrom(seq uint64, stored time.Time, subject string, h nats.Header, data []byte) *Entry {
	e := &Entry{
		Seq: seq, Stored: stored, Subject: subject, Header: h, Payload: data, Size: len(data),
		ID:          h.Get(bridge.HeaderOriginalID),
		Partner:     h.Get(bridge.HeaderPartner),
		Source:      h.Get(bridge.HeaderSource),
		EventType:   h.Get(bridge.HeaderEventType),
		Reason:      h.Get(bridge.HeaderReason),
		Error:       h.Get(bridge.HeaderError),
		FailedIn:    h.Get(bridge.HeaderFailedIn),
		TraceParent: h.Get(bridge.HeaderTraceParent),
	}
	if store.IsSealed(h) {
		e.Sealed, e.KeyID = true, h.Get(bridge.HeaderSealKey)
		e.Size, _ = strconv.Atoi(h.Get(bridge.HeaderSize))
		e.PayloadSHA256 = h.Get(bridge.HeaderPayloadSHA256)
	} else {
		e.PayloadSHA256 = bridge.PayloadDigest(data)
	}
	if e.ID == "" {
		e.ID = h.Get(bridge.HeaderMsgID)
	}
	if e.FailedIn == "" {
		// Entries written before the header existed: only the forwarder
		// gives up for max_attempts.
		e.FailedIn = bridge.FailedAtIntake
		if e.Reason == bridge.ReasonMaxAttempts {
			e.FailedIn = bridge.FailedAtForward
		}
	}
	e.Attempts, _ = strconv.Atoi(h.Get(bridge.HeaderAttempt))
	e.ReceivedAt = parseTime(h.Get(bridge.HeaderReceivedAt))
	e.FirstFailure = parseTime(h.Get(bridge.HeaderFirstFailure))
	e.LastFailure = parseTime(h.Get(bridge.HeaderLastFailure))
	if e.Sealed {
		return e
	}
	if env, err := store.Decode(subject, h, data); err == nil {
		for k, v := range env.Headers {
			if k == bridge.HeaderTraceParent {
				continue
			}
			if e.Headers == nil {
				e.Headers = map[string]string{}
			}
			e.Headers[k] = v
		}
	}
	return e
}

func parseTime(s string) time.Time {
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return time.Time{}
	}
	return t.UTC()
}

// Filter selects entries; empty fields select everything.
type Filter struct {
	Partners []string
	Reasons  []string
	Types    []string
	// IDs match an entry's sequence number or its event id.
	IDs   []string
	Since time.Time
	Until time.Time
}

// Empty reports whether the filter selects every entry.
func (f Filter) Empty() bool {
	return len(f.Partners) == 0 && len(f.Reasons) == 0 && len(f.Types) == 0 && len(f.IDs) == 0 && f.Since.IsZero() && f.Until.IsZero()
}

// Match reports whether e passes the filter.
func (f Filter) Match(e *Entry) bool {
	if len(f.Partners) > 0 && !slices.Contains(f.Partners, e.Partner) {
		return false
	}
	if len(f.Reasons) > 0 && !slices.Contains(f.Reasons, e.Reason) {
		return false
	}
	if len(f.Types) > 0 && !slices.Contains(f.Types, e.EventType) {
		return false
	}
	if len(f.IDs) > 0 && !slices.Contains(f.IDs, e.ID) && !slices.Contains(f.IDs, strconv.FormatUint(e.Seq, 10)) {
		return false
	}
	if !f.Since.IsZero() && e.Time().Before(f.Since) {
		return false
	}
	if !f.Until.IsZero() && !e.Time().Before(f.Until) {
		return false
	}
	return true
}

// Store is the dead-letter stream of one bridge (one stream prefix).
type Store struct {
	js   jetstream.JetStream
	topo store.Topology
	// Keys open sealed entries (show, replay, reseal); nil when no key is
	// configured: list and stats still work, they read only clear fields.
	Keys *seal.Keyring
}

// ErrNoStream means the bridge has never created its dead-letter stream
// under this prefix (wrong --prefix or server).
var ErrNoStream = errors.New("dead-letter stream not found")

// ErrNotFound means no entry has the given sequence.
var ErrNotFound = errors.New("dead-letter entry not found")

// NewStore binds to the dead-letter stream named by topo.
func NewStore(js jetstream.JetStream, topo store.Topology) *Store {
	return &Store{js: js, topo: topo}
}

// Topology is the naming in use.
func (s *Store) Topology() store.Topology { return s.topo }

// JetStream is the connection in use.
func (s *Store) JetStream() jetstream.JetStream { return s.js }

func (s *Store) stream(ctx context.Context) (jetstream.Stream, error) {
	st, err := s.js.Stream(ctx, s.topo.DeadLetterStream())
	if errors.Is(err, jetstream.ErrStreamNotFound) {
		return nil, fmt.Errorf("%w: %s", ErrNoStream, s.topo.DeadLetterStream())
	}
	if err != nil {
		return nil, fmt.Errorf("dead-letter stream %s: %w", s.topo.DeadLetterStream(), err)
	}
	return st, nil
}

// Scan calls fn for every entry matching f, oldest first. It reads a
// snapshot: entries stored after Scan started are not visited.
func (s *Store) Scan(ctx context.Context, f Filter, fn func(*Entry) error) error {
	return s.scan(ctx, f, scanOpts{}, fn)
}

// ScanHeaders is Scan without payloads: what list and stats need, read
// faster. Entries come without Payload; Size is still the payload's size.
func (s *Store) ScanHeaders(ctx context.Context, f Filter, fn func(*Entry) error) error {
	return s.scan(ctx, f, scanOpts{headersOnly: true}, fn)
}

type scanOpts struct {
	headersOnly bool
	// total, when set, is told how many entries the scan will visit
	// before filtering (those of the selected partners at the start).
	total func(int)
	// skipped, when set, is told the sequence of each entry the filter
	// leaves out.
	skipped func(seq uint64)
}

// scanBatch is how many entries one fetch asks for.
const scanBatch = 1024

func (s *Store) scan(ctx context.Context, f Filter, o scanOpts, fn func(*Entry) error) error {
	st, err := s.stream(ctx)
	if err != nil {
		return err
	}
	last := st.CachedInfo().State.LastSeq
	cfg := jetstream.ConsumerConfig{
		AckPolicy:         jetstream.AckNonePolicy,
		DeliverPolicy:     jetstream.DeliverAllPolicy,
		InactiveThreshold: time.Minute,
		MemoryStorage:     true,
		HeadersOnly:       o.headersOnly,
		Description:       "dmzbridge dlq scan",
	}
	for _, p := range f.Partners {
		cfg.FilterSubjects = append(cfg.FilterSubjects, s.topo.DeadLetterSubject(p))
	}
	cons, err := st.CreateConsumer(ctx, cfg)
	if err != nil {
		return fmt.Errorf("read dead-letter stream: %w", err)
	}
	defer func() {
		dctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer cancel()
		_ = st.DeleteConsumer(dctx, cons.CachedInfo().Name)
	}()
	remaining := cons.CachedInfo().NumPending
	if o.total != nil {
		o.total(int(remaining))
	}
	for remaining > 0 {
		batch, err := cons.Fetch(int(min(remaining, scanBatch)), jetstream.FetchMaxWait(5*time.Second))
		if err != nil {
			return fmt.Errorf("read dead-letter stream: %w", err)
		}
		n := 0
		for m := range batch.Messages() {
			n++
			remaining--
			md, err := m.Metadata()
			if err != nil {
				return fmt.Errorf("read dead-letter stream: %w", err)
			}
			if md.Sequence.Stream > last {
				// Stored after the scan began (entries deleted meanwhile
				// let the count run past the snapshot).
				remaining = 0
				break
			}
			e := entryFrom(md.Sequence.Stream, md.Timestamp.UTC(), m.Subject(), m.Headers(), m.Data())
			if o.headersOnly && !e.Sealed {
				e.Size, _ = strconv.Atoi(m.Headers().Get(nats.MsgSize))
				e.PayloadSHA256 = ""
			}
			if !f.Match(e) {
				if o.skipped != nil {
					o.skipped(e.Seq)
				}
				continue
			}
			if err := fn(e); err != nil {
				return err
			}
		}
		if err := batch.Error(); err != nil {
			return fmt.Errorf("read dead-letter stream: %w", err)
		}
		if n == 0 {
			// Entries deleted since the snapshot (a concurrent purge or
			// replay) are never delivered.
			break
		}
	}
	return ctx.Err()
}

// List returns the entries matching f, oldest first.
func (s *Store) List(ctx context.Context, f Filter) ([]*Entry, error) {
	var out []*Entry
	err := s.Scan(ctx, f, func(e *Entry) error {
		out = append(out, e)
		return nil
	})
	return out, err
}

// Seqs returns the sequence numbers of the entries matching f, oldest
// first. Replay and purge select with it and then fetch one entry at a
// time, so a large selection is never held in memory with its payloads.
func (s *Store) Seqs(ctx context.Context, f Filter) ([]uint64, error) {
	var out []uint64
	err := s.Scan(ctx, f, func(e *Entry) error {
		out = append(out, e.Seq)
		return nil
	})
	return out, err
}

// Get returns the entry with sequence seq.
func (s *Store) Get(ctx context.Context, seq uint64) (*Entry, error) {
	st, err := s.stream(ctx)
	if err != nil {
		return nil, err
	}
	m, err := st.GetMsg(ctx, seq)
	if errors.Is(err, jetstream.ErrMsgNotFound) {
		return nil, fmt.Errorf("%w: %d", ErrNotFound, seq)
	}
	if err != nil {
		return nil, fmt.Errorf("get dead-letter entry %d: %w", seq, err)
	}
	return entryFrom(m.Sequence, m.Time.UTC(), m.Subject, m.Header, m.Data), nil
}

// Find returns the entry for an id given on the command line: a sequence
// number, or an event id (the newest entry of that event).
func (s *Store) Find(ctx context.Context, id string) (*Entry, error) {
	if seq, err := strconv.ParseUint(id, 10, 64); err == nil {
		return s.Get(ctx, seq)
	}
	var found *Entry
	err := s.Scan(ctx, Filter{IDs: []string{id}}, func(e *Entry) error {
		found = e
		return nil
	})
	if err != nil {
		return nil, err
	}
	if found == nil {
		return nil, fmt.Errorf("%w: %s", ErrNotFound, id)
	}
	return found, nil
}

// Delete removes an entry. An entry already gone is not an error: a
// re-run of an interrupted replay or purge may meet it.
func (s *Store) Delete(ctx context.Context, seq uint64) error {
	st, err := s.stream(ctx)
	if err != nil {
		return err
	}
	if err := st.DeleteMsg(ctx, seq); err != nil && !errors.Is(err, jetstream.ErrMsgNotFound) && !strings.Contains(err.Error(), "no message found") {
		return fmt.Errorf("delete dead-letter entry %d: %w", seq, err)
	}
	return nil
}

// purgeBelow removes every entry below seq (of subject, when given) in
// one request: one write instead of one per entry.
func (s *Store) purgeBelow(ctx context.Context, seq uint64, subject string) error {
	st, err := s.stream(ctx)
	if err != nil {
		return err
	}
	opts := []jetstream.StreamPurgeOpt{jetstream.WithPurgeSequence(seq)}
	if subject != "" {
		opts = append(opts, jetstream.WithPurgeSubject(subject))
	}
	if err := st.Purge(ctx, opts...); err != nil {
		return fmt.Errorf("remove dead-letter entries below %d: %w", seq, err)
	}
	return nil
}

// Count is one row of Stats.
type Count struct {
	Partner string `json:"partner"`
	Reason  string `json:"reason"`
	Count   int    `json:"count"`
	Bytes   int    `json:"bytes"`
	// Oldest and Newest are the failure times of the oldest and newest
	// entries counted.
	Oldest time.Time `json:"oldest"`
	Newest time.Time `json:"newest"`
}

// Stats counts entries by partner and reason, sorted by partner then
// reason.
func Stats(entries []*Entry) []Count {
	idx := map[[2]string]int{}
	var out []Count
	for _, e := range entries {
		k := [2]string{e.Partner, e.Reason}
		i, ok := idx[k]
		if !ok {
			i = len(out)
			idx[k] = i
			out = append(out, Count{Partner: e.Partner, Reason: e.Reason, Oldest: e.Time(), Newest: e.Time()})
		}
		c := &out[i]
		c.Count++
		c.Bytes += e.Size
		if t := e.Time(); t.Before(c.Oldest) {
			c.Oldest = t
		} else if t.After(c.Newest) {
			c.Newest = t
		}
	}
	slices.SortFunc(out, func(a, b Count) int {
		if c := strings.Compare(a.Partner, b.Partner); c != 0 {
			return c
		}
		return strings.Compare(a.Reason, b.Reason)
	})
	return out
}
