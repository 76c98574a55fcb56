package yamlbound

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/pipeline-ci/pipeline/internal/errs"
)

// Every YAML file of the repository (examples, templates, testdata) is
// within the bounds: the check refuses hostile files, not real ones.
func TestCheckAcceptsTheRepositorysYAML(t *testing.T) {
	n := 0
	err := filepath.WalkDir("../..", func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && (d.Name() == ".git" || d.Name() == "node_modules") {
			return filepath.SkipDir
		}
		if ext := filepath.Ext(path); ext != ".yaml" && ext != ".yml" || strings.HasSuffix(path, "invalid/too_deep.yaml") {
			return nil // too_deep.yaml: the config loader's test of this refusal
		}
		data, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		n++
		if err := Check(data); err != nil {
			t.Errorf("%s: %v", path, err)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if n < 20 {
		t.Fatalf("only %d YAML files found: is the walk rooted at the repository?", n)
	}
}

func TestCheck(t *testing.T) {
	deepBlock := func(n int) string {
		var b strings.Builder
		for i := 0; i < n; i++ {
			b.WriteString(strings.Repeat(" ", i) + "k:\n")
		}
		return b.String()
	}
	for _, tc := range []struct {
		name, in string
		want     string // "" = accepted
	}{
		{"flat", "version: 1\nproject: {name: a, tags: [x, y]}\n", ""},
		{"script with brackets", "run: |\n  if [ -f x ]; then\n    echo '[[[[[[['\n  fi\n" + strings.Repeat("  [\n", 100), ""},
		{"quoted brackets", "a: \"" + strings.Repeat("[", 200) + "\"\nb: '" + strings.Repeat("{", 200) + "'\n", ""},
		{"plain brackets", "a: x" + strings.Repeat("[", 200) + "\n", ""},
		{"comment", "# " + strings.Repeat("[", 200) + "\na: 1 # {{{{{\n", ""},
		{"balanced flow", strings.Repeat("[", 60) + strings.Repeat("]", 60) + "\n" + strings.Repeat("[", 60) + strings.Repeat("]", 60) + "\n", ""},
		{"nested flow", "a: " + strings.Repeat("[", 200_000), "line 1 column 67: nesting deeper than 64 levels"},
		{"nested maps", "x:\n  y: " + strings.Repeat("{a: ", 100), "line 2 column 254: nesting deeper"},
		{"compact items", "a:\n" + strings.Repeat("- ", 100) + "x\n", "line 2 column 129: nesting deeper"},
		{"block indentation", deepBlock(100), "line 65 column 65: nesting deeper"},
		{"too big", strings.Repeat("a: 1\n", MaxSize/5+1), "more than the 1048576"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := Check([]byte(tc.in))
			if tc.want == "" {
				if err != nil {
					t.Fatalf("refused: %v", err)
				}
				return
			}
			var be *Error
			if !errors.As(err, &be) || !strings.Contains(errs.Format(err), tc.want) {
				t.Fatalf("got %v, want *Error containing %q", err, tc.want)
			}
		})
	}
}

// FuzzCheck: Check never panics, and a refusal's position is inside the
// file.
func FuzzCheck(f *testing.F) {
	f.Add([]byte("a: [b, {c: d}]\n"))
	f.Add([]byte("run: |\n  [ -f x ]\n'q': \"[\"\n"))
	f.Add([]byte(strings.Repeat("- ", 70)))
	f.Fuzz(func(t *testing.T, data []byte) {
		err := check(data, 4096, 8)
		var be *Error
		if err == nil || !errors.As(err, &be) || be.Line == 0 {
			return
		}
		if lines := 1 + strings.Count(string(data), "\n"); be.Line > lines {
			t.Fatalf("line %d of a %d-line file", be.Line, lines)
		}
	})
}
