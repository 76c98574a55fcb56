package gitops

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pipeline-ci/pipeline/gitops/forgetest"
	"github.com/pipeline-ci/pipeline/internal/ci"
	"github.com/pipeline-ci/pipeline/internal/config"
	"github.com/pipeline-ci/pipeline/internal/errs"
)

const (
	apiToken = "glpat-TESTTOKEN-123456"
	ghToken  = "ghp_TESTTOKEN123456"
	jobToken = "CIJOBTOKEN-987654"
)

// fixture is one forge behind the fake server, with what the scenario needs
// to seed it and to count what was written.
type fixture struct {
	name  string
	srv   *forgetest.Server
	forge Forge
	log   *bytes.Buffer
	// sha is a commit the forge knows (for tags, statuses).
	sha, sha2 string
	// seedMerged adds a merged MR into target whose description closes
	// issue closes; seedIssue adds an issue, closed at closed when set.
	seedMerged func(title, target string, mergedAt time.Time, closes int) int
	seedIssue  func(title string, closed *time.Time) int
	// counts of the state the server holds.
	counts func() map[string]int
	// tagAt is the commit the server's tag points to ("" when none).
	tagAt func(name string) string
}

// fastRetry keeps fault tests quick: every wait (backoff, the server's
// Retry-After) is decided as in production but not slept.
var fastRetry = Retry{Attempts: 6, Min: 5 * time.Millisecond, Max: 40 * time.Millisecond, Timeout: 5 * time.Second, Sleep: func(time.Duration) {}}

func logTo(b *bytes.Buffer, mu *sync.Mutex) func(string, ...any) {
	return func(f string, a ...any) { mu.Lock(); fmt.Fprintf(b, f+"\n", a...); mu.Unlock() }
}

func gitlabFixture(t *testing.T, retry Retry) *fixture {
	srv := forgetest.New(t, apiToken)
	gl := srv.GitLab()
	gl.AddProject(42, "appliance/os")
	sha := gl.AddCommit("42", "main", "first")
	sha2 := gl.AddCommit("42", "main", "second")
	buf, mu := &bytes.Buffer{}, &sync.Mutex{}
	f, err := NewGitLab(Options{BaseURL: srv.GitLabURL(), Project: "42", Token: apiToken, Retry: retry, Logf: logTo(buf, mu)})
	if err != nil {
		t.Fatal(err)
	}
	return &fixture{
		name: "gitlab", srv: srv, forge: f, log: buf, sha: sha, sha2: sha2,
		seedMerged: func(title, target string, at time.Time, closes int) int {
			desc := ""
			if closes > 0 {
				desc = fmt.Sprintf("Does things.\n\nCloses #%d", closes)
			}
			return int(gl.AddMergeRequest("42", forgetest.GLMergeRequest{Title: title, Description: desc, SourceBranch: "feature-" + title,
				TargetBranch: target, State: "merged", MergedAt: &at}))
		},
		seedIssue: func(title string, closed *time.Time) int {
			st := "opened"
			if closed != nil {
				st = "closed"
			}
			return int(gl.AddIssue("42", forgetest.GLIssue{Title: title, State: st, ClosedAt: closed}))
		},
		tagAt: func(name string) string {
			for _, t := range gl.Tags("42") {
				if t.Name == name {
					return t.Commit.ID
				}
			}
			return ""
		},
		counts: func() map[string]int {
			c := map[string]int{}
			c["statuses"] = len(gl.Statuses("42"))
			c["mrs"] = len(gl.MergeRequests("42"))
			c["milestones"] = len(gl.Milestones("42"))
			c["tags"] = len(gl.Tags("42"))
			c["releases"] = len(gl.Releases("42"))
			for _, r := range gl.Releases("42") {
				c["links"] += len(r.Assets.Links)
			}
			gl.Do("42", func(p *forgetest.GLProject) {
				for _, ns := range p.Notes {
					c["comments"] += len(ns)
				}
			})
			return c
		},
	}
}

