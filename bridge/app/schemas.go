package app

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"sort"
	"strings"

	"github.com/dmzbridge/dmzbridge/bridge/config"
	"github.com/dmzbridge/dmzbridge/bridge/schemacheck"
)

// schemasUsed reports whether any partner validates, so schemas_dir is
// read at all (see loadSchemas).
func schemasUsed(cfg *config.Config) bool {
	for _, p := range cfg.Partners {
		if len(p.AllowedTypes) > 0 {
			return true
		}
	}
	return false
}

// SchemaCheck runs the backward compatibility check on schemas_dir: each
// type's newest version against the one before it. It returns one note per
// type compared and an error naming every incompatible finding. A config
// whose partners validate nothing is not checked.
func SchemaCheck(cfg *config.Config) (notes []string, err error) {
	if !schemasUsed(cfg) {
		return nil, nil
	}
	dir := cfg.SchemasPath()
	reps, err := schemacheck.Check(os.DirFS(dir), dir, schemacheck.Options{Mode: schemacheck.Backward})
	if err != nil {
		return nil, fmt.Errorf("schema check of %s: %w", dir, err)
	}
	var breaks []string
	for _, r := range reps {
		if !r.Breaks() {
			notes = append(notes, fmt.Sprintf("schema %s v%d → v%d: compatible (backward)", r.Type, r.OldVersion, r.NewVersion))
			continue
		}
		for _, f := range r.Findings {
			breaks = append(breaks, fmt.Sprintf("%s#%s", r.NewFile, f.String()))
		}
		if len(r.Findings) == 0 {
			breaks = append(breaks, fmt.Sprintf("%s: %d sample(s) rejected", r.NewFile, r.Rejected))
		}
	}
	if len(breaks) > 0 {
		return notes, &IncompatibleSchemaError{Findings: breaks}
	}
	return notes, nil
}

// IncompatibleSchemaError lists the findings that can reject events the
// previous schema version accepted.
type IncompatibleSchemaError struct{ Findings []string }

func (e *IncompatibleSchemaError) Error() string {
	return "incompatible schema change (backward): " + strings.Join(e.Findings, "; ")
}

// schemasDigest fingerprints the schema files, so a reload knows whether
// schemas changed; "" when no partner validates.
func schemasDigest(cfg *config.Config) (string, error) {
	if !schemasUsed(cfg) {
		return "", nil
	}
	dir := cfg.SchemasPath()
	fsys := os.DirFS(dir)
	var names []string
	err := fs.WalkDir(fsys, ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if !d.IsDir() {
			names = append(names, p)
		}
		return nil
	})
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return "", fmt.Errorf("read schemas %s: %w", dir, err)
	}
	sort.Strings(names)
	h := sha256.New()
	for _, n := range names {
		raw, err := fs.ReadFile(fsys, n)
		if err != nil {
			return "", fmt.Errorf("read schema %s: %w", n, err)
		}
		fmt.Fprintf(h, "%s\x00%d\x00", n, len(raw))
		h.Write(raw)
	}
	return dir + ":" + hex.EncodeToString(h.Sum(nil)), nil
}
