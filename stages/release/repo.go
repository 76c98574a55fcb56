package release

import (
	"context"
	"fmt"
	"strings"

	"github.com/pipeline-ci/pipeline/gitops"
	"github.com/pipeline-ci/pipeline/internal/errs"
	"github.com/pipeline-ci/pipeline/release"
)

// This file is how the plan reads the repository. On a fresh CI clone each
// git process costs 15–40 ms of start and repository open, more than the
// reading itself, so what is cheap to read from the files — HEAD, the
// branch, the remote, the tags and the last tag's trailers — is read in
// process (gitops.Files), and a plan starts one git process in the usual
// case: the `git log -z` of the range, which also answers whether the last
// release tag is an ancestor of HEAD. git stays for the history walk (its
// revision walk and pack reading are what the walk needs), for shallow
// clones (deepening fetches) and for every layout gitops.Files does not
// read (it then says ErrAskGit).

// readInProcess: read refs in process and fold the ancestry check into the
// walk. Tests turn it off to compare with the all-git reading, one git
// process per question, as the plan read before.
var readInProcess = true

// openRepo finds the top of the work tree, whether the clone is shallow,
// HEAD and the checked-out branch; files is nil when the repository must be
// read with git (branch is then "": see currentBranch).
func openRepo(ctx context.Context, dir string) (top string, shallow bool, head, branch string, files *gitops.Files, err error) {
	if f, ferr := gitops.OpenFiles(dir); ferr == nil && readInProcess {
		if sha, b, herr := f.Head(); herr == nil {
			return f.Top, f.IsShallow(), sha, b, f, nil
		}
	}
	// One git call for three facts: the top, whether the clone is shallow,
	// and HEAD.
	out, err := gitops.Open(dir).Run(ctx, "rev-parse", "--show-toplevel", "--is-shallow-repository", "HEAD")
	lines := strings.Split(out, "\n")
	if err != nil || len(lines) != 3 {
		if top, terr := gitops.Open(dir).Run(ctx, "rev-parse", "--show-toplevel"); terr == nil && top != "" {
			return "", false, "", "", nil, errs.New(errs.Usage, fmt.Errorf("release: %s has no commit yet", top), "commit something to release first")
		}
		return "", false, "", "", nil, errs.New(errs.Usage, fmt.Errorf("release: %s is not a git work tree: %w", dir, err), "run pipeline release inside the repository, or give --repo")
	}
	return lines[0], lines[1] == "true", lines[2], "", nil, nil
}

// currentBranch is the checked-out branch ("" when detached), asked of git
// when the files were not read.
func (r *run) currentBranch(ctx context.Context, fromFiles string) (string, error) {
	if r.files != nil {
		return fromFiles, nil
	}
	b, err := r.git.CurrentBranch(ctx)
	if err != nil {
		return "", errs.Infraf("release: read the current branch: %w", err)
	}
	return b, nil
}

// hasRemote reports whether the remote is configured: from the
// repository's config file, else by asking git (it may be in the global
// config).
func (r *run) hasRemote(ctx context.Context, name string) bool {
	if r.files != nil && r.files.RemoteConfigured(name) {
		return true
	}
	_, err := r.git.Run(ctx, "remote", "get-url", name)
	return err == nil
}

// filesTags lists the tags in process; ok is false when git must do it.
func (r *run) filesTags() (refs []release.TagRef, ok bool) {
	if r.files == nil {
		return nil, false
	}
	tags, err := r.files.Tags()
	if err != nil {
		return nil, false
	}
	for _, t := range tags {
		refs = append(refs, release.TagRef{Name: t.Name, SHA: t.Peeled})
	}
	return refs, true
}

