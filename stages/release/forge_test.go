package release

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/pipeline-ci/pipeline/gitops"
	"github.com/pipeline-ci/pipeline/gitops/forgetest"
	"github.com/pipeline-ci/pipeline/internal/artifacts"
	"github.com/pipeline-ci/pipeline/internal/config"
	"github.com/pipeline-ci/pipeline/internal/errs"
	"github.com/pipeline-ci/pipeline/stages"
)

const token = "glpat-release-test-token"

// glFixture is a real repo (with origin) whose project lives on a fake
// GitLab: a week of work after v1.3.0, as MRs and issues on the forge.
type glFixture struct {
	r                   *repo
	srv                 *forgetest.Server
	forge               gitops.Forge
	mergeSHA, squashSHA string
}

func newGLFixture(t *testing.T) *glFixture {
	t.Helper()
	r := newRepo(t)
	r.commit("feat: the base")
	r.tag("v1.3.0")
	// MR !1 merged with a merge commit, GitLab style.
	r.run("checkout", "--quiet", "-b", "sso")
	r.commit("wip: sso")
	r.commit("more sso")
	r.run("checkout", "--quiet", "main")
	r.n++
	if _, err := r.gitErr(r.dir, nil, "merge", "--quiet", "--no-ff", "sso", "-m", "Merge branch 'sso' into 'main'\n\nfeat(ui): log in with SSO\n\nSee merge request appliance/os!1"); err != nil {
		t.Fatal(err)
	}
	merge := r.head()
	// MR !2 squash-merged: a plain title, labelled bug.
	squash := r.commit("Mirror sync retries")
	r.commit("docs: how to release")
	r.push()

	srv := forgetest.New(t, token)
	gl := srv.GitLab()
	gl.AddProject(42, "appliance/os")
	at := time.Date(2026, 11, 10, 9, 0, 0, 0, time.UTC)
	gl.AddIssue("42", forgetest.GLIssue{Title: "SSO login", State: "closed", ClosedAt: &at})
	gl.AddIssue("42", forgetest.GLIssue{Title: "Release docs", State: "closed", ClosedAt: &at})
	gl.AddMergeRequest("42", forgetest.GLMergeRequest{Title: "feat(ui): log in with SSO", Description: "Closes #1", SourceBranch: "sso",
		TargetBranch: "main", State: "merged", MergedAt: &at, MergeCommitSHA: &merge})
	gl.AddMergeRequest("42", forgetest.GLMergeRequest{Title: "Mirror sync retries", SourceBranch: "mirror", Labels: []string{"bug"},
		TargetBranch: "main", State: "merged", MergedAt: &at, SquashCommitSHA: &squash})
	ms := gl.AddMilestone("42", "2026-11-21", "active")
	gl.SetMilestone("42", "issue", 2, ms)
	f, err := gitops.NewGitLab(gitops.Options{BaseURL: srv.GitLabURL(), Project: "42", Token: token,
		Retry: gitops.Retry{Attempts: 2, Min: time.Millisecond, Max: 5 * time.Millisecond, MaxWait: 10 * time.Millisecond, Timeout: 2 * time.Second}})
	if err != nil {
		t.Fatal(err)
	}
	return &glFixture{r: r, srv: srv, forge: f, mergeSHA: merge, squashSHA: squash}
}

func (f *glFixture) env(edit func(*config.Release)) *stages.Env {
	e := f.r.env(f.forge, func(c *config.Release) {
		c.Comment = true
		c.Links = []config.ReleaseLink{{Name: "appliance-{version}.qcow2", URL: "https://s3.example.com/images/{tag}/appliance.qcow2"}}
		if edit != nil {
			edit(c)
		}
	})
	e.CI.WebURL = "https://gitlab.example.com/appliance/os"
	return e
}

func direct(c *config.Release) { c.Mode = config.ReleaseModeDirect }

