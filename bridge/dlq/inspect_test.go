package dlq

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/dmzbridge/dmzbridge/bridge"
)

func TestListHeadersAndCount(t *testing.T) {
	ctx := context.Background()
	s, _ := testStore(t)
	seed(t, s, "a-1", "bank-a", bridge.ReasonSchemaInvalid, bridge.FailedAtIntake, t0)
	seed(t, s, "a-2", "bank-a", bridge.ReasonSchemaInvalid, bridge.FailedAtIntake, t0.Add(1))
	seed(t, s, "b-1", "dealer-c", bridge.ReasonMalformed, bridge.FailedAtIntake, t0.Add(2))
	for _, tc := range []struct {
		f     Filter
		limit int
		ids   string
	}{
		{Filter{}, 0, "a-1 a-2 b-1"},
		{Filter{}, 2, "a-1 a-2"},
		{Filter{Partners: []string{"dealer-c"}}, 5, "b-1"},
		{Filter{Partners: []string{"nobody"}}, 0, ""},
	} {
		got, err := s.ListHeaders(ctx, tc.f, tc.limit)
		if err != nil {
			t.Fatal(err)
		}
		var ids []string
		for _, e := range got {
			if e.Payload != nil {
				t.Errorf("%s listed with its payload", e.ID)
			}
			ids = append(ids, e.ID)
		}
		if strings.Join(ids, " ") != tc.ids {
			t.Errorf("ListHeaders(%+v, %d) = %v, want %s", tc.f, tc.limit, ids, tc.ids)
		}
	}
	total, counts, err := s.Count(ctx, Filter{})
	if err != nil {
		t.Fatal(err)
	}
	if total != 3 || len(counts) != 2 || counts[0].Partner != "bank-a" || counts[0].Count != 2 || counts[1].Reason != bridge.ReasonMalformed {
		t.Fatalf("Count: %d %+v", total, counts)
	}
}

// TestShowRecordsUnsealing: opening a sealed entry is recorded with
// whether it was revealed; a clear entry opens no audit trail at all.
func TestShowRecordsUnsealing(t *testing.T) {
	ctx := context.Background()
	s, _ := testStore(t)
	k := testKeyring(t)
	seedSealed(t, s, k, 1)
	seed(t, s, "clear-1", "bank-a", bridge.ReasonMalformed, bridge.FailedAtIntake, t0)
	s.Keys = k
	var recorded []string
	opener := func() (Recorder, error) {
		return recorderFunc(func(action string, r Result) { recorded = append(recorded, action+" "+r.ID+" "+string(r.Outcome)) }), nil
	}
	e, err := s.Show(ctx, "ev-0", true, opener)
	if err != nil || e.Sealed || !strings.Contains(string(e.Payload), "DE89") {
		t.Fatalf("sealed entry not opened: %+v %v", e, err)
	}
	if _, err := s.Show(ctx, "1", false, opener); err != nil {
		t.Fatal(err)
	}
	failing := func() (Recorder, error) { return nil, errors.New("no audit trail here") }
	if _, err := s.Show(ctx, "clear-1", false, failing); err != nil {
		t.Fatalf("a clear entry needed the audit trail: %v", err)
	}
	if _, err := s.Show(ctx, "ev-0", false, failing); err == nil {
		t.Fatal("a sealed entry was shown without its audit record")
	}
	if got := strings.Join(recorded, ";"); got != "show ev-0 revealed;show ev-0 masked" {
		t.Fatalf("recorded %q", got)
	}
	if _, err := s.Show(ctx, "nope", false, opener); !errors.Is(err, ErrNotFound) {
		t.Fatalf("unknown id: %v", err)
	}
}

type recorderFunc func(action string, r Result)

func (f recorderFunc) Record(_ context.Context, action string, _ *Entry, r Result) error {
	f(action, r)
	return nil
}