func githubFixture(t *testing.T, retry Retry) *fixture {
	srv := forgetest.New(t, ghToken)
	gh := srv.GitHub()
	gh.AddRepo("appliance/os")
	buf, mu := &bytes.Buffer{}, &sync.Mutex{}
	f, err := NewGitHub(Options{BaseURL: srv.GitHubURL(), Project: "appliance/os", Token: ghToken, Retry: retry, Logf: logTo(buf, mu)})
	if err != nil {
		t.Fatal(err)
	}
	return &fixture{
		name: "github", srv: srv, forge: f, log: buf,
		sha: strings.Repeat("a1", 20), sha2: strings.Repeat("b2", 20),
		seedMerged: func(title, target string, at time.Time, closes int) int {
			var body *string
			if closes > 0 {
				b := fmt.Sprintf("Does things.\n\nFixes #%d", closes)
				body = &b
			}
			return int(gh.AddPull("appliance/os", forgetest.GHPull{Title: title, Body: body, State: "closed", ClosedAt: &at, MergedAt: &at,
				Head: forgetest.GHBranchRef{Ref: "feature-" + title}, Base: forgetest.GHBranchRef{Ref: target}}))
		},
		seedIssue: func(title string, closed *time.Time) int {
			st := "open"
			if closed != nil {
				st = "closed"
			}
			return int(gh.AddIssue("appliance/os", forgetest.GHIssue{Title: title, State: st, ClosedAt: closed}))
		},
		tagAt: func(name string) string { return gh.Refs("appliance/os")["refs/tags/"+name].Object.SHA },
		counts: func() map[string]int {
			c := map[string]int{}
			c["statuses"] = len(gh.Statuses("appliance/os"))
			c["mrs"] = len(gh.Pulls("appliance/os"))
			c["milestones"] = len(gh.Milestones("appliance/os"))
			for ref := range gh.Refs("appliance/os") {
				if strings.HasPrefix(ref, "refs/tags/") {
					c["tags"]++
				}
			}
			c["releases"] = len(gh.Releases("appliance/os"))
			for _, r := range gh.Releases("appliance/os") {
				c["links"] += strings.Count(r.Body, "\n- [")
			}
			gh.Do("appliance/os", func(r *forgetest.GHRepo) {
				for _, cs := range r.IssueComments {
					c["comments"] += len(cs)
				}
				for _, cs := range r.CommitComments {
					c["comments"] += len(cs)
				}
			})
			return c
		},
	}
}

func fixtures(t *testing.T, retry Retry) []*fixture {
	return []*fixture{gitlabFixture(t, retry), githubFixture(t, retry)}
}

