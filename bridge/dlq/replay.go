package dlq

import (
	"context"
	"errors"
	"fmt"
	"strconv"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"golang.org/x/time/rate"

	"github.com/dmzbridge/dmzbridge/bridge"
	"github.com/dmzbridge/dmzbridge/bridge/store"
)

// Outcome of one entry in a replay or purge. Scripts read these words in
// the --json output; they are stable.
type Outcome string

const (
	// Replayed: stored in the ingest stream and removed from the
	// dead-letter stream.
	Replayed Outcome = "replayed"
	// StillRejected: today's stages reject it again; the entry stays.
	StillRejected Outcome = "still_rejected"
	// Failed: a transient error (stage or JetStream); the entry stays and
	// a later run retries it.
	Failed Outcome = "failed"
	// WouldReplay and WouldReject are the dry-run forms.
	WouldReplay Outcome = "would_replay"
	WouldReject Outcome = "would_reject"
	// Purged: removed from the dead-letter stream.
	Purged Outcome = "purged"
	// WouldPurge is the dry-run form of Purged.
	WouldPurge Outcome = "would_purge"
	// Resealed: rewritten under the current sealing key (the old entry
	// removed); WouldReseal is its dry-run form.
	Resealed    Outcome = "resealed"
	WouldReseal Outcome = "would_reseal"
	// Current: already sealed under the current key; left as it is.
	Current Outcome = "current"
)

// Result is what happened to one entry.
type Result struct {
	Seq     uint64  `json:"seq"`
	ID      string  `json:"id"`
	Partner string  `json:"partner"`
	Outcome Outcome `json:"outcome"`
	// Reason is today's rejection reason for StillRejected/WouldReject.
	Reason string `json:"reason,omitempty"`
	Detail string `json:"detail,omitempty"`
	// Duplicate: the ingest stream already held this replay (an earlier
	// run stored it but was interrupted before removing the entry).
	Duplicate bool `json:"duplicate,omitempty"`
}

// Replayer puts dead-lettered events back into the ingest stream.
type Replayer struct {
	Store *Store
	// Stages are today's intake stages (app.Chain's Intake): an event that
	// failed at intake runs them again, so one rejected by a since-fixed
	// schema now passes.
	Stages []bridge.Stage
	// Stored are today's checks of a stored event (app.Chain's Stored): an
	// event that failed while forwarding was checked and masked before it
	// was stored, and runs them before it goes back.
	Stored []bridge.Stage
	// Limiter bounds replays per second; nil is unlimited.
	Limiter *rate.Limiter
	DryRun  bool
	// Recorder, when set, is called after each decision; a failure to
	// record stops the replay (an unrecorded replay is not allowed).
	Recorder Recorder
	// Partners, when set, are the partners the bridge serves: an entry of
	// any other partner would wait in the ingest stream with no forwarder,
	// so it is left in the dead-letter stream.
	Partners map[string]bool
}

// ReplayMsgID is the Nats-Msg-Id of a replayed entry. It is fresh
// (the event's own id may still be in the duplicate window) and derived
// from the entry, so a re-run after an interruption publishes the same id
// and JetStream stores the event once.
func ReplayMsgID(stream string, seq uint64) string {
	return "replay-" + stream + "-" + strconv.FormatUint(seq, 10)
}

