package bridge

import (
	"fmt"
	"log/slog"
	"sort"

	"gopkg.in/yaml.v3"

	"github.com/dmzbridge/dmzbridge/bridge/config"
)

// SourceSpec is what a source factory learns about the partner it serves.
type SourceSpec struct {
	Partner     string
	Environment string
	Logger      *slog.Logger
	// StoreBatch is the most events one group commit stores (0: events are
	// stored one at a time). A source whose deliveries are acknowledged
	// only after their commit sizes its default window from it, so the
	// window does not cap the batch.
	StoreBatch int
}

// Describer is implemented by a source that can say, in a few words,
// the effective settings an operator should see in config check.
type Describer interface {
	Describe() string
}

// SinkSpec is what a sink factory learns about the bridge.
type SinkSpec struct {
	Environment string
	Logger      *slog.Logger
}

// SourceFactory decodes a connector's options and builds the source. It
// must not connect: config check calls it to validate options. Option
// errors are config.FieldErrors relative to the options node.
type SourceFactory func(options *yaml.Node, spec SourceSpec) (Source, error)

// SinkFactory is SourceFactory for the ERP sink.
type SinkFactory func(options *yaml.Node, spec SinkSpec) (Sink, error)

// Registry maps connector type names to factories. cmd builds one and each
// connector package registers itself into it, so bridge never imports a
// connector.
type Registry struct {
	sources map[string]SourceFactory
	sinks   map[string]SinkFactory
}

// NewRegistry returns an empty registry.
// defaultRegistry holds the connectors linked into the binary: each
// connector package adds itself when it is imported, so bridge never
// imports a connector and the binary chooses which it ships.
var defaultRegistry = NewRegistry()

// Default is the registry of the connectors linked into this binary.
func Default() *Registry { return defaultRegistry }

func NewRegistry() *Registry {
	return &Registry{sources: map[string]SourceFactory{}, sinks: map[string]SinkFactory{}}
}

// RegisterSource adds an inbound connector type.
func (r *Registry) RegisterSource(name string, f SourceFactory) { r.sources[name] = f }

// RegisterSink adds an ERP sink type.
func (r *Registry) RegisterSink(name string, f SinkFactory) { r.sinks[name] = f }

// SourceTypes lists the registered inbound connector types.
func (r *Registry) SourceTypes() []string { return sortedKeys(r.sources) }

// SinkTypes lists the registered sink types.
func (r *Registry) SinkTypes() []string { return sortedKeys(r.sinks) }

// NewSource builds a source; errors are located under path.
func (r *Registry) NewSource(path string, c config.Connector, spec SourceSpec) (Source, error) {
	return build(r.sources, "inbound connector", path, c, spec)
}

// NewSink builds the ERP sink; errors are located under path.
func (r *Registry) NewSink(path string, c config.Connector, spec SinkSpec) (Sink, error) {
	return build(r.sinks, "ERP sink", path, c, spec)
}

// build runs the factory registered for c.Type; kind names the connector
// in the error when there is none.
func build[S, T any, F ~func(*yaml.Node, S) (T, error)](factories map[string]F, kind, path string, c config.Connector, spec S) (T, error) {
	var zero T
	f, ok := factories[c.Type]
	if !ok {
		return zero, config.FieldErrors{{Path: path + ".type", Msg: fmt.Sprintf("unknown %s %q (known: %v)", kind, c.Type, sortedKeys(factories))}}
	}
	v, err := f(&c.Options, spec)
	if err != nil {
		var errs config.FieldErrors
		errs.Merge(path+".options", err)
		return zero, errs
	}
	return v, nil
}

func sortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
