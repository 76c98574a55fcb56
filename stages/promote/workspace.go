package promote

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"

	"github.com/pipeline-ci/pipeline/gitops"
	"github.com/pipeline-ci/pipeline/internal/text"
)

// workspace is where a promotion builds and tests trees without touching
// the job's own checkout: one worktree to build the batch by cherry-picking
// (detached, so no branch moves), and one worktree per parallel probe.
// They live in a directory of their own, marked as promote's by a marker
// file, that a re-run after a kill clears and recreates, so nothing a dead
// run left behind is ever tested. A directory without the marker is never
// cleared: promote.workdir pointed at someone's files is refused.
type workspace struct {
	repo   *gitops.Git
	dir    string
	lock   *os.File
	build  *gitops.Git
	probes []*gitops.Git
}

// workdirMarker is the file that marks a directory as promote's workdir,
// which every run may clear.
const workdirMarker = ".pipeline-promote-workdir"

// ownWorktreeNames are the last path elements of the workspace's
// worktrees: git names its records of them after these.
var ownWorktreeNames = []string{"build", "probe-"}

// defaultWorkdir is a directory under the system temp dir named after the
// repository, so that the re-run of a killed run finds (and clears) the
// worktrees it left.
func defaultWorkdir(ctx context.Context, repo *gitops.Git) (string, error) {
	common, err := repo.CommonDir(ctx)
	if err != nil {
		return "", err
	}
	sum := sha256.Sum256([]byte(common))
	return filepath.Join(os.TempDir(), "pipeline-promote-"+hex.EncodeToString(sum[:6])), nil
}

// ErrBusy: another promote is using the same workdir (the same clone).
var ErrBusy = errors.New("another pipeline promote is running in this clone")

// errNotOurs: promote.workdir names a directory promote did not make.
var errNotOurs = errors.New("not promote's own")

// checkWorkdir refuses a workdir promote may not clear: one that holds the
// clone, or is not empty and lacks the marker. The default workdir (under
// the temp dir, named after the clone) made by an older pipeline without
// the marker is recognised by holding nothing but promote's worktrees.
func checkWorkdir(ctx context.Context, repo *gitops.Git, dir string, isDefault bool) error {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return err
	}
	if real, err := filepath.EvalSymlinks(abs); err == nil {
		abs = real
	}
	var clone []string
	if top, err := repo.Run(ctx, "rev-parse", "--show-toplevel"); err == nil {
		clone = append(clone, top)
	}
	if common, err := repo.CommonDir(ctx); err == nil {
		clone = append(clone, common)
	}
	for _, c := range clone {
		if real, err := filepath.EvalSymlinks(c); err == nil {
			c = real
		}
		if within(c, abs) {
			return fmt.Errorf("%w: %s holds the clone %s", errNotOurs, dir, c)
		}
	}
	st, err := os.Lstat(abs)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return nil
	case err != nil:
		return err
	case !st.IsDir():
		return fmt.Errorf("%w: %s is not a directory", errNotOurs, dir)
	}
	entries, err := os.ReadDir(abs)
	if err != nil {
		return err
	}
	if len(entries) == 0 {
		return nil
	}
	if st, err := os.Lstat(filepath.Join(abs, workdirMarker)); err == nil && st.Mode().IsRegular() {
		return nil
	}
	if isDefault {
		for _, e := range entries {
			if !e.IsDir() || !ownName(e.Name()) {
				return fmt.Errorf("%w: %s holds %s, which promote did not make", errNotOurs, dir, e.Name())
			}
		}
		return nil
	}
	return fmt.Errorf("%w: %s is not empty and has no %s marker", errNotOurs, dir, workdirMarker)
}

// ownName: build, probe-N.
func ownName(name string) bool {
	if name == "build" {
		return true
	}
	n, ok := strings.CutPrefix(name, "probe-")
	_, err := strconv.Atoi(n)
	return ok && err == nil
}

// within reports whether path is dir or inside it.
func within(path, dir string) bool {
	rel, err := filepath.Rel(dir, path)
	return err == nil && rel != ".." && !strings.HasPrefix(rel, ".."+string(filepath.Separator))
}

