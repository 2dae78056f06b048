package dlq

import (
	"fmt"
	"io"
	"os"
	"strings"
	"time"
)

// ProgressPrinter shows how a replay, purge or reseal advances: a bar redrawn
// in place on a terminal, a line every few seconds otherwise (logs, CI).
// It names what was visited and what was decided separately, so a replay
// that replayed nothing never reads as done.
type ProgressPrinter struct {
	w      io.Writer
	action string
	tty    bool
	every  time.Duration
	drawn  bool
}

// NewProgressPrinter prints the progress of action (e.g. "replay",
// "purge --dry-run") on w every so often; on a terminal five times a
// second.
func NewProgressPrinter(w io.Writer, action string, every time.Duration) *ProgressPrinter {
	p := &ProgressPrinter{w: w, action: action, every: every}
	if f, ok := w.(*os.File); ok {
		if st, err := f.Stat(); err == nil && st.Mode()&os.ModeCharDevice != 0 {
			p.tty, p.every = true, 200*time.Millisecond
		}
	}
	if p.every <= 0 {
		p.every = 3 * time.Second
	}
	return p
}

// Engine returns an engine reporting its progress here.
func (p *ProgressPrinter) Engine() Engine {
	return Engine{Progress: p.Update, ProgressEvery: p.every}
}

// Update prints one progress report.
func (p *ProgressPrinter) Update(pr Progress) {
	if pr.Total < 2 {
		return
	}
	eta := "-"
	if pr.ETA > 0 {
		eta = pr.ETA.Round(time.Second).String()
	}
	left := pr.Summary.Left() + pr.Summary.WouldReject
	if p.tty {
		const width = 30
		fill := min(width, width*pr.Done/pr.Total)
		fmt.Fprintf(p.w, "\r%s [%s%s] %d/%d visited: %s; %.0f/s ETA %s   ", p.action, strings.Repeat("#", fill), strings.Repeat(" ", width-fill), pr.Done, pr.Total, pr.Summary.outcomes(), pr.Rate, eta)
		p.drawn = true
		return
	}
	fmt.Fprintf(p.w, "%s: %d/%d entries visited: %s (%d left in the dead-letter stream; %.0f entries/s, ETA %s)\n", p.action, pr.Done, pr.Total, pr.Summary.outcomes(), left, pr.Rate, eta)
}

// Finish ends a bar drawn in place.
func (p *ProgressPrinter) Finish() {
	if p.drawn {
		fmt.Fprintln(p.w)
	}
}
