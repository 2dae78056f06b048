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

// CertReporter is an optional interface for connectors whose certificate
// files are not under a "tls" block of their options; the bridge reports
// the expiry of every file either way.
type CertReporter interface {
	CertFiles() []string
}
