// Package forward is the bridge's last step: one forwarder per partner
// reads the partner's stored events on its own durable JetStream consumer,
// normalizes them and hands them to the ERP sink. An event is acknowledged
// only after the sink confirmed it; a failed one is redelivered by
// JetStream with backoff (retryPolicy) until its attempts are used up, and
// then dead-lettered. One partner's failures never stall another's flow.
//
// The ingest stream keeps limits retention rather than being a work
// queue: under sync_interval: always each work-queue deletion would be its
// own synchronous write, so the compactor purges a partner's confirmed
// events up to its consumer's ack floor in one write per purge interval.
package forward