// checkReleased asserts the forge and git hold exactly one of everything.
func (f *glFixture) checkReleased(t *testing.T, version string) {
	t.Helper()
	gl := f.srv.GitLab()
	rels := gl.Releases("42")
	if len(rels) != 1 || rels[0].TagName != "v"+version {
		t.Fatalf("releases %+v", rels)
	}
	notes := rels[0].Description
	for _, want := range []string{"### Features", "**ui:** log in with SSO ([!1](https://gitlab.example.com/appliance/os/-/merge_requests/1)), closes [#1]",
		"### Fixes", "Mirror sync retries ([!2]", "### Closed issues", "[#2](https://gitlab.example.com/appliance/os/-/issues/2) Release docs"} {
		if !strings.Contains(notes, want) {
			t.Errorf("release notes lack %q:\n%s", want, notes)
		}
	}
	if n := len(rels[0].Assets.Links); n != 1 || rels[0].Assets.Links[0].URL != "https://s3.example.com/images/v"+version+"/appliance.qcow2" {
		t.Errorf("release links %+v", rels[0].Assets.Links)
	}
	var titles []string
	for _, m := range gl.Milestones("42") {
		titles = append(titles, m.Title+"="+m.State)
	}
	if strings.Join(titles, " ") != "2026-11-21=closed 2026-11-28=active" {
		t.Errorf("milestones %v", titles)
	}
	comments := 0
	gl.Do("42", func(p *forgetest.GLProject) {
		for _, ns := range p.Notes {
			comments += len(ns)
		}
	})
	if comments != 4 { // !1, !2, #1, #2
		t.Errorf("%d comments, want 4", comments)
	}
	if got := f.r.tags(true); strings.Join(got, " ") != "v1.3.0 v"+version {
		t.Errorf("remote tags %v", got)
	}
	cl := f.r.git(f.r.remote, "show", "main:CHANGELOG.md")
	if count(cl, "## [") != 1 || count(cl, "## ["+version+"]") != 1 {
		t.Errorf("CHANGELOG on main:\n%s", cl)
	}
	if n := count(f.r.git(f.r.remote, "log", "--format=%s", "main"), "chore(release): "+version); n != 1 {
		t.Errorf("%d release commits on main", n)
	}
}

func TestGitLabDirectRelease(t *testing.T) {
	t.Parallel()
	f := newGLFixture(t)
	res, d := f.r.mustRelease(f.env(direct), Options{})
	if res.Outcome != stages.Passed || d.Version != "1.4.0" || d.Bump != "minor" {
		t.Fatalf("%+v %+v", res, d)
	}
	f.checkReleased(t, "1.4.0")
	if d.Counts["feature"] != 1 || d.Counts["fix"] != 1 || d.Counts["other"] != 1 {
		t.Errorf("counts %v", d.Counts)
	}
	// Fully released: a re-run writes nothing at all.
	writes := f.srv.Writes()
	res, _ = f.r.mustRelease(f.env(direct), Options{})
	if res.Outcome != stages.NoChange || f.srv.Writes() != writes {
		t.Errorf("re-run after a full release: %s, %d new writes", res.Outcome, f.srv.Writes()-writes)
	}
}

// TestReRunAfterEachStep stops the run right after each step in turn, then
// runs again: the second run must finish the job with exactly one commit,
// changelog entry, tag, release, milestone and comment of each.
func TestReRunAfterEachStep(t *testing.T) {
	t.Parallel()
	for _, step := range Steps {
		t.Run(step, func(t *testing.T) {
			t.Parallel()
			f := newGLFixture(t)
			_, _, err := f.r.release(f.env(direct), Options{FailAfter: step})
			if errs.KindOf(err) != errs.Infra || !strings.Contains(errs.Format(err), "after step "+step) {
				t.Fatalf("first run: %v", err)
			}
			res, d := f.r.mustRelease(f.env(direct), Options{})
			// After the last step everything is done: nothing is left.
			if step == StepForgeRelease && res.Outcome != stages.NoChange ||
				step != StepForgeRelease && (res.Outcome != stages.Passed || d.Version != "1.4.0") {
				t.Fatalf("re-run: %+v", res)
			}
			f.checkReleased(t, "1.4.0")
			res, _ = f.r.mustRelease(f.env(direct), Options{})
			if res.Outcome != stages.NoChange {
				t.Errorf("third run: %+v", res)
			}
		})
	}
}

