package stages

import (
	"context"
	"path/filepath"
	"strings"
	"testing"

	"github.com/pipeline-ci/pipeline/gitops"
	"github.com/pipeline-ci/pipeline/gitops/forgetest"
	"github.com/pipeline-ci/pipeline/internal/artifacts"
	"github.com/pipeline-ci/pipeline/internal/ci"
	"github.com/pipeline-ci/pipeline/internal/config"
	"github.com/pipeline-ci/pipeline/internal/logging"
	"github.com/pipeline-ci/pipeline/stages/handoff"
)

func TestRecordVerdictStoresAndAnswersTheCheck(t *testing.T) {
	srv := forgetest.New(t, "tok")
	gl := srv.GitLab()
	gl.AddProject(5, "g/p")
	iid := gl.AddMergeRequest("5", forgetest.GLMergeRequest{Title: "fix: x", SourceBranch: "x", TargetBranch: "main"})
	head := gl.MergeRequests("5")[0].SHA
	check := gl.AddExternalStatusCheck("5", "integration", "https://agent/checks/integration", "s")
	forge, err := gitops.NewGitLab(gitops.Options{BaseURL: srv.GitLabURL(), Project: "5", Token: "tok"})
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	cfg := config.Default()
	cfg.Artifacts.URL = "file://" + filepath.Join(dir, "store")
	env := &Env{Repo: dir, Config: cfg, Log: logging.Discard(), Forge: forge,
		CI: ci.Context{Provider: ci.GitLab, SHA: strings.Repeat("e", 40), MergeRequest: int(iid), JobURL: "https://ci/job/3",
			Env: ci.MapEnv{"CI_MERGE_REQUEST_SOURCE_BRANCH_SHA": head}}}
	ctx := context.Background()
	st, _ := artifacts.NewFileStore(filepath.Join(dir, "store"))
	read := func() *handoff.Verdict {
		v, err := handoff.ReadVerdict(ctx, st, handoff.ShardVerdictKey(head, "integration", ""))
		if err != nil {
			t.Fatal(err)
		}
		return v
	}

	// Neither a dry run nor an outcome that is not a verdict records anything.
	env.DryRun = true
	RecordVerdict(ctx, env, &handoff.Verdict{Stage: "integration", Outcome: handoff.OutcomeFailed, Summary: "1 failed", Failed: 1})
	env.DryRun = false
	RecordVerdict(ctx, env, &handoff.Verdict{Stage: "integration", Outcome: "error", Summary: "no target"})
	RecordVerdict(ctx, env, &handoff.Verdict{Stage: "integration", Outcome: "skipped", Summary: "none"})
	if v := read(); v != nil {
		t.Fatalf("recorded %+v", v)
	}

	// No check id configured: recorded on the MR head, not answered.
	RecordVerdict(ctx, env, &handoff.Verdict{Stage: "integration", Outcome: handoff.OutcomeFailed, Summary: "1 passed, 1 failed", Passed: 1, Failed: 1})
	v := read()
	if v == nil || v.Commit != head || v.Outcome != "failed" || v.Passed != 1 || v.Failed != 1 || v.URL != "https://ci/job/3" {
		t.Fatalf("verdict %+v", v)
	}
	if n := len(gl.StatusCheckResponses("5")); n != 0 {
		t.Fatalf("%d answers without a configured check", n)
	}
	// The same verdict again: the first one is kept.
	first := v.Time
	RecordVerdict(ctx, env, &handoff.Verdict{Stage: "integration", Outcome: handoff.OutcomeFailed, Summary: "1 passed, 1 failed", Passed: 1, Failed: 1})
	if v := read(); !v.Time.Equal(first) {
		t.Fatalf("an unchanged verdict was rewritten")
	}

	// With the check's id: answered with the verdict.
	cfg.Serve.Checks = []config.ServeCheck{{Name: "integration", SecretEnv: "S", ID: int(check)}}
	RecordVerdict(ctx, env, &handoff.Verdict{Stage: "integration", Outcome: handoff.OutcomePassed, Summary: "2 passed", Passed: 2})
	got := gl.StatusCheckResponses("5")
	if len(got) != 1 || got[0].CheckID != check || got[0].SHA != head || got[0].Status != "passed" {
		t.Fatalf("answers %+v", got)
	}

	// One shard of two passed: pending, nothing answered; the second
	// failed: failed.
	sharded := strings.Repeat("f", 40)
	env.CI.Env = ci.MapEnv{"CI_MERGE_REQUEST_SOURCE_BRANCH_SHA": sharded}
	gl.Do("5", func(p *forgetest.GLProject) { p.MRs[0].SHA = sharded })
	RecordVerdict(ctx, env, &handoff.Verdict{Stage: "integration", Outcome: handoff.OutcomePassed, Summary: "1 passed", Passed: 1, Shard: "1/2"})
	if n := len(gl.StatusCheckResponses("5")); n != 1 {
		t.Fatalf("one shard of two answered the check")
	}
	RecordVerdict(ctx, env, &handoff.Verdict{Stage: "integration", Outcome: handoff.OutcomeFailed, Summary: "1 failed", Failed: 1, Shard: "2/2"})
	got = gl.StatusCheckResponses("5")
	if len(got) != 2 || got[1].Status != "failed" || got[1].SHA != sharded {
		t.Fatalf("answers %+v", got)
	}
}
