package stages

import (
	"context"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/pipeline-ci/pipeline/internal/artifacts"
	"github.com/pipeline-ci/pipeline/internal/config"
	"github.com/pipeline-ci/pipeline/internal/logging"
	"github.com/pipeline-ci/pipeline/internal/report"
	"github.com/pipeline-ci/pipeline/stages/handoff"
)

// TestHandOnMasksSecrets: a verdict whose summary quotes a secret (an
// error quoting a command line with a token in it) is masked in the
// report dir's copy and in the artifact store's.
func TestHandOnMasksSecrets(t *testing.T) {
	const secret = `glpat-Handoff"Secret0001`
	masker := &logging.Masker{}
	masker.Add(secret)
	log, err := logging.New(io.Discard, logging.Options{}, masker)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	st, err := artifacts.NewFileStore(filepath.Join(dir, "store"))
	if err != nil {
		t.Fatal(err)
	}
	env := &Env{Repo: dir, Config: config.Default(), Log: log, Report: &report.Dir{Path: filepath.Join(dir, "reports")}}
	v := &handoff.Verdict{Stage: "promote", Commit: strings.Repeat("a", 40), Outcome: handoff.OutcomeFailed,
		Summary: `test "make bvt TOKEN=` + secret + `" exited 2`}
	if err := env.HandOn(context.Background(), st, v); err != nil {
		t.Fatal(err)
	}
	files := 0
	filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		files++
		b, _ := os.ReadFile(p)
		if strings.Contains(string(b), "Secret0001") {
			t.Errorf("%s holds the secret:\n%s", p, b)
		}
		if !strings.Contains(string(b), logging.Masked) {
			t.Errorf("%s does not hold the masked summary:\n%s", p, b)
		}
		return nil
	})
	if files < 2 {
		t.Fatalf("%d file(s) written, want the report dir's and the store's", files)
	}
}