// A fresh CI clone re-runs after the first run died: nothing local helps.
func TestReRunFromAFreshClone(t *testing.T) {
	t.Parallel()
	for _, step := range []string{StepPush, StepPushTag, StepMilestone} {
		t.Run(step, func(t *testing.T) {
			t.Parallel()
			f := newGLFixture(t)
			if _, _, err := f.r.release(f.env(direct), Options{FailAfter: step}); err == nil {
				t.Fatal("no injected fault")
			}
			clone := t.TempDir() + "/clone"
			f.r.git(t.TempDir(), "clone", "--quiet", f.r.remote, clone)
			c := &repo{t: t, dir: clone, remote: f.r.remote, n: 500}
			f.r = c
			res, d := c.mustRelease(f.env(direct), Options{})
			if res.Outcome != stages.Passed || d.Version != "1.4.0" {
				t.Fatalf("re-run in a fresh clone: %+v %+v", res, d)
			}
			f.checkReleased(t, "1.4.0")
		})
	}
}

func TestForgeFaultThenReRun(t *testing.T) {
	t.Parallel()
	f := newGLFixture(t)
	// The release endpoint fails longer than the client retries.
	f.srv.Inject(forgetest.Fault{Method: "POST", Path: "/api/v4/projects/*/releases", Kind: forgetest.ServerError, Times: 10})
	_, _, err := f.r.release(f.env(direct), Options{})
	if errs.KindOf(err) != errs.Infra {
		t.Fatalf("forge down: %v, want an infrastructure error", err)
	}
	f.srv.ClearFaults()
	res, d := f.r.mustRelease(f.env(direct), Options{})
	if !strings.Contains(res.Summary, "finishing 1.4.0") || !strings.Contains(d.Resumed, "forge release is missing") {
		t.Errorf("summary %q resumed %q", res.Summary, d.Resumed)
	}
	f.checkReleased(t, "1.4.0")
}

func TestGitLabReleaseMergeRequestFlow(t *testing.T) {
	t.Parallel()
	f := newGLFixture(t)
	mainBefore := f.r.git(f.r.remote, "rev-parse", "main")
	res, d := f.r.mustRelease(f.env(nil), Options{})
	if d.Mode != "mr" || !strings.Contains(res.Summary, "release MR for 1.4.0 is open") {
		t.Fatalf("%+v", res)
	}
	mrs := f.srv.GitLab().MergeRequests("42")
	if len(mrs) != 3 || mrs[2].Title != "chore(release): 1.4.0" || mrs[2].SourceBranch != "pipeline-release/main" || !strings.Contains(mrs[2].Description, "### Features") {
		t.Fatalf("release MR %+v", mrs[len(mrs)-1])
	}
	branch := f.r.git(f.r.remote, "rev-parse", "pipeline-release/main")
	if f.r.git(f.r.remote, "rev-parse", "main") != mainBefore || len(f.r.tags(true)) != 1 || len(f.srv.GitLab().Releases("42")) != 0 {
		t.Fatal("phase one touched main, tags or releases")
	}
	// Again: the same MR, unchanged (nothing new to say), the branch keeps its commit.
	_, d = f.r.mustRelease(f.env(nil), Options{})
	if n := len(f.srv.GitLab().MergeRequests("42")); n != 3 || f.r.git(f.r.remote, "rev-parse", "pipeline-release/main") != branch {
		t.Fatalf("second phase-one run: %d MRs, branch moved", n)
	}
	for _, a := range d.Actions {
		if a.Step == StepMergeRequest && a.Status != "exists" || a.Step == StepPush && a.Status != "exists" {
			t.Errorf("second run action %+v", a)
		}
	}
	// A developer merges the release MR (merge commit), and a commit lands.
	f.r.run("fetch", "--quiet", "origin", "pipeline-release/main")
	f.r.n++
	if _, err := f.r.gitErr(f.r.dir, nil, "merge", "--quiet", "--no-ff", "FETCH_HEAD", "-m", "Merge branch 'pipeline-release/main' into 'main'\n\nchore(release): 1.4.0\n\nSee merge request appliance/os!3"); err != nil {
		t.Fatal(err)
	}
	f.r.commit("fix: after the release")
	f.r.push()
	res, d = f.r.mustRelease(f.env(nil), Options{})
	if res.Outcome != stages.Passed || d.Version != "1.4.0" || !strings.Contains(res.Summary, "finishing 1.4.0 from its release commit") {
		t.Fatalf("phase two: %+v", res)
	}
	if got := f.r.run("rev-parse", "v1.4.0^{commit}"); got != branch {
		t.Errorf("tag at %s, want the release commit %s", got, branch)
	}
	f.checkReleased(t, "1.4.0")
	// The next run plans 1.4.1 from the fix, as a new release MR.
	_, d = f.r.mustRelease(f.env(nil), Options{})
	if d.Version != "1.4.1" || len(d.Changes) != 1 {
		t.Errorf("after the release: %s with %d changes", d.Version, len(d.Changes))
	}
}