// scenario makes every Forge call the stages make, twice where a re-run
// would repeat it, and checks what the forge answers.
func scenario(t *testing.T, fx *fixture) {
	t.Helper()
	ctx := context.Background()
	f := fx.forge
	fail := func(what string, err error) {
		t.Helper()
		if err != nil {
			t.Fatalf("%s %s: %v", fx.name, what, err)
		}
	}
	now := time.Now().UTC().Truncate(time.Second)
	week := now.Add(-7 * 24 * time.Hour)

	// Statuses.
	fail("status pending", f.SetStatus(ctx, Status{SHA: fx.sha, Ref: "main", Name: "pipeline/build", State: "pending"}))
	fail("status pending again", f.SetStatus(ctx, Status{SHA: fx.sha, Ref: "main", Name: "pipeline/build", State: "pending"}))
	fail("status success", f.SetStatus(ctx, Status{SHA: fx.sha, Ref: "main", Name: "pipeline/build", State: "success", Description: "ok", TargetURL: "https://ci.example.com/1"}))

	// Merge requests.
	in := MergeRequestInput{Title: "Release 1.2.0", Description: "notes", SourceBranch: "release/1.2.0", TargetBranch: "main", Labels: []string{"release"}}
	mr, err := f.CreateMergeRequest(ctx, in)
	fail("create MR", err)
	if mr == nil || mr.Number == 0 || mr.SourceBranch != "release/1.2.0" || mr.TargetBranch != "main" || mr.State != "opened" {
		t.Fatalf("%s: created MR = %+v", fx.name, mr)
	}
	in.Title = "Release 1.2.0 (updated)"
	mr2, err := f.CreateMergeRequest(ctx, in)
	fail("create MR again", err)
	if mr2.Number != mr.Number || mr2.Title != in.Title {
		t.Fatalf("%s: second create gave %+v, want MR %d updated", fx.name, mr2, mr.Number)
	}
	found, err := f.FindMergeRequest(ctx, "release/1.2.0", "main")
	fail("find MR", err)
	if found == nil || found.Number != mr.Number {
		t.Fatalf("%s: FindMergeRequest = %+v", fx.name, found)
	}
	if none, err := f.FindMergeRequest(ctx, "nope", "main"); err != nil || none != nil {
		t.Fatalf("%s: FindMergeRequest(nope) = %+v, %v", fx.name, none, err)
	}
	upd, err := f.UpdateMergeRequest(ctx, mr.Number, MergeRequestInput{Title: "Release 1.2.0 final", Description: "final notes", Labels: []string{"release", "weekly"}})
	fail("update MR", err)
	if upd.Title != "Release 1.2.0 final" || upd.Description != "final notes" || len(upd.Labels) != 2 {
		t.Fatalf("%s: updated MR = %+v", fx.name, upd)
	}

	// Comments: one per marker, edited in place.
	for i, body := range []string{"run 1: 3 commits promoted", "run 2: 4 commits promoted"} {
		fail(fmt.Sprintf("comment %d", i), f.UpsertComment(ctx, CommentTarget{MergeRequest: mr.Number}, "promote", body))
	}
	fail("commit comment", f.UpsertComment(ctx, CommentTarget{Commit: fx.sha}, "culprit", "this commit broke upgrade"))
	fail("commit comment again", f.UpsertComment(ctx, CommentTarget{Commit: fx.sha}, "culprit", "this commit broke upgrade (confirmed)"))

	// Issues and merged MRs in a range.
	closedAt := now.Add(-2 * time.Hour)
	issue := fx.seedIssue("boot hangs", &closedAt)
	old := now.Add(-30 * 24 * time.Hour)
	fx.seedIssue("old bug", &old)
	fx.seedIssue("open bug", nil)
	fx.seedMerged("fix-boot", "main", now.Add(-time.Hour), issue)
	fx.seedMerged("ancient", "main", old, 0)
	fx.seedMerged("other-branch", "staging", now.Add(-time.Hour), 0)
	merged, err := f.MergedMergeRequests(ctx, "main", week)
	fail("merged MRs", err)
	if len(merged) != 1 || merged[0].Title != "fix-boot" || merged[0].State != "merged" || merged[0].MergedAt.IsZero() || merged[0].MergeCommitSHA == "" {
		t.Fatalf("%s: merged since a week = %+v", fx.name, merged)
	}
	all, err := f.MergedMergeRequests(ctx, "main", time.Time{})
	fail("all merged MRs", err)
	if len(all) != 2 {
		t.Fatalf("%s: all merged = %d, want 2", fx.name, len(all))
	}
	fail("issue comment", f.UpsertComment(ctx, CommentTarget{Issue: issue}, "release", "fixed in 1.2.0"))
	fail("issue comment again", f.UpsertComment(ctx, CommentTarget{Issue: issue}, "release", "fixed in 1.2.0"))
	closes, err := f.IssuesClosedBy(ctx, merged[0].Number)
	fail("issues closed by", err)
	if len(closes) != 1 || closes[0].Number != issue || closes[0].Title != "boot hangs" {
		t.Fatalf("%s: IssuesClosedBy = %+v", fx.name, closes)
	}
	// Milestones.
	due := now.Add(7 * 24 * time.Hour).Truncate(24 * time.Hour)
	ms, err := f.CreateMilestone(ctx, MilestoneInput{Title: "2026.48", Description: "week 48", StartDate: now.Truncate(24 * time.Hour), DueDate: due})
	fail("create milestone", err)
	ms2, err := f.CreateMilestone(ctx, MilestoneInput{Title: "2026.48", DueDate: due})
	fail("create milestone again", err)
	if ms.ID == 0 || ms2.ID != ms.ID || !ms.DueDate.Equal(due) {
		t.Fatalf("%s: milestones %+v / %+v (due %s)", fx.name, ms, ms2, due)
	}
	_, err = f.UpdateMergeRequest(ctx, mr.Number, MergeRequestInput{Title: "Release 1.2.0 final", Description: "final notes", MilestoneID: ms.ID})
	fail("MR into milestone", err)
	_, items, err := f.MilestoneItems(ctx, ms.ID)
	fail("milestone items", err)
	if len(items) != 1 || items[0].Number != mr.Number {
		t.Fatalf("%s: milestone MRs = %+v", fx.name, items)
	}
	open, err := f.ListMilestones(ctx, "open")
	fail("list open milestones", err)
	if len(open) != 1 || open[0].Title != "2026.48" {
		t.Fatalf("%s: open milestones = %+v", fx.name, open)
	}
	fail("close milestone", f.CloseMilestone(ctx, ms.ID))
	fail("close milestone again", f.CloseMilestone(ctx, ms.ID))
	closedMS, err := f.ListMilestones(ctx, "closed")
	fail("list closed milestones", err)
	if len(closedMS) != 1 || closedMS[0].ID != ms.ID {
		t.Fatalf("%s: closed milestones = %+v", fx.name, closedMS)
	}

	// Releases.
	rin := ReleaseInput{Tag: "v1.2.0", Name: "1.2.0", Ref: fx.sha, Notes: "## Fixes\n- boot", Links: []Link{{Name: "image.qcow2", URL: "https://dl.example.com/1.2.0/image.qcow2"}}}
	rel, err := f.CreateRelease(ctx, rin)
	fail("create release", err)
	if rel.Tag != "v1.2.0" || rel.Notes != rin.Notes || len(rel.Links) != 1 {
		t.Fatalf("%s: release = %+v", fx.name, rel)
	}
	rin.Links = append(rin.Links, Link{Name: "box", URL: "https://dl.example.com/1.2.0/os.box"})
	rin.Notes += "\n- upgrade"
	rel, err = f.CreateRelease(ctx, rin)
	fail("create release again", err)
	if rel.Notes != rin.Notes || len(rel.Links) != 2 {
		t.Fatalf("%s: re-created release = %+v", fx.name, rel)
	}
	got, err := f.GetRelease(ctx, "v1.2.0")
	fail("get release", err)
	if got == nil || got.Name != "1.2.0" || len(got.Links) != 2 {
		t.Fatalf("%s: GetRelease = %+v", fx.name, got)
	}
	if none, err := f.GetRelease(ctx, "v9.9.9"); err != nil || none != nil {
		t.Fatalf("%s: GetRelease(v9.9.9) = %+v, %v", fx.name, none, err)
	}
	// A release whose tag does not exist yet is created at Ref.
	_, err = f.CreateRelease(ctx, ReleaseInput{Tag: "v1.3.0", Name: "1.3.0", Notes: "next", Ref: fx.sha2})
	fail("release with new tag", err)
	if at := fx.tagAt("v1.3.0"); at != fx.sha2 {
		t.Fatalf("%s: tag of new release at %q, want %s", fx.name, at, fx.sha2)
	}

	want := map[string]int{"statuses": 1, "mrs": 4, "milestones": 1, "tags": 2, "releases": 2, "links": 2, "comments": 3}
	if fx.name == "github" {
		// GitHub keeps every status posted (the latest per context counts);
		// GitLab refuses a second "pending" as a non-transition and moves
		// the pending status to success in place.
		want["statuses"] = 3
	}
	// A final state posted again by a re-run is a new entry on both
	// forges: only a lost answer must not make one.
	fail("status success again (re-run)", f.SetStatus(ctx, Status{SHA: fx.sha, Ref: "main", Name: "pipeline/build", State: "success", Description: "ok", TargetURL: "https://ci.example.com/1"}))
	want["statuses"]++
	if c := fx.counts(); fmt.Sprint(c) != fmt.Sprint(want) {
		t.Fatalf("%s: server state %v, want %v", fx.name, c, want)
	}
}

