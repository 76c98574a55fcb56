package gitops

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/pipeline-ci/pipeline/internal/errs"
	"github.com/pipeline-ci/pipeline/internal/proc"
	"github.com/pipeline-ci/pipeline/internal/testutil"
)

// identity makes commits reproducible and independent of the user's config.
var identity = []string{
	"GIT_AUTHOR_NAME=Test", "GIT_AUTHOR_EMAIL=test@example.com",
	"GIT_COMMITTER_NAME=Test", "GIT_COMMITTER_EMAIL=test@example.com",
	"GIT_CONFIG_GLOBAL=/dev/null", "GIT_CONFIG_NOSYSTEM=1",
}

// newRepo makes a real repository with branch master in a temp dir.
func newRepo(t *testing.T) *Git {
	t.Helper()
	testutil.NeedTool(t, "git")
	dir := t.TempDir()
	g := &Git{Dir: dir, Env: identity}
	must(t, g, "init", "--quiet", "--initial-branch=master")
	return g
}

func must(t *testing.T, g *Git, args ...string) string {
	t.Helper()
	out, err := g.Run(context.Background(), args...)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// commitFile writes content to name and commits it; returns the sha.
func commitFile(t *testing.T, g *Git, name, content, msg string) string {
	t.Helper()
	if err := os.WriteFile(filepath.Join(g.Dir, name), []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	sha, err := g.Commit(context.Background(), msg, name)
	if err != nil {
		t.Fatal(err)
	}
	return sha
}

// cloneOf clones src (a path) with extra clone args, e.g. --depth 5.
func cloneOf(t *testing.T, src string, args ...string) *Git {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "clone")
	cmd := exec.Command("git", append(append([]string{"clone", "--quiet"}, args...), src, dir)...)
	cmd.Env = append(os.Environ(), identity...)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("clone: %v: %s", err, out)
	}
	return &Git{Dir: dir, Env: identity}
}

func TestPushIsAtomicAndGuarded(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	seed := newRepo(t)
	base := commitFile(t, seed, "a", "1\n", "first")
	bare := filepath.Join(t.TempDir(), "remote.git")
	must(t, seed, "clone", "--quiet", "--bare", seed.Dir, bare)

	alice := cloneOf(t, bare)
	bob := cloneOf(t, bare)

	// Alice pushes first, guarded by the value she read.
	aliceSHA := commitFile(t, alice, "a", "alice\n", "alice's change")
	if err := alice.Push(ctx, "origin", RefUpdate{Ref: "refs/heads/master", New: aliceSHA, Old: base}); err != nil {
		t.Fatalf("alice's push: %v", err)
	}

	// Bob read master before Alice pushed. His push of master and a new tag
	// must be refused as a whole: master not overwritten, no tag created.
	bobSHA := commitFile(t, bob, "b", "bob\n", "bob's change")
	err := bob.Push(ctx, "origin",
		RefUpdate{Ref: "refs/heads/master", New: bobSHA, Old: base},
		RefUpdate{Ref: "refs/tags/v1.0.0", New: bobSHA, Old: ""})
	if !errors.Is(err, ErrPushRejected) {
		t.Fatalf("bob's stale push: want ErrPushRejected, got %v", err)
	}
	var pr *PushRejectedError
	if !errors.As(err, &pr) || pr.Refs["refs/heads/master"] == "" {
		t.Fatalf("rejection should name refs/heads/master: %#v", err)
	}
	remote := &Git{Dir: bare}
	if got := must(t, remote, "rev-parse", "refs/heads/master"); got != aliceSHA {
		t.Fatalf("remote master = %s, want alice's %s: her work was lost", got, aliceSHA)
	}
	if remote.Exists(ctx, "refs/tags/v1.0.0") {
		t.Fatal("atomic push created the tag although master was refused")
	}

	// A tag that must not exist yet is refused when it does.
	if err := alice.Push(ctx, "origin", RefUpdate{Ref: "refs/tags/v1.0.0", New: aliceSHA}); err != nil {
		t.Fatal(err)
	}
	err = bob.Push(ctx, "origin", RefUpdate{Ref: "refs/tags/v1.0.0", New: bobSHA})
	if !errors.Is(err, ErrPushRejected) {
		t.Fatalf("push of an existing tag: want ErrPushRejected, got %v", err)
	}

	// With the right expected value Bob's push goes through.
	must(t, bob, "fetch", "--quiet", "origin")
	must(t, bob, "rebase", "--quiet", "origin/master")
	head, _ := bob.Head(ctx)
	old, err := bob.RemoteRef(ctx, "origin", "refs/heads/master")
	if err != nil || old != aliceSHA {
		t.Fatalf("RemoteRef = %q, %v; want %s", old, err, aliceSHA)
	}
	if err := bob.Push(ctx, "origin", RefUpdate{Ref: "refs/heads/master", New: head, Old: old}); err != nil {
		t.Fatalf("fresh push: %v", err)
	}
	if got := must(t, remote, "rev-parse", "refs/heads/master"); got != head {
		t.Fatalf("remote master = %s, want %s", got, head)
	}
}

