package validate

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"regexp"
	"sort"
	"strconv"
	"strings"

	"github.com/santhosh-tekuri/jsonschema/v5"

	"github.com/dmzbridge/dmzbridge/bridge/config"
	"github.com/dmzbridge/dmzbridge/bridge/jsontext"
)

// Schema is one compiled event schema.
type Schema struct {
	// Type is the event type without version, e.g. "order.created".
	Type    string
	Version int
	// ID is the schema's $id (or its file URL), used as dataschema.
	ID     string
	File   string
	schema *jsonschema.Schema
	// fast accepts most valid events without the library's error
	// bookkeeping; nil when the schema uses keywords it does not cover.
	fast *fastNode
}

// Validate checks doc, decoded by Decode, with the library: the verdict
// and the error report for every event the fast path does not accept.
func (s *Schema) Validate(doc any) error {
	return s.schema.Validate(doc)
}

// certainlyValid is the fast path: true means doc is valid; false means
// the library must decide.
func (s *Schema) certainlyValid(t *jsontext.Tape, sc *walkScratch) bool {
	return s.fast != nil && s.fast.valid(t, 0, sc)
}

// HasFastPath reports whether the schema is checked by the fast path.
func (s *Schema) HasFastPath() bool { return s.fast != nil }

// Registry maps event types to compiled schemas. It is read-only after
// loading and safe for concurrent use.
type Registry struct {
	byName map[string]*Schema
}

var fileName = regexp.MustCompile(`^([a-z0-9_-]+(?:\.[a-z0-9_-]+)*)\.v([0-9]+)\.json$`)

var versionSuffix = regexp.MustCompile(`\.v[0-9]+$`)

// BaseType strips a version suffix: order.created.v1 → order.created.
func BaseType(t string) string {
	if loc := versionSuffix.FindStringIndex(t); loc != nil {
		return t[:loc[0]]
	}
	return t
}

// LoadDir compiles every *.json file of dir.
func LoadDir(dir string) (*Registry, error) {
	if _, err := os.Stat(dir); err != nil {
		return nil, config.FieldErrors{{Msg: err.Error()}}
	}
	return LoadFS(os.DirFS(dir), dir)
}

// LoadFS compiles every *.json file at the root of fsys; label prefixes
// file names in errors. Each file is named <type>.v<N>.json. Errors name
// the file and the JSON pointer of the offending place in it.
func LoadFS(fsys fs.FS, label string) (*Registry, error) {
	entries, err := fs.ReadDir(fsys, ".")
	if err != nil {
		return nil, fmt.Errorf("read schemas %s: %w", label, err)
	}
	c := jsonschema.NewCompiler()
	c.Draft = jsonschema.Draft2020
	c.AssertFormat = true
	// Only the files given here are schemas: no network, no other files.
	c.LoadURL = func(s string) (io.ReadCloser, error) {
		return nil, fmt.Errorf("%s is not among the schema files (remote and external references are not loaded)", s)
	}
	var errs schemaErrors
	type pending struct {
		url, file, typ string
		version        int
		id             string
	}
	var files []pending
	for _, e := range entries {
		if e.IsDir() || !strings.HasSuffix(e.Name(), ".json") {
			continue
		}
		file := path.Join(label, e.Name())
		m := fileName.FindStringSubmatch(e.Name())
		if m == nil {
			errs.add(file, "", "file name must be <event type>.v<version>.json, e.g. order.created.v1.json")
			continue
		}
		raw, err := fs.ReadFile(fsys, e.Name())
		if err != nil {
			errs.add(file, "", err.Error())
			continue
		}
		var doc map[string]any
		if err := json.Unmarshal(raw, &doc); err != nil {
			errs.add(file, "", "not a JSON object: "+jsonErr(raw, err))
			continue
		}
		url := "file:///" + strings.TrimPrefix(path.Join(label, e.Name()), "/")
		if err := c.AddResource(url, bytes.NewReader(raw)); err != nil {
			errs.add(file, "", err.Error())
			continue
		}
		id, _ := doc["$id"].(string)
		if id == "" {
			id = url
		}
		v, _ := strconv.Atoi(m[2])
		files = append(files, pending{url: url, file: file, typ: m[1], version: v, id: id})
	}
	r := &Registry{byName: map[string]*Schema{}}
	for _, f := range files {
		sch, err := c.Compile(f.url)
		if err != nil {
			errs.addCompile(f.file, err)
			continue
		}
		s := &Schema{Type: f.typ, Version: f.version, ID: f.id, File: f.file, schema: sch, fast: compileFast(sch)}
		r.byName[f.typ+".v"+strconv.Itoa(f.version)] = s
		if latest, ok := r.byName[f.typ]; !ok || latest.Version < s.Version {
			r.byName[f.typ] = s
		}
	}
	if err := errs.Err(); err != nil {
		return nil, err
	}
	return r, nil
}

// Lookup finds the schema of an event type: order.created.v1 exactly,
// order.created as its latest version.
func (r *Registry) Lookup(eventType string) (*Schema, bool) {
	s, ok := r.byName[eventType]
	return s, ok
}

// Types lists the known event types without versions.
func (r *Registry) Types() []string {
	var out []string
	for name, s := range r.byName {
		if name == s.Type {
			out = append(out, name)
		}
	}
	sort.Strings(out)
	return out
}

// schemaErrors lists schema problems as "file#/pointer: message".
type schemaErrors struct{ config.FieldErrors }

func (e *schemaErrors) add(file, ptr, msg string) {
	loc := file
	if ptr != "" {
		loc += "#" + ptr
	}
	e.FieldErrors = append(e.FieldErrors, config.FieldError{Msg: loc + ": " + msg})
}

// addCompile flattens a compile error: a schema that breaks the draft
// 2020-12 meta-schema yields one line per offending place in the file.
func (e *schemaErrors) addCompile(file string, err error) {
	var ve *jsonschema.ValidationError
	if errors.As(err, &ve) {
		for _, leaf := range leaves(ve, nil) {
			ptr := leaf.InstanceLocation
			if ptr == "" {
				ptr = "/"
			}
			e.add(file, ptr, leaf.Message)
		}
		return
	}
	var se *jsonschema.SchemaError
	if errors.As(err, &se) && se.Err != nil {
		err = se.Err
	}
	e.add(file, "", strings.TrimPrefix(err.Error(), "jsonschema: "))
}

func leaves(ve *jsonschema.ValidationError, out []*jsonschema.ValidationError) []*jsonschema.ValidationError {
	if len(ve.Causes) == 0 {
		return append(out, ve)
	}
	for _, c := range ve.Causes {
		out = leaves(c, out)
	}
	return out
}

// jsonErr adds the line and column to a JSON syntax error.
func jsonErr(raw []byte, err error) string {
	var se *json.SyntaxError
	if errors.As(err, &se) {
		line, col := 1, 1
		for _, b := range raw[:min(max(int(se.Offset)-1, 0), len(raw))] {
			if b == '\n' {
				line, col = line+1, 1
			} else {
				col++
			}
		}
		return fmt.Sprintf("line %d column %d: %v", line, col, err)
	}
	return err.Error()
}