// decide runs an entry's checks and stages and returns the message to
// store in the ingest stream, or nil with the outcome when the entry
// stays. A sealed entry is opened first; one that cannot be opened stops
// the command (err) before anything changes for it.
func (r *Replayer) decide(ctx context.Context, e *Entry) (*nats.Msg, Result, error) {
	res := Result{Seq: e.Seq, ID: e.ID, Partner: e.Partner}
	if err := e.Open(r.Store.Keys); err != nil {
		return nil, res, err
	}
	env, err := e.Envelope()
	if err != nil {
		res.Outcome, res.Reason, res.Detail = StillRejected, bridge.ReasonMalformed, err.Error()
		return nil, res, nil
	}
	if r.Partners != nil && !r.Partners[env.Partner] {
		res.Outcome, res.Detail = Failed, fmt.Sprintf("partner %q is not in the configuration: no forwarder would take the event", env.Partner)
		return nil, res, nil
	}
	if e.Reason == bridge.ReasonTooLarge && len(env.Payload) == 0 {
		// A connector drops a body over its own max_message_bytes before
		// storing the entry: there is nothing to replay, and an empty
		// event must not reach the ERP in its place.
		res.Outcome, res.Reason, res.Detail = StillRejected, bridge.ReasonTooLarge, "the connector did not keep the oversized body"
		if r.DryRun {
			res.Outcome = WouldReject
		}
		return nil, res, nil
	}
	stages := r.Stages
	if e.FailedIn == bridge.FailedAtForward {
		stages = r.Stored
	}
	for _, st := range stages {
		err := st.Process(ctx, env)
		if err == nil {
			continue
		}
		if rej, ok := bridge.AsRejection(err); ok {
			res.Outcome, res.Reason, res.Detail = StillRejected, rej.Reason, rej.Detail
			if r.DryRun {
				res.Outcome = WouldReject
			}
			return nil, res, nil
		}
		res.Outcome, res.Detail = Failed, fmt.Sprintf("stage %s: %v", st.Name(), err)
		return nil, res, nil
	}
	if r.DryRun {
		res.Outcome = WouldReplay
		return nil, res, nil
	}
	topo := r.Store.Topology()
	// The forwarder counts attempts afresh from JetStream's deliveries.
	env.Attempt = 0
	msg := store.ToMsg(topo.IngestSubject(env.Partner), env)
	msg.Header.Set(bridge.HeaderMsgID, ReplayMsgID(topo.DeadLetterStream(), e.Seq))
	msg.Header.Set(bridge.HeaderOriginalID, env.ID)
	msg.Header.Set(bridge.HeaderReplayOf, strconv.FormatUint(e.Seq, 10))
	res.Outcome = Replayed
	return msg, res, nil
}

// Replay handles one entry: the chain (Stages or Stored), publish into the
// ingest stream, wait for the PubAck, record, and only then delete the
// entry. Run does the same for many entries, pipelined.
func (r *Replayer) Replay(ctx context.Context, e *Entry) (Result, error) {
	msg, res, err := r.decide(ctx, e)
	if err != nil {
		return res, err
	}
	if msg == nil {
		if res.Outcome == WouldReplay {
			return res, nil
		}
		return r.record(ctx, "replay", e, res)
	}
	if r.Limiter != nil {
		if err := r.Limiter.Wait(ctx); err != nil {
			return res, fmt.Errorf("replay %d: %w", e.Seq, err)
		}
	}
	topo := r.Store.Topology()
	ack, err := r.Store.JetStream().PublishMsg(ctx, msg, jetstream.WithExpectStream(topo.IngestStream()))
	if err != nil {
		res.Outcome, res.Detail = Failed, fmt.Sprintf("publish to ingest: %v", err)
		if errors.Is(err, context.Canceled) {
			return res, err
		}
		return r.record(ctx, "replay", e, res)
	}
	res.Duplicate = ack.Duplicate
	// Only now is the event safe in the ingest stream. It is recorded
	// before the entry is deleted: a run killed in between leaves the
	// entry, and the re-run stores nothing twice (same replay id) and
	// records nothing twice (a Recorder keys its record by entry).
	if res, err := r.record(ctx, "replay", e, res); err != nil {
		return res, err
	}
	if err := r.Store.Delete(ctx, e.Seq); err != nil {
		return res, err
	}
	return res, nil
}

// Run replays every entry matching f, pipelined (see Engine).
func (r *Replayer) Run(ctx context.Context, f Filter, eng Engine) (Summary, error) {
	eng.Store, eng.Action, eng.Recorder, eng.DryRun = r.Store, "replay", r.Recorder, r.DryRun
	eng.Limiter = r.Limiter
	eng.Decide = r.decide
	return eng.Run(ctx, f)
}

func (r *Replayer) record(ctx context.Context, action string, e *Entry, res Result) (Result, error) {
	if r.Recorder == nil || r.DryRun {
		return res, nil
	}
	if err := r.Recorder.Record(ctx, action, e, res); err != nil {
		return res, fmt.Errorf("audit %s of entry %d: %w", action, e.Seq, err)
	}
	return res, nil
}
