// Package bridge is the pipeline core: the envelope every event travels in,
// the seams connectors plug into (Source, Stage, Sink, Intake), the stable
// reason codes, the connector registry, and the pipeline that persists
// events in JetStream and forwards them to the ERP.
//
// An event goes through it in three steps. Intake (Pipeline.Submit) runs
// the stages in the source's goroutine and hands the event, or its
// dead-letter entry, to a Writer; the source's done callback fires only
// once JetStream holds the message, so a partner's broker never sees an
// acknowledgement for an event that could still be lost. Storage groups
// commits: under fsync and replicated the BatchWriter gathers each
// stream's messages (every partner's ingest subject together) into
// JetStream atomic batches, so one fsync covers a batch, and falls back to
// publishing message by message with the same Nats-Msg-Id when a batch
// fails, so a batch that was in fact committed is not stored twice.
// Forwarding runs one forwarder per partner on its own durable consumer,
// acknowledges an event only after the ERP sink confirmed it, and leaves
// retries to JetStream (NakWithDelay with exponential backoff and jitter),
// so a failing partner never holds up another.
//
// The ingest stream keeps limits retention instead of being a work queue:
// under sync_interval: always every work-queue deletion is its own
// synchronous write, while the compactor purges each partner's confirmed
// events up to its consumer's ack floor in one write every purge interval.
package bridge
