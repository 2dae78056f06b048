// Package intake is the bridge's first step and the assembly of the flow:
// Pipeline implements bridge.Intake for the sources. Submit runs the
// stages in the source's goroutine and hands the event, or its dead-letter
// entry, to a store writer; the source's done callback fires only once
// JetStream holds the message, so a partner's broker never sees an
// acknowledgement for an event that could still be lost. Run starts the
// partners' forwarders (package forward) and the sources, and drains them
// in order at shutdown.
package intake