func TestForgeScenario(t *testing.T) {
	for _, fx := range fixtures(t, fastRetry) {
		t.Run(fx.name, func(t *testing.T) {
			scenario(t, fx)
			if fx.name == "github" {
				// A status is replaced per context on GitHub: the latest is success.
				st := fx.srv.GitHub().Statuses("appliance/os")
				if last := st[len(st)-1]; last.State != "success" || last.Context != "pipeline/build" {
					t.Fatalf("last status %+v", last)
				}
			}
		})
	}
}

func TestGitLabCommentsAreEditedInPlace(t *testing.T) {
	fx := gitlabFixture(t, fastRetry)
	scenario(t, fx)
	notes := fx.srv.GitLab().Notes("42", "mr:1")
	if len(notes) != 1 || !strings.HasPrefix(notes[0].Body, "<!-- pipeline:promote -->\n") || !strings.Contains(notes[0].Body, "run 2") {
		t.Fatalf("MR notes = %+v", notes)
	}
}

func TestGitLabOnlyCalls(t *testing.T) {
	ctx := context.Background()
	fx := gitlabFixture(t, fastRetry)
	gl := fx.srv.GitLab()
	f := fx.forge
	pick := gl.AddCommit("42", "staging", "fix: boot")
	gl.AddCommit("42", "staging", "feat: tool")
	if sha, err := f.CherryPick(ctx, pick, "main", "", true); err != nil || sha != "" {
		t.Fatalf("dry-run pick = %q, %v", sha, err)
	}
	before := len(gl.MergeRequests("42"))
	_ = before
	sha, err := f.CherryPick(ctx, pick, "main", "", false)
	if err != nil || sha == "" {
		t.Fatalf("pick = %q, %v", sha, err)
	}
	again, err := f.CherryPick(ctx, pick, "main", "", false)
	if err != nil || again != sha {
		t.Fatalf("second pick = %q, %v; want the first pick %s back", again, err, sha)
	}
	conflicting := gl.AddCommit("42", "staging", "touches base")
	gl.Do("42", func(p *forgetest.GLProject) { p.ConflictingSHA[conflicting] = true })
	if _, err := f.CherryPick(ctx, conflicting, "main", "", true); !errors.Is(err, ErrConflict) {
		t.Fatalf("conflicting dry-run: want ErrConflict, got %v", err)
	}

	mrIID := gl.AddMergeRequest("42", forgetest.GLMergeRequest{Title: "x", SourceBranch: "x", TargetBranch: "main"})
	head := gl.MergeRequests("42")[mrIID-1].SHA
	check := gl.AddExternalStatusCheck("42", "title", "http://127.0.0.1:1/checks/title", "")
	if err := f.SetExternalStatusCheck(ctx, int(mrIID), int(check), head, "passed"); err != nil {
		t.Fatal(err)
	}
	resp := gl.StatusCheckResponses("42")
	if len(resp) != 1 || resp[0].CheckID != check || resp[0].Status != "passed" || resp[0].SHA != head {
		t.Fatalf("status check responses %+v", resp)
	}
}

