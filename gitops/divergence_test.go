package gitops

import (
	"context"
	"errors"
	"strconv"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/pipeline-ci/pipeline/gitops/forgetest"
	"github.com/pipeline-ci/pipeline/internal/ci"
	"github.com/pipeline-ci/pipeline/internal/config"
)

// GitLab refuses some status moves with 400 "Cannot transition status".
// Where the status already has the state asked for, that is success; where
// GitLab kept another state, SetStatus says so (ErrStatusKept) and the
// status on the server is unchanged.
func TestGitLabStatusTransitions(t *testing.T) {
	ctx := context.Background()
	cases := []struct {
		from, to string
		kept     bool // GitLab refuses and keeps from
	}{
		{"pending", "pending", false}, // refused, but already pending
		{"running", "running", false}, // refused, but already running
		{"pending", "running", false},
		{"running", "success", false},
		{"running", "pending", true},
		{"running", "skipped", true},
		{"pending", "skipped", true},
	}
	for _, c := range cases {
		t.Run(c.from+"→"+c.to, func(t *testing.T) {
			fx := gitlabFixture(t, fastRetry)
			st := Status{SHA: fx.sha, Ref: "main", Name: "pipeline/bvt", State: c.from}
			if err := fx.forge.SetStatus(ctx, st); err != nil {
				t.Fatal(err)
			}
			st.State = c.to
			err := fx.forge.SetStatus(ctx, st)
			all := fx.srv.GitLab().Statuses("42")
			last := all[len(all)-1].Status
			if !c.kept {
				if err != nil || last != c.to {
					t.Fatalf("err = %v, status on GitLab %s; want nil and %s", err, last, c.to)
				}
				return
			}
			var kept *StatusKeptError
			if !errors.Is(err, ErrStatusKept) || !errors.As(err, &kept) || kept.Kept != c.from {
				t.Fatalf("err = %v; want a StatusKeptError naming %s", err, c.from)
			}
			if last != c.from {
				t.Fatalf("GitLab shows %s, want %s kept", last, c.from)
			}
		})
	}
}

