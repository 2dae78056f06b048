// Package bridge is the vocabulary every room of the bridge and every
// connector shares: the Envelope an event travels in and its headers, the
// seams connectors and stages plug into (Source, Stage, Sink, Intake,
// Normalizer), the stable reason codes and Rejection, the connector
// Registry, the state and observer interfaces, and the one backoff
// (Backoff, Retry, Sleep) that reconnect loops and the forwarder share.
//
// The machinery lives in one room per step of the flow:
//
//	intake   Pipeline.Submit: stages, then the event (or its dead letter) to a store writer
//	store    JetStream: connection, streams, codec, writers (group commit), sealed dead letters
//	forward  one forwarder per partner: ERP sink, retry, dead-lettering, compaction
//	dlq      operators' view of the dead-letter stream: list, replay, purge
package bridge
