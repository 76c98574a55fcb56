package reporttest

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/pipeline-ci/pipeline/internal/report"
)

func TestValidateJUnit(t *testing.T) {
	d := &report.Dir{Path: t.TempDir()}
	j := &report.JUnit{Suites: []*report.Suite{report.NewSuite("s", time.Now()).Add(
		report.NewCase("suite", "target", "check", "works").Took(time.Second),
		report.NewCase("suite", "target", "check", "breaks").Fail("no", "details"),
	)}}
	p, err := d.WriteJUnit("junit-x.xml", j)
	if err != nil {
		t.Fatal(err)
	}
	ValidateJUnit(t, p)

	// A document the schema refuses makes ValidateJUnit fail.
	bad := filepath.Join(t.TempDir(), "bad.xml")
	os.WriteFile(bad, []byte(`<testsuites><testsuite name="s"><testcase name="x"/></testsuite></testsuites>`), 0o644)
	ft := &fakeT{TB: t}
	ValidateJUnit(ft, bad)
	if !ft.failed {
		t.Error("an invalid report passed")
	}
}

// fakeT records Errorf instead of failing the real test.
type fakeT struct {
	testing.TB
	failed bool
}

func (f *fakeT) Errorf(string, ...any) { f.failed = true }
func (f *fakeT) Helper()               {}
