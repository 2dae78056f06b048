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

// ConnectorStater is StateReporter for connectors whose State method
// already returns a richer snapshot (the AMQP and Kafka sources, whose
// tests and health checks read it): the same link state under another
// name, so those callers keep their struct.
type ConnectorStater interface {
	ConnectorState() string
}

// StateOf is impl's link state, from ConnectorState or State when impl
// reports one. A connector that reports nothing counts as up: the bridge
// cannot tell, and calling it down would page someone for nothing.
func StateOf(impl any) string {
	switch r := impl.(type) {
	case ConnectorStater:
		return r.ConnectorState()
	case StateReporter:
		return r.State()
	}
	return StateUp
}

// ReportsState tells whether impl reports a link state of its own, for
// wrappers that otherwise derive one (the ERP sink from Ready()).
func ReportsState(impl any) bool {
	switch impl.(type) {
	case ConnectorStater, StateReporter:
		return true
	}
	return false
}

// CertReporter is an optional interface for connectors whose certificate
// files are not under a "tls" block of their options; the bridge reports
// the expiry of every file either way.
type CertReporter interface {
	CertFiles() []string
}