func openWorkspace(ctx context.Context, repo *gitops.Git, dir string, parallel int, base string) (*workspace, error) {
	// One run per workdir: the lock is the kernel's, so a killed run
	// releases it by dying.
	if err := os.MkdirAll(filepath.Dir(dir), 0o755); err != nil {
		return nil, fmt.Errorf("promote workdir: %w", err)
	}
	lock, err := lockWorkdir(dir)
	if err != nil {
		return nil, err
	}
	w := &workspace{repo: repo, dir: dir, lock: lock}
	// Leftovers of a run that was killed: forget them. (checkWorkdir said
	// the directory is ours, or empty, or not there.)
	if err := os.RemoveAll(dir); err != nil {
		w.close(ctx)
		return nil, fmt.Errorf("clear promote workdir %s: %w", dir, err)
	}
	if _, err := repo.Run(ctx, "worktree", "prune"); err != nil {
		w.close(ctx)
		return nil, err
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		w.close(ctx)
		return nil, fmt.Errorf("promote workdir: %w", err)
	}
	if err := os.WriteFile(filepath.Join(dir, workdirMarker), []byte("made by pipeline promote, which clears it on every run\n"), 0o644); err != nil {
		w.close(ctx)
		return nil, fmt.Errorf("promote workdir: %w", err)
	}
	if w.build, err = repo.WorktreeAdd(ctx, filepath.Join(dir, "build"), base); err != nil {
		w.close(ctx)
		return nil, fmt.Errorf("build worktree: %w", err)
	}
	// The picks are ours, not a developer's commits: the clone's own
	// commit hooks (a linter, a commit-msg check) must not change or
	// refuse them. GIT_CONFIG_COUNT set last wins over quietGitEnv's.
	w.build.Env = append(w.build.Env, "GIT_CONFIG_COUNT=3", "GIT_CONFIG_KEY_2=core.hooksPath", "GIT_CONFIG_VALUE_2="+os.DevNull)
	for i := 1; i <= parallel; i++ {
		g, err := repo.WorktreeAdd(ctx, filepath.Join(dir, "probe-"+strconv.Itoa(i)), base)
		if err != nil {
			w.close(ctx)
			return nil, fmt.Errorf("probe worktree: %w", err)
		}
		w.probes = append(w.probes, g)
	}
	return w, nil
}

// quietGitEnv turns off git's automatic housekeeping (auto gc and
// maintenance after commits and fetches) for the git commands promote runs:
// a promotion makes dozens of throw-away commits and should not pay for
// repacking the job's clone each time.
var quietGitEnv = []string{
	"GIT_CONFIG_COUNT=2",
	"GIT_CONFIG_KEY_0=gc.auto", "GIT_CONFIG_VALUE_0=0",
	"GIT_CONFIG_KEY_1=maintenance.auto", "GIT_CONFIG_VALUE_1=false",
}

// identityEnv gives cherry-picks a committer when the clone has none
// configured (a CI runner usually has none); the author stays the
// developer's.
func identityEnv(ctx context.Context, repo *gitops.Git) []string {
	var env []string
	if name, _ := repo.Run(ctx, "config", "user.name"); name == "" {
		env = append(env, "GIT_COMMITTER_NAME=pipeline promote")
	}
	if email, _ := repo.Run(ctx, "config", "user.email"); email == "" {
		env = append(env, "GIT_COMMITTER_EMAIL=pipeline@localhost")
	}
	return env
}

func (w *workspace) close(ctx context.Context) {
	if w == nil {
		return
	}
	for _, g := range append([]*gitops.Git{w.build}, w.probes...) {
		if g != nil {
			_ = w.repo.WorktreeRemove(ctx, g.Dir)
		}
	}
	_ = os.RemoveAll(w.dir)
	if w.lock != nil {
		// Removed while still held, then released: a run that opened
		// the old file meanwhile sees it is gone (lockWorkdir).
		_ = os.Remove(w.lock.Name())
		_ = w.lock.Close() // releases the flock
	}
}

