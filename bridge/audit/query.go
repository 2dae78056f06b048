package audit

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/dmzbridge/dmzbridge/bridge/store"
)

// Filter selects records; zero fields match everything.
type Filter struct {
	Partner   string
	MessageID string
	Action    string
	Since     time.Time
	Until     time.Time
	// Limit stops after this many matches (0: no limit).
	Limit int
}

// Match reports whether r passes the filter.
func (f Filter) Match(r Record) bool {
	switch {
	case f.Partner != "" && r.Partner != f.Partner:
		return false
	case f.MessageID != "" && r.MessageID != f.MessageID:
		return false
	case f.Action != "" && r.Action != f.Action:
		return false
	case !f.Since.IsZero() && r.Time.Before(f.Since):
		return false
	case !f.Until.IsZero() && r.Time.After(f.Until):
		return false
	}
	return true
}

// untilSlack is how long after a record its batch may be stored.
const untilSlack = 24 * time.Hour

// Query reads the audit stream and returns matching records in stored
// order. A partner filter reads only that partner's subject; a since bound
// starts at that time (a batch is always stored after its records' times).
func Query(ctx context.Context, js jetstream.JetStream, topo store.Topology, f Filter) ([]Record, error) {
	occ := jetstream.OrderedConsumerConfig{}
	if f.Partner != "" {
		occ.FilterSubjects = []string{Subject(topo, f.Partner)}
	}
	if !f.Since.IsZero() {
		since := f.Since
		occ.DeliverPolicy = jetstream.DeliverByStartTimePolicy
		occ.OptStartTime = &since
	}
	cons, err := js.OrderedConsumer(ctx, Stream(topo), occ)
	if err != nil {
		return nil, fmt.Errorf("audit stream %s: %w", Stream(topo), err)
	}
	info, err := cons.Info(ctx)
	if err != nil {
		return nil, fmt.Errorf("audit consumer: %w", err)
	}
	var out []Record
	if info.NumPending == 0 {
		return out, nil
	}
	for {
		m, err := cons.Next(jetstream.FetchMaxWait(5 * time.Second))
		if err != nil {
			if errors.Is(err, jetstream.ErrMsgIteratorClosed) || ctx.Err() != nil {
				return out, ctx.Err()
			}
			return out, fmt.Errorf("read audit stream: %w", err)
		}
		sc := bufio.NewScanner(bytes.NewReader(m.Data()))
		sc.Buffer(make([]byte, 0, 64<<10), 8<<20)
		for sc.Scan() {
			var r Record
			if err := json.Unmarshal(sc.Bytes(), &r); err != nil {
				return out, fmt.Errorf("audit message on %s: %w", m.Subject(), err)
			}
			if f.Match(r) {
				out = append(out, r)
				if f.Limit > 0 && len(out) >= f.Limit {
					return out, nil
				}
			}
		}
		md, err := m.Metadata()
		if err != nil {
			return out, fmt.Errorf("audit message metadata: %w", err)
		}
		if md.NumPending == 0 {
			return out, nil
		}
		if !f.Until.IsZero() && md.Timestamp.After(f.Until.Add(untilSlack)) {
			// Batches are stored within seconds of their records; a day
			// past the bound nothing earlier can follow, even from a
			// writer that was cut off from JetStream for hours.
			return out, nil
		}
	}
}