func TestPushErrorsNeverShowCredentials(t *testing.T) {
	g := newRepo(t)
	sha := commitFile(t, g, "a", "1", "one")
	err := g.Push(context.Background(), "https://oauth2:glpat-SECRET123@127.0.0.1:1/x.git", RefUpdate{Ref: "refs/heads/master", New: sha})
	if err == nil {
		t.Fatal("push to a closed port succeeded")
	}
	if strings.Contains(errs.Format(err), "glpat-SECRET123") {
		t.Fatalf("token in error: %v", err)
	}
	if !strings.Contains(errs.Format(err), "***@127.0.0.1") {
		t.Fatalf("error should still name the host: %v", err)
	}
}

// history makes a remote with master: 400 commits, tag v1.0.0 at commit
// 300, and staging branching off at commit 340 with 30 commits of its own.
// It uses git fast-import: hundreds of commits in a few milliseconds.
func history(t *testing.T) (src *Git, tagSHA, forkSHA string) {
	t.Helper()
	src = newRepo(t)
	var b strings.Builder
	when := 1700000000
	commit := func(branch string, mark, from int, file string) {
		when += 60
		fmt.Fprintf(&b, "commit refs/heads/%s\nmark :%d\ncommitter Test <test@example.com> %d +0000\n", branch, mark, when)
		msg := fmt.Sprintf("%s %d", branch, mark)
		fmt.Fprintf(&b, "data %d\n%s\n", len(msg), msg)
		if from > 0 {
			fmt.Fprintf(&b, "from :%d\n", from)
		}
		fmt.Fprintf(&b, "M 644 inline %s\ndata %d\n%d\n\n", file, len(strconv.Itoa(mark))+1, mark)
	}
	for i := 1; i <= 400; i++ {
		commit("master", i, i-1, "m"+strconv.Itoa(i))
	}
	for i := 1; i <= 30; i++ {
		from := 1000 + i - 1
		if i == 1 {
			from = 340
		}
		commit("staging", 1000+i, from, "s"+strconv.Itoa(i))
	}
	fmt.Fprintf(&b, "tag v1.0.0\nfrom :300\ntagger Test <test@example.com> %d +0000\ndata 13\nrelease 1.0.0\n", when)
	if _, err := src.RunBytes(context.Background(), []byte(b.String()), "fast-import", "--quiet"); err != nil {
		t.Fatal(err)
	}
	must(t, src, "reset", "--quiet", "--hard", "master")
	return src, must(t, src, "rev-parse", "master~100"), must(t, src, "rev-parse", "master~60")
}

func count(t *testing.T, g *Git, rev string) int {
	n, err := strconv.Atoi(must(t, g, "rev-list", "--count", rev))
	if err != nil {
		t.Fatal(err)
	}
	return n
}

