package config

import (
	"strings"
	"testing"
	"time"
)

const retryBase = `environment: test
jetstream: {embedded: true, store_dir: /tmp/x}
erp: {type: nats, options: {url: "nats://erp:4222", subject: erp.events}}
`

func TestRetryInheritance(t *testing.T) {
	cfg, err := Parse([]byte(retryBase + `forward:
  retry_delay: 2s
  retry: {max_attempts: 7}
partners:
  - name: bank-a
    inbound: {type: nats}
  - name: dealer-c
    retry: {max_delay: 30s, initial_delay: 500ms}
    inbound: {type: nats}
  - name: forever
    retry: {max_attempts: -1}
    inbound: {type: nats}
`))
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		partner string
		want    Retry
	}{
		{"bank-a", Retry{InitialDelay: 2 * time.Second, MaxDelay: DefaultRetryMaxDelay, MaxAttempts: 7}},
		{"dealer-c", Retry{InitialDelay: 500 * time.Millisecond, MaxDelay: 30 * time.Second, MaxAttempts: 7}},
		{"forever", Retry{InitialDelay: 2 * time.Second, MaxDelay: DefaultRetryMaxDelay, MaxAttempts: -1}},
		{"unknown", Retry{InitialDelay: 2 * time.Second, MaxDelay: DefaultRetryMaxDelay, MaxAttempts: 7}},
	}
	for _, tc := range cases {
		if got := cfg.RetryFor(tc.partner); got != tc.want {
			t.Errorf("%s: %+v, want %+v", tc.partner, got, tc.want)
		}
	}
	def, err := Parse([]byte(retryBase + "partners: [{name: p, inbound: {type: nats}}]\n"))
	if err != nil {
		t.Fatal(err)
	}
	if got, want := def.RetryFor("p"), (Retry{InitialDelay: time.Second, MaxDelay: 5 * time.Minute, MaxAttempts: 20}); got != want {
		t.Errorf("defaults: %+v, want %+v", got, want)
	}
}

func TestRetryValidation(t *testing.T) {
	cases := []struct{ yaml, want string }{
		{"forward: {retry: {max_attempts: -2}}\npartners: [{name: p, inbound: {type: nats}}]\n", "forward.retry.max_attempts"},
		{"forward: {retry: {max_delay: -1s}}\npartners: [{name: p, inbound: {type: nats}}]\n", "forward.retry.max_delay: must not be negative"},
		{"partners: [{name: p, retry: {initial_delay: 10s, max_delay: 1s}, inbound: {type: nats}}]\n", "partners[0].retry.max_delay: 1s is below the initial delay 10s"},
		{"partners: [{name: p, retry: {colour: red}, inbound: {type: nats}}]\n", "partners[0].retry.colour"},
	}
	for _, tc := range cases {
		_, err := Parse([]byte(retryBase + tc.yaml))
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: error %v, want it to mention %q", tc.yaml, err, tc.want)
		}
	}
}
