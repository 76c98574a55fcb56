package gitops

// What a killed run leaves in a clone, and how the next run clears it.
//
// A CI cancel kills the whole process group, git included. A git killed in
// the middle of a ref update leaves its lock file (refs/…/master.lock,
// packed-refs.lock, index.lock), and every later git command that wants
// that ref or index fails with "cannot lock ref" or "Unable to create
// '…/index.lock': File exists". A git killed inside `git worktree add`
// leaves .git/worktrees/NAME with a "locked" file and a zero HEAD, which
// `git worktree prune` skips and `git fetch` trips over ("bad object
// worktrees/NAME/HEAD"). Git never clears these itself: it cannot tell a
// dead holder from a live one.
//
// Neither can we, in general. So the stages clear them only when three
// things hold, and otherwise leave them and say so:
//   - this process holds the clone's run lock (RunLock): no other pipeline
//     run is working in the clone;
//   - no live git process works in the clone: none has its current
//     directory in the clone's work trees or git directory (git always
//     chdirs there) — read from /proc, so where /proc cannot be read, or a
//     git process's directory cannot, nothing is cleared;
//   - the leftover is older than the start of this run.

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// RunLock is a pipeline run's hold on a clone: a kernel lock (flock) on
// pipeline-run.lock in the clone's common git directory. A run killed
// outright releases it by dying, so a held lock always means a live run.
type RunLock struct {
	f *os.File
}

// ErrCloneBusy: another pipeline run holds the clone's run lock.
var ErrCloneBusy = errors.New("another pipeline run is working in this clone")

// CommonDir is the absolute path of the clone's common git directory (the
// .git of the main work tree, shared by all its worktrees).
func (g *Git) CommonDir(ctx context.Context) (string, error) {
	// Read in process where Files can (no git process: a release plan
	// starts at most two), else asked of git.
	if f, err := OpenFiles(g.Dir); err == nil {
		return f.Common, nil
	}
	return g.Run(ctx, "rev-parse", "--path-format=absolute", "--git-common-dir")
}

// LockRun takes the clone's run lock without waiting; ErrCloneBusy when a
// live run holds it.
func (g *Git) LockRun(ctx context.Context) (*RunLock, error) {
	common, err := g.CommonDir(ctx)
	if err != nil {
		return nil, err
	}
	path := filepath.Join(common, "pipeline-run.lock")
	f, err := os.OpenFile(path, os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		return nil, fmt.Errorf("run lock: %w", err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		f.Close()
		return nil, fmt.Errorf("%w (%s is locked)", ErrCloneBusy, path)
	}
	// Who holds it, for a person looking (the kernel's lock is the truth).
	_ = f.Truncate(0)
	_, _ = f.WriteAt([]byte(strconv.Itoa(os.Getpid())+"\n"), 0)
	return &RunLock{f: f}, nil
}

// Release lets the next run in. Safe on nil.
func (l *RunLock) Release() {
	if l != nil && l.f != nil {
		_ = l.f.Close()
		l.f = nil
	}
}

// Cleared is what ClearLeftovers removed, and what it left and why.
type Cleared struct {
	Worktrees []string // worktrees of ours (their directories and git's records of them)
	Locks     []string // git lock files
	Kept      string   // why git's lock files were left alone, when they were
}

// Empty reports whether nothing was removed.
func (c Cleared) Empty() bool { return len(c.Worktrees) == 0 && len(c.Locks) == 0 }

// Leftovers says what ClearLeftovers is to remove.
type Leftovers struct {
	// Before: only what is older than this (the start of the run).
	Before time.Time
	// Own reports whether a worktree path is one the stage makes (inside
	// its workdir or temp dir): those are removed, registered, locked or
	// half made. Other people's worktrees are never touched.
	Own func(path string) bool
	// OwnNames are the names git gives the stage's worktrees' records
	// (.git/worktrees/NAME, from the path's last element): a record killed
	// before git wrote where its worktree is can only be recognised so.
	OwnNames []string
}

// ClearLeftovers removes, with the run lock l held, the stage's own
// worktrees that killed runs left (registered, locked "initializing", or
// half made), and git's lock files older than lo.Before when no live git
// process works in the clone. It never removes anything newer than
// lo.Before.
func (g *Git) ClearLeftovers(ctx context.Context, l *RunLock, lo Leftovers) (Cleared, error) {
	var c Cleared
	if l == nil || l.f == nil {
		return c, errors.New("clear leftovers: the run lock is not held")
	}
	common, err := g.CommonDir(ctx)
	if err != nil {
		return c, err
	}
	busy, why := liveGitIn(g.workTrees(common))
	// Our worktrees: no other pipeline run is live (we hold the run lock),
	// and none of ours is in use by anyone but a pipeline run.
	admin := filepath.Join(common, "worktrees")
	entries, _ := os.ReadDir(admin)
	for _, e := range entries {
		dir := filepath.Join(admin, e.Name())
		if !olderThan(dir, lo.Before) {
			continue
		}
		wt, known := worktreePath(dir)
		ours := false
		switch {
		case known:
			ours = lo.Own != nil && lo.Own(wt)
		default:
			// No gitdir file: git was killed right after making the
			// record. Only its name can tell it is ours.
			ours = ownName(e.Name(), lo.OwnNames)
		}
		if !ours {
			continue
		}
		if busy {
			// A live git may be working in it right now.
			continue
		}
		if known {
			if err := os.RemoveAll(wt); err != nil {
				return c, fmt.Errorf("remove worktree %s: %w", wt, err)
			}
		}
		if err := os.RemoveAll(dir); err != nil {
			return c, fmt.Errorf("remove %s: %w", dir, err)
		}
		c.Worktrees = append(c.Worktrees, firstNonEmptyPath(wt, dir))
	}
	if busy {
		c.Kept = why
		return c, nil
	}
	locks, err := gitLocks(common)
	if err != nil {
		return c, err
	}
	for _, p := range locks {
		if !olderThan(p, lo.Before) {
			continue
		}
		if err := os.Remove(p); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return c, fmt.Errorf("remove stale %s: %w", p, err)
		}
		c.Locks = append(c.Locks, p)
	}
	// What remains of other worktrees whose directory is gone.
	if _, err := g.Run(ctx, "worktree", "prune"); err != nil {
		return c, err
	}
	return c, nil
}

