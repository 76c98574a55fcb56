package config

import (
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/pipeline-ci/pipeline/internal/errs"
)

// Each testdata/invalid/NAME.yaml is read as pipeline.yaml and must fail
// with exactly the message in NAME.err: one line per problem, sorted by
// position, each starting with pipeline.yaml:line:col, and exit code 2.
func TestInvalidFiles(t *testing.T) {
	for _, path := range yamlFiles(t, "testdata/invalid") {
		t.Run(filepath.Base(path), func(t *testing.T) {
			data, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			_, err = Parse("pipeline.yaml", data, testEnv)
			checkInvalid(t, path, err)
		})
	}
}

func TestInvalidRichFiles(t *testing.T) {
	for _, path := range yamlFiles(t, "testdata/rich/invalid") {
		t.Run(filepath.Base(path), func(t *testing.T) {
			data, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			err = decodeFile("pipeline.yaml", data, testEnv, defaultRich())
			checkInvalid(t, path, err)
		})
	}
}

func checkInvalid(t *testing.T, path string, err error) {
	t.Helper()
	if err == nil {
		t.Fatal("accepted; want an error")
	}
	if code := errs.Code(err); code != 2 {
		t.Errorf("exit code %d, want 2 (usage)", code)
	}
	var ce *Error
	if !errors.As(err, &ce) {
		t.Fatalf("error %T is not a *config.Error: %v", err, err)
	}
	for _, line := range strings.Split(err.Error(), "\n") {
		if !strings.HasPrefix(line, "pipeline.yaml:") {
			t.Errorf("line does not start with the file name: %q", line)
		}
	}
	golden(t, withExt(path, ".err"), []byte(err.Error()+"\n"))
}

// Each testdata/valid/NAME.yaml decodes, and gives the Config in NAME.json.
func TestValidFiles(t *testing.T) {
	for _, path := range yamlFiles(t, "testdata/valid") {
		t.Run(filepath.Base(path), func(t *testing.T) {
			cfg, err := Load(path, testEnv)
			if err != nil {
				t.Fatal(err)
			}
			if cfg.Path != path {
				t.Errorf("Path = %q, want %q", cfg.Path, path)
			}
			// Only the top-level keys: the stage sections change all the
			// time and are their owners' to test.
			golden(t, withExt(path, ".json"), mustJSON(t, map[string]any{
				"version": cfg.Version, "project": cfg.Project, "forge": cfg.Forge,
				"artifacts": cfg.Artifacts, "stages": cfg.Stages,
			}))
		})
	}
}

func TestValidRichFiles(t *testing.T) {
	for _, path := range yamlFiles(t, "testdata/rich/valid") {
		t.Run(filepath.Base(path), func(t *testing.T) {
			data, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			v := defaultRich()
			if err := decodeFile("pipeline.yaml", data, testEnv, v); err != nil {
				t.Fatal(err)
			}
			golden(t, withExt(path, ".json"), mustJSON(t, v))
		})
	}
}

// The message never shows what was written in an _env key when it is not
// a variable name: it may be a secret.
func TestEnvKeyNeverShowsTheValue(t *testing.T) {
	secrets := []string{"glpat-Zq8vH3kLm2Xn7Rt5Wy1B", "AKIAIOSFODNN7EXAMPLE", "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY", "hunter2!", "ghp_0123456789abcdefghijABCDEFGHIJ012345"}
	for _, s := range secrets {
		_, err := Parse("pipeline.yaml", []byte("project: {name: a}\nforge:\n  token_env: '"+s+"'\n"), nil)
		if err == nil {
			t.Errorf("%q accepted as a variable name", s)
			continue
		}
		if strings.Contains(errs.Format(err), s) || strings.Contains(errs.Format(err), s[:8]) {
			t.Errorf("message shows the value: %v", err)
		}
	}
}

