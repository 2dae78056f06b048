// Package connkit holds what connectors share beyond their technology: the
// session loop that reconnects with backoff, the link state every source
// and sink reports, the redelivery count for brokers that keep none, and
// helpers for option defaults and validation. Connectors import it; it
// imports no connector.
package connkit

import (
	"log/slog"
	"slices"
	"strings"

	"github.com/dmzbridge/dmzbridge/bridge/config"
)

// Logger is log, or a logger that discards when the spec gave none.
func Logger(log *slog.Logger) *slog.Logger {
	if log == nil {
		return slog.New(slog.DiscardHandler)
	}
	return log
}

// Default sets *p to v when *p is the zero value: an option left out.
func Default[T comparable](p *T, v T) {
	var zero T
	if *p == zero {
		*p = v
	}
}

// OneOf reports field as an error unless value is one of allowed.
func OneOf(errs *config.FieldErrors, field, value string, allowed ...string) {
	if !slices.Contains(allowed, value) {
		errs.Add(field, "%q is not one of %s", value, strings.Join(allowed, ", "))
	}
}

// Fill is a sink's per-message result when the whole batch failed alike.
func Fill(n int, err error) []error {
	out := make([]error, n)
	for i := range out {
		out[i] = err
	}
	return out
}
