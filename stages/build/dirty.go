package build

// A build publishes what a commit holds: a working tree that differs from
// HEAD is refused, or (--allow-dirty) published under a build id of its
// own.

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/pipeline-ci/pipeline/gitops"
	"github.com/pipeline-ci/pipeline/internal/errs"
	"github.com/pipeline-ci/pipeline/stages"
)

// Dirty is how the working tree differs from HEAD.
type Dirty struct {
	Files []string `json:"files"` // changed, added, deleted or untracked, relative to the repository
	Hash  string   `json:"hash"`  // names the changes: the first 12 hex of their sha256
}

// dirtyTree lists what differs from HEAD (git status, ignored files left
// out) apart from the paths in skip (the build's own output, report dir
// and file:// store when they are inside the repository), and hashes it.
// A tree that is not dirty gives nil.
func dirtyTree(ctx context.Context, repo string, skip []string) (*Dirty, error) {
	g := gitops.Open(repo)
	// Porcelain paths are relative to the root of the git repository,
	// which may be above the --repo directory: only what is below it
	// counts, made relative to it.
	status, err := g.RunBytes(ctx, nil, "status", "--porcelain=v1", "-z", "--untracked-files=all", "--", ".")
	if err != nil {
		return nil, fmt.Errorf("git status: %w", err)
	}
	below, err := g.Run(ctx, "rev-parse", "--show-prefix")
	if err != nil {
		return nil, fmt.Errorf("git rev-parse: %w", err)
	}
	below = strings.TrimSpace(below)
	var files []string
	entries := bytes.Split(status, []byte{0})
	for i := 0; i < len(entries); i++ {
		e := string(entries[i])
		if len(e) < 4 {
			continue
		}
		code, p := e[:2], e[3:]
		if code[0] == 'R' || code[0] == 'C' {
			i++ // the source path follows
		}
		p = strings.TrimPrefix(p, below)
		if !Covers(skip, p) {
			files = append(files, p)
		}
	}
	if len(files) == 0 {
		return nil, nil
	}
	sort.Strings(files)
	h := sha256.New()
	diff, err := g.RunBytes(ctx, nil, append([]string{"diff", "--binary", "HEAD", "--"}, files...)...)
	if err != nil {
		return nil, fmt.Errorf("git diff: %w", err)
	}
	h.Write(diff)
	for _, f := range files { // untracked files are not in the diff
		fmt.Fprintf(h, "\x00%s\x00", f)
		if data, err := os.ReadFile(filepath.Join(repo, f)); err == nil {
			h.Write(data)
		}
	}
	return &Dirty{Files: files, Hash: hex.EncodeToString(h.Sum(nil))[:12]}, nil
}

// insideRepo returns p relative to repo (slash-separated) when it is
// inside it, for dirtyTree's skip list.
func insideRepo(repo, p string) (string, bool) {
	if p == "" {
		return "", false
	}
	if !filepath.IsAbs(p) {
		p = filepath.Join(repo, p)
	}
	rel, err := filepath.Rel(repo, p)
	if err != nil || rel == "." || strings.HasPrefix(rel, "..") {
		return "", false
	}
	return filepath.ToSlash(rel), true
}

// DirtyVersion is the version of a build of a dirty tree: the commit's
// version with +dirty.<hash> (.dirty.<hash> when it has a + already), so
// it never takes the place of the clean build of the commit.
func DirtyVersion(version, hash string) string {
	if strings.Contains(version, "+") {
		return version + ".dirty." + hash
	}
	return version + "+dirty." + hash
}

// listFiles is files for a message: the first max of them, then a count.
func listFiles(files []string, max int) string {
	if len(files) <= max {
		return strings.Join(files, "\n  ")
	}
	return strings.Join(files[:max], "\n  ") + fmt.Sprintf("\n  … and %d more", len(files)-max)
}

// files is nil-safe: the changed files, none for a clean tree.
func (d *Dirty) files() []string {
	if d == nil {
		return nil
	}
	return d.Files
}

// checkDirty refuses a working tree that differs from HEAD (exit 2,
// naming the files), or with --allow-dirty gives the build its own
// version so it never replaces the commit's clean build.
func checkDirty(ctx context.Context, env *stages.Env, s settings, o Options, out *Output) error {
	var skip []string
	for _, p := range []string{s.outDir, reportPath(env), fileStoreDir(env)} {
		if rel, ok := insideRepo(env.Repo, p); ok {
			skip = append(skip, rel)
		}
	}
	d, err := dirtyTree(ctx, env.Repo, skip)
	if err != nil {
		return errs.Infraf("%w", err)
	}
	if d == nil {
		return nil
	}
	if !o.AllowDirty {
		return errs.New(errs.Usage,
			fmt.Errorf("the working tree differs from commit %.12s, so its build would not be the commit's build; changed files:\n  %s",
				out.Revision.Commit, listFiles(d.Files, 20)),
			"commit (or stash) the changes and build again; to publish the working tree as it is, under a version of its own, use --allow-dirty")
	}
	out.Dirty = d
	out.Revision.Version = DirtyVersion(out.Revision.Version, d.Hash)
	out.Revision.Release = false
	env.Log.Warnf("the working tree differs from commit %.12s (%d file(s): %s): --allow-dirty publishes it as %s, and builds the components whose inputs changed without the component cache",
		out.Revision.Commit, len(d.Files), strings.Join(d.Files[:min(len(d.Files), 5)], ", "), out.Revision.Version)
	return nil
}

func reportPath(env *stages.Env) string {
	if env.Report == nil {
		return ""
	}
	return env.Report.Path
}

// fileStoreDir is the directory of a file:// artifact store, "" for others.
func fileStoreDir(env *stages.Env) string {
	u := env.Config.Artifacts.URL
	if u == "" {
		u = "file://.pipeline/artifacts"
	}
	if !strings.HasPrefix(u, "file://") {
		return ""
	}
	return strings.TrimPrefix(u, "file://")
}
