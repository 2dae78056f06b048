package deploy_test

import (
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
)

// TestTaskFuzzListsEveryFuzzTarget: `task fuzz` (and so CI) runs every
// Fuzz* target in the repository, each as package:name. A fuzzer missing
// from the list runs only its seeds; an entry whose target is gone makes
// `go test -fuzz` fail on "no fuzz tests".
func TestTaskFuzzListsEveryFuzzTarget(t *testing.T) {
	root := ".."
	fuzzFunc := regexp.MustCompile(`(?m)^func (Fuzz\w*)\(\w+ \*testing\.F\)`)
	var inRepo []string
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			if name := d.Name(); path != root && (strings.HasPrefix(name, ".") || name == "testdata" || name == "vendor") {
				return filepath.SkipDir
			}
			return nil
		}
		if !strings.HasSuffix(path, "_test.go") {
			return nil
		}
		src, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(root, filepath.Dir(path))
		if err != nil {
			return err
		}
		for _, m := range fuzzFunc.FindAllSubmatch(src, -1) {
			inRepo = append(inRepo, "./"+filepath.ToSlash(rel)+":"+string(m[1]))
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(inRepo) == 0 {
		t.Fatal("found no Fuzz targets: is the walk rooted at the repository?")
	}

	var task struct {
		Tasks map[string]struct {
			Cmds []any `yaml:"cmds"`
		} `yaml:"tasks"`
	}
	readYAML(t, filepath.Join(root, "Taskfile.yml"), &task)
	fuzz, ok := task.Tasks["fuzz"]
	if !ok {
		t.Fatal("Taskfile.yml has no fuzz task")
	}
	entry := regexp.MustCompile(`(\./[\w./-]+):(Fuzz\w*)`)
	var listed []string
	for _, c := range fuzz.Cmds {
		s, _ := c.(string)
		for _, m := range entry.FindAllStringSubmatch(s, -1) {
			listed = append(listed, m[1]+":"+m[2])
		}
	}

	slices.Sort(inRepo)
	slices.Sort(listed)
	for _, f := range inRepo {
		if !slices.Contains(listed, f) {
			t.Errorf("%s is not in the fuzz task of Taskfile.yml", f)
		}
	}
	for i, f := range listed {
		if !slices.Contains(inRepo, f) {
			t.Errorf("the fuzz task lists %s, which is not a Fuzz target in the repository", f)
		}
		if i > 0 && listed[i-1] == f {
			t.Errorf("the fuzz task lists %s twice", f)
		}
	}
}
