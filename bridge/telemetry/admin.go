package telemetry

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"sort"
	"strings"
	"time"
)

// Check is one readiness condition.
type Check struct {
	Name string
	// Fn returns nil when the condition holds.
	Fn func(ctx context.Context) error
}

// Readiness is the body of /readyz.
type Readiness struct {
	Ready      bool              `json:"ready"`
	Checks     map[string]string `json:"checks"`
	Connectors []ConnectorState  `json:"connectors"`
}

// PartnerStatus is one row of `dmzbridge status`.
type PartnerStatus struct {
	Partner     string  `json:"partner"`
	Connector   string  `json:"connector"`
	State       string  `json:"state"`
	Rate        float64 `json:"rate_per_second"`
	Backlog     int64   `json:"backlog"`
	DeadLetters int64   `json:"dead_letters"`
	// OldestSeconds is how long the oldest event not yet confirmed by the
	// ERP has waited (0 when none waits).
	OldestSeconds float64    `json:"oldest_unconfirmed_seconds"`
	CertExpiry    *time.Time `json:"nearest_cert_expiry,omitempty"`
	// Forwarder is the state of the partner's forwarder to the ERP (its
	// JetStream consumer); empty when not reported.
	Forwarder string `json:"forwarder,omitempty"`
}

// RoleForwarder is the role of a partner's forwarder among the polled
// connectors: its state shows in the partner's status row and in
// dmzbridge_connector_up{role="forwarder"}.
const RoleForwarder = "forwarder"

// Status is the body of /status.
type Status struct {
	At time.Time `json:"at"`
	// Durability is the JetStream durability mode (fsync, replicated,
	// relaxed): what a partner's acknowledgement promises.
	Durability string           `json:"durability"`
	Ready      Readiness        `json:"readiness"`
	Partners   []PartnerStatus  `json:"partners"`
	ERP        []ConnectorState `json:"erp"`
	Certs      []CertExpiry     `json:"certificates"`
	Store      StoreStatus      `json:"store"`
	// LastReload is the last configuration reload; absent before one.
	LastReload *ReloadStatus `json:"last_reload,omitempty"`
}

// StoreStatus is how full the JetStream store is.
type StoreStatus struct {
	Streams []StreamUsage `json:"streams"`
	Account *AccountUsage `json:"account,omitempty"`
}

// Admin serves the operators' endpoints: /healthz (the process is alive),
// /readyz (JetStream and the ERP sink reachable; connector states listed),
// /metrics (Prometheus) and /status (JSON for `dmzbridge status`).
type Admin struct {
	Metrics *Metrics
	Checks  []Check
	Log     *slog.Logger
	// Reload serves POST /reload; nil answers that reload is not offered.
	Reload ReloadFunc
}

// Readiness runs the checks. Partner connectors are listed but do not make
// the bridge unready: a partner's outage must not take the bridge (and the
// other partners' flows) out of service.
func (a *Admin) Readiness(ctx context.Context) Readiness {
	r := Readiness{Ready: true, Checks: map[string]string{}}
	for _, c := range a.Checks {
		cctx, cancel := context.WithTimeout(ctx, 3*time.Second)
		err := c.Fn(cctx)
		cancel()
		if err != nil {
			r.Ready = false
			r.Checks[c.Name] = err.Error()
			continue
		}
		r.Checks[c.Name] = "ok"
	}
	r.Connectors = a.Metrics.Gauges().Connectors
	return r
}

// StatusReport assembles the per-partner view.
func (a *Admin) StatusReport(ctx context.Context) Status {
	g := a.Metrics.Gauges()
	st := Status{At: g.At, Durability: a.Metrics.Durability(), Ready: a.Readiness(ctx), Certs: g.Certificates,
		Store: StoreStatus{Streams: g.Streams, Account: g.Account}, LastReload: a.Metrics.LastReload()}
	forwarders := map[string]string{}
	for _, c := range g.Connectors {
		if c.Role == RoleForwarder {
			forwarders[c.Partner] = c.State
		}
	}
	for _, c := range g.Connectors {
		if c.Role == RoleForwarder {
			continue
		}
		if c.Role != "inbound" {
			st.ERP = append(st.ERP, c)
			continue
		}
		ps := PartnerStatus{Partner: c.Partner, Connector: c.Connector, State: c.State,
			Rate: g.Rate[c.Partner], Backlog: g.Backlog[c.Partner], DeadLetters: g.DeadLetters[c.Partner],
			OldestSeconds: g.OldestAge[c.Partner].Seconds(), Forwarder: forwarders[c.Partner]}
		for _, ce := range g.Certificates {
			if ce.Err == "" && ce.Owner == "partner:"+c.Partner && (ps.CertExpiry == nil || ce.NotAfter.Before(*ps.CertExpiry)) {
				na := ce.NotAfter
				ps.CertExpiry = &na
			}
		}
		st.Partners = append(st.Partners, ps)
	}
	sort.Slice(st.Partners, func(i, j int) bool { return st.Partners[i].Partner < st.Partners[j].Partner })
	return st
}

// Handler is the admin mux.
func (a *Admin) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		fmt.Fprintln(w, "ok")
	})
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, r *http.Request) {
		rd := a.Readiness(r.Context())
		code := http.StatusOK
		if !rd.Ready {
			code = http.StatusServiceUnavailable
		}
		writeJSON(w, code, rd)
	})
	mux.Handle("GET /metrics", a.Metrics.Handler())
	mux.HandleFunc("POST /reload", a.reloadHandler)
	mux.HandleFunc("GET /status", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, a.StatusReport(r.Context()))
	})
	return mux
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	_ = enc.Encode(v)
}

// Serve listens on addr until ctx ends. It returns once listening, with
// the bound address; errors after that are logged.
func (a *Admin) Serve(ctx context.Context, addr string) (string, func(), error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return "", nil, fmt.Errorf("admin.listen %s: %w", addr, err)
	}
	if host, _, _ := net.SplitHostPort(addr); a.Log != nil && !isLoopback(host) {
		a.Log.Warn("admin listener is not on loopback; protect it with a network policy", "listen", addr)
	}
	srv := &http.Server{Handler: a.Handler(), ReadHeaderTimeout: 5 * time.Second}
	done := make(chan struct{})
	go func() {
		defer close(done)
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) && a.Log != nil {
			a.Log.Error("admin listener stopped", "err", err)
		}
	}()
	stop := func() {
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = srv.Shutdown(sctx)
		<-done
	}
	return ln.Addr().String(), stop, nil
}

func isLoopback(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}