func TestLabelBump(t *testing.T) {
	t.Parallel()
	r := newRepo(t)
	r.commit("feat: base")
	r.tag("v2.1.0")
	sq := r.commit("Faster mirror sync (#7)")
	r.push()
	// Without a forge the plain title is not releasable.
	if res, _ := r.mustRelease(r.env(nil, nil), Options{}); res.Outcome != stages.NoChange {
		t.Fatalf("no forge: %+v", res)
	}
	srv := forgetest.New(t, token)
	gl := srv.GitLab()
	gl.AddProject(42, "appliance/os")
	at := time.Date(2026, 11, 10, 9, 0, 0, 0, time.UTC)
	for i := 0; i < 6; i++ { // MRs !1..!6 unrelated to this range
		gl.AddMergeRequest("42", forgetest.GLMergeRequest{Title: fmt.Sprintf("old %d", i), TargetBranch: "main", State: "merged", MergedAt: &at})
	}
	gl.AddMergeRequest("42", forgetest.GLMergeRequest{Title: "Faster mirror sync", Labels: []string{"Enhancement"}, SourceBranch: "perf",
		TargetBranch: "main", State: "merged", MergedAt: &at, SquashCommitSHA: &sq})
	f, err := gitops.NewGitLab(gitops.Options{BaseURL: srv.GitLabURL(), Project: "42", Token: token})
	if err != nil {
		t.Fatal(err)
	}
	env := r.env(f, direct)
	env.DryRun = true
	_, d := r.mustRelease(env, Options{})
	if d.Version != "2.2.0" || !strings.Contains(d.Reason, "label Enhancement on !7") {
		t.Errorf("label bump: %s (%s)", d.Version, d.Reason)
	}
	if len(d.Changes) != 1 || d.Changes[0].MergeRequest == nil || d.Changes[0].MergeRequest.Number != 7 {
		t.Errorf("changes %+v", d.Changes)
	}
	if srv.Writes() != 0 {
		t.Errorf("dry run made %d forge writes", srv.Writes())
	}
}

