package promote

import (
	"context"
	"errors"
	"flag"
	"maps"
	"os"
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

var update = flag.Bool("update", false, "rewrite the golden files")

// TestForgeReports runs promote against the fake GitLab through the real
// client: a status on every candidate, one comment on the culprit's MR
// (updated in place by a re-run), a commit comment for a culprit without
// an MR — with the forge failing now and then.
func TestForgeReports(t *testing.T) {
	f := newFixture(t)
	f.commit()
	f.commit("x.broken")
	f.commit()
	f.commit("y.broken")
	f.commit()
	f.pushStaging()

	srv := forgetest.New(t, "glpat-test")
	gl := srv.GitLab()
	gl.AddProject(42, "appliance/os")
	merged := time.Now().UTC()
	culprit := f.commits[1]
	gl.AddMergeRequest("42", forgetest.GLMergeRequest{Title: "break it", SourceBranch: "feature", TargetBranch: "staging",
		State: "merged", MergedAt: &merged, SHA: culprit, MergeCommitSHA: &culprit})
	forge, err := gitops.NewGitLab(gitops.Options{BaseURL: srv.GitLabURL(), Project: "42", Token: "glpat-test",
		Retry: gitops.Retry{Min: time.Millisecond, Max: 10 * time.Millisecond}})
	if err != nil {
		t.Fatal(err)
	}
	// Every status call fails once first: the client retries.
	srv.Inject(forgetest.Fault{Method: "POST", Path: "/api/v4/projects/*/statuses/*", Kind: forgetest.ServerError, EachRequest: true})

	run := func() *Report {
		cfg := config.Default()
		cfg.Promote.Test = f.test
		cfg.Promote.Workdir = filepath.Join(f.dir, "work-forge")
		env := &stages.Env{Repo: f.ci, Config: cfg, CI: ci.Context{Provider: ci.GitLab, JobURL: "https://gitlab.example.com/appliance/os/-/jobs/7"},
			Log: logging.Discard(), Report: &report.Dir{Path: filepath.Join(f.dir, "reports")}, Forge: forge}
		res, err := New().Run(context.Background(), env)
		if errs.KindOf(err) != errs.Failure {
			t.Fatalf("err = %v, want a failure (culprits)", err)
		}
		return res.Data.(*Report)
	}
	rep := run()
	f.check(rep, map[int]State{1: Culprit, 3: Culprit})

	want := map[string]string{f.commits[0]: "success", f.commits[1]: "failed", f.commits[2]: "success", f.commits[3]: "failed", f.commits[4]: "success"}
	got := map[string]string{}
	for _, s := range gl.Statuses("42") {
		if s.Name != "promote/master" {
			t.Errorf("status name %q", s.Name)
		}
		got[s.SHA] = s.Status
	}
	for sha, st := range want {
		if got[sha] != st {
			t.Errorf("status of %s: %q, want %q", short(sha), got[sha], st)
		}
	}

	notes := gl.Notes("42", "mr:1")
	if len(notes) != 1 {
		t.Fatalf("%d notes on the culprit's MR, want 1", len(notes))
	}
	body := notes[0].Body
	for _, s := range []string{short(culprit), "breaks `master`", "FAIL: x.broken is present", "The 1 commit(s) before it were."} {
		if !strings.Contains(body, s) {
			t.Errorf("MR comment lacks %q:\n%s", s, body)
		}
	}
	if notes := gl.Notes("42", "commit:"+f.commits[3]); len(notes) != 1 || !strings.Contains(notes[0].Body, "FAIL: y.broken is present") {
		t.Errorf("commit comment on the second culprit: %+v", notes)
	}

	// A re-run updates the same comments instead of adding new ones.
	run()
	if n := len(gl.Notes("42", "mr:1")); n != 1 {
		t.Errorf("%d notes on the MR after a re-run, want 1", n)
	}
	if n := len(gl.Notes("42", "commit:"+f.commits[3])); n != 1 {
		t.Errorf("%d commit notes after a re-run, want 1", n)
	}
}

// TestRerunIsQuiet: run again with staging unchanged, promote finds the
// same culprit and renders the same comment, so the comment is not written
// again, and it still says that the commit before the culprit was promoted
// (by the first run: master's trailers say so, not this run's landings).
func TestRerunIsQuiet(t *testing.T) {
	f := newFixture(t)
	f.commit()
	culprit := f.commit("x.broken")
	f.commit()
	f.pushStaging()

	srv := forgetest.New(t, "glpat-test")
	gl := srv.GitLab()
	gl.AddProject(42, "appliance/os")
	merged := time.Now().UTC()
	gl.AddMergeRequest("42", forgetest.GLMergeRequest{Title: "break it", SourceBranch: "feature", TargetBranch: "staging",
		State: "merged", MergedAt: &merged, SHA: culprit, MergeCommitSHA: &culprit})
	forge, err := gitops.NewGitLab(gitops.Options{BaseURL: srv.GitLabURL(), Project: "42", Token: "glpat-test",
		Retry: gitops.Retry{Min: time.Millisecond, Max: 10 * time.Millisecond}})
	if err != nil {
		t.Fatal(err)
	}
	run := func(job string) *Report {
		cfg := config.Default()
		cfg.Promote.Test = f.test
		cfg.Promote.Workdir = filepath.Join(f.dir, "work-quiet")
		// The fixture's test prints the commit and tree it ran on, which
		// differ between the runs (master moved): quote only the verdict.
		cfg.Promote.OutputTail = 1
		env := &stages.Env{Repo: f.ci, Config: cfg, CI: ci.Context{Provider: ci.GitLab, JobURL: "https://gitlab.example.com/appliance/os/-/jobs/" + job},
			Log: logging.Discard(), Report: &report.Dir{Path: filepath.Join(f.dir, "reports-"+job)}, Forge: forge}
		res, err := New().Run(context.Background(), env)
		if errs.KindOf(err) != errs.Failure {
			t.Fatalf("run %s: err = %v, want a failure (culprit)", job, err)
		}
		return res.Data.(*Report)
	}
	noteWrites := func() int {
		// Every write but the statuses, which are posted again (see below).
		return srv.Writes() - srv.Count("POST", "/api/v4/projects/*/statuses/*")
	}
	rep := run("1")
	f.check(rep, map[int]State{1: Culprit})
	notes := gl.Notes("42", "mr:1")
	if len(notes) != 1 {
		t.Fatalf("%d notes on the culprit's MR, want 1", len(notes))
	}
	first := notes[0].Body
	// One commit before it was promoted; the one after it too, but that
	// is not "before it".
	if !strings.Contains(first, "The 1 commit(s) before it were.") {
		t.Errorf("first comment does not say the commit before it was promoted:\n%s", first)
	}
	writes := noteWrites()
	if writes == 0 {
		t.Fatal("the first run wrote nothing to the forge")
	}
	latest := func() map[string]string {
		m := map[string]string{}
		for _, st := range gl.Statuses("42") {
			m[st.SHA] = st.Status + " " + *st.Description
		}
		return m
	}
	before := latest()

	rep = run("2")
	if len(rep.Candidates) != 1 || rep.Candidates[0].SHA != culprit || rep.Candidates[0].State != Culprit {
		t.Fatalf("re-run: candidates %+v, want only the culprit", rep.Candidates)
	}
	// The re-run found the same culprit by another search (the commits
	// promoted meanwhile are no longer in the batch): the comment is
	// edited once, to draw that search; its words stay the same.
	if n := noteWrites() - writes; n > 1 {
		t.Errorf("re-run with nothing new made %d forge write(s) besides statuses, want at most the comment's edit", n)
	}
	withoutDiagram := func(body string) string {
		before, rest, ok := strings.Cut(body, "```mermaid\n")
		_, after, ok2 := strings.Cut(rest, "```")
		if !ok || !ok2 {
			t.Fatalf("comment without a diagram:\n%s", body)
		}
		return before + after
	}
	notes = gl.Notes("42", "mr:1")
	if len(notes) != 1 || withoutDiagram(notes[0].Body) != withoutDiagram(first) {
		t.Errorf("re-run changed the comment's text:\n%+v\nwas:\n%s", notes, first)
	}
	// A third run searches as the second did: nothing is written at all.
	second, writes := notes[0].Body, noteWrites()
	rep = run("3")
	if n := noteWrites() - writes; n != 0 {
		t.Errorf("a run that searched as the one before made %d forge write(s) besides statuses", n)
	}
	if notes = gl.Notes("42", "mr:1"); len(notes) != 1 || notes[0].Body != second {
		t.Errorf("third run changed the comment:\n%+v\nwas:\n%s", notes, second)
	}
	for _, a := range rep.Forge {
		if a.Action == "comment" && a.Result != "done" {
			t.Errorf("re-run comment action %+v", a)
		}
	}
	// The stage cannot read the statuses back, so the re-run posts the
	// culprit's again (with the new job's link); it must say the same.
	if after := latest(); !maps.Equal(after, before) {
		t.Errorf("statuses after the re-run %v, want %v", after, before)
	}
}

// TestCommentGolden renders the culprit comment of a fixed report.
func TestCommentGolden(t *testing.T) {
	sha := func(c string) string { return strings.Repeat(c, 40) }
	rep := &Report{From: "staging", To: "master", Test: "make bvt", Rounds: 5, Batches: 2, MasterBefore: sha("0"),
		Candidates: []CandidateReport{
			{Candidate: Candidate{SHA: sha("a"), Subject: "add ntp", Author: "Ann"}, State: Promoted},
			{Candidate: Candidate{SHA: sha("b"), Subject: "switch to chrony | ntp", Author: "Bob"}, State: Culprit,
				OutputTail: "test 14 ntp-sync: FAIL\nexpected offset < 1s", ExitCode: 2, FoundIn: 1},
			{Candidate: Candidate{SHA: sha("c"), Subject: "tune chrony", Author: "Bob"}, State: Blocked, BlockedBy: sha("b")},
		},
		Probes: []ProbeReport{
			{N: 1, Round: 1, Batch: 1, Prefix: 3, Of: 3, Reason: ReasonBatch, Head: sha("c"), Subject: "tune chrony", Verdict: Bad, ExitCode: 2},
			{N: 2, Round: 2, Batch: 1, Prefix: 2, Of: 3, Reason: ReasonSearch, Head: sha("b"), Subject: "switch to chrony | ntp", Verdict: Bad, ExitCode: 2},
			{N: 3, Round: 3, Batch: 1, Prefix: 1, Of: 3, Reason: ReasonSearch, Head: sha("a"), Subject: "add ntp", Verdict: Good},
			{N: 4, Round: 4, Batch: 1, Prefix: 2, Of: 3, Reason: ReasonConfirm, Head: sha("b"), Subject: "switch to chrony | ntp", Verdict: Bad, ExitCode: 2},
			{N: 5, Round: 5, Batch: 1, Prefix: 1, Of: 3, Reason: ReasonConfirm, Head: sha("a"), Subject: "add ntp", Verdict: Good},
		},
		Landings: []Landing{{Promoted: []string{sha("a")}}},
	}
	env := &stages.Env{Config: config.Default(), CI: ci.Context{JobURL: "https://ci.example.com/job/1"}}
	tmpl, err := commentTemplate(env)
	if err != nil {
		t.Fatal(err)
	}
	body, err := renderComment(tmpl, commentData(env, rep, 1))
	if err != nil {
		t.Fatal(err)
	}
	golden := filepath.Join("testdata", "culprit-comment.golden.md")
	if *update {
		if err := os.MkdirAll("testdata", 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(golden, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatalf("%v (run with -update to create it)", err)
	}
	if body != string(want) {
		t.Errorf("comment differs from %s (run with -update after checking):\n%s", golden, body)
	}
}

func TestFence(t *testing.T) {
	for in, want := range map[string]string{"plain": "```", "a ``` b": "````", "`x` and ````": "`````"} {
		if got := fence(in); got != want {
			t.Errorf("fence(%q) = %q, want %q", in, got, want)
		}
	}
}

// TestGitLabAPIModeChecksTheTree: in gitlab-api mode each commit of the
// passing prefix is picked with the forge's cherry-pick API, with our
// message (-x line and Promoted-from trailer); afterwards master's real tree
// must be the tested one. The fake forge does not run git, so master does
// not change here: promote must notice and stop with an infrastructure
// error naming both trees, not report success.
func TestGitLabAPIModeChecksTheTree(t *testing.T) {
	f := newFixture(t)
	f.commit()
	f.commit()
	f.pushStaging()

	srv := forgetest.New(t, "glpat-test")
	gl := srv.GitLab()
	gl.AddProject(42, "appliance/os")
	gl.Do("42", func(p *forgetest.GLProject) {
		p.Branches["master"] = "0000000000000000000000000000000000000000"
		for _, sha := range f.commits {
			p.Commits[sha] = &forgetest.GLCommit{ID: sha, Message: "change"}
		}
	})
	forge, err := gitops.NewGitLab(gitops.Options{BaseURL: srv.GitLabURL(), Project: "42", Token: "glpat-test",
		Retry: gitops.Retry{Min: time.Millisecond, Max: 10 * time.Millisecond}})
	if err != nil {
		t.Fatal(err)
	}
	cfg := config.Default()
	cfg.Promote.Test = f.test
	cfg.Promote.Mode = config.PromoteModeGitLabAPI
	cfg.Promote.Workdir = filepath.Join(f.dir, "work-api")
	env := &stages.Env{Repo: f.ci, Config: cfg, CI: ci.Context{Provider: ci.GitLab},
		Log: logging.Discard(), Report: &report.Dir{Path: filepath.Join(f.dir, "reports")}, Forge: forge}
	_, err = New().Run(context.Background(), env)
	if errs.KindOf(err) != errs.Infra || !strings.Contains(errs.Format(err), "the tested tree is") {
		t.Fatalf("err = %v, want an infrastructure error about the tree", err)
	}
	var picks int
	gl.Do("42", func(p *forgetest.GLProject) {
		for _, c := range p.Commits {
			if strings.Contains(c.Message, "Promoted-from: ") && strings.Contains(c.Message, "(cherry picked from commit ") {
				picks++
			}
		}
	})
	if picks != 2 {
		t.Errorf("%d API picks with our trailers, want 2", picks)
	}
}

// TestJobTokenOnly: with only CI_JOB_TOKEN the promotion itself is done
// (git push), the statuses cannot be posted: said once, the rest skipped,
// and the run ends with an infrastructure error that names the scope.
func TestJobTokenOnly(t *testing.T) {
	f := newFixture(t)
	f.commit()
	f.commit()
	f.pushStaging()
	srv := forgetest.New(t)
	srv.AddJobToken("job-token-1234")
	srv.GitLab().AddProject(42, "appliance/os")
	forge, err := gitops.NewGitLab(gitops.Options{BaseURL: srv.GitLabURL(), Project: "42", Token: "job-token-1234", JobToken: true,
		Retry: gitops.Retry{Min: time.Millisecond, Max: 10 * time.Millisecond}})
	if err != nil {
		t.Fatal(err)
	}
	cfg := config.Default()
	cfg.Promote.Test = f.test
	cfg.Promote.Workdir = filepath.Join(f.dir, "work-job")
	env := &stages.Env{Repo: f.ci, Config: cfg, CI: ci.Context{Provider: ci.GitLab},
		Log: logging.Discard(), Report: &report.Dir{Path: filepath.Join(f.dir, "reports")}, Forge: forge}
	res, err := New().Run(context.Background(), env)
	if errs.KindOf(err) != errs.Infra || !errors.Is(err, gitops.ErrJobTokenScope) {
		t.Fatalf("err = %v, want the job-token scope error (exit 3)", err)
	}
	f.check(res.Data.(*Report), nil)
	acts := res.Data.(*Report).Forge
	if len(acts) != 2 || acts[0].Result != "failed" || acts[1].Result != "skipped (needs an api token)" {
		t.Errorf("forge actions %+v", acts)
	}
}