func TestGitHubHasNoCherryPickAPI(t *testing.T) {
	fx := githubFixture(t, fastRetry)
	if _, err := fx.forge.CherryPick(context.Background(), fx.sha, "main", "", false); !errors.Is(err, ErrUnsupported) {
		t.Fatalf("want ErrUnsupported, got %v", err)
	}
	if err := fx.forge.SetExternalStatusCheck(context.Background(), 1, 1, fx.sha, "passed"); !errors.Is(err, ErrUnsupported) {
		t.Fatalf("want ErrUnsupported, got %v", err)
	}
}

// Every write answered by a dropped connection (after the server applied
// it) or by a 500 after applying it: the scenario still ends with exactly
// one of everything.
func TestNoDuplicateWritesAfterLostAnswers(t *testing.T) {
	for _, kind := range []forgetest.FaultKind{forgetest.DropAfter, forgetest.ServerErrorAfter} {
		for _, fx := range fixtures(t, fastRetry) {
			t.Run(fx.name+"/"+kind.String(), func(t *testing.T) {
				for _, m := range []string{"POST", "PUT", "PATCH"} {
					fx.srv.Inject(forgetest.Fault{Method: m, Kind: kind, EachRequest: true})
				}
				scenario(t, fx)
				hit := 0
				for _, r := range fx.srv.Requests() {
					if r.Fault == kind.String() {
						hit++
					}
				}
				if hit < 10 {
					t.Fatalf("only %d writes hit the fault: the test proves little", hit)
				}
			})
		}
	}
}

// 429, 500, slow answers and dropped connections on every call, each once.
func TestSurvivesFaultsOnEveryCall(t *testing.T) {
	faults := []forgetest.Fault{
		{Kind: forgetest.RateLimited, EachRequest: true, RetryAfter: time.Second},
		{Kind: forgetest.ServerError, EachRequest: true},
		{Kind: forgetest.Drop, EachRequest: true},
		{Kind: forgetest.Slow, EachRequest: true, Delay: 600 * time.Millisecond},
	}
	for _, fault := range faults {
		retry := fastRetry
		if fault.Kind == forgetest.Slow {
			// Give up on a request well before the server answers.
			retry.Timeout = 150 * time.Millisecond
		}
		for _, fx := range fixtures(t, retry) {
			t.Run(fx.name+"/"+fault.Kind.String(), func(t *testing.T) {
				t.Parallel() // mostly waiting: cheap to overlap
				fx.srv.Inject(fault)
				scenario(t, fx)
				hit := 0
				for _, r := range fx.srv.Requests() {
					if r.Fault != "" {
						hit++
					}
				}
				if hit < 20 {
					t.Fatalf("only %d requests hit the fault", hit)
				}
			})
		}
	}
}

// The wait the server asks for is honoured (not just the backoff).
func TestRetryAfterIsHonoured(t *testing.T) {
	for _, fx := range fixtures(t, Retry{Attempts: 3, Min: time.Millisecond, Max: 5 * time.Millisecond}) {
		t.Run(fx.name, func(t *testing.T) {
			t.Parallel()
			fx.srv.Inject(forgetest.Fault{Kind: forgetest.RateLimited, RetryAfter: 2 * time.Second})
			start := time.Now()
			if _, err := fx.forge.GetRelease(context.Background(), "v1"); err != nil {
				t.Fatal(err)
			}
			if d := time.Since(start); d < 900*time.Millisecond {
				t.Fatalf("retried after %s; the server asked for ~1-2s", d)
			}
		})
	}
}

