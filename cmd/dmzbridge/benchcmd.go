package main

import (
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/dmzbridge/dmzbridge/bridge/bench"
)

func newBenchCmd() *cobra.Command {
	o := bench.Options{}
	var modes string
	cmd := &cobra.Command{
		Use:   "bench",
		Short: "Measure the full pipeline against raw JetStream, per durability mode",
		Long: `Run N partners × M events of about --size bytes through the whole bridge
on this machine: partner NATS JetStream stream in, validation and masking
(order.created with a masking policy), the embedded JetStream file store,
the forwarder, and a NATS ERP sink. The same run measures, on an embedded
server with the same durability, the four JetStream operations every event
needs — a consume with one ack per message from a partner-like stream, a
store into the ingest stream (atomic batches of 1000 under fsync,
asynchronous publishes under relaxed), a consume from the ingest stream,
and an asynchronous publish to the ERP (on a server of its own with
JetStream's default sync) — and prints the composed limit
L = 1/Σ(1/r_i) and the bridge's ratio to it. With --partner-kind amqp the
partners publish (with confirms) to exchanges of their own on RabbitMQ,
the bridge consumes quorum queues, and the partner leg of L is RabbitMQ's
own consume rate (one ack each) on a quorum queue.

CPU time and peak RSS are the bridge's process alone: the partners' NATS
server and publishers and the ERP's NATS server and counting subscriber
run in a child process, as they would on other machines, and its CPU
time is printed apart. The two processes share this machine's
cores, so the rate is what the bridge reaches next to them.`,
		Example: `  dmzbridge bench
  dmzbridge bench --partners 4 --events 25000 --durability fsync,relaxed --json
  dmzbridge bench --durability fsync --backlog 1000000`,
		Args: usageArgs(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, _ []string) error {
			for _, m := range strings.Split(modes, ",") {
				o.Modes = append(o.Modes, strings.TrimSpace(m))
			}
			if err := o.Validate(); err != nil {
				return usageError{err}
			}
			return bench.Run(cmd.Context(), cmd.OutOrStdout(), cmd.ErrOrStderr(), o)
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.PartnerKind, "partner-kind", bench.KindNATS, "partners' transport: nats (a JetStream stream) or amqp (quorum queues on --amqp-url)")
	f.StringVar(&o.AMQPURL, "amqp-url", bench.DefaultAMQPURL, "RabbitMQ for --partner-kind amqp")
	f.IntVar(&o.Partners, "partners", 4, "partners, each with its own subject and consumer")
	f.IntVar(&o.Events, "events", 25000, "events per partner")
	f.IntVar(&o.Size, "size", 1024, "approximate event size in bytes")
	f.StringVar(&modes, "durability", "fsync,relaxed", "durability modes to run, comma-separated")
	f.BoolVar(&o.JSON, "json", false, "print results as JSON")
	f.StringVar(&o.Dir, "dir", "", "directory for the stores (default: a temporary directory, removed afterwards)")
	f.DurationVar(&o.HalfFor, "half-rate-for", 5*time.Second, "how long to run at half the maximum rate for latency (0 skips)")
	f.IntVar(&o.Backlog, "backlog", 0, "also measure peak RSS while this many events wait in JetStream with the ERP down")
	f.IntVar(&o.RawAsync, "raw-async-events", 20000, "events for each raw asynchronous figure (publish and consume legs)")
	f.StringVar(&o.CPUProfile, "cpuprofile", "", "write a CPU profile of each mode's pipeline run (not the raw reference) to this file; with several modes, the mode goes before the extension")
	f.StringVar(&o.MemProfile, "memprofile", "", "write a heap profile to this file when the backlog (or, without one, the last run) peaks")
	return cmd
}

// newBenchBrokersCmd is the child process of bench: the partners' and
// the ERP's servers, apart from the bridge's process.
func newBenchBrokersCmd() *cobra.Command {
	var o bench.BrokersOptions
	cmd := &cobra.Command{
		Use:    "bench-brokers",
		Short:  "Partner and ERP NATS servers for dmzbridge bench (internal)",
		Hidden: true,
		Args:   usageArgs(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, _ []string) error {
			return bench.ServeBrokers(cmd.InOrStdin(), cmd.OutOrStdout(), o)
		},
	}
	cmd.Flags().StringVar(&o.Dir, "dir", "", "store directory of the partner's JetStream")
	cmd.Flags().StringVar(&o.PartnerKind, "partner-kind", bench.KindNATS, "partners' transport")
	cmd.Flags().StringVar(&o.AMQPURL, "amqp-url", bench.DefaultAMQPURL, "RabbitMQ for amqp partners")
	cmd.Flags().StringVar(&o.AMQPPrefix, "amqp-prefix", "dmzbench", "names of the run's exchanges and queues")
	_ = cmd.MarkFlagRequired("dir")
	return cmd
}