func TestDeepenToTag(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	src, tagSHA, _ := history(t)
	c := cloneOf(t, "file://"+src.Dir, "--depth=5", "--branch=master")
	if sh, err := c.IsShallow(ctx); err != nil || !sh {
		t.Fatalf("IsShallow = %v, %v; want true", sh, err)
	}
	if ok, _ := c.IsAncestor(ctx, tagSHA, "HEAD"); ok {
		t.Fatal("tag reachable before deepening: the test proves nothing")
	}
	if err := c.DeepenToTag(ctx, "origin", "v1.0.0"); err != nil {
		t.Fatal(err)
	}
	if ok, err := c.IsAncestor(ctx, "v1.0.0", "HEAD"); err != nil || !ok {
		t.Fatalf("v1.0.0 not an ancestor of HEAD after deepening: %v", err)
	}
	if n := count(t, c, "v1.0.0..HEAD"); n != 100 {
		t.Fatalf("v1.0.0..HEAD has %d commits, want 100", n)
	}
	// Deepened only as far as needed: still shallow, not the whole history
	// of the remote (which also has staging).
	if sh, _ := c.IsShallow(ctx); !sh {
		t.Fatal("clone was unshallowed; deepening should have been enough")
	}
	if n := count(t, c, "HEAD"); n >= 400 {
		t.Fatalf("fetched all %d commits of master; deepening should stop near the tag", n)
	}
	// A complete clone needs nothing and a missing tag is a clear error.
	if err := c.DeepenToTag(ctx, "origin", "v9.9.9"); err == nil || !strings.Contains(errs.Format(err), "does not exist") {
		t.Fatalf("missing tag: %v", err)
	}
}

func TestDeepenToMergeBase(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	src, _, forkSHA := history(t)
	c := cloneOf(t, "file://"+src.Dir, "--depth=3", "--branch=staging")
	before := count(t, c, "HEAD")
	base, err := c.DeepenToMergeBase(ctx, "origin", "staging", "master")
	if err != nil {
		t.Fatal(err)
	}
	if base != forkSHA {
		t.Fatalf("merge base = %s, want %s", base, forkSHA)
	}
	if after := count(t, c, "HEAD"); after < before {
		t.Fatalf("HEAD's history shrank from %d to %d", before, after)
	}
	if n := count(t, c, "origin/master..origin/staging"); n != 30 {
		t.Fatalf("master..staging = %d commits, want 30", n)
	}
	// Unrelated histories: a clear ErrNotInHistory after unshallowing.
	must(t, src, "checkout", "--quiet", "--orphan", "other")
	commitFile(t, src, "o", "o", "orphan")
	must(t, src, "checkout", "--quiet", "master")
	if _, err := c.DeepenToMergeBase(ctx, "origin", "staging", "other"); !errors.Is(err, ErrNotInHistory) {
		t.Fatalf("unrelated branches: want ErrNotInHistory, got %v", err)
	}
}

func TestDeepenSince(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	src, _, _ := history(t)
	c := cloneOf(t, "file://"+src.Dir, "--depth=2", "--branch=master")
	first, err := src.ReadCommit(ctx, "master~59")
	if err != nil {
		t.Fatal(err)
	}
	if err := c.DeepenSince(ctx, "origin", first.CommitTime.Add(-time.Second)); err != nil {
		t.Fatal(err)
	}
	if n := count(t, c, "HEAD"); n != 60 {
		t.Fatalf("after DeepenSince HEAD has %d commits, want 60", n)
	}
}