// A server that keeps failing ends in an infrastructure error (exit 3)
// that names the call, after a bounded number of tries.
func TestPersistentFailureIsInfra(t *testing.T) {
	for _, fx := range fixtures(t, fastRetry) {
		t.Run(fx.name, func(t *testing.T) {
			fx.srv.Inject(forgetest.Fault{Kind: forgetest.ServerError, Times: 1000})
			_, err := fx.forge.CreateMilestone(context.Background(), MilestoneInput{Title: "x"})
			if err == nil || errs.KindOf(err) != errs.Infra || !strings.Contains(errs.Format(err), "create milestone x") {
				t.Fatalf("err = %v (kind %v)", err, errs.KindOf(err))
			}
			if n := len(fx.srv.Requests()); n > 60 {
				t.Fatalf("%d requests: retries are not bounded", n)
			}
		})
	}
}

func gitlabCI(srv *forgetest.Server, extra map[string]string) ci.Context {
	env := ci.MapEnv{"GITLAB_CI": "true", "CI_API_V4_URL": srv.GitLabURL(), "CI_PROJECT_ID": "42",
		"CI_COMMIT_SHA": strings.Repeat("c", 40), "CI_JOB_TOKEN": jobToken}
	for k, v := range extra {
		env[k] = v
	}
	return ci.Detect(env)
}

func TestJobTokenScope(t *testing.T) {
	ctx := context.Background()
	srv := forgetest.New(t, apiToken)
	srv.AddJobToken(jobToken)
	srv.GitLab().AddProject(42, "appliance/os")
	sha := srv.GitLab().AddCommit("42", "main", "first")
	f, err := OpenForge(config.Forge{}, gitlabCI(srv, nil), nil)
	if err != nil {
		t.Fatal(err)
	}
	if f.Kind() != "gitlab" {
		t.Fatalf("kind %s", f.Kind())
	}
	// Releases: the job token may.
	if _, err := f.CreateRelease(ctx, ReleaseInput{Tag: "v1.0.0", Name: "1.0.0", Notes: "first", Ref: sha}); err != nil {
		t.Fatalf("release with CI_JOB_TOKEN: %v", err)
	}
	if n := srv.Count("", "/api/v4/projects/42/releases**"); n == 0 {
		t.Fatal("release calls did not reach the server")
	}
	// Everything else: a usage error before any request.
	before := len(srv.Requests())
	calls := map[string]func() error{
		"status": func() error { return f.SetStatus(ctx, Status{SHA: sha, Name: "x", State: "success"}) },
		"mr": func() error {
			_, err := f.CreateMergeRequest(ctx, MergeRequestInput{Title: "t", SourceBranch: "a", TargetBranch: "b"})
			return err
		},
		"comment":   func() error { return f.UpsertComment(ctx, CommentTarget{MergeRequest: 1}, "x", "y") },
		"milestone": func() error { _, err := f.CreateMilestone(ctx, MilestoneInput{Title: "m"}); return err },
		"find MR":   func() error { _, err := f.FindMergeRequest(ctx, "a", "b"); return err },
	}
	for name, call := range calls {
		err := call()
		if !errors.Is(err, ErrJobTokenScope) || errs.KindOf(err) != errs.Usage {
			t.Fatalf("%s with CI_JOB_TOKEN: want usage error wrapping ErrJobTokenScope, got %v", name, err)
		}
		if !strings.Contains(errs.Format(err), "PIPELINE_TOKEN") || !strings.Contains(errs.Format(err), "api scope") {
			t.Fatalf("%s: error does not say what to do: %v", name, err)
		}
		if strings.Contains(errs.Format(err), jobToken) {
			t.Fatalf("token in error: %v", err)
		}
	}
	if after := len(srv.Requests()); after != before {
		t.Fatalf("%d requests were sent for calls the job token cannot make", after-before)
	}
	// With PIPELINE_TOKEN the same calls work.
	f, _ = OpenForge(config.Forge{}, gitlabCI(srv, map[string]string{"PIPELINE_TOKEN": apiToken}), nil)
	if err := f.SetStatus(ctx, Status{SHA: sha, Name: "x", State: "success"}); err != nil {
		t.Fatal(err)
	}
}

