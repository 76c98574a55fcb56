// Package reporttest checks reports in tests: a stage's test calls
// ValidateJUnit on the JUnit file it wrote, and the real validator (xmllint
// from libxml2) checks it against report.JUnitSchema, the form GitLab and
// Jenkins read.
package reporttest

import (
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/pipeline-ci/pipeline/internal/report"
	"github.com/pipeline-ci/pipeline/internal/testutil"
)

// ValidateJUnit fails t when the file at path does not validate against
// report.JUnitSchema. Without xmllint it fails under CI and skips elsewhere
// (testutil.NeedTool).
func ValidateJUnit(t testing.TB, path string) {
	t.Helper()
	xmllint := testutil.NeedTool(t, "xmllint")
	xsd := SchemaFile(t)
	out, err := exec.Command(xmllint, "--noout", "--schema", xsd, path).CombinedOutput()
	if err != nil {
		t.Errorf("%s is not JUnit as GitLab and Jenkins read it (%v):\n%s", path, err, out)
	}
}

// SchemaFile writes report.JUnitSchema to a temporary file and returns its
// path, for tools that take a file.
func SchemaFile(t testing.TB) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "junit.xsd")
	if err := os.WriteFile(p, report.JUnitSchema, 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}
