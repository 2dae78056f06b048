package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestHumanTypeMessages(t *testing.T) {
	cases := []struct{ in, want string }{
		{"cannot unmarshal !!str `30 seconds` into time.Duration", "`30 seconds` is not a duration: use a duration such as 30s"},
		{"cannot unmarshal !!int `30` into time.Duration", "`30` has no unit: use a duration such as 30s"},
		{"cannot unmarshal !!str `lots` into int", "`lots` is not a whole number"},
		{"cannot unmarshal !!str `lots` into int64", "`lots` is not a whole number"},
		{"cannot unmarshal !!str `half` into float64", "`half` is not a number"},
		{"cannot unmarshal !!str `yes please` into bool", "`yes please` is not a boolean: use true or false"},
		{"cannot unmarshal !!str `a` into []string", "`a` is not a list"},
		{"cannot unmarshal !!seq into config.Forward", "a list is not a mapping"},
		{"cannot unmarshal !!map into string", "a mapping is not a single value"},
		{"something else entirely", "something else entirely"},
	}
	for _, c := range cases {
		if got := humanType(c.in); !strings.HasPrefix(got, c.want) {
			t.Errorf("humanType(%q) = %q, want it to start with %q", c.in, got, c.want)
		}
	}
}

func TestUnknownFieldSuggestsNearest(t *testing.T) {
	rep := InspectBytes([]byte(validBase+"forwrd: {}\nlog: {levle: info}\nzzzzzzzz: 1\n"), InspectOptions{})
	got := rep.Errors.Error()
	for _, want := range []string{"forwrd: unknown field (did you mean forward?)", "log.levle: unknown field (did you mean level?)", "zzzzzzzz: unknown field\n"} {
		if !strings.Contains(got+"\n", want) {
			t.Errorf("errors lack %q:\n%s", want, got)
		}
	}
}

// A type error and an unknown field do not stop validation: the report
// still carries a decoded config and the value errors.
func TestInspectKeepsGoingPastDecodeErrors(t *testing.T) {
	doc := strings.Replace(validBase, "environment: test\n", "environment: test\ncolour: blue\nforward: {ack_wait: soon, batch_size: 0}\nlog: {level: loud}\n", 1)
	rep := InspectBytes([]byte(doc), InspectOptions{})
	if rep.Config == nil {
		t.Fatal("no config kept")
	}
	got := rep.Errors.Error()
	for _, want := range []string{"colour: unknown field", "forward.ack_wait: `soon` is not a duration", `log.level: "loud" is not one of`} {
		if !strings.Contains(got, want) {
			t.Errorf("errors lack %q:\n%s", want, got)
		}
	}
}

func TestInspectSkipFiles(t *testing.T) {
	doc := strings.Replace(validBase, "  store_dir: /tmp/x", "  store_dir: /tmp/x\n  credentials: /nonexistent/x.creds", 1)
	doc = strings.Replace(doc, "embedded: true", "embedded: false\n  url: nats://a:4222\n  durability: fsync", 1)
	if rep := InspectBytes([]byte(doc), InspectOptions{}); !strings.Contains(rep.Errors.Error(), "jetstream.credentials: /nonexistent/x.creds: no such file") {
		t.Errorf("missing credentials file not reported: %v", rep.Errors)
	}
	if rep := InspectBytes([]byte(doc), InspectOptions{SkipFiles: true}); rep.Err() != nil {
		t.Errorf("SkipFiles still failed: %v", rep.Errors)
	}
}

func TestRedacted(t *testing.T) {
	t.Setenv("H4_PW", "hunter2-secret")
	p := filepath.Join(t.TempDir(), "c.yaml")
	doc := strings.Replace(validBase, "url: nats://erp:4222", "url: nats://u:${H4_PW}@erp:4222,nats://v:${H4_PW}@erp2:4222", 1)
	doc += "    event_type: {subject_from_token: 2}\n"
	if err := os.WriteFile(p, []byte(doc), 0o600); err != nil {
		t.Fatal(err)
	}
	rep := Inspect(p, InspectOptions{})
	if rep.Err() != nil {
		t.Fatal(rep.Errors)
	}
	y, err := rep.Config.Redacted()
	if err != nil {
		t.Fatal(err)
	}
	out := string(y)
	if strings.Contains(out, "hunter2") || strings.Contains(out, "subject_from_token: REDACTED") {
		t.Errorf("password printed:\n%s", out)
	}
	for _, want := range []string{"nats://u:REDACTED@erp:4222,nats://v:REDACTED@erp2:4222", "durability: fsync", "ack_wait: 30s", "stream_prefix: DMZ"} {
		if !strings.Contains(out, want) {
			t.Errorf("effective config lacks %q:\n%s", want, out)
		}
	}
}

// FuzzInspectBytes: any document gets a report, never a panic, and a
// report without errors always carries a config.
func FuzzInspectBytes(f *testing.F) {
	f.Add([]byte(validBase))
	f.Add([]byte("environment: test\nforward: {ack_wait: 30 seconds, batch_size: many}\ncolour: blue\n"))
	f.Add([]byte("partners: [{name: a, inbound: {type: nats, options: {tls: {ca: /nonexistent}}}}]\n"))
	f.Add([]byte("jetstream: [1, 2]\nlog: {level: [x]}\n"))
	f.Add([]byte("{{{"))
	f.Fuzz(func(t *testing.T, doc []byte) {
		rep := InspectBytes(doc, InspectOptions{SkipFiles: true})
		if rep.Err() == nil && rep.Config == nil {
			t.Fatal("no errors and no config")
		}
		for _, e := range rep.Errors {
			if e.Msg == "" {
				t.Fatalf("empty message at %q", e.Path)
			}
		}
	})
}
