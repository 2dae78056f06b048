// Package bench measures the whole bridge on this machine against the raw
// JetStream operations every event needs, in the same run: partners'
// events in, validation, masking, the durable store, the forwarder and
// the ERP sink, beside the composed limit L of the four raw legs.
// The partners' and the ERP's servers run in a child process
// (ServeBrokers), so CPU time and peak RSS are the bridge's alone.
package bench
