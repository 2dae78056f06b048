package telemetry

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
)

// Reload outcomes, the values of dmzbridge_reload_total{outcome}.
const (
	ReloadApplied = "applied"
	ReloadRefused = "refused"
)

// ReloadStatus is the last reload, the /status field last_reload.
type ReloadStatus struct {
	At      time.Time `json:"at"`
	Outcome string    `json:"outcome"`
	// Changes summarizes what was (or would have been) changed.
	Changes string `json:"changes,omitempty"`
	Error   string `json:"error,omitempty"`
}

// ReloadFunc re-reads and applies the configuration; who is the
// requester as the audit trail names it. It returns the outcome; a
// refused reload returns it with Error set and changes nothing.
type ReloadFunc func(ctx context.Context, who string) ReloadStatus

// reloads holds the reload instruments; created on first use so bridges
// that never reload export no series but the gauge.
type reloads struct {
	once    sync.Once
	counter metric.Int64Counter
	gauge   metric.Int64Gauge
	err     error
	mu      sync.Mutex
	last    *ReloadStatus
}

func (m *Metrics) reloadInstruments() *reloads {
	r := &m.reload
	r.once.Do(func() {
		meter := m.provider.Meter("github.com/dmzbridge/dmzbridge")
		r.counter, r.err = meter.Int64Counter("dmzbridge.reload",
			metric.WithDescription("Configuration reloads, by outcome (applied, refused)."))
		if r.err != nil {
			return
		}
		r.gauge, r.err = meter.Int64Gauge("dmzbridge.config.last_reload_success",
			metric.WithDescription("1 when the last configuration reload was applied, 0 when it was refused."))
	})
	return r
}

// Reloaded records a reload's outcome for /metrics and /status.
func (m *Metrics) Reloaded(st ReloadStatus) {
	r := m.reloadInstruments()
	r.mu.Lock()
	r.last = &st
	r.mu.Unlock()
	if r.err != nil {
		return
	}
	ctx := context.Background()
	r.counter.Add(ctx, 1, metric.WithAttributes(attribute.String("outcome", st.Outcome)))
	ok := int64(0)
	if st.Outcome == ReloadApplied {
		ok = 1
	}
	r.gauge.Record(ctx, ok)
}

// ConfigLoaded sets dmzbridge_config_last_reload_success to 1 for the
// configuration the bridge started with, as an alert on it expects.
func (m *Metrics) ConfigLoaded() {
	if r := m.reloadInstruments(); r.err == nil {
		r.gauge.Record(context.Background(), 1)
	}
}

// LastReload is the last reload's outcome, nil before the first.
func (m *Metrics) LastReload() *ReloadStatus {
	r := &m.reload
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.last == nil {
		return nil
	}
	st := *r.last
	return &st
}

// OperatorHeader names the person behind a `dmzbridge reload`.
const OperatorHeader = "X-Dmzbridge-Operator"

// reloadHandler serves POST /reload: 200 with the outcome when applied,
// 409 with the reason when refused.
func (a *Admin) reloadHandler(w http.ResponseWriter, r *http.Request) {
	if a.Reload == nil {
		writeJSON(w, http.StatusNotImplemented, ReloadStatus{At: time.Now().UTC(), Outcome: ReloadRefused, Error: "this bridge does not reload"})
		return
	}
	who := "admin " + r.RemoteAddr
	if op := strings.TrimSpace(r.Header.Get(OperatorHeader)); op != "" {
		who = fmt.Sprintf("%s (operator %s)", who, op)
	}
	st := a.Reload(r.Context(), who)
	code := http.StatusOK
	if st.Outcome != ReloadApplied {
		code = http.StatusConflict
	}
	writeJSON(w, code, st)
}