func TestGitHubDirectRelease(t *testing.T) {
	t.Parallel()
	r := newRepo(t)
	r.commit("feat: base")
	r.tag("v0.4.0")
	sq := r.commit("Add the bridge firewall (#1)")
	r.commit("fix(net)!: drop the legacy bridge\n\nBREAKING CHANGE: br0 is gone; use br-lan.")
	r.push()
	srv := forgetest.New(t, token)
	gh := srv.GitHub()
	gh.AddRepo("appliance/os")
	at := time.Date(2026, 11, 10, 9, 0, 0, 0, time.UTC)
	gh.AddIssue("appliance/os", forgetest.GHIssue{Title: "Firewall for the bridge", State: "closed", ClosedAt: &at})
	body := "Fixes #1"
	gh.AddPull("appliance/os", forgetest.GHPull{Title: "Add the bridge firewall", Body: &body, State: "closed", MergedAt: &at, ClosedAt: &at,
		MergeCommitSHA: &sq, Labels: []forgetest.GHLabel{{Name: "enhancement"}}, Head: forgetest.GHBranchRef{Ref: "fw"}, Base: forgetest.GHBranchRef{Ref: "main"}})
	gh.AddMilestone("appliance/os", "2026-11-21", "open")
	f, err := gitops.NewGitHub(gitops.Options{BaseURL: srv.GitHubURL(), Project: "appliance/os", Token: token,
		Retry: gitops.Retry{Attempts: 2, Min: time.Millisecond, Max: 5 * time.Millisecond, MaxWait: 10 * time.Millisecond, Timeout: 2 * time.Second}})
	if err != nil {
		t.Fatal(err)
	}
	env := r.env(f, direct)
	env.CI.WebURL = "https://github.com/appliance/os"
	res, d := r.mustRelease(env, Options{})
	// 0.x: the breaking change bumps the minor version.
	if res.Outcome != stages.Passed || d.Version != "0.5.0" || !strings.Contains(d.Reason, "0.x") {
		t.Fatalf("%+v %+v", res, d)
	}
	rels := gh.Releases("appliance/os")
	if len(rels) != 1 || rels[0].TagName != "v0.5.0" {
		t.Fatalf("releases %+v", rels)
	}
	for _, want := range []string{"### Breaking changes", "**net:** drop the legacy bridge", "  br0 is gone; use br-lan.",
		"- Add the bridge firewall ([#2](https://github.com/appliance/os/pull/2))"} {
		if !strings.Contains(rels[0].Body, want) {
			t.Errorf("release body lacks %q:\n%s", want, rels[0].Body)
		}
	}
	var ms []string
	for _, m := range gh.Milestones("appliance/os") {
		ms = append(ms, m.Title+"="+m.State)
	}
	if strings.Join(ms, " ") != "2026-11-21=closed 2026-11-28=open" {
		t.Errorf("milestones %v", ms)
	}
	writes := srv.Writes()
	if res, _ := r.mustRelease(env, Options{}); res.Outcome != stages.NoChange || srv.Writes() != writes {
		t.Errorf("re-run: %s with %d writes", res.Outcome, srv.Writes()-writes)
	}
}

func TestJobTokenSaysWhichTokenIsNeeded(t *testing.T) {
	t.Parallel()
	f := newGLFixture(t)
	f.srv.AddJobToken("job-token-1234")
	jf, err := gitops.NewGitLab(gitops.Options{BaseURL: f.srv.GitLabURL(), Project: "42", Token: "job-token-1234", JobToken: true})
	if err != nil {
		t.Fatal(err)
	}
	f.forge = jf
	_, _, err = f.r.release(f.env(direct), Options{})
	if errs.KindOf(err) != errs.Usage || !strings.Contains(errs.Format(err), "PIPELINE_TOKEN") {
		t.Fatalf("job token only: %v", err)
	}
	if f.srv.Writes() != 0 || len(f.r.tags(true)) != 1 {
		t.Error("a run that cannot finish wrote something")
	}
}

