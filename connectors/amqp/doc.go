// Package amqp connects RabbitMQ (AMQP 0-9-1) to the bridge: the ERP sink
// with publisher confirms, and partners' dedicated exchanges as sources.
//
// A source consumes the partner's queue (quorum by default) with manual
// acknowledgement only. A delivery is acked after its event is stored in
// JetStream, nacked with requeue when it was not. Outcomes are acked in
// delivery order, with multiple set for the highest contiguous delivery
// tag, so one ack frame covers a stored batch; the prefetch window is the
// backpressure. After a connection or channel loss the source reconnects
// with jittered exponential backoff and re-declares (or, passive, only
// checks) its exchange, queue and bindings; its state feeds readiness and
// the connector_up metric. A message delivered max_deliveries times
// without being stored (counted by a quorum queue's x-delivery-count, by
// the source itself on a classic queue) is dead-lettered with its reason
// instead of being requeued for ever.
//
// The sink publishes persistent messages with the mandatory flag and
// waits for publisher confirms: an unroutable event comes back as a
// failure and is retried, never silently dropped.
package amqp
