package dlq

import (
	"context"
	"errors"
	"fmt"
)

// What the read-only dlq commands ask of a store: listings and counts
// without payloads, and one entry opened for an operator's eyes.

var errLimit = errors.New("limit reached")

// ListHeaders returns the entries matching f without their payloads,
// oldest first; at most limit of them when limit > 0.
func (s *Store) ListHeaders(ctx context.Context, f Filter, limit int) ([]*Entry, error) {
	var entries []*Entry
	err := s.ScanHeaders(ctx, f, func(e *Entry) error {
		if limit > 0 && len(entries) >= limit {
			return errLimit
		}
		e.Payload = nil
		entries = append(entries, e)
		return nil
	})
	if err != nil && !errors.Is(err, errLimit) {
		return nil, err
	}
	return entries, nil
}

// Count counts the entries matching f (see Stats); total is their number.
func (s *Store) Count(ctx context.Context, f Filter) (total int, counts []Count, err error) {
	var entries []*Entry
	err = s.ScanHeaders(ctx, f, func(e *Entry) error {
		e.Payload, e.Header = nil, nil // counted, not kept
		entries = append(entries, e)
		return nil
	})
	if err != nil {
		return 0, nil, err
	}
	return len(entries), Stats(entries), nil
}

// Show finds the entry named by id (see Find) and opens it when sealed.
// Unsealing is recorded with the recorder that openRecorder opens, when
// given (only then, so reading a clear entry needs no audit trail): who
// looked at which entry, and whether the values were revealed.
func (s *Store) Show(ctx context.Context, id string, reveal bool, openRecorder func() (Recorder, error)) (*Entry, error) {
	e, err := s.Find(ctx, id)
	if err != nil {
		return nil, err
	}
	if !e.Sealed {
		return e, nil
	}
	if err := e.Open(s.Keys); err != nil {
		return nil, err
	}
	if openRecorder == nil {
		return e, nil
	}
	rec, err := openRecorder()
	if err != nil {
		return nil, err
	}
	outcome := Outcome("masked")
	if reveal {
		outcome = "revealed"
	}
	if err := rec.Record(ctx, "show", e, Result{Seq: e.Seq, ID: e.ID, Partner: e.Partner, Outcome: outcome}); err != nil {
		return nil, fmt.Errorf("audit show of entry %d: %w", e.Seq, err)
	}
	return e, nil
}
