package bridge

// Connector states reported by connectors that implement StateReporter.
const (
	StateUp         = "up"
	StateDown       = "down"
	StateConnecting = "connecting"
)

// StateReporter is an optional interface for sources and sinks: the
// connector's current link state, shown in metrics, /readyz and status.
type StateReporter interface {
	State() string
}

// StateOf is impl's link state when impl reports one. A connector that
// reports nothing counts as up: the bridge cannot tell, and calling it
// down would page someone for nothing.
func StateOf(impl any) string {
	if r, ok := impl.(StateReporter); ok {
		return r.State()
	}
	return StateUp
}

// ReportsState tells whether impl reports a link state of its own, for
// wrappers that otherwise derive one (the ERP sink from Ready()).
func ReportsState(impl any) bool {
	_, ok := impl.(StateReporter)
	return ok
}

// CertReporter is an optional interface for connectors whose certificate
// files are not under a "tls" block of their options; the bridge reports
// the expiry of every file either way.
type CertReporter interface {
	CertFiles() []string
}
