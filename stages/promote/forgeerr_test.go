package promote

import (
	"bytes"
	"context"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/pipeline-ci/pipeline/gitops"
	"github.com/pipeline-ci/pipeline/gitops/forgetest"
	"github.com/pipeline-ci/pipeline/internal/ci"
	"github.com/pipeline-ci/pipeline/internal/config"
	"github.com/pipeline-ci/pipeline/internal/errs"
	"github.com/pipeline-ci/pipeline/internal/logging"
	"github.com/pipeline-ci/pipeline/internal/report"
	"github.com/pipeline-ci/pipeline/stages"
)

// TestForgeErrorSaysTheCallOnce: a culprit comment the forge keeps
// refusing is said with the call named once: "gitlab: comment on !1: …",
// not "comment on !1: gitlab: comment on !1: …", in the log and the
// report (the error is the culprit's).
func TestForgeErrorSaysTheCallOnce(t *testing.T) {
	f := newFixture(t)
	f.commit()
	culprit := f.commit("x.broken")
	f.pushStaging()

	srv := forgetest.New(t, "glpat-test")
	gl := srv.GitLab()
	gl.AddProject(42, "appliance/os")
	merged := time.Now().UTC()
	gl.AddMergeRequest("42", forgetest.GLMergeRequest{Title: "break it", SourceBranch: "feature", TargetBranch: "staging",
		State: "merged", MergedAt: &merged, SHA: culprit, MergeCommitSHA: &culprit})
	forge, err := gitops.NewGitLab(gitops.Options{BaseURL: srv.GitLabURL(), Project: "42", Token: "glpat-test",
		Retry: gitops.Retry{Min: time.Millisecond, Max: 5 * time.Millisecond}})
	if err != nil {
		t.Fatal(err)
	}
	srv.Inject(forgetest.Fault{Method: "POST", Path: "/api/v4/projects/*/merge_requests/*/notes", Kind: forgetest.ServerError, Times: 1000})

	cfg := config.Default()
	cfg.Promote.Test = f.test
	cfg.Promote.Workdir = filepath.Join(f.dir, "work-forgeerr")
	var logBuf bytes.Buffer
	log, err := logging.New(&syncWriter{w: &logBuf}, logging.Options{Level: "info"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	env := &stages.Env{Repo: f.ci, Config: cfg, CI: ci.Context{Provider: ci.GitLab}, Log: log,
		Report: &report.Dir{Path: filepath.Join(f.dir, "reports")}, Forge: forge}
	res, err := New().Run(context.Background(), env)
	if errs.KindOf(err) != errs.Failure {
		t.Fatalf("err = %v, want the culprit's failure", err)
	}
	var failed string
	for _, a := range res.Data.(*Report).Forge {
		if a.Action == "comment" {
			failed = a.Error
		}
	}
	for where, text := range map[string]string{"log": logBuf.String(), "report": failed} {
		if !strings.Contains(text, "gitlab: comment on !1") {
			t.Errorf("%s does not name the call:\n%s", where, text)
		}
		if n := strings.Count(text, "comment on !1"); n != 1 {
			t.Errorf("%s names the call %d times:\n%s", where, n, text)
		}
	}
}
