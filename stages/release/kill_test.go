package release

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
	"github.com/pipeline-ci/pipeline/internal/config"
	"github.com/pipeline-ci/pipeline/internal/errs"
	"github.com/pipeline-ci/pipeline/internal/testutil/gitkill"
)

// killRun is what the child process (TestMain) runs: release in Repo
// against the fake GitLab at Forge.
type killRun struct {
	Repo, Forge, Mode string
}

func TestMain(m *testing.M) {
	if gitkill.Helper() == "release" {
		var k killRun
		if err := json.Unmarshal([]byte(os.Getenv("KILL_RUN")), &k); err != nil {
			panic(err)
		}
		forge, err := gitops.NewGitLab(gitops.Options{BaseURL: k.Forge, Project: "42", Token: token,
			Retry: gitops.Retry{Attempts: 2, Min: time.Millisecond, Max: 5 * time.Millisecond, MaxWait: 10 * time.Millisecond, Timeout: 2 * time.Second}})
		if err != nil {
			panic(err)
		}
		reports, err := os.MkdirTemp("", "release-kill-reports-")
		if err != nil {
			panic(err)
		}
		f := &glFixture{r: &repo{t: childTB{dir: reports}, dir: k.Repo}, forge: forge}
		_, err = New(Options{Now: fixedNow}).Run(context.Background(), f.env(func(c *config.Release) { c.Mode = k.Mode }))
		fmt.Fprintln(os.Stderr, err)
		os.RemoveAll(reports)
		os.Exit(errs.Code(err))
	}
	os.Exit(m.Run())
}

// childTB is the testing.TB of the child process: only its TempDir is
// used (for the reports).
type childTB struct {
	testing.TB
	dir string
}

func (c childTB) TempDir() string { return c.dir }

// TestKilledInsideGit kills a real release — its process group and the git
// it runs — at every git call that writes and inside every reference
// transaction, in both modes, then runs it again: the re-run must end as
// an uninterrupted run does (the same commit on the branch, one tag, MR,
// milestone, comment and release each), with no worktree, lock file,
// temporary directory or half-written file left behind.
func TestKilledInsideGit(t *testing.T) {
	t.Parallel()
	for _, mode := range []string{config.ReleaseModeDirect, config.ReleaseModeMR} {
		t.Run(mode, func(t *testing.T) {
			t.Parallel()
			run := func(t *testing.T, p gitkill.Point) (gitkill.Count, string) {
				f := newGLFixture(t)
				k := gitkill.New(t, f.r.dir)
				b, _ := json.Marshal(killRun{Repo: f.r.dir, Forge: f.srv.GitLabURL(), Mode: mode})
				count, killed := k.Run(gitkill.Child("release", "KILL_RUN="+string(b)), p)
				if p != (gitkill.Point{}) {
					if !killed {
						t.Fatalf("the run was not killed at %s", p)
					}
					if _, _, err := f.r.release(f.env(func(c *config.Release) { c.Mode = mode }), Options{}); err != nil {
						t.Fatalf("re-run after a kill at %s: %v", p, err)
					}
				}
				checkReleaseLeftovers(t, f.r)
				return count, releaseOutcome(t, f, mode)
			}
			count, want := run(t, gitkill.Point{})
			points := gitkill.Kinds(count, gitkill.Points(count))
			t.Logf("%d git calls, %d reference transactions: %d kill points", len(count.Calls), count.Refs, len(points))
			for _, p := range points {
				t.Run(strings.ReplaceAll(p.String(), " ", "_"), func(t *testing.T) {
					t.Parallel()
					if _, got := run(t, p); got != want {
						t.Errorf("after a kill at %s and a re-run:\n%s\nwant\n%s", p, got, want)
					}
				})
			}
		})
	}
}

// releaseOutcome describes what a release left on the remote and the forge.
func releaseOutcome(t *testing.T, f *glFixture, mode string) string {
	t.Helper()
	gl := f.srv.GitLab()
	var b strings.Builder
	if mode == config.ReleaseModeDirect {
		f.checkReleased(t, "1.4.0")
		fmt.Fprintf(&b, "main %s\ntag %s\n", f.r.git(f.r.remote, "rev-parse", "main"), f.r.git(f.r.remote, "rev-parse", "v1.4.0^{commit}"))
		fmt.Fprintf(&b, "releases %d\n", len(gl.Releases("42")))
		return b.String()
	}
	var open []string
	for _, m := range gl.MergeRequests("42") {
		if m.SourceBranch == "pipeline-release/main" {
			open = append(open, m.State+" "+m.Title)
		}
	}
	fmt.Fprintf(&b, "release MRs %v\nbranch %s\nmain %s\ntags %v\n", open,
		f.r.git(f.r.remote, "rev-parse", "pipeline-release/main"), f.r.git(f.r.remote, "rev-parse", "main"), f.r.tags(true))
	return b.String()
}

// checkReleaseLeftovers: no worktree but the checkout, no git lock file
// (the run lock file is a kernel lock's anchor, not a leftover), no
// temporary directory, no half-written file, a clean checkout.
func checkReleaseLeftovers(t *testing.T, r *repo) {
	t.Helper()
	if wt := r.run("worktree", "list", "--porcelain"); strings.Count(wt, "worktree ") != 1 {
		t.Errorf("worktrees left:\n%s", wt)
	}
	git := filepath.Join(r.dir, ".git")
	if entries, _ := os.ReadDir(filepath.Join(git, "worktrees")); len(entries) != 0 {
		t.Errorf("%d records left in .git/worktrees", len(entries))
	}
	filepath.WalkDir(git, func(p string, d os.DirEntry, err error) error {
		if err == nil && strings.HasSuffix(p, ".lock") && d.Name() != "pipeline-run.lock" {
			t.Errorf("lock file left: %s", p)
		}
		return nil
	})
	abs, _ := filepath.Abs(git)
	if _, err := os.Stat(tempDir(abs)); err == nil {
		t.Errorf("temporary directory %s left", tempDir(abs))
	}
	if st := r.run("status", "--porcelain", "--ignored"); st != "" {
		t.Errorf("checkout not clean:\n%s", st)
	}
}
