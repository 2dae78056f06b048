package dlq

import (
	"encoding/json"
	"fmt"
	"io"
	"strconv"
	"text/tabwriter"
	"time"
)

// ParseWhen reads a --since/--until value: an RFC 3339 time, a date, or a
// duration meaning that long before now. Empty is the zero time (no bound).
func ParseWhen(s string, now time.Time) (time.Time, error) {
	if s == "" {
		return time.Time{}, nil
	}
	if t, err := time.Parse(time.RFC3339Nano, s); err == nil {
		return t, nil
	}
	if t, err := time.Parse("2006-01-02", s); err == nil {
		return t, nil
	}
	if d, err := time.ParseDuration(s); err == nil && d >= 0 {
		return now.Add(-d), nil
	}
	return time.Time{}, fmt.Errorf("%q is neither an RFC 3339 time, a date (2006-01-02) nor a duration (24h)", s)
}

func fmtTime(t time.Time) string {
	if t.IsZero() {
		return "-"
	}
	return t.UTC().Format(time.RFC3339)
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func writeJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

// WriteList prints entries (without payloads) as a table with a count, or
// as a JSON array. Error details and headers can quote offending values,
// so they are masked as in WriteShow.
func WriteList(w io.Writer, entries []*Entry, asJSON bool) error {
	if asJSON {
		if entries == nil {
			entries = []*Entry{}
		}
		m := Display{}
		for _, e := range entries {
			e.Error = m.Text(e.Error, false)
			for _, h := range m.Headers(e.Headers, false) {
				e.Headers[h[0]] = h[1]
			}
		}
		return writeJSON(w, entries)
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "SEQ\tLAST FAILURE\tPARTNER\tTYPE\tREASON\tATTEMPTS\tID")
	for _, e := range entries {
		fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s\t%d\t%s\n", e.Seq, fmtTime(e.Time()), orDash(e.Partner), orDash(e.EventType), orDash(e.Reason), e.Attempts, e.ID)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	_, err := fmt.Fprintf(w, "%d entries\n", len(entries))
	return err
}

// showView is `dlq show --json`.
type showView struct {
	*Entry
	Masked  bool            `json:"masked"`
	Payload json.RawMessage `json:"payload,omitempty"`
	// PayloadText holds a payload that is not JSON (only with reveal).
	PayloadText string `json:"payload_text,omitempty"`
}

// WriteShow prints one opened entry with its headers and payload, masked
// by m unless reveal, as text or JSON.
func WriteShow(w io.Writer, e *Entry, m Display, reveal, asJSON bool) error {
	payload, shown := m.Payload(e.Partner, e.EventType, e.Payload, reveal)
	e.Error = m.Text(e.Error, reveal)
	hdrs := m.Headers(e.Headers, reveal)
	for _, h := range hdrs {
		e.Headers[h[0]] = h[1]
	}
	if asJSON {
		v := showView{Entry: e, Masked: !reveal}
		if shown && json.Valid([]byte(payload)) {
			v.Payload = json.RawMessage(payload)
		} else if shown {
			v.PayloadText = payload
		}
		return writeJSON(w, v)
	}
	tw := tabwriter.NewWriter(w, 0, 0, 1, ' ', 0)
	for _, kv := range [][2]string{
		{"seq", strconv.FormatUint(e.Seq, 10)},
		{"id", e.ID},
		{"partner", orDash(e.Partner)},
		{"source", orDash(e.Source)},
		{"event type", orDash(e.EventType)},
		{"reason", orDash(e.Reason)},
		{"error", orDash(e.Error)},
		{"failed in", e.FailedIn},
		{"attempts", strconv.Itoa(e.Attempts)},
		{"received at", fmtTime(e.ReceivedAt)},
		{"first failure", fmtTime(e.FirstFailure)},
		{"last failure", fmtTime(e.LastFailure)},
		{"traceparent", orDash(e.TraceParent)},
	} {
		fmt.Fprintf(tw, "%s:\t%s\n", kv[0], kv[1])
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	if len(hdrs) > 0 {
		fmt.Fprintln(w, "headers:")
		for _, h := range hdrs {
			fmt.Fprintf(w, "  %s: %s\n", h[0], h[1])
		}
	}
	if !shown {
		_, err := fmt.Fprintf(w, "payload (%d bytes, not JSON: hidden; --reveal shows it):\n", e.Size)
		return err
	}
	state := "masked"
	if reveal {
		state = "revealed"
	}
	_, err := fmt.Fprintf(w, "payload (%d bytes, %s):\n%s\n", e.Size, state, payload)
	return err
}

// WriteStats prints the counts by partner and reason with a total, as a
// table or JSON.
func WriteStats(w io.Writer, total int, counts []Count, asJSON bool) error {
	if asJSON {
		if counts == nil {
			counts = []Count{}
		}
		return writeJSON(w, struct {
			Total  int     `json:"total"`
			Counts []Count `json:"counts"`
		}{total, counts})
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "PARTNER\tREASON\tCOUNT\tBYTES\tOLDEST\tNEWEST")
	bytes := 0
	for _, c := range counts {
		bytes += c.Bytes
		fmt.Fprintf(tw, "%s\t%s\t%d\t%d\t%s\t%s\n", orDash(c.Partner), orDash(c.Reason), c.Count, c.Bytes, fmtTime(c.Oldest), fmtTime(c.Newest))
	}
	fmt.Fprintf(tw, "TOTAL\t\t%d\t%d\n", total, bytes)
	return tw.Flush()
}

// Report prints the results of a replay, purge or reseal as they come:
// in text, only the entries that did not get the action (still rejected,
// failed, would be rejected, gone) plus a summary line; in JSON, every
// result, streamed so a million results are never held in memory, then
// the summary.
type Report struct {
	w      io.Writer
	asJSON bool
	first  bool
}

// NewReport starts a report on w.
func NewReport(w io.Writer, asJSON bool) *Report {
	if asJSON {
		fmt.Fprint(w, "{\n  \"results\": [")
	}
	return &Report{w: w, asJSON: asJSON, first: true}
}

// Result prints one entry's result, its detail masked.
func (r *Report) Result(res Result) {
	res.Detail = MaskText(res.Detail)
	if r.asJSON {
		b, _ := json.MarshalIndent(res, "    ", "  ")
		if !r.first {
			fmt.Fprint(r.w, ",")
		}
		r.first = false
		fmt.Fprintf(r.w, "\n    %s", b)
		return
	}
	switch res.Outcome {
	case Replayed, Purged, Resealed, Current:
		return
	}
	line := fmt.Sprintf("%s %d %s %s", res.Outcome, res.Seq, res.Partner, res.ID)
	if res.Reason != "" {
		line += " " + res.Reason
	}
	if res.Detail != "" {
		line += ": " + res.Detail
	}
	fmt.Fprintln(r.w, line)
}

// Finish prints the summary.
func (r *Report) Finish(sum Summary) {
	if !r.asJSON {
		fmt.Fprintln(r.w, sum.String())
		return
	}
	b, _ := json.MarshalIndent(sum, "  ", "  ")
	end := "\n  ]"
	if r.first {
		end = "]"
	}
	fmt.Fprintf(r.w, "%s,\n  \"summary\": %s\n}\n", end, b)
}

// String is the summary line: every count, so a script or an operator
// never has to infer a zero.
func (s Summary) String() string {
	line := fmt.Sprintf("%d selected: %d replayed, %d purged, %d still rejected, %d failed, %d would replay, %d would be rejected, %d would be purged, %d already gone",
		s.Selected, s.Replayed, s.Purged, s.StillRejected, s.Failed, s.WouldReplay, s.WouldReject, s.WouldPurge, s.Gone)
	if s.Resealed+s.WouldReseal+s.Current > 0 {
		line += fmt.Sprintf(", %d resealed, %d would be resealed, %d already under the current key", s.Resealed, s.WouldReseal, s.Current)
	}
	return line
}

// outcomes lists the counts that are not zero, for a progress line; "none
// yet" when nothing was decided.
func (s Summary) outcomes() string {
	var out string
	for _, c := range []struct {
		n    int
		what string
	}{
		{s.Replayed, "replayed"}, {s.Purged, "purged"}, {s.Resealed, "resealed"},
		{s.StillRejected, "still rejected"}, {s.Failed, "failed"},
		{s.WouldReplay, "would replay"}, {s.WouldReject, "would be rejected"}, {s.WouldPurge, "would be purged"},
		{s.WouldReseal, "would be resealed"}, {s.Current, "already under the current key"}, {s.Gone, "already gone"},
	} {
		if c.n == 0 {
			continue
		}
		if out != "" {
			out += ", "
		}
		out += strconv.Itoa(c.n) + " " + c.what
	}
	if out == "" {
		return "none decided yet"
	}
	return out
}
