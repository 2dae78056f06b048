package bridge

import (
	"errors"
	"testing"

	"gopkg.in/yaml.v3"

	"github.com/dmzbridge/dmzbridge/bridge/config"
)

type nopSink struct{ Sink }

func TestRegistryBuild(t *testing.T) {
	r := NewRegistry()
	r.RegisterSource("good", func(*yaml.Node, SourceSpec) (Source, error) { return nil, errors.New("no source here") })
	r.RegisterSink("good", func(*yaml.Node, SinkSpec) (Sink, error) { return nopSink{}, nil })
	r.RegisterSink("bad", func(*yaml.Node, SinkSpec) (Sink, error) {
		return nil, config.FieldErrors{{Path: "url", Msg: "required"}}
	})
	tests := []struct {
		name    string
		build   func() (any, error)
		wantErr string
	}{
		{"unknown source", func() (any, error) {
			return r.NewSource("partners[0].inbound", config.Connector{Type: "mqtt"}, SourceSpec{})
		}, `partners[0].inbound.type: unknown inbound connector "mqtt" (known: [good])`},
		{"source factory error", func() (any, error) {
			return r.NewSource("partners[0].inbound", config.Connector{Type: "good"}, SourceSpec{})
		}, "partners[0].inbound.options: no source here"},
		{"unknown sink", func() (any, error) { return r.NewSink("erp", config.Connector{Type: "mqtt"}, SinkSpec{}) },
			`erp.type: unknown ERP sink "mqtt" (known: [bad good])`},
		{"sink option error", func() (any, error) { return r.NewSink("erp", config.Connector{Type: "bad"}, SinkSpec{}) },
			"erp.options.url: required"},
		{"sink built", func() (any, error) { return r.NewSink("erp", config.Connector{Type: "good"}, SinkSpec{}) }, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			v, err := tc.build()
			if tc.wantErr == "" {
				if err != nil || v == nil {
					t.Fatalf("got %v, %v; want a connector", v, err)
				}
				return
			}
			if err == nil || err.Error() != tc.wantErr {
				t.Fatalf("error %v, want %q", err, tc.wantErr)
			}
			if _, ok := err.(config.FieldErrors); !ok {
				t.Errorf("error is %T, want config.FieldErrors", err)
			}
		})
	}
}
