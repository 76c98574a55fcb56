package promote

import (
	"context"
	"encoding/json"
	"fmt"
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
	"github.com/pipeline-ci/pipeline/internal/testutil/gitkill"
	"github.com/pipeline-ci/pipeline/stages"
)

// killRun is what the child process (TestMain) runs: promote in Repo
// against the fake GitLab at Forge.
type killRun struct {
	Repo, Test, Workdir, Reports, Forge string
}

const killToken = "glpat-kill-test"

func (k killRun) env(t testing.TB) *stages.Env {
	cfg := config.Default()
	cfg.Promote.Test = k.Test
	cfg.Promote.Workdir = k.Workdir
	cfg.Promote.Parallel, cfg.Promote.Retries = 1, 0
	forge, err := gitops.NewGitLab(gitops.Options{BaseURL: k.Forge, Project: "42", Token: killToken,
		Retry: gitops.Retry{Min: time.Millisecond, Max: 10 * time.Millisecond}})
	if err != nil {
		if t != nil {
			t.Fatal(err)
		}
		panic(err)
	}
	return &stages.Env{Repo: k.Repo, Config: cfg, CI: ci.Context{Provider: ci.GitLab, JobURL: "https://gitlab.example.com/appliance/os/-/jobs/9"},
		Log: logging.Discard(), Report: &report.Dir{Path: k.Reports}, Forge: forge}
}

func TestMain(m *testing.M) {
	if gitkill.Helper() == "promote" {
		var k killRun
		if err := json.Unmarshal([]byte(os.Getenv("KILL_RUN")), &k); err != nil {
			panic(err)
		}
		_, err := New().Run(context.Background(), k.env(nil))
		fmt.Fprintln(os.Stderr, err)
		os.Exit(errs.Code(err))
	}
	os.Exit(m.Run())
}

// TestKilledInsideGit kills a real promote — its process group and the git
// it runs — at every git call that writes and inside every reference
// transaction (ref locks held, a worktree half made), then runs it again:
// the re-run must end with the master an uninterrupted run makes, leave no
// worktree, lock file or workdir behind, and not pick, comment or report
// twice.
func TestKilledInsideGit(t *testing.T) {
	// Small on purpose, every kill point costs two runs: a culprit (a
	// search, a comment) and a good commit after it (a landing).
	pristine := newFixture(t)
	pristine.commit("x.broken")
	pristine.commit()
	pristine.pushStaging()

	type outcome struct {
		tree, promoted string
		notes          int
	}
	run := func(t *testing.T, f *fixture, p gitkill.Point) (gitkill.Count, outcome, bool) {
		srv := forgetest.New(t, killToken)
		gl := srv.GitLab()
		gl.AddProject(42, "appliance/os")
		merged := time.Now().UTC()
		culprit := f.commits[0]
		gl.AddMergeRequest("42", forgetest.GLMergeRequest{Title: "break it", SourceBranch: "feature", TargetBranch: "staging",
			State: "merged", MergedAt: &merged, SHA: culprit, MergeCommitSHA: &culprit})
		k := gitkill.New(t, f.ci)
		kr := killRun{Repo: f.ci, Test: f.test, Workdir: filepath.Join(f.dir, "work"), Reports: filepath.Join(f.dir, "reports"), Forge: srv.GitLabURL()}
		b, _ := json.Marshal(kr)
		count, killed := k.Run(gitkill.Child("promote", "KILL_RUN="+string(b)), p)
		if p != (gitkill.Point{}) {
			if !killed {
				t.Fatalf("the run was not killed at %s", p)
			}
			// The re-run, in this process, as the next CI job would.
			if _, err := New().Run(context.Background(), kr.env(t)); errs.KindOf(err) != errs.Failure {
				t.Fatalf("re-run after a kill at %s: %v (want the culprit found)", p, err)
			}
		}
		o := outcome{tree: f.git(f.origin, "rev-parse", "master^{tree}"), promoted: strings.Join(f.masterPromoted(), " "), notes: len(gl.Notes("42", "mr:1"))}
		return count, o, killed
	}

	ref := pristine.copyFor(t)
	count, want, _ := run(t, ref, gitkill.Point{})
	if want.notes != 1 || want.promoted == "" {
		t.Fatalf("reference run: %+v", want)
	}
	points := gitkill.Kinds(count, gitkill.Points(count))
	t.Logf("%d git calls, %d reference transactions: %d kill points", len(count.Calls), count.Refs, len(points))
	for _, p := range points {
		t.Run(strings.ReplaceAll(p.String(), " ", "_"), func(t *testing.T) {
			t.Parallel()
			f := pristine.copyFor(t)
			_, got, _ := run(t, f, p)
			if got != want {
				t.Errorf("after a kill at %s and a re-run: %+v, want %+v", p, got, want)
			}
			f.checkInvariants()
			checkNoLeftovers(t, f)
		})
	}
}

// checkNoLeftovers: no worktree but the clone's own, no git lock file (the
// run lock file is a kernel lock's anchor, not a leftover), no workdir.
func checkNoLeftovers(t *testing.T, f *fixture) {
	t.Helper()
	if wt := f.git(f.ci, "worktree", "list", "--porcelain"); strings.Count(wt, "worktree ") != 1 {
		t.Errorf("worktrees left:\n%s", wt)
	}
	if entries, _ := os.ReadDir(filepath.Join(f.ci, ".git", "worktrees")); len(entries) != 0 {
		t.Errorf("%d records left in .git/worktrees", len(entries))
	}
	filepath.WalkDir(filepath.Join(f.ci, ".git"), func(p string, d os.DirEntry, err error) error {
		if err == nil && strings.HasSuffix(p, ".lock") && d.Name() != "pipeline-run.lock" {
			t.Errorf("lock file left: %s", p)
		}
		return nil
	})
	if _, err := os.Stat(filepath.Join(f.dir, "work")); err == nil {
		t.Errorf("workdir %s left", filepath.Join(f.dir, "work"))
	}
}
