package gitops

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/pipeline-ci/pipeline/gitops/forgetest"
)

// TestFakeConformsToTheAPIDescriptions drives the real client libraries
// through every call the forges' clients make — the scenario the stages'
// calls follow, plus the refusals (status transitions, cherry-pick
// conflicts and empty picks, a stale external status check, missing
// releases) — and checks every answer the fake gave against GitLab's and
// GitHub's API descriptions (forgetest/testdata/openapi): each operation
// is described, each status code is one it may answer, and each body has
// the required fields with the described types. Every described operation
// must have been reached, so the descriptions list exactly what the
// clients call.
func TestFakeConformsToTheAPIDescriptions(t *testing.T) {
	ctx := context.Background()
	for _, fx := range fixtures(t, fastRetry) {
		t.Run(fx.name, func(t *testing.T) {
			scenario(t, fx)
			// Refusals and the calls only some stages make.
			f := fx.forge
			if _, err := f.GetRelease(ctx, "v0.0.1"); err != nil {
				t.Fatal(err)
			}
			st := Status{SHA: fx.sha2, Ref: "main", Name: "pipeline/bvt", State: "running"}
			if err := f.SetStatus(ctx, st); err != nil {
				t.Fatal(err)
			}
			st.State = "pending"
			if err := f.SetStatus(ctx, st); fx.name == "gitlab" && !errors.Is(err, ErrStatusKept) {
				t.Fatalf("running → pending on GitLab: %v", err)
			}
			// A lost answer: the client reads the statuses back.
			fx.srv.Inject(forgetest.Fault{Method: "POST", Path: "/api/v*/**/statuses/*", Kind: forgetest.DropAfter})
			if err := f.SetStatus(ctx, Status{SHA: fx.sha2, Ref: "main", Name: "pipeline/lost", State: "success"}); err != nil {
				t.Fatal(err)
			}
			// An issue comment edited in place.
			if err := f.UpsertComment(ctx, CommentTarget{Issue: 1}, "release", "fixed in 1.2.1"); err != nil {
				t.Fatal(err)
			}
			var desc *forgetest.Description
			var err error
			if fx.name == "gitlab" {
				gitlabOnlyCalls(t, fx)
				desc, err = forgetest.GitLabDescription()
			} else {
				desc, err = forgetest.GitHubDescription()
			}
			if err != nil {
				t.Fatal(err)
			}
			descs := []*forgetest.Description{desc}
			if fx.name == "gitlab" {
				official, err := forgetest.GitLabOfficialDescription()
				if err != nil {
					t.Fatal(err)
				}
				// GitLab answers these POSTs 201 Created (Grape's default for a
				// POST; GitLab's docs, see gitlab.json); the file lists only
				// 200, the code the endpoints declare to grape-swagger.
				official.Allow("POST /projects/{id}/statuses/{sha}", 201, "docs: commits.md, set the pipeline status of a commit")
				official.Allow("POST /projects/{id}/repository/commits/{sha}/cherry_pick", 201, "docs: commits.md, cherry-pick a commit")
				descs = append(descs, official)
			}
			for _, desc := range descs {
				t.Logf("checked against %s", desc.Version())
				diffs, unreached := fx.srv.Conformance(desc)
				for _, d := range diffs {
					t.Errorf("%s: %s", desc.Name, d)
				}
				if len(unreached) > 0 {
					t.Errorf("%s: described operations no client call reached (drop them from the description, or call them here):\n  %s", desc.Name, strings.Join(unreached, "\n  "))
				}
			}
		})
	}
}

// gitlabOnlyCalls makes the calls only GitLab has: cherry-picks (picked,
// dry run, empty, conflict) and external status checks.
func gitlabOnlyCalls(t *testing.T, fx *fixture) {
	t.Helper()
	ctx := context.Background()
	gl := fx.srv.GitLab()
	f := fx.forge.(*GitLab)
	pick := gl.AddCommit("42", "staging", "fix: boot")
	clash := gl.AddCommit("42", "staging", "fix: clash")
	gl.Do("42", func(p *forgetest.GLProject) { p.ConflictingSHA[clash] = true })
	if _, err := f.CherryPick(ctx, pick, "main", "", true); err != nil {
		t.Fatal(err)
	}
	if _, err := f.CherryPick(ctx, pick, "main", "", false); err != nil {
		t.Fatal(err)
	}
	if _, err := f.CherryPick(ctx, fx.sha, "main", "", false); !errors.Is(err, ErrEmptyPick) {
		t.Fatalf("empty pick: %v", err)
	}
	var ce *ConflictError
	if _, err := f.CherryPick(ctx, clash, "main", "", false); !errors.As(err, &ce) {
		t.Fatalf("conflicting pick: %v", err)
	}
	mr := gl.AddMergeRequest("42", forgetest.GLMergeRequest{Title: "fix", SourceBranch: "staging", TargetBranch: "main", State: "opened"})
	check := gl.AddExternalStatusCheck("42", "bvt", "http://127.0.0.1:1/hook", "")
	head, _, err := f.MergeRequestHead(ctx, int(mr))
	if err != nil {
		t.Fatal(err)
	}
	id, err := f.ExternalStatusCheckID(ctx, "bvt")
	if err != nil || id != int(check) {
		t.Fatalf("check id %d, %v; want %d", id, err, check)
	}
	if err := f.SetExternalStatusCheck(ctx, int(mr), id, head, "passed"); err != nil {
		t.Fatal(err)
	}
	if err := f.SetExternalStatusCheck(ctx, int(mr), id, fx.sha2, "passed"); !errors.Is(err, ErrStaleSHA) {
		t.Fatalf("stale sha: %v", err)
	}
}