func TestOpenForgeSelection(t *testing.T) {
	srv := forgetest.New(t, apiToken)
	cases := []struct {
		name string
		cfg  config.Forge
		env  ci.MapEnv
		kind string
		err  string
	}{
		{"terminal", config.Forge{}, ci.MapEnv{}, "none", ""},
		{"gitlab ci", config.Forge{}, ci.MapEnv{"GITLAB_CI": "true", "CI_API_V4_URL": srv.GitLabURL(), "CI_PROJECT_ID": "42"}, "gitlab", ""},
		{"github actions", config.Forge{}, ci.MapEnv{"GITHUB_ACTIONS": "true", "GITHUB_REPOSITORY": "o/r"}, "github", ""},
		{"config wins", config.Forge{Type: "none"}, ci.MapEnv{"GITLAB_CI": "true", "CI_API_V4_URL": srv.GitLabURL(), "CI_PROJECT_ID": "42"}, "none", ""},
		{"explicit gitlab", config.Forge{Type: "gitlab", Project: "g/p"}, ci.MapEnv{}, "gitlab", ""},
		{"no project", config.Forge{Type: "github"}, ci.MapEnv{}, "", "forge.project"},
		{"bad type", config.Forge{Type: "gitea"}, ci.MapEnv{}, "", "want gitlab, github or none"},
		{"token_env unset", config.Forge{Type: "gitlab", Project: "g/p", TokenEnv: "MY_TOKEN"}, ci.MapEnv{}, "", "MY_TOKEN"},
		{"bad github project", config.Forge{Type: "github", Project: "justname"}, ci.MapEnv{}, "", "owner/repo"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			f, err := OpenForge(c.cfg, ci.Detect(c.env), nil)
			if c.err != "" {
				if err == nil || !strings.Contains(errs.Format(err), c.err) || errs.KindOf(err) != errs.Usage {
					t.Fatalf("err = %v, want usage error about %q", err, c.err)
				}
				return
			}
			if err != nil || f.Kind() != c.kind {
				t.Fatalf("OpenForge = %v, %v; want %s", f, err, c.kind)
			}
		})
	}
}

func TestTokenPrecedenceAndNoTokenError(t *testing.T) {
	cases := []struct {
		env    ci.MapEnv
		cfg    config.Forge
		source string
		job    bool
	}{
		{ci.MapEnv{"PIPELINE_TOKEN": "p", "GITLAB_TOKEN": "g"}, config.Forge{}, "PIPELINE_TOKEN", false},
		{ci.MapEnv{"GITLAB_TOKEN": "g", "CI_JOB_TOKEN": "j"}, config.Forge{}, "GITLAB_TOKEN", false},
		{ci.MapEnv{"CI_JOB_TOKEN": "j"}, config.Forge{}, "CI_JOB_TOKEN", true},
		{ci.MapEnv{"MINE": "m", "PIPELINE_TOKEN": "p"}, config.Forge{TokenEnv: "MINE"}, "MINE", false},
	}
	for _, c := range cases {
		_, src, job, err := token("gitlab", c.cfg.TokenEnv, ci.GitLab, c.env)
		if err != nil || src != c.source || job != c.job {
			t.Fatalf("%v: source %s job %v err %v; want %s", c.env, src, job, err, c.source)
		}
	}
	// GitHub ignores GITLAB_TOKEN and CI_JOB_TOKEN.
	if _, src, _, _ := token("github", "", ci.GitHub, ci.MapEnv{"GITLAB_TOKEN": "g", "GITHUB_TOKEN": "h"}); src != "GITHUB_TOKEN" {
		t.Fatalf("github token from %s", src)
	}
	srv := forgetest.New(t, apiToken)
	srv.GitLab().AddProject(42, "g/p")
	f, _ := NewGitLab(Options{BaseURL: srv.GitLabURL(), Project: "42"})
	err := f.SetStatus(context.Background(), Status{SHA: "x", Name: "n", State: "success"})
	if errs.KindOf(err) != errs.Usage || !strings.Contains(errs.Format(err), "PIPELINE_TOKEN") || len(srv.Requests()) != 0 {
		t.Fatalf("no token: %v (requests %d)", err, len(srv.Requests()))
	}
}

