package schemacheck

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"io/fs"
	"path"
	"regexp"
	"sort"
	"strconv"
	"strings"

	"github.com/santhosh-tekuri/jsonschema/v5"
)

var fileName = regexp.MustCompile(`^([a-z0-9_-]+(?:\.[a-z0-9_-]+)*)\.v([0-9]+)\.json$`)

// TypeReport is the outcome for one event type: its newest version against
// the one before it.
type TypeReport struct {
	Type       string    `json:"type"`
	OldVersion int       `json:"old_version"`
	NewVersion int       `json:"new_version"`
	OldFile    string    `json:"old_file"`
	NewFile    string    `json:"new_file"`
	Findings   []Finding `json:"findings"`
	// Intended is true when the operator marked this type's break as
	// intended; its findings are still listed.
	Intended bool `json:"intended"`
	// Samples counts sample events the old version accepted; Rejected
	// those of them the new version rejects. Both zero without samples.
	Samples  int `json:"samples"`
	Rejected int `json:"rejected"`
	// RejectedFiles names up to ten rejected samples.
	RejectedFiles []string `json:"rejected_files,omitempty"`
}

// Breaks reports whether this type fails the check.
func (r TypeReport) Breaks() bool {
	return !r.Intended && (len(r.Findings) > 0 || r.Rejected > 0)
}

// Options tune Check.
type Options struct {
	Mode Mode
	// Intended lists event types (or type.vN of the new version) whose
	// break is intended and so does not fail the check.
	Intended []string
	// Samples, when set, holds sample events (*.json, searched
	// recursively) run through both versions.
	Samples fs.FS
}

type version struct {
	n    int
	file string
	raw  []byte
}

// Check compares, for every event type in schemas with two or more
// versions, the newest version with the one before it.
func Check(schemas fs.FS, label string, opts Options) ([]TypeReport, error) {
	if opts.Mode == "" {
		opts.Mode = Backward
	}
	entries, err := fs.ReadDir(schemas, ".")
	if err != nil {
		return nil, fmt.Errorf("read schemas %s: %w", label, err)
	}
	byType := map[string][]version{}
	for _, e := range entries {
		m := fileName.FindStringSubmatch(e.Name())
		if e.IsDir() || m == nil {
			continue
		}
		raw, err := fs.ReadFile(schemas, e.Name())
		if err != nil {
			return nil, fmt.Errorf("read schema %s: %w", path.Join(label, e.Name()), err)
		}
		n, _ := strconv.Atoi(m[2])
		byType[m[1]] = append(byType[m[1]], version{n: n, file: path.Join(label, e.Name()), raw: raw})
	}
	samples, err := readSamples(opts.Samples)
	if err != nil {
		return nil, err
	}
	intended := map[string]bool{}
	for _, t := range opts.Intended {
		intended[t] = true
	}
	types := make([]string, 0, len(byType))
	for t := range byType {
		types = append(types, t)
	}
	sort.Strings(types)
	var out []TypeReport
	for _, t := range types {
		vs := byType[t]
		if len(vs) < 2 {
			continue
		}
		sort.Slice(vs, func(i, j int) bool { return vs[i].n < vs[j].n })
		o, n := vs[len(vs)-2], vs[len(vs)-1]
		var od, nd any
		if err := json.Unmarshal(o.raw, &od); err != nil {
			return nil, fmt.Errorf("%s: %w", o.file, err)
		}
		if err := json.Unmarshal(n.raw, &nd); err != nil {
			return nil, fmt.Errorf("%s: %w", n.file, err)
		}
		r := TypeReport{Type: t, OldVersion: o.n, NewVersion: n.n, OldFile: o.file, NewFile: n.file,
			Findings: Compare(od, nd, opts.Mode),
			Intended: intended[t] || intended[t+".v"+strconv.Itoa(n.n)]}
		if len(samples) > 0 {
			if err := r.runSamples(o, n, samples); err != nil {
				return nil, err
			}
		}
		out = append(out, r)
	}
	return out, nil
}