func TestProblemsAreCapped(t *testing.T) {
	var b strings.Builder
	b.WriteString("project: {name: a}\n")
	for i := 0; i < maxProblems+5; i++ {
		b.WriteString("unknown_" + string(rune('a'+i)) + ": 1\n")
	}
	_, err := Parse("pipeline.yaml", []byte(b.String()), nil)
	var ce *Error
	if !errors.As(err, &ce) {
		t.Fatalf("want a *Error, got %v", err)
	}
	if len(ce.Problems) != maxProblems || ce.More != 5 {
		t.Errorf("%d problems shown and %d more, want %d and 5", len(ce.Problems), ce.More, maxProblems)
	}
	lines := strings.Split(err.Error(), "\n")
	if last := lines[len(lines)-1]; last != "pipeline.yaml: … and 5 more problems" {
		t.Errorf("last line %q", last)
	}
	if !strings.HasPrefix(lines[0], "pipeline.yaml:2:1: unknown_a:") {
		t.Errorf("first line %q: want the problems in file order", lines[0])
	}
}

// A billion-laughs file stops at the step budget with a message instead of
// decoding for ever (the Go types must be deep enough to follow it).
func TestAliasBombStops(t *testing.T) {
	src := "x-a: &a [s, s, s, s, s, s, s, s, s, s]\n"
	prev := "a"
	for _, n := range []string{"b", "c", "d", "e", "f"} {
		src += "x-" + n + ": &" + n + " [" + strings.Repeat("*"+prev+", ", 9) + "*" + prev + "]\n"
		prev = n
	}
	src += "deep: *f\n"
	var deep struct {
		Deep [][][][][][]string `yaml:"deep"`
	}
	err := decodeFile("pipeline.yaml", []byte(src), nil, &deep)
	if err == nil || !strings.Contains(errs.Format(err), ": the file expands to more than 100000 values (counting each use of an alias)") {
		t.Fatalf("want the alias budget error, got %v", err)
	}
}

func TestLoadMissingFile(t *testing.T) {
	_, err := Load(filepath.Join(t.TempDir(), "pipeline.yaml"), nil)
	if err == nil || errs.Code(err) != 2 || !strings.Contains(errs.Format(err), "pipeline init") {
		t.Fatalf("want a usage error with a hint, got %v", err)
	}
}

func TestFind(t *testing.T) {
	root := t.TempDir()
	deep := filepath.Join(root, "a", "b")
	if err := os.MkdirAll(deep, 0o755); err != nil {
		t.Fatal(err)
	}
	if got := Find(deep); got != "" && strings.HasPrefix(got, root) {
		t.Fatalf("Find found %q before the file exists", got)
	}
	want := filepath.Join(root, "a", FileName)
	if err := os.WriteFile(want, []byte("version: 1\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if got := Find(deep); got != want {
		t.Fatalf("Find(%s) = %q, want %q", deep, got, want)
	}
}

func TestDefaultIsValid(t *testing.T) {
	d := &decoder{}
	d.validateTree(reflect.ValueOf(Default()).Elem(), "", nil)
	if len(d.probs) > 0 {
		t.Fatalf("Default() does not pass its own Validators: %+v", d.probs)
	}
}

// Load names the file relative to the working directory when it is below
// it, and keeps the path it was given in Config.Path.
func TestLoadNamesFileRelative(t *testing.T) {
	wd, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	abs := filepath.Join(wd, "testdata", "invalid", "enum.yaml")
	_, err = Load(abs, nil)
	if err == nil || !strings.HasPrefix(err.Error(), filepath.Join("testdata", "invalid", "enum.yaml")+":5:9: ") {
		t.Errorf("want the relative path in %v", err)
	}
	outside := filepath.Join(t.TempDir(), "pipeline.yaml")
	if err := os.WriteFile(outside, []byte("version: 3\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := Load(outside, nil); err == nil || !strings.HasPrefix(err.Error(), outside+":1:10: ") {
		t.Errorf("want the absolute path in %v", err)
	}
	cfg, err := Load(filepath.Join(wd, "testdata", "valid", "minimal.yaml"), nil)
	if err != nil || !filepath.IsAbs(cfg.Path) {
		t.Errorf("Path = %v, %v: want the absolute path given", cfg, err)
	}
}