// Tokens never appear in errors or retry logs, whatever goes wrong.
func TestTokensNeverInOutput(t *testing.T) {
	ctx := context.Background()
	for _, fx := range fixtures(t, fastRetry) {
		t.Run(fx.name, func(t *testing.T) {
			var outputs []string
			fx.srv.Inject(forgetest.Fault{Kind: forgetest.ServerError, Times: 3})
			fx.srv.Inject(forgetest.Fault{Kind: forgetest.RateLimited, Times: 3})
			_, err := fx.forge.GetRelease(ctx, "v1")
			outputs = append(outputs, fmt.Sprint(err))
			// Wrong token: 401.
			var bad Forge
			if fx.name == "gitlab" {
				bad, _ = NewGitLab(Options{BaseURL: fx.srv.GitLabURL(), Project: "42", Token: apiToken + "x", Retry: fastRetry})
			} else {
				bad, _ = NewGitHub(Options{BaseURL: fx.srv.GitHubURL(), Project: "appliance/os", Token: ghToken + "x", Retry: fastRetry})
			}
			_, err = bad.CreateMilestone(ctx, MilestoneInput{Title: "m"})
			if err == nil {
				t.Fatal("a wrong token was accepted")
			}
			if errs.KindOf(err) != errs.Usage || !strings.Contains(errs.Format(err), "(401): check that it is valid") {
				t.Fatalf("wrong token: want a usage error saying what to check, got %v", err)
			}
			outputs = append(outputs, err.Error())
			// Server gone.
			fx.srv.Close()
			_, err = fx.forge.GetRelease(ctx, "v1")
			if err == nil || errs.KindOf(err) != errs.Infra {
				t.Fatalf("server gone: %v", err)
			}
			outputs = append(outputs, err.Error(), fx.log.String())
			for _, out := range outputs {
				for _, tok := range []string{apiToken, ghToken} {
					if strings.Contains(out, tok) {
						t.Fatalf("token in output: %s", out)
					}
				}
			}
			if !strings.Contains(fx.log.String(), "retrying") {
				t.Fatalf("retries were not logged: %q", fx.log.String())
			}
		})
	}
}

// Lists longer than a page are read to the end (100 per page).
func TestListsFollowPagination(t *testing.T) {
	ctx := context.Background()
	for _, fx := range fixtures(t, fastRetry) {
		t.Run(fx.name, func(t *testing.T) {
			at := time.Now().UTC().Add(-time.Hour)
			for i := 0; i < 230; i++ {
				fx.seedMerged(fmt.Sprintf("mr%03d", i), "main", at, 0)
			}
			mrs, err := fx.forge.MergedMergeRequests(ctx, "main", at.Add(-time.Minute))
			if err != nil {
				t.Fatal(err)
			}
			seen := map[string]bool{}
			for _, m := range mrs {
				seen[m.Title] = true
			}
			if len(mrs) != 230 || len(seen) != 230 {
				t.Fatalf("%d MRs (%d distinct), want 230", len(mrs), len(seen))
			}
			if pages := fx.srv.Count("GET", "**"); pages < 3 {
				t.Fatalf("%d list requests: pagination not exercised", pages)
			}
		})
	}
}

// A GitLab project named by its path ("group/name", escaped by the client)
// is the same project as its id.
func TestGitLabProjectByPath(t *testing.T) {
	srv := forgetest.New(t, apiToken)
	srv.GitLab().AddProject(42, "appliance/os")
	f, err := OpenForge(config.Forge{Type: "gitlab", URL: srv.GitLabURL(), Project: "appliance/os"}, ci.Detect(ci.MapEnv{"GITLAB_TOKEN": apiToken}), nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.CreateMilestone(context.Background(), MilestoneInput{Title: "m"}); err != nil {
		t.Fatal(err)
	}
	if ms := srv.GitLab().Milestones("42"); len(ms) != 1 {
		t.Fatalf("milestones of project 42: %+v", ms)
	}
}

// A cancelled stage posts "canceled": GitLab keeps the word, GitHub has
// no such state and gets "error" (never "pending", which would hang a
// required check).
func TestCanceledStatusPerForge(t *testing.T) {
	ctx := context.Background()
	gl := gitlabFixture(t, fastRetry)
	if err := gl.forge.SetStatus(ctx, Status{SHA: gl.sha, Name: "pipeline/build", State: "canceled"}); err != nil {
		t.Fatal(err)
	}
	if st := gl.srv.GitLab().Statuses("42"); len(st) != 1 || st[0].Status != "canceled" {
		t.Errorf("GitLab statuses %+v, want one canceled", st)
	}
	gh := githubFixture(t, fastRetry)
	if err := gh.forge.SetStatus(ctx, Status{SHA: gh.sha, Name: "pipeline/build", State: "canceled"}); err != nil {
		t.Fatal(err)
	}
	if st := gh.srv.GitHub().Statuses("appliance/os"); len(st) != 1 || st[0].State != "error" {
		t.Errorf("GitHub statuses %+v, want one error", st)
	}
}