func TestTrailersAndCherryPick(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	g := newRepo(t)
	commitFile(t, g, "base", "base\n", "base")
	must(t, g, "checkout", "--quiet", "-b", "staging")
	fix := commitFile(t, g, "fix", "fix\n", "fix: boot order\n\nLong text.\n\nChangelog: Boot no longer hangs\nSigned-off-by: A <a@b>\n")
	feat := commitFile(t, g, "feat", "feat\n", "feat: new tool")
	conflict := commitFile(t, g, "base", "staging\n", "change base on staging")
	must(t, g, "checkout", "--quiet", "master")
	commitFile(t, g, "base", "master\n", "change base on master")

	c, err := g.ReadCommit(ctx, fix)
	if err != nil {
		t.Fatal(err)
	}
	if got := c.Trailer("changelog"); len(got) != 1 || got[0] != "Boot no longer hangs" {
		t.Fatalf("Changelog trailer = %q", got)
	}
	if c.Subject != "fix: boot order" || len(c.Parents) != 1 {
		t.Fatalf("commit parsed wrong: %+v", c)
	}

	picked, err := g.CherryPick(ctx, fix, CherryPickOptions{RecordOrigin: true, Trailers: []Trailer{{TrailerPromotedFrom, "staging@" + fix}}})
	if err != nil {
		t.Fatal(err)
	}
	pc, _ := g.ReadCommit(ctx, picked)
	if len(pc.CherryPickedFrom) != 1 || pc.CherryPickedFrom[0] != fix {
		t.Fatalf("CherryPickedFrom = %v, want [%s]\n%s", pc.CherryPickedFrom, fix, pc.Message)
	}
	if got := pc.Trailer(TrailerPromotedFrom); len(got) != 1 || got[0] != "staging@"+fix {
		t.Fatalf("Promoted-from = %v\n%s", got, pc.Message)
	}
	if got := pc.Trailer(TrailerChangelog); len(got) != 1 {
		t.Fatalf("Changelog trailer lost in the pick: %v", pc.Trailers)
	}
	tr, err := g.InterpretTrailers(ctx, pc.Message)
	if err != nil || len(tr) < 3 {
		t.Fatalf("InterpretTrailers = %v, %v", tr, err)
	}

	// git cherry: fix is already applied on master, feat and the conflict are not.
	entries, err := g.Cherry(ctx, "master", "staging")
	if err != nil {
		t.Fatal(err)
	}
	applied := map[string]bool{}
	for _, e := range entries {
		applied[e.SHA] = e.Applied
	}
	if len(entries) != 3 || !applied[fix] || applied[feat] || applied[conflict] {
		t.Fatalf("Cherry = %+v", entries)
	}
	p1, _ := g.PatchID(ctx, fix)
	p2, _ := g.PatchID(ctx, picked)
	if p1 == "" || p1 != p2 {
		t.Fatalf("patch-ids differ: %q %q", p1, p2)
	}

	// Picking it again is empty, and leaves nothing in progress.
	if _, err := g.CherryPick(ctx, fix, CherryPickOptions{}); !errors.Is(err, ErrEmptyPick) {
		t.Fatalf("second pick: want ErrEmptyPick, got %v", err)
	}
	// A conflict is aborted and named.
	head, _ := g.Head(ctx)
	_, err = g.CherryPick(ctx, conflict, CherryPickOptions{RecordOrigin: true})
	var ce *ConflictError
	if !errors.As(err, &ce) || !errors.Is(err, ErrConflict) || len(ce.Files) != 1 || ce.Files[0] != "base" {
		t.Fatalf("conflicting pick: %v", err)
	}
	if st := must(t, g, "status", "--porcelain"); st != "" {
		t.Fatalf("tree not clean after abort: %q", st)
	}
	if h, _ := g.Head(ctx); h != head {
		t.Fatal("HEAD moved after an aborted pick")
	}
	if _, err := os.Stat(filepath.Join(g.Dir, ".git", "CHERRY_PICK_HEAD")); !os.IsNotExist(err) {
		t.Fatal("cherry-pick still in progress")
	}
}