// filesJournal reads the release trailers of tag name in process; done is
// false when git must do it.
func (r *run) filesJournal(name string) (j release.Journal, ours, done bool) {
	if r.files == nil {
		return j, false, false
	}
	msg, hasMsg, err := r.files.TagMessage(name)
	if err != nil {
		return j, false, false
	}
	if !hasMsg {
		return j, false, true
	}
	for _, t := range gitops.TagTrailers(msg) {
		switch t.Key {
		case release.TrailerVersion:
			j.Version = t.Value
		case release.TrailerMilestone:
			j.Milestone = t.Value
		}
	}
	return j, j.Version != "", true
}

// releasesAndRange finds the highest release tags that are ancestors of
// head (the last of any kind, the last stable one) and the commits since
// the last stable one.
//
// In a complete clone one `git log head ^T` does both, T being the highest
// stable tag: T is an ancestor of head exactly when head is T or a commit of
// the range has T as a parent (the range stops at T's children). A higher
// pre-release tag is an ancestor when it is in the range, or else when it
// is an ancestor of T, which only then costs a `merge-base`. When T turns
// out not to be an ancestor (a tag of another branch), or in a shallow
// clone that must be deepened tag by tag, the tags are checked one by one
// as before, then walked.
func (r *run) releasesAndRange(ctx context.Context, cands []release.Tag, head string) (lastAny, lastStable *release.Tag, commits []release.Commit, err error) {
	if !r.shallow && readInProcess {
		var ok bool
		lastAny, lastStable, commits, ok, err = r.guessRange(ctx, cands, head)
		if err != nil || ok {
			return lastAny, lastStable, commits, err
		}
	}
	if lastAny, lastStable, err = r.lastReleases(ctx, cands, head); err != nil {
		return nil, nil, nil, err
	}
	since := ""
	if lastStable != nil {
		since = lastStable.SHA
	}
	commits, err = r.walk(ctx, head, since)
	return lastAny, lastStable, commits, err
}

// guessRange walks from the highest stable tag; ok is false when that tag
// is not an ancestor of head (or cannot be walked from) and the careful
// path must decide.
func (r *run) guessRange(ctx context.Context, cands []release.Tag, head string) (lastAny, lastStable *release.Tag, commits []release.Commit, ok bool, err error) {
	k := len(cands) // the first stable tag, if any
	for i := range cands {
		if cands[i].Version.Prerelease() == "" {
			k = i
			break
		}
	}
	since := ""
	if k < len(cands) {
		since = cands[k].SHA
	}
	commits, werr := r.walk(ctx, head, since)
	if werr != nil {
		return nil, nil, nil, false, nil // a tag without its commit, say: the careful path says what is wrong
	}
	if since != "" {
		reached := head == since
		for _, c := range commits {
			for _, p := range c.Parents {
				reached = reached || p == since
			}
		}
		if !reached {
			return nil, nil, nil, false, nil
		}
		lastStable = &cands[k]
	}
	inRange := make(map[string]bool, len(commits))
	for _, c := range commits {
		inRange[c.SHA] = true
	}
	for i := 0; i < k; i++ {
		t := &cands[i]
		if inRange[t.SHA] {
			lastAny = t
			break
		}
		if since == "" {
			continue // the range is the whole history
		}
		anc, err := r.ancestor(ctx, t, since)
		if err != nil {
			return nil, nil, nil, false, err
		}
		if anc {
			lastAny = t
			break
		}
	}
	if lastAny == nil {
		lastAny = lastStable
	}
	return lastAny, lastStable, commits, true, nil
}

// ancestor reports whether tag t is an ancestor of rev; a tag whose commit
// is missing is not (git answers with an error rather than "no").
func (r *run) ancestor(ctx context.Context, t *release.Tag, rev string) (bool, error) {
	ok, err := r.git.IsAncestor(ctx, t.SHA, rev)
	if err != nil {
		if r.git.Exists(ctx, t.SHA) {
			return false, errs.Infraf("release: is %s an ancestor of %s: %w", t.Name, short(rev), err)
		}
		return false, nil
	}
	return ok, nil
}
