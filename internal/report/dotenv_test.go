package report

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/pipeline-ci/pipeline/internal/errs"
)

func TestDotenvKey(t *testing.T) {
	for in, want := range map[string]string{
		"PIPELINE_VERSION": "PIPELINE_VERSION",
		"image.qcow2-url":  "image_qcow2_url",
		" spaced name ":    "spaced_name",
		"2nd_try":          "_2nd_try",
		"über":             "ber",
		"---":              "",
		"":                 "",
	} {
		if got := DotenvKey(in); got != want {
			t.Errorf("DotenvKey(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestCleanDotenv(t *testing.T) {
	got, err := CleanDotenv(map[string]string{
		"PIPELINE_VERSION": "1.4.0",
		"release.notes":    "line one\nline two\r\nline three",
		"PADDED":           "  value  ",
		"QUOTED":           `"kept as is"`,
	})
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{
		"PIPELINE_VERSION": "1.4.0",
		"release_notes":    "line one line two line three",
		"PADDED":           "value",
		"QUOTED":           `"kept as is"`,
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s = %q, want %q", k, got[k], v)
		}
	}
	if len(got) != len(want) {
		t.Errorf("got %v", got)
	}

	if _, err := CleanDotenv(map[string]string{"a.b": "1", "a-b": "2"}); err == nil || !strings.Contains(errs.Format(err), "both become a_b") {
		t.Errorf("collision: %v", err)
	}
	if _, err := CleanDotenv(map[string]string{"***": "1"}); err == nil {
		t.Error("a key with nothing usable was accepted")
	}
}

func TestFormatDotenvFollowsGitLabRules(t *testing.T) {
	text, err := FormatDotenv(map[string]string{"B": "2", "A": "x=y", "EMPTY": ""})
	if err != nil {
		t.Fatal(err)
	}
	if want := "A=x=y\nB=2\nEMPTY=\n"; text != want {
		t.Errorf("FormatDotenv = %q, want %q", text, want)
	}
	for _, bad := range []map[string]string{
		{"BAD-KEY": "1"},
		{"9X": "1"},
		{"MULTI": "a\nb"},
		{"BIG": strings.Repeat("x", MaxDotenvBytes)},
	} {
		if _, err := FormatDotenv(bad); err == nil {
			t.Errorf("FormatDotenv(%v) accepted", bad)
		}
	}
}

func TestParseDotenv(t *testing.T) {
	got, err := ParseDotenv("A=1\nB=x=y\n")
	if err != nil || got["A"] != "1" || got["B"] != "x=y" {
		t.Errorf("ParseDotenv = %v, %v", got, err)
	}
	if got, err := ParseDotenv(""); err != nil || len(got) != 0 {
		t.Errorf("empty file: %v %v", got, err)
	}
	for _, bad := range []string{"A=1\n\nB=2\n", "# comment\n", "no equals\n"} {
		if _, err := ParseDotenv(bad); err == nil {
			t.Errorf("ParseDotenv(%q) accepted", bad)
		}
	}
}

func TestWriteDotenvMerges(t *testing.T) {
	d := &Dir{Path: t.TempDir()}
	if _, err := d.WriteDotenv(map[string]string{"PIPELINE_BUILD_LOCK": "abc", "PIPELINE_VERSION": "1.3.0"}); err != nil {
		t.Fatal(err)
	}
	p, err := d.WriteDotenv(map[string]string{"PIPELINE_VERSION": "1.4.0", "pipeline.notes": "a\nb"})
	if err != nil {
		t.Fatal(err)
	}
	b, _ := os.ReadFile(p)
	if want := "PIPELINE_BUILD_LOCK=abc\nPIPELINE_VERSION=1.4.0\npipeline_notes=a b\n"; string(b) != want {
		t.Errorf("pipeline.env = %q, want %q", b, want)
	}
	if filepath.Base(p) != DotenvFile {
		t.Errorf("written to %s", p)
	}
	// A corrupt file from elsewhere is reported, not silently rewritten.
	os.WriteFile(p, []byte("# hand edit\n"), 0o644)
	if _, err := d.WriteDotenv(map[string]string{"X": "1"}); err == nil || !strings.Contains(errs.Format(err), "delete it") {
		t.Errorf("corrupt dotenv: %v", err)
	}
}
