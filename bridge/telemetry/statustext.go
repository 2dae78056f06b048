package telemetry

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"sort"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/dmzbridge/dmzbridge/bridge"
)

// maxStatusBytes bounds what is read from the admin listener: a status
// report is a few KB, anything far larger is not one.
const maxStatusBytes = 4 << 20

// AdminURLError says the admin listener's URL itself is unusable: the
// caller's input is to blame, not the bridge.
type AdminURLError struct{ error }

// FetchStatus reads and decodes GET base/status from a bridge's admin
// listener; raw is the body as sent.
func FetchStatus(ctx context.Context, base string) (Status, []byte, error) {
	var st Status
	url := base + "/status"
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return st, nil, AdminURLError{fmt.Errorf("admin URL %q: %w", base, err)}
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return st, nil, fmt.Errorf("bridge not reachable at %s (is dmzbridge serve running, and is this its admin.listen?): %w", base, err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, maxStatusBytes))
	if err != nil {
		return st, nil, fmt.Errorf("read %s: %w", url, err)
	}
	if resp.StatusCode != http.StatusOK {
		return st, nil, fmt.Errorf("GET %s: %s: %.200s", url, resp.Status, strings.TrimSpace(string(raw)))
	}
	if err := json.Unmarshal(raw, &st); err != nil {
		return st, nil, fmt.Errorf("%s is not a dmzbridge admin listener: %w", base, err)
	}
	if st.Partners == nil && st.Ready.Checks == nil && st.At.IsZero() {
		return st, nil, fmt.Errorf("%s is not a dmzbridge admin listener: no status in %s", base, url)
	}
	return st, raw, nil
}

// WriteStatus prints the report for an operator, with ages and expiries
// relative to now: the bridge-wide lines first (is it the ERP or a
// partner?), then a row per partner, then every certificate.
func WriteStatus(w io.Writer, st Status, now time.Time) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintf(tw, "bridge:\t%s\n", readinessLine(st.Ready))
	fmt.Fprintf(tw, "durability:\t%s\n", orDash(st.Durability))
	measured := "never (the bridge has not polled yet)"
	if !st.At.IsZero() {
		measured = fmt.Sprintf("%s (%s ago)", st.At.UTC().Format(time.RFC3339), roundAge(now.Sub(st.At)))
	}
	fmt.Fprintf(tw, "measured:\t%s\n", measured)
	if line := storeLine(st.Store); line != "" {
		fmt.Fprintf(tw, "store:\t%s\n", line)
	}
	if err := tw.Flush(); err != nil {
		return fmt.Errorf("write status: %w", err)
	}

	fmt.Fprintln(w)
	tw = tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "PARTNER\tCONNECTOR\tSTATE\tRATE/S\tBACKLOG\tOLDEST\tDEAD LETTERS\tNEAREST CERT EXPIRY")
	for _, p := range st.Partners {
		expiry := "-"
		if p.CertExpiry != nil {
			expiry = expiryText(*p.CertExpiry, now)
		}
		oldest := "-"
		if p.OldestSeconds > 0 {
			oldest = roundAge(time.Duration(p.OldestSeconds * float64(time.Second)))
		}
		state := p.State
		if p.Forwarder != "" && p.Forwarder != bridge.StateUp {
			// Events are taken in but wait in JetStream.
			state += ", forwarder " + p.Forwarder
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%.1f\t%d\t%s\t%d\t%s\n", p.Partner, p.Connector, state, p.Rate, p.Backlog, oldest, p.DeadLetters, expiry)
	}
	if len(st.Partners) == 0 {
		fmt.Fprintln(tw, "(no partners)")
	}
	for _, e := range st.ERP {
		fmt.Fprintf(tw, "ERP\t%s\t%s\n", e.Connector, e.State)
	}
	if err := tw.Flush(); err != nil {
		return fmt.Errorf("write status: %w", err)
	}

	if len(st.Certs) > 0 {
		fmt.Fprintln(w)
		tw = tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "CERTIFICATE\tOWNER\tEXPIRES")
		for _, c := range st.Certs {
			exp := "UNREADABLE: " + c.Err
			if c.Err == "" {
				exp = expiryText(c.NotAfter, now)
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\n", c.File, c.Owner, exp)
		}
		if err := tw.Flush(); err != nil {
			return fmt.Errorf("write status: %w", err)
		}
	}
	return nil
}

