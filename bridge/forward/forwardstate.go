package forward

import (
	"errors"
	"fmt"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/dmzbridge/dmzbridge/bridge"
)

// States holds the state of each partner's forwarder (its
// JetStream consumer), for /readyz, `dmzbridge status` and the
// dmzbridge_connector_up metric. A forwarder that cannot consume is a
// fault of the bridge's own side, not a partner's outage: while one is
// down, that partner's stored events wait and the bridge reports itself
// not ready.
type States struct {
	mu sync.Mutex
	m  map[string]forwarderState
}

type forwarderState struct {
	state string
	err   error
	since time.Time
}

// NewStates starts every partner's forwarder as connecting.
func NewStates(partners []string) *States {
	s := &States{m: map[string]forwarderState{}}
	now := time.Now()
	for _, p := range partners {
		s.m[p] = forwarderState{state: bridge.StateConnecting, since: now}
	}
	return s
}

func (s *States) set(partner, state string, err error) {
	if s == nil {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	cur, ok := s.m[partner]
	if ok && cur.state == state {
		cur.err = err
		s.m[partner] = cur
		return
	}
	s.m[partner] = forwarderState{state: state, err: err, since: time.Now()}
}

// State is partner's forwarder state (StateUp, StateDown or
// StateConnecting); an unknown partner is down.
func (s *States) State(partner string) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	if st, ok := s.m[partner]; ok {
		return st.state
	}
	return bridge.StateDown
}

// Reporter is partner's forwarder as a StateReporter, for the poller.
func (s *States) Reporter(partner string) bridge.StateReporter {
	return forwarderReporter{s: s, partner: partner}
}

type forwarderReporter struct {
	s       *States
	partner string
}

func (r forwarderReporter) State() string { return r.s.State(r.partner) }

// Err is nil when every forwarder consumes; otherwise it names each one
// that does not, since when and why.
func (s *States) Err() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	partners := make([]string, 0, len(s.m))
	for p := range s.m {
		partners = append(partners, p)
	}
	sort.Strings(partners)
	// One line, "; " between partners: it is shown in /readyz and in the
	// status table's readiness line.
	var down []string
	for _, p := range partners {
		st := s.m[p]
		if st.state == bridge.StateUp {
			continue
		}
		msg := fmt.Sprintf("forwarder %s %s since %s", p, st.state, st.since.UTC().Format(time.RFC3339))
		if st.err != nil {
			msg += ": " + st.err.Error()
		}
		down = append(down, msg)
	}
	if len(down) == 0 {
		return nil
	}
	return errors.New(strings.Join(down, "; "))
}

// Forget drops a removed partner, so it no longer counts for readiness.
func (s *States) Forget(partner string) {
	if s == nil {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.m, partner)
}

// Starting marks a partner added at runtime as connecting, so readiness
// waits for its forwarder as it does at startup.
func (s *States) Starting(partner string) { s.set(partner, bridge.StateConnecting, nil) }