// In a merge request pipeline a status on the pipeline's commit joins that
// pipeline (pipeline_id, ref refs/merge-requests/IID/head) instead of
// making GitLab open an external pipeline on the source branch.
func TestGitLabStatusJoinsTheMergeRequestPipeline(t *testing.T) {
	srv := forgetest.New(t, apiToken)
	gl := srv.GitLab()
	gl.AddProject(42, "appliance/os")
	sha := gl.AddCommit("42", "fix-boot", "fix: boot order")
	mrRef := "refs/merge-requests/7/head"
	pid := gl.AddPipeline("42", sha, mrRef, "merge_request_event")
	env := ci.MapEnv{
		"GITLAB_CI": "true", "CI_API_V4_URL": srv.GitLabURL(), "CI_PROJECT_ID": "42", "CI_COMMIT_SHA": sha,
		"CI_COMMIT_REF_NAME": "fix-boot", "CI_MERGE_REQUEST_IID": "7", "CI_MERGE_REQUEST_REF_PATH": mrRef,
		"CI_PIPELINE_ID": itoa(pid), "CI_PIPELINE_SOURCE": "merge_request_event", "PIPELINE_TOKEN": apiToken,
	}
	c := ci.Detect(env)
	f, err := OpenForge(config.Forge{}, c, nil)
	if err != nil {
		t.Fatal(err)
	}
	// What the stages send: the CI commit and its branch.
	if err := f.SetStatus(context.Background(), Status{SHA: sha, Ref: "fix-boot", Name: "pipeline/build", State: "running"}); err != nil {
		t.Fatal(err)
	}
	if pls := gl.Pipelines("42"); len(pls) != 1 {
		t.Fatalf("GitLab has %d pipelines %+v, want only the MR pipeline", len(pls), pls)
	}
	st := gl.Statuses("42")
	if len(st) != 1 || st[0].PipelineID != pid || st[0].Ref != mrRef {
		t.Fatalf("status %+v, want it in pipeline %d on %s", st, pid, mrRef)
	}
	// A status on another commit is not forced into this pipeline.
	other := gl.AddCommit("42", "main", "other")
	if err := f.SetStatus(context.Background(), Status{SHA: other, Ref: "main", Name: "pipeline/build", State: "running"}); err != nil {
		t.Fatal(err)
	}
	if pls := gl.Pipelines("42"); len(pls) != 2 || pls[1].Source != "external" || pls[1].Ref != "main" {
		t.Fatalf("pipelines %+v, want an external one on main for the other commit", pls)
	}

	// A branch pipeline: pipeline_id alone, GitLab takes the pipeline's ref.
	bsha := gl.AddCommit("42", "staging", "fix: more")
	bid := gl.AddPipeline("42", bsha, "staging", "push")
	benv := ci.MapEnv{"GITLAB_CI": "true", "CI_API_V4_URL": srv.GitLabURL(), "CI_PROJECT_ID": "42", "CI_COMMIT_SHA": bsha,
		"CI_COMMIT_REF_NAME": "staging", "CI_COMMIT_BRANCH": "staging", "CI_PIPELINE_ID": itoa(bid), "PIPELINE_TOKEN": apiToken}
	bf, err := OpenForge(config.Forge{}, ci.Detect(benv), nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := bf.SetStatus(context.Background(), Status{SHA: bsha, Ref: "some-other-ref", Name: "pipeline/build", State: "success"}); err != nil {
		t.Fatal(err)
	}
	all := gl.Statuses("42")
	if last := all[len(all)-1]; last.PipelineID != bid || last.Ref != "staging" || len(gl.Pipelines("42")) != 3 {
		t.Fatalf("status %+v, pipelines %+v; want it in the branch pipeline %d", last, gl.Pipelines("42"), bid)
	}
}

// GitLab's cherry-pick 400 says why in error_code: "empty" (the branch has
// the change already) is not a conflict.
func TestGitLabCherryPickEmptyIsNotAConflict(t *testing.T) {
	ctx := context.Background()
	fx := gitlabFixture(t, fastRetry)
	gl := fx.srv.GitLab()
	pick := gl.AddCommit("42", "staging", "fix: boot")
	hot := gl.AddCommit("42", "staging", "fix: hot")
	gl.Do("42", func(p *forgetest.GLProject) { p.EmptySHA[pick] = true; p.ConflictingSHA[hot] = true })

	_, err := fx.forge.CherryPick(ctx, pick, "main", "", false)
	var ce *ConflictError
	if !errors.Is(err, ErrEmptyPick) || errors.As(err, &ce) {
		t.Fatalf("already-applied pick: err = %v, want ErrEmptyPick and no ConflictError", err)
	}
	_, err = fx.forge.CherryPick(ctx, hot, "main", "", false)
	if !errors.As(err, &ce) || errors.Is(err, ErrEmptyPick) {
		t.Fatalf("conflicting pick: err = %v, want a ConflictError", err)
	}
	// A commit already in the branch's history picks empty too.
	if _, err := fx.forge.CherryPick(ctx, fx.sha, "main", "", false); !errors.Is(err, ErrEmptyPick) {
		t.Fatalf("pick of an ancestor: err = %v, want ErrEmptyPick", err)
	}
}

// Descriptions are cut by characters, never inside a UTF-8 sequence, to
// each forge's limit; a target URL that is not http(s) is refused before
// any request.
func TestStatusTextLimitsCountCharacters(t *testing.T) {
	ctx := context.Background()
	long := strings.Repeat("é✓", 200) // 400 characters, 1000 bytes
	for _, fx := range fixtures(t, fastRetry) {
		t.Run(fx.name, func(t *testing.T) {
			limit := map[string]int{"gitlab": 255, "github": 140}[fx.name]
			if err := fx.forge.SetStatus(ctx, Status{SHA: fx.sha, Ref: "main", Name: "pipeline/bvt", State: "success",
				Description: long, TargetURL: "https://ci.example.com/jobs/1"}); err != nil {
				t.Fatal(err)
			}
			var desc string
			if fx.name == "gitlab" {
				all := fx.srv.GitLab().Statuses("42")
				desc = *all[len(all)-1].Description
			} else {
				all := fx.srv.GitHub().Statuses("appliance/os")
				desc = *all[len(all)-1].Description
			}
			if !utf8.ValidString(desc) || utf8.RuneCountInString(desc) != limit || !strings.HasSuffix(desc, "…") {
				t.Fatalf("description of %d characters (valid UTF-8: %v), want %d ending in …", utf8.RuneCountInString(desc), utf8.ValidString(desc), limit)
			}
			// A description at the limit is sent whole.
			exact := strings.Repeat("ü", limit)
			if err := fx.forge.SetStatus(ctx, Status{SHA: fx.sha2, Ref: "main", Name: "pipeline/bvt", State: "success", Description: exact}); err != nil {
				t.Fatal(err)
			}
			before := len(fx.srv.Requests())
			for _, bad := range []string{"ci.example.com/jobs/1", "javascript:alert(1)", "ftp://ci.example.com/1", "https://"} {
				err := fx.forge.SetStatus(ctx, Status{SHA: fx.sha, Name: "pipeline/bvt", State: "failed", TargetURL: bad})
				if err == nil || !strings.Contains(err.Error(), "not an http(s) URL") {
					t.Errorf("target URL %q: err = %v, want it refused", bad, err)
				}
			}
			if n := len(fx.srv.Requests()) - before; n != 0 {
				t.Errorf("%d requests sent for invalid target URLs", n)
			}
		})
	}
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }

// GitLab refuses a pipeline_id that does not match the sha and ref (404).
func TestGitLabStatusPipelineMismatchIsRefused(t *testing.T) {
	fx := gitlabFixture(t, fastRetry)
	gl := fx.srv.GitLab()
	pid := gl.AddPipeline("42", fx.sha, "main", "push")
	err := fx.forge.SetStatus(context.Background(), Status{SHA: fx.sha2, Ref: "main", Name: "x", State: "running", PipelineID: int(pid)})
	if err == nil || !strings.Contains(err.Error(), "404") {
		t.Fatalf("err = %v, want GitLab's 404 for a pipeline on another commit", err)
	}
}