func readinessLine(r Readiness) string {
	names := make([]string, 0, len(r.Checks))
	for n := range r.Checks {
		names = append(names, n)
	}
	sort.Strings(names)
	parts := make([]string, len(names))
	for i, n := range names {
		parts[i] = n + ": " + r.Checks[n]
	}
	state := "NOT READY"
	if r.Ready {
		state = "ready"
	}
	if len(parts) == 0 {
		return state
	}
	return state + " (" + strings.Join(parts, ", ") + ")"
}

// expiryText is a date plus how far away it is, so a certificate about to
// expire stands out without arithmetic.
func expiryText(t, now time.Time) string {
	d := t.Sub(now)
	if d < 0 {
		return fmt.Sprintf("%s (EXPIRED %s ago)", t.UTC().Format(time.DateOnly), roundAge(-d))
	}
	return fmt.Sprintf("%s (in %s)", t.UTC().Format(time.DateOnly), roundAge(d))
}

// storeLine says how full each stream and the account are: the share of
// the limit where there is one, the bytes used where there is none.
func storeLine(s StoreStatus) string {
	var parts []string
	for _, u := range s.Streams {
		parts = append(parts, u.Stream+" "+usage(u.Bytes, u.MaxBytes))
	}
	if a := s.Account; a != nil {
		parts = append(parts, "account "+usage(a.Bytes, a.Limit))
	}
	return strings.Join(parts, ", ")
}

func usage(used uint64, limit int64) string {
	if limit <= 0 {
		return byteSize(used) + " (no limit)"
	}
	return fmt.Sprintf("%.0f%% of %s", 100*float64(used)/float64(limit), byteSize(uint64(limit)))
}

// byteSize prints bytes in binary units, one decimal.
func byteSize(n uint64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	div, exp := uint64(unit), 0
	for m := n / unit; m >= unit; m /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f %ciB", float64(n)/float64(div), "KMGTPE"[exp])
}

// roundAge prints a duration at the precision an operator needs: whole
// days past two days, hours past two hours, minutes past two minutes.
func roundAge(d time.Duration) string {
	switch {
	case d >= 48*time.Hour:
		return fmt.Sprintf("%dd", int(d/(24*time.Hour)))
	case d >= 2*time.Hour:
		return fmt.Sprintf("%dh", int(d/time.Hour))
	case d >= 2*time.Minute:
		return fmt.Sprintf("%dm", int(d/time.Minute))
	case d < 0:
		// The bridge's clock is ahead of this one.
		return "0s"
	default:
		return fmt.Sprintf("%ds", int(d.Round(time.Second)/time.Second))
	}
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// RequestReload asks the bridge behind the admin listener at base to
// reload (POST /reload) and returns its answer. An error means no reload
// outcome was read; a refused reload is an outcome, not an error.
func RequestReload(ctx context.Context, base, operator string, timeout time.Duration) (ReloadStatus, error) {
	var st ReloadStatus
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, base+"/reload", nil)
	if err != nil {
		return st, fmt.Errorf("admin URL %q: %w", base, err)
	}
	req.Header.Set(OperatorHeader, operator)
	client := &http.Client{Timeout: timeout}
	resp, err := client.Do(req)
	if err != nil {
		return st, fmt.Errorf("bridge not reachable at %s (is dmzbridge serve running, and is this its admin.listen?): %w", base, err)
	}
	defer resp.Body.Close()
	if err := json.NewDecoder(io.LimitReader(resp.Body, maxStatusBytes)).Decode(&st); err != nil || st.Outcome == "" {
		return st, fmt.Errorf("%s answered %s without a reload outcome; is it a dmzbridge admin listener of this version?", base, resp.Status)
	}
	return st, nil
}
