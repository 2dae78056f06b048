package main

import (
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/dmzbridge/dmzbridge/bridge/dlq"
)

// progress shows how a replay, purge or reseal advances: a bar redrawn in
// place on a terminal, a line every few seconds otherwise (logs, CI).
type progress struct {
	w     io.Writer
	verb  string
	tty   bool
	every time.Duration
	drawn bool
}

func newProgress(w io.Writer, verb string, every time.Duration) *progress {
	p := &progress{w: w, verb: verb, every: every}
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

func (p *progress) update(pr dlq.Progress) {
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
		fmt.Fprintf(p.w, "\r%s [%s%s] %d/%d %.0f/s ETA %s, %d left   ", p.verb, strings.Repeat("#", fill), strings.Repeat(" ", width-fill), pr.Done, pr.Total, pr.Rate, eta, left)
		p.drawn = true
		return
	}
	fmt.Fprintf(p.w, "%s %d/%d (%.0f entries/s, ETA %s, %d left in the dead-letter stream)\n", p.verb, pr.Done, pr.Total, pr.Rate, eta, left)
}

func (p *progress) finish() {
	if p.drawn {
		fmt.Fprintln(p.w)
	}
}
