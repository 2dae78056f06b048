package config

import (
	"reflect"
	"strings"
	"testing"

	"github.com/dmzbridge/dmzbridge/bridge/jsontext"
)

// withPartnerYAML appends lines to bank-a's partner entry.
func withPartnerYAML(lines string) string { return validBase + lines }

func TestIdentitySettings(t *testing.T) {
	for _, c := range []struct {
		name     string
		yaml     string
		enabled  bool
		values   []string
		describe string
	}{
		{"default: not checked", "", false, nil, "identity not checked"},
		{"none", "    identity: none\n", false, nil, "identity not checked"},
		{"field and values", "    identity: {field: /partner, values: [P-0036, acme]}\n", true, []string{"P-0036", "acme"}, `identity /partner is one of "P-0036", "acme" when present`},
		{"values default to the partner's name", "    identity:\n      field: /meta/sender\n", true, []string{"bank-a"}, `identity /meta/sender is one of "bank-a" when present`},
		{"required", "    identity: {field: /p, values: [x], required: true}\n", true, []string{"x"}, `identity /p is one of "x" (required)`},
	} {
		t.Run(c.name, func(t *testing.T) {
			cfg, err := Parse([]byte(withPartnerYAML(c.yaml)))
			if err != nil {
				t.Fatal(err)
			}
			id := &cfg.Partners[0].Identity
			if id.Enabled() != c.enabled || !reflect.DeepEqual(id.Values, c.values) || id.Describe() != c.describe {
				t.Fatalf("enabled %v values %v %q, want %v %v %q", id.Enabled(), id.Values, id.Describe(), c.enabled, c.values, c.describe)
			}
		})
	}
}

func TestIntakeFieldErrors(t *testing.T) {
	for _, c := range []struct{ name, yaml, path, msg string }{
		{"pointer without a slash", "    identity: {field: partner}\n", "partners[0].identity.field", "must start with /"},
		{"bad pointer escape", "    identity: {field: /a~2b}\n", "partners[0].identity.field", "~ must be followed by 0 or 1"},
		{"values without a field", "    identity: {values: [x]}\n", "partners[0].identity.field", "required with values"},
		{"empty value", "    identity: {field: /p, values: [\"\"]}\n", "partners[0].identity.values[0]", "empty value"},
		{"unknown word", "    identity: off\n", "partners[0].identity", `"off" is not none or a mapping`},
		{"unknown field", "    identity: {field: /p, value: x}\n", "partners[0].identity.value", "unknown field"},
		{"negative limit", "    limits: {max_string_bytes: -1}\n", "partners[0].limits.max_string_bytes", "must not be negative"},
		{"depth above the ceiling", "    limits: {max_depth: 5000}\n", "partners[0].limits.max_depth", "above 1000"},
		{"global limit", "limits: {max_number_bytes: -3}\n", "limits.max_number_bytes", "must not be negative"},
		{"unknown limit", "limits: {max_keys: 3}\n", "limits.max_keys", "unknown field"},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, err := Parse([]byte(withPartnerYAML(c.yaml)))
			if err == nil || !strings.Contains(err.Error(), c.path) || !strings.Contains(err.Error(), c.msg) {
				t.Fatalf("err = %v, want %s: …%s…", err, c.path, c.msg)
			}
		})
	}
}

func TestLimitsEffective(t *testing.T) {
	cfg, err := Parse([]byte(withPartnerYAML("    limits: {max_depth: 10}\nlimits: {max_depth: 20, max_string_bytes: 1000}\n")))
	if err != nil {
		t.Fatal(err)
	}
	got := cfg.Partners[0].Limits.Effective(cfg.Limits)
	want := jsontext.Limits{MaxDepth: 10, MaxStringBytes: 1000, MaxNumberBytes: jsontext.DefaultMaxNumberBytes, MaxNameBytes: jsontext.DefaultMaxNameBytes}
	if got != want {
		t.Fatalf("effective %+v, want %+v", got, want)
	}
	if got := (Limits{}).Effective(Limits{}); got != jsontext.DefaultLimits {
		t.Fatalf("defaults %+v, want %+v", got, jsontext.DefaultLimits)
	}
}