type sample struct {
	name string
	doc  any
}

func readSamples(fsys fs.FS) ([]sample, error) {
	if fsys == nil {
		return nil, nil
	}
	var out []sample
	err := fs.WalkDir(fsys, ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() || !strings.HasSuffix(p, ".json") {
			return nil
		}
		raw, err := fs.ReadFile(fsys, p)
		if err != nil {
			return err
		}
		dec := json.NewDecoder(bytes.NewReader(raw))
		dec.UseNumber() // the validator of record wants exact numbers
		var doc any
		if err := dec.Decode(&doc); err != nil {
			return fmt.Errorf("sample %s: not JSON: %w", p, err)
		}
		out = append(out, sample{name: p, doc: doc})
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("read samples: %w", err)
	}
	return out, nil
}

// compile builds a schema with the validator of record, as the bridge
// does: draft 2020-12, formats asserted, nothing loaded from outside.
func compile(v version) (*jsonschema.Schema, error) {
	c := jsonschema.NewCompiler()
	c.Draft = jsonschema.Draft2020
	c.AssertFormat = true
	c.LoadURL = func(s string) (io.ReadCloser, error) {
		return nil, fmt.Errorf("%s: external references are not loaded", s)
	}
	url := "file:///" + strings.TrimPrefix(v.file, "/")
	if err := c.AddResource(url, bytes.NewReader(v.raw)); err != nil {
		return nil, fmt.Errorf("%s: %w", v.file, err)
	}
	s, err := c.Compile(url)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", v.file, err)
	}
	return s, nil
}

func (r *TypeReport) runSamples(o, n version, samples []sample) error {
	os, err := compile(o)
	if err != nil {
		return err
	}
	ns, err := compile(n)
	if err != nil {
		return err
	}
	for _, s := range samples {
		if os.Validate(s.doc) != nil {
			continue // not an event the old version took: not this type's
		}
		r.Samples++
		if ns.Validate(s.doc) != nil {
			r.Rejected++
			if len(r.RejectedFiles) < 10 {
				r.RejectedFiles = append(r.RejectedFiles, s.name)
			}
		}
	}
	return nil
}

// Print writes the reports for a person: one line per finding, a verdict
// per type. It returns how many types break.
func Print(w io.Writer, reps []TypeReport, mode Mode) int {
	broken := 0
	if len(reps) == 0 {
		fmt.Fprintln(w, "no event type has two versions: nothing to compare")
	}
	for _, r := range reps {
		verdict := "compatible"
		switch {
		case r.Breaks():
			verdict = "INCOMPATIBLE"
			broken++
		case r.Intended && (len(r.Findings) > 0 || r.Rejected > 0):
			verdict = "incompatible, marked intended"
		}
		fmt.Fprintf(w, "%s v%d → v%d (%s): %s\n", r.Type, r.OldVersion, r.NewVersion, mode, verdict)
		for _, f := range r.Findings {
			fmt.Fprintf(w, "  %s#%s\n", r.NewFile, f.String())
		}
		if r.Samples > 0 || r.Rejected > 0 {
			fmt.Fprintf(w, "  samples: %d accepted by v%d, %d of them rejected by v%d", r.Samples, r.OldVersion, r.Rejected, r.NewVersion)
			if len(r.RejectedFiles) > 0 {
				fmt.Fprintf(w, " (%s)", strings.Join(r.RejectedFiles, ", "))
			}
			fmt.Fprintln(w)
		}
	}
	return broken
}

// IncompatibleError is returned when a type breaks; its exit code (6) lets
// a pipeline tell a schema break from a usage or config error.
type IncompatibleError struct{ Types int }

func (e IncompatibleError) Error() string {
	return fmt.Sprintf("%d event type(s) have an incompatible newest schema version (mark an intended break with --intended TYPE)", e.Types)
}

// ExitCode is the process exit code for this error.
func (IncompatibleError) ExitCode() int { return 6 }