func TestTagAndWorktree(t *testing.T) {
	ctx := context.Background()
	g := newRepo(t)
	one := commitFile(t, g, "a", "1", "one")
	two := commitFile(t, g, "a", "2", "two")
	if err := g.Tag(ctx, "v1.0.0", one, "Release 1.0.0"); err != nil {
		t.Fatal(err)
	}
	if typ := must(t, g, "cat-file", "-t", "v1.0.0"); typ != "tag" {
		t.Fatalf("tag type %s, want annotated", typ)
	}
	// Re-run: same tag at the same commit is fine; elsewhere is an error.
	if err := g.Tag(ctx, "v1.0.0", one, "Release 1.0.0"); err != nil {
		t.Fatalf("re-tagging the same commit: %v", err)
	}
	if err := g.Tag(ctx, "v1.0.0", two, ""); !errors.Is(err, ErrTagExists) {
		t.Fatalf("tag elsewhere: want ErrTagExists, got %v", err)
	}

	path := filepath.Join(t.TempDir(), "wt")
	wt, err := g.WorktreeAdd(ctx, path, "v1.0.0")
	if err != nil {
		t.Fatal(err)
	}
	if h, _ := wt.Head(ctx); h != one {
		t.Fatalf("worktree HEAD %s, want %s", h, one)
	}
	if b, _ := wt.CurrentBranch(ctx); b != "" {
		t.Fatalf("worktree should be detached, on %q", b)
	}
	three := commitFile(t, wt, "b", "3", "three in worktree")
	if err := g.WorktreeRemove(ctx, path); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(path); !os.IsNotExist(err) {
		t.Fatal("worktree dir still there")
	}
	if err := g.WorktreeRemove(ctx, path); err != nil {
		t.Fatalf("removing twice: %v", err)
	}
	if !g.Exists(ctx, three) {
		t.Fatal("commit made in the worktree is not in the repository")
	}
	if b, _ := g.CurrentBranch(ctx); b != "master" {
		t.Fatalf("main checkout moved to %q", b)
	}
}

// A git that hangs on a child of its own (here the ssh command, as a
// remote that never answers would) must not outlive a deadline: the whole
// process group goes, and Run returns at once, saying it timed out. (git
// used to be killed alone while its ssh child kept git's pipes, and Run
// returned only when that child ended.)
func TestRunDeadlineStopsGitAndItsChildren(t *testing.T) {
	t.Parallel()
	g := newRepo(t)
	// A sleep whose argument is unique to this run marks its process.
	marker := fmt.Sprintf("8.%d", time.Now().UnixNano()%1e9)
	hang := filepath.Join(t.TempDir(), "hang-ssh")
	if err := os.WriteFile(hang, []byte("#!/bin/sh\nsleep "+marker+"\nexit 255\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	g.Env = append(g.Env, "GIT_SSH_COMMAND="+hang)
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	start := time.Now()
	_, err := g.Run(ctx, "ls-remote", "ssh://git@example.invalid/repo.git")
	took := time.Since(start)
	if took > 2*time.Second {
		t.Errorf("Run returned after %s with a 1s deadline", took)
	}
	if err == nil || !errors.Is(err, proc.ErrTimedOut) || !strings.Contains(errs.Format(err), "git ls-remote") || !strings.Contains(errs.Format(err), "timed out") {
		t.Errorf("err = %v, want a git error that says it timed out", err)
	}
	if pids := procsWithArg(t, marker); len(pids) > 0 {
		t.Errorf("processes left behind: %v", pids)
	}
}

// procsWithArg lists the running processes with arg in their command line.
func procsWithArg(t *testing.T, arg string) []string {
	t.Helper()
	entries, err := os.ReadDir("/proc")
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, e := range entries {
		if _, err := strconv.Atoi(e.Name()); err != nil {
			continue
		}
		cmdline, err := os.ReadFile("/proc/" + e.Name() + "/cmdline")
		if err != nil || len(cmdline) == 0 { // gone, or a zombie
			continue
		}
		for _, a := range strings.Split(string(cmdline), "\x00") {
			if a == arg {
				out = append(out, e.Name()+" "+strings.ReplaceAll(string(cmdline), "\x00", " "))
			}
		}
	}
	return out
}