// lockWorkdir takes DIR.lock, the kernel's exclusive lock of one run per
// workdir (a killed run releases it by dying and leaves the file, which
// the next run takes over; a run that ends removes it). The file locked
// must still be the one at the path: a run that ends removes the file
// before releasing it, and a lock on the removed file would let two runs
// in.
func lockWorkdir(dir string) (*os.File, error) {
	path := dir + ".lock"
	for {
		lock, err := os.OpenFile(path, os.O_CREATE|os.O_RDWR, 0o644)
		if err != nil {
			return nil, fmt.Errorf("promote workdir lock: %w", err)
		}
		if err := syscall.Flock(int(lock.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
			lock.Close()
			return nil, fmt.Errorf("%w (%s is locked)", ErrBusy, dir)
		}
		held, err1 := lock.Stat()
		now, err2 := os.Stat(path)
		if err1 == nil && err2 == nil && os.SameFile(held, now) {
			return lock, nil
		}
		lock.Close() // removed by the run that held it: take the new one
	}
}

// pickResult is one candidate picked onto the chain being built.
type pickResult struct {
	Commit   string   // the new commit ("" when blocked)
	Blocked  bool     // conflicted: left out
	Files    []string // conflicting files
	Redudant bool     // the change was already there: recorded as an empty commit
}

// pick cherry-picks c onto the build worktree's HEAD with -x and our
// Promoted-from trailer. A conflict leaves the worktree as before and the
// candidate blocked.
func (w *workspace) pick(ctx context.Context, c Candidate) (pickResult, error) {
	opts := gitops.CherryPickOptions{
		RecordOrigin: true,
		Trailers:     []gitops.Trailer{{Key: gitops.TrailerPromotedFrom, Value: c.SHA}},
	}
	if c.Merge {
		opts.Mainline = 1
	}
	sha, err := w.build.CherryPick(ctx, c.SHA, opts)
	var ce *gitops.ConflictError
	switch {
	case err == nil:
		return pickResult{Commit: sha}, nil
	case errors.As(err, &ce):
		return pickResult{Blocked: true, Files: ce.Files}, nil
	case errors.Is(err, gitops.ErrEmptyPick):
		// The change is already on master (a hotfix made there too):
		// record the promotion anyway, as an empty commit, so master
		// says it holds this candidate and no run picks it again.
		return w.pickRedundant(ctx, c)
	}
	return pickResult{}, fmt.Errorf("cherry-pick %s: %w", short(c.SHA), err)
}

func (w *workspace) pickRedundant(ctx context.Context, c Candidate) (pickResult, error) {
	args := []string{"cherry-pick", "-x", "--allow-empty", "--keep-redundant-commits", "--allow-empty-message"}
	if c.Merge {
		args = append(args, "-m", "1")
	}
	if _, err := w.build.Run(ctx, append(args, c.SHA)...); err != nil {
		_, _ = w.build.Run(ctx, "cherry-pick", "--abort")
		return pickResult{}, fmt.Errorf("record already-applied %s: %w", short(c.SHA), err)
	}
	if _, err := w.build.Run(ctx, "commit", "--quiet", "--amend", "--no-edit", "--allow-empty",
		"--trailer", gitops.TrailerPromotedFrom+": "+c.SHA); err != nil {
		return pickResult{}, err
	}
	sha, err := w.build.Head(ctx)
	return pickResult{Commit: sha, Redudant: true}, err
}

// reset puts the build worktree on commit, discarding anything else.
func (w *workspace) reset(ctx context.Context, commit string) error {
	_, _ = w.build.Run(ctx, "cherry-pick", "--abort")
	return checkoutClean(ctx, w.build, commit)
}

// checkoutClean makes g's worktree exactly commit's tree: detached, forced,
// and every untracked or ignored file removed.
func checkoutClean(ctx context.Context, g *gitops.Git, commit string) error {
	if _, err := g.Run(ctx, "checkout", "--quiet", "--detach", "--force", commit); err != nil {
		return err
	}
	_, err := g.Run(ctx, "clean", "-ffdxq")
	return err
}

// treeOf returns the tree id of a commit.
func treeOf(ctx context.Context, g *gitops.Git, commit string) (string, error) {
	return g.Run(ctx, "rev-parse", "--verify", commit+"^{tree}")
}

func short(sha string) string { return text.Short(sha, 10) }
