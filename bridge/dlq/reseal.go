package dlq

import (
	"context"
	"strconv"

	"github.com/nats-io/nats.go"

	"github.com/dmzbridge/dmzbridge/bridge"
	"github.com/dmzbridge/dmzbridge/bridge/seal"
	"github.com/dmzbridge/dmzbridge/bridge/store"
)

// ResealMsgID is the Nats-Msg-Id of an entry rewritten by reseal. Derived
// from the old entry, so a reseal killed between storing the new entry
// and removing the old one stores it once when run again.
func ResealMsgID(stream string, seq uint64) string {
	return "reseal-" + stream + "-" + strconv.FormatUint(seq, 10)
}

// Reseal rewrites every entry matching f that is in clear or sealed under
// an old key under the store's current key: the new entry is stored, the
// decision recorded, and only then the old entry removed. Entries already
// under the current key are left as they are. An entry that cannot be
// opened (its key is not configured) stops the run before it changes.
func Reseal(ctx context.Context, s *Store, rec Recorder, dryRun bool, f Filter, eng Engine) (Summary, error) {
	if s.Keys == nil {
		return Summary{}, seal.ErrNoKey
	}
	eng.Store, eng.Action, eng.Recorder, eng.DryRun = s, "reseal", rec, dryRun
	eng.Decide = func(_ context.Context, e *Entry) (*nats.Msg, Result, error) {
		res := Result{Seq: e.Seq, ID: e.ID, Partner: e.Partner}
		if e.KeyID == s.Keys.CurrentID() {
			res.Outcome = Current
			return nil, res, nil
		}
		m, err := store.ResealEntry(e.Header, e.Payload, s.Keys)
		if err != nil {
			return nil, res, err
		}
		if dryRun {
			res.Outcome = WouldReseal
			return nil, res, nil
		}
		m.Subject = e.Subject
		m.Header.Set(bridge.HeaderMsgID, ResealMsgID(s.topo.DeadLetterStream(), e.Seq))
		res.Outcome = Resealed
		return m, res, nil
	}
	return eng.Run(ctx, f)
}

// Purge records and then removes every entry matching f: no entry
// disappears without its record.
func Purge(ctx context.Context, s *Store, rec Recorder, dryRun bool, f Filter, eng Engine) (Summary, error) {
	eng.Store, eng.Action, eng.Recorder, eng.DryRun = s, "purge", rec, dryRun
	eng.Decide = func(_ context.Context, e *Entry) (*nats.Msg, Result, error) {
		res := Result{Seq: e.Seq, ID: e.ID, Partner: e.Partner, Outcome: Purged}
		if dryRun {
			res.Outcome = WouldPurge
		}
		return nil, res, nil
	}
	return eng.Run(ctx, f)
}
