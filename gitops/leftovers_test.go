package gitops

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/pipeline-ci/pipeline/internal/testutil"
)

// TestClearLeftovers: only the stage's own worktrees (registered or half
// made), only git's locks older than the run, and nothing at all of git's
// while a live git works in the clone; never someone else's worktree.
func TestClearLeftovers(t *testing.T) {
	testutil.NeedTool(t, "git")
	ctx := context.Background()
	dir := t.TempDir()
	repo := filepath.Join(dir, "clone")
	g := &Git{Dir: repo, Env: []string{"GIT_AUTHOR_NAME=a", "GIT_AUTHOR_EMAIL=a@x", "GIT_COMMITTER_NAME=a", "GIT_COMMITTER_EMAIL=a@x"}}
	run := func(args ...string) {
		t.Helper()
		if _, err := g.Run(ctx, args...); err != nil {
			t.Fatal(err)
		}
	}
	if out, err := exec.Command("git", "init", "--quiet", "--initial-branch=master", repo).CombinedOutput(); err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	run("commit", "--quiet", "--allow-empty", "-m", "one")
	ours := filepath.Join(dir, "work")
	run("worktree", "add", "--quiet", "--detach", filepath.Join(ours, "build"), "HEAD")
	run("worktree", "add", "--quiet", "--detach", filepath.Join(dir, "someone-elses"), "HEAD")
	common := filepath.Join(repo, ".git")
	// A worktree add killed right after making its record: locked, no gitdir.
	half := filepath.Join(common, "worktrees", "probe-3")
	if err := os.MkdirAll(half, 0o755); err != nil {
		t.Fatal(err)
	}
	write := func(p string, age time.Duration) {
		t.Helper()
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte("x"), 0o644); err != nil {
			t.Fatal(err)
		}
		when := time.Now().Add(age)
		if err := os.Chtimes(p, when, when); err != nil {
			t.Fatal(err)
		}
	}
	write(filepath.Join(half, "locked"), -time.Hour)
	old := []string{filepath.Join(common, "index.lock"), filepath.Join(common, "refs", "remotes", "origin", "master.lock"),
		filepath.Join(common, "worktrees", "build", "HEAD.lock")}
	for _, p := range old {
		write(p, -time.Hour)
	}
	young := filepath.Join(common, "packed-refs.lock")
	write(young, time.Hour)
	// Directories' times: as old as the kill.
	for _, d := range []string{half, filepath.Join(common, "worktrees", "build"), filepath.Join(common, "worktrees", "someone-elses")} {
		when := time.Now().Add(-time.Hour)
		os.Chtimes(d, when, when)
	}
	lo := Leftovers{Before: time.Now(), OwnNames: []string{"build", "probe-"},
		Own: func(p string) bool { return strings.HasPrefix(p, ours+string(filepath.Separator)) }}

	lock, err := g.LockRun(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := g.LockRun(ctx); err == nil {
		t.Fatal("a second run lock in the same clone was given")
	}

	// A live git in the clone (waiting on its stdin): git's locks and the
	// worktree records stay.
	live := exec.Command("git", "cat-file", "--batch")
	live.Dir = repo
	stdin, _ := live.StdinPipe()
	if err := live.Start(); err != nil {
		t.Fatal(err)
	}
	c, err := g.ClearLeftovers(ctx, lock, lo)
	stdin.Close()
	live.Wait()
	if err != nil {
		t.Fatal(err)
	}
	if !c.Empty() || !strings.Contains(c.Kept, "git process") {
		t.Fatalf("with a live git in the clone: %+v", c)
	}
	for _, p := range append(old, half) {
		if _, err := os.Stat(p); err != nil {
			t.Errorf("%s removed while a git was working in the clone", p)
		}
	}

	c, err = g.ClearLeftovers(ctx, lock, lo)
	if err != nil {
		t.Fatal(err)
	}
	if len(c.Worktrees) != 2 || len(c.Locks) != 2 {
		t.Errorf("cleared %+v; want 2 worktrees (build, probe-3) and 2 locks", c)
	}
	for _, p := range append(old, half, filepath.Join(ours, "build")) {
		if _, err := os.Stat(p); err == nil {
			t.Errorf("%s left", p)
		}
	}
	for _, p := range []string{young, filepath.Join(dir, "someone-elses", ".git"), filepath.Join(common, "worktrees", "someone-elses")} {
		if _, err := os.Stat(p); err != nil {
			t.Errorf("%s removed: %v", p, err)
		}
	}
	lock.Release()
	if l, err := g.LockRun(ctx); err != nil {
		t.Errorf("run lock not released: %v", err)
	} else {
		l.Release()
	}
}