func TestGitHubReleasePullRequest(t *testing.T) {
	t.Parallel()
	r := newRepo(t)
	r.commit("feat: base")
	r.tag("v1.0.0")
	r.commit("feat(ui): dark mode")
	r.push()
	srv := forgetest.New(t, token)
	srv.GitHub().AddRepo("appliance/os")
	f, err := gitops.NewGitHub(gitops.Options{BaseURL: srv.GitHubURL(), Project: "appliance/os", Token: token})
	if err != nil {
		t.Fatal(err)
	}
	for run := 1; run <= 2; run++ {
		_, d := r.mustRelease(r.env(f, nil), Options{})
		if d.Mode != "mr" || d.Version != "1.1.0" {
			t.Fatalf("run %d: %+v", run, d)
		}
	}
	pulls := srv.GitHub().Pulls("appliance/os")
	if len(pulls) != 1 || pulls[0].Title != "chore(release): 1.1.0" || pulls[0].Head.Ref != "pipeline-release/main" || pulls[0].Base.Ref != "main" {
		t.Fatalf("pull requests %+v", pulls)
	}
	if body := pulls[0].Body; body == nil || !strings.Contains(*body, "**ui:** dark mode") {
		t.Errorf("PR body %v", body)
	}
	if got := r.git(r.remote, "show", "pipeline-release/main:CHANGELOG.md"); count(got, "## [1.1.0]") != 1 {
		t.Errorf("CHANGELOG on the release branch:\n%s", got)
	}
}

func TestArtifactLinksFromManifests(t *testing.T) {
	t.Parallel()
	f := newGLFixture(t)
	storeDir := t.TempDir()
	st, err := artifacts.NewFileStore(storeDir)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	img, err := st.Put(ctx, "builds/1.4.0/appliance.qcow2", strings.NewReader("image"), 5)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := artifacts.WriteManifest(ctx, st, "builds/1.4.0", artifacts.Manifest{Build: "1.4.0", Objects: []artifacts.Object{img}}); err != nil {
		t.Fatal(err)
	}
	env := f.env(func(c *config.Release) {
		direct(c)
		c.Links = nil
		c.Manifests = []string{"builds/{version}/manifest.json", "images/{tag}/manifest.json"} // the second is not there
	})
	env.Config.Artifacts.URL = "file://" + storeDir
	f.r.mustRelease(env, Options{})
	rels := f.srv.GitLab().Releases("42")
	if len(rels) != 1 || len(rels[0].Assets.Links) != 1 || rels[0].Assets.Links[0].Name != "appliance.qcow2" || rels[0].Assets.Links[0].URL != img.URL {
		t.Fatalf("release links %+v, want %s", rels[0].Assets.Links, img.URL)
	}
}

// Mode mr, first phase: a run that dies after any of its steps, run again,
// leaves one release MR whose branch holds one release commit.
func TestReRunReleaseMergeRequest(t *testing.T) {
	t.Parallel()
	for _, step := range []string{StepFiles, StepCommit, StepPush, StepMergeRequest} {
		t.Run(step, func(t *testing.T) {
			t.Parallel()
			f := newGLFixture(t)
			if _, _, err := f.r.release(f.env(nil), Options{FailAfter: step}); err == nil {
				t.Fatal("no injected fault")
			}
			res, d := f.r.mustRelease(f.env(nil), Options{})
			if d.Mode != "mr" || !strings.Contains(res.Summary, "release MR for 1.4.0 is open") {
				t.Fatalf("re-run: %+v", res)
			}
			var release []forgetest.GLMergeRequest
			for _, m := range f.srv.GitLab().MergeRequests("42") {
				if m.SourceBranch == "pipeline-release/main" {
					release = append(release, m)
				}
			}
			if len(release) != 1 || release[0].State != "opened" {
				t.Fatalf("release MRs %+v", release)
			}
			log := f.r.git(f.r.remote, "log", "--format=%s", "main..pipeline-release/main")
			if log != "chore(release): 1.4.0" {
				t.Errorf("release branch has %q", log)
			}
			cl := f.r.git(f.r.remote, "show", "pipeline-release/main:CHANGELOG.md")
			if count(cl, "## [1.4.0]") != 1 {
				t.Errorf("CHANGELOG on the branch:\n%s", cl)
			}
			if f.r.run("status", "--porcelain") != "" {
				t.Error("mode mr touched the checkout")
			}
			if wt := f.r.run("worktree", "list"); strings.Count(wt, "\n") != 0 {
				t.Errorf("temporary worktrees left behind:\n%s", wt)
			}
		})
	}
}