func firstNonEmptyPath(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

// worktreePath reads the work tree a record in .git/worktrees names (its
// gitdir file holds "<worktree>/.git").
func worktreePath(admin string) (string, bool) {
	b, err := os.ReadFile(filepath.Join(admin, "gitdir"))
	if err != nil {
		return "", false
	}
	p := strings.TrimSpace(string(b))
	if p == "" {
		return "", false
	}
	return filepath.Dir(p), true
}

// ownName: git names a worktree's record after the last element of its
// path, with a number added when the name is taken (build, build1).
func ownName(name string, own []string) bool {
	for _, o := range own {
		if rest, ok := strings.CutPrefix(name, o); ok {
			if _, err := strconv.Atoi(rest); rest == "" || err == nil {
				return true
			}
		}
	}
	return false
}

// workTrees are the directories a git working on this clone would have as
// its current directory: the common git dir, the main work tree, and every
// worktree's.
func (g *Git) workTrees(common string) []string {
	dirs := []string{common}
	if filepath.Base(common) == ".git" {
		dirs = append(dirs, filepath.Dir(common))
	}
	entries, _ := os.ReadDir(filepath.Join(common, "worktrees"))
	for _, e := range entries {
		if wt, ok := worktreePath(filepath.Join(common, "worktrees", e.Name())); ok {
			dirs = append(dirs, wt)
		}
	}
	return dirs
}

// gitLocks lists git's lock files in the common git dir: the index, HEAD
// and the other top-level refs, packed-refs, shallow and config, every
// ref under refs/, and the same in each worktree's record.
func gitLocks(common string) ([]string, error) {
	var out []string
	top := func(dir string) {
		entries, _ := os.ReadDir(dir)
		for _, e := range entries {
			if !e.IsDir() && strings.HasSuffix(e.Name(), ".lock") && e.Name() != "pipeline-run.lock" {
				out = append(out, filepath.Join(dir, e.Name()))
			}
		}
	}
	refs := func(dir string) error {
		err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
			if err != nil {
				if errors.Is(err, fs.ErrNotExist) {
					return nil
				}
				return err
			}
			if !d.IsDir() && strings.HasSuffix(d.Name(), ".lock") {
				out = append(out, p)
			}
			return nil
		})
		return err
	}
	top(common)
	if err := refs(filepath.Join(common, "refs")); err != nil {
		return nil, err
	}
	entries, _ := os.ReadDir(filepath.Join(common, "worktrees"))
	for _, e := range entries {
		wt := filepath.Join(common, "worktrees", e.Name())
		top(wt)
		if err := refs(filepath.Join(wt, "refs")); err != nil {
			return nil, err
		}
	}
	return out, nil
}

func olderThan(p string, t time.Time) bool {
	st, err := os.Lstat(p)
	return err == nil && st.ModTime().Before(t)
}

// liveGitIn reports whether a live git process (other than us) has its
// current directory in one of dirs, and when it cannot tell, says so: both
// mean "leave git's locks alone".
func liveGitIn(dirs []string) (bool, string) {
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return true, "cannot read /proc to check that no git process is working in the clone"
	}
	self := os.Getpid()
	var clean []string
	for _, d := range dirs {
		if r, err := filepath.EvalSymlinks(d); err == nil {
			d = r
		}
		clean = append(clean, d)
	}
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil || pid == self {
			continue
		}
		comm, err := os.ReadFile("/proc/" + e.Name() + "/comm")
		if err != nil {
			continue // gone
		}
		name := strings.TrimSpace(string(comm))
		if name != "git" && !strings.HasPrefix(name, "git-") {
			continue
		}
		if st, ok := procState(pid); ok && (st == 'Z' || st == 'X') {
			continue
		}
		cwd, err := os.Readlink("/proc/" + e.Name() + "/cwd")
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				continue // exited meanwhile
			}
			return true, fmt.Sprintf("git process %d may be working in the clone (cannot read its directory: %v)", pid, err)
		}
		for _, d := range clean {
			if cwd == d || strings.HasPrefix(cwd, d+string(filepath.Separator)) {
				return true, fmt.Sprintf("git process %d is working in %s", pid, cwd)
			}
		}
	}
	return false, ""
}

// procState is the state letter of /proc/PID/stat (Z for a zombie).
func procState(pid int) (byte, bool) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return 0, false
	}
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	if i < 0 || i+2 >= len(s) {
		return 0, false
	}
	return s[i+2], true
}
