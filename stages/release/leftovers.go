package release

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/pipeline-ci/pipeline/gitops"
	"github.com/pipeline-ci/pipeline/internal/errs"
)

// tempMarker marks the temporary directory of mode mr's worktree as
// release's own, which a later run may remove.
const tempMarker = ".pipeline-release-tmp"

// tempDir is where mode mr checks the release branch out: one directory
// per clone under the system temp dir, so that the run after a killed one
// finds it (runs in one clone are one at a time: the run lock).
func tempDir(common string) string {
	sum := sha256.Sum256([]byte(common))
	return filepath.Join(os.TempDir(), "pipeline-release-"+hex.EncodeToString(sum[:6]))
}

// lockAndClear takes the clone's run lock and clears what killed releases
// left: the mode mr worktree (registered, locked or half made) and its
// temporary directory, the changelog's and version files' half-written
// temporary files in the checkout, and git's own lock files (older than
// this run, when no live git works in the clone: gitops.ClearLeftovers).
// A dry run only says what it would clear.
func (r *run) lockAndClear(ctx context.Context, start time.Time) (*gitops.RunLock, error) {
	lock, err := r.git.LockRun(ctx)
	if errors.Is(err, gitops.ErrCloneBusy) {
		return nil, errs.New(errs.Usage, fmt.Errorf("release: %w", err), "wait for the other pipeline run to finish, or run in another clone")
	}
	if err != nil {
		return nil, errs.Infraf("release: %w", err)
	}
	if r.env.DryRun {
		return lock, nil
	}
	common, err := r.git.CommonDir(ctx)
	if err != nil {
		lock.Release()
		return nil, errs.Infraf("release: %w", err)
	}
	tmp := tempDir(common)
	c, err := r.git.ClearLeftovers(ctx, lock, gitops.Leftovers{
		Before:   start,
		Own:      func(p string) bool { return within(tmp, p) || oldTempWorktree(p) },
		OwnNames: []string{"wt"},
	})
	if err == nil {
		err = clearTemp(tmp, start)
	}
	if err != nil {
		lock.Release()
		return nil, errs.New(errs.Infra, fmt.Errorf("release: clear what an earlier run left: %w", err),
			"remove it by hand (git worktree prune; the file named) and re-run")
	}
	for _, w := range c.Worktrees {
		if oldTempWorktree(w) {
			_ = os.Remove(filepath.Dir(w)) // the MkdirTemp of an older pipeline, if empty now
		}
		r.env.Log.Warnf("removed worktree %s, left by a release that was killed", w)
	}
	for _, l := range c.Locks {
		r.env.Log.Warnf("removed %s, left by a git that was killed", l)
	}
	if c.Kept != "" {
		r.env.Log.Warnf("left git's lock files alone: %s", c.Kept)
	}
	for _, p := range r.managed() {
		for _, t := range halfWritten(filepath.Join(r.git.Dir, p), start) {
			if err := os.Remove(t); err == nil {
				r.env.Log.Warnf("removed %s, half written by a release that was killed", t)
			}
		}
	}
	return lock, nil
}

// clearTemp removes release's temporary directory when it is marked as
// release's and older than the run.
func clearTemp(dir string, start time.Time) error {
	st, err := os.Stat(filepath.Join(dir, tempMarker))
	if err != nil || !st.ModTime().Before(start) {
		return nil
	}
	return os.RemoveAll(dir)
}

// oldTempWorktree: the worktree of a pipeline that made its temporary
// directory with os.MkdirTemp ($TMPDIR/pipeline-release-NNN/wt).
func oldTempWorktree(p string) bool {
	return filepath.Base(p) == "wt" && filepath.Dir(filepath.Dir(p)) == filepath.Clean(os.TempDir()) &&
		strings.HasPrefix(filepath.Base(filepath.Dir(p)), "pipeline-release-")
}

// halfWritten lists writeAtomic's temporary files for path older than
// start: .NAME.DIGITS.tmp next to it (atomicfile's os.CreateTemp
// pattern; .NAME.DIGITS of an older pipeline).
func halfWritten(path string, start time.Time) []string {
	matches, _ := filepath.Glob(filepath.Join(filepath.Dir(path), "."+filepath.Base(path)+".*"))
	var out []string
	for _, m := range matches {
		suffix := strings.TrimSuffix(strings.TrimPrefix(filepath.Base(m), "."+filepath.Base(path)+"."), ".tmp")
		if _, err := strconv.ParseUint(suffix, 10, 64); err != nil {
			continue
		}
		if st, err := os.Lstat(m); err == nil && st.Mode().IsRegular() && st.ModTime().Before(start) {
			out = append(out, m)
		}
	}
	return out
}
